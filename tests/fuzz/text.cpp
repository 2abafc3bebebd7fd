// Text from outside (headers, paths, model ids, exception texts) on its way
// back out: the UTF-8 checks, the request-id and header checks, and the JSON
// dump that must never throw.
#include <nlohmann/json.hpp>

#include "check.hpp"
#include "base/text.hpp"

using namespace actorserve::detail;

namespace {

void check_utf8(const std::string& x) {
  auto fixed = to_valid_utf8(x);
  fuzz::require(valid_utf8(fixed), "to_valid_utf8 gives valid UTF-8", x);
  if (valid_utf8(x))
    fuzz::require(fixed == x, "to_valid_utf8 keeps valid UTF-8 as it is", x);
  else
    fuzz::require(fixed != x, "invalid UTF-8 is changed", x);
  // Each input byte becomes at most U+FFFD (3 bytes).
  fuzz::require(fixed.size() <= 3 * x.size(), "to_valid_utf8 grows at most 3x",
                x);
  fuzz::require(to_valid_utf8(fixed) == fixed, "to_valid_utf8 is idempotent",
                x);
}

void check_clip(const std::string& x, size_t max_bytes) {
  auto clipped = clip_text(x, max_bytes);
  fuzz::require(valid_utf8(clipped), "clip_text gives valid UTF-8", x);
  fuzz::require(clipped.size() <= max_bytes + 3, "clip_text keeps its bound",
                x);
  auto whole = to_valid_utf8(x);
  if (whole.size() <= max_bytes)
    fuzz::require(clipped == whole, "clip_text keeps short text whole", x);
  else
    fuzz::require(whole.compare(0, clipped.size() - 3, clipped, 0,
                                clipped.size() - 3) == 0,
                  "clip_text keeps a prefix", x);
}

void check_dump(const std::string& x) {
  nlohmann::json j{{"text", x}, {"list", {x, 1, nullptr}}};
  j[x] = x; // as a key too
  std::string out;
  try {
    out = dump_json(j);
  } catch (...) {
    fuzz::require(false, "dump_json never throws", x);
  }
  fuzz::require(valid_utf8(out), "dump_json gives valid UTF-8", x);
  auto back = nlohmann::json::parse(out, nullptr, false);
  fuzz::require(!back.is_discarded(), "dump_json's output parses back", x);
  if (valid_utf8(x))
    fuzz::require(back["text"] == x && back.contains(x),
                  "dump_json keeps valid text as it is", x);
}

void check_headers(const std::string& x) {
  if (valid_request_id(x)) {
    fuzz::require(!x.empty() && x.size() <= 128, "a request id is 1-128 bytes",
                  x);
    fuzz::require(valid_header_text(x) && valid_utf8(x),
                  "a request id can go into a header and into JSON", x);
    fuzz::require(x.find_first_of(" \t") == std::string::npos,
                  "a request id has no blanks", x);
  }
  if (valid_header_name(x))
    fuzz::require(valid_header_text(x) && valid_utf8(x) && !x.empty(),
                  "a header name is header text", x);
  if (valid_header_text(x))
    fuzz::require(x.find_first_of(std::string{"\r\n\0", 3}) ==
                      std::string::npos,
                  "header text has no CR, LF or NUL", x);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string x(reinterpret_cast<const char*>(data), size);
  check_utf8(x);
  check_clip(x, size > 0 ? data[0] % 64 : 0);
  check_dump(x);
  check_headers(x);
  return 0;
}
