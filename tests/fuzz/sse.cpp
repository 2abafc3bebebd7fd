// The SSE writer fed with hostile chunks: whatever a stream yields, an SSE
// client (parsing as the WHATWG spec says: lines end at CRLF, LF or CR, a
// blank line ends an event) sees one event per chunk, of the writer's type,
// with the chunk's text. A chunk must never end its event early or forge
// an event of another type.
//
// Input: chunks separated by 0xFF, written as one batch (as the ingress
// writes a batch of chunks into one HTTP chunk).
#include <vector>

#include "check.hpp"
#include "ingress/http_stream.hpp"

namespace {

struct event {
  std::string type = "message";
  std::string data;
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::string line;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n')
        ++i;
      out.push_back(std::move(line));
      line.clear();
    } else {
      line += c;
    }
  }
  fuzz::require(line.empty(), "the stream ends with a line end", text);
  return out;
}

std::vector<event> parse_sse(const std::string& text) {
  std::vector<event> events;
  event cur;
  bool has_data = false;
  for (auto& line : lines_of(text)) {
    if (line.empty()) {
      if (has_data) {
        if (!cur.data.empty() && cur.data.back() == '\n')
          cur.data.pop_back();
        events.push_back(std::move(cur));
      }
      cur = event{};
      has_data = false;
      continue;
    }
    auto colon = line.find(':');
    auto field = line.substr(0, colon);
    std::string value;
    if (colon != std::string::npos) {
      value = line.substr(colon + 1);
      if (!value.empty() && value[0] == ' ')
        value.erase(0, 1);
    }
    if (field == "data") {
      cur.data += value + "\n";
      has_data = true;
    } else if (field == "event") {
      cur.type = value;
    }
  }
  return events;
}

// What a client can at best see of `x`: its line ends as LF.
std::string as_client_sees(const std::string& x) {
  std::string out;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] == '\r') {
      if (i + 1 < x.size() && x[i + 1] == '\n')
        ++i;
      out += '\n';
    } else {
      out += x[i];
    }
  }
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::input in{data, size};
  std::vector<std::string> chunks;
  while (!in.empty() && chunks.size() < 16)
    chunks.push_back(in.field());
  std::string wire;
  for (auto& c : chunks)
    wire += actorserve::detail::sse_event(c);
  wire += actorserve::detail::sse_event("{}", "done");
  auto events = parse_sse(wire);
  std::string all(reinterpret_cast<const char*>(data), size);
  fuzz::require(events.size() == chunks.size() + 1,
                "one event per chunk, then the end", all);
  for (size_t i = 0; i < chunks.size(); ++i) {
    fuzz::require(events[i].type == "message", "a chunk keeps its type", all);
    fuzz::require(events[i].data == as_client_sees(chunks[i]),
                  "a chunk arrives as it was sent", all);
  }
  fuzz::require(events.back().type == "done" && events.back().data == "{}",
                "the end event comes last", all);
  return 0;
}
