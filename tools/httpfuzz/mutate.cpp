#include "mutate.hpp"

#include <algorithm>
#include <cstdio>
#include <iterator>

namespace httpfuzz {

namespace {

// The demo's routes, with bodies they accept.
struct route {
  const char* method;
  const char* target;
  const char* body;
};

constexpr route routes[] = {
    {"POST", "/classify", R"({"text": "I love this"})"},
    {"POST", "/pipeline", R"({"text": "what a great day"})"},
    {"POST", "/ensemble", R"({"text": "I hate this"})"},
    {"POST", "/route", R"({"text": "fast", "slow": false})"},
    {"GET", "/blocking?ms=1", ""},
    {"GET", "/blocking/fail", ""},
    {"GET", "/autoscale?ms=1", ""},
    {"POST", "/batch", R"({"x": 3})"},
    {"POST", "/multi", R"({"text": "hi"})"},
    {"POST", "/models/m7/predict", R"({"text": "hi"})"},
    {"POST", "/stream", R"({"prompt": "one two three", "n": 3, "delay_ms": 0})"},
    {"GET", "/-/healthz", ""},
    {"GET", "/-/routes", ""},
    {"GET", "/-/status", ""},
    {"GET", "/nowhere", ""},
};

} // namespace

std::string mutator::hostile_text() {
  switch (pick(10)) {
  case 0:
    return "\xff\xfe\xc0\xaf\xed\xa0\x80"; // no UTF-8 at all
  case 1:
    return std::string(1 + pick(20000), 'A');
  case 2:
    return "a\rb\r\nc\nd"; // line ends
  case 3:
    return std::string{"nul\0here", 8};
  case 4:
    return "%00%ff%2F%2e%2e%E2%82";
  case 5:
    return "\"}, \"x\": [1";
  case 6:
    return "\xe2\x80\xae\xf0\x9f\x98\x80"; // valid, unusual
  case 7:
    return "";
  case 8:
    return " \t ";
  default: {
    std::string s(1 + pick(64), '\0');
    for (auto& c : s)
      c = static_cast<char>(pick(256));
    return s;
  }
  }
}

request mutator::base() {
  auto& r = routes[pick(std::size(routes))];
  request out;
  out.method = r.method;
  out.target = r.target;
  out.body = r.body;
  out.headers = {{"Host", "127.0.0.1"}};
  if (!out.body.empty())
    out.headers.emplace_back("Content-Type", "application/json");
  if (chance(70))
    out.headers.emplace_back("Connection", "close");
  return out;
}

void mutator::mutate_start_line(request& r, std::string& what) {
  static const char* methods[] = {"GET", "POST", "PUT", "DELETE", "PATCH",
                                  "HEAD", "OPTIONS", "TRACE", "CONNECT", "get",
                                  "PRI", "G\xffT", ""};
  static const char* versions[] = {"HTTP/1.0", "HTTP/2.0", "HTTP/0.9", "",
                                   "HTTP/1.1 extra", "http/1.1", "HTTP/1.10"};
  switch (pick(5)) {
  case 0:
    r.method = methods[pick(std::size(methods))];
    what += " method";
    break;
  case 1:
    r.version = versions[pick(std::size(versions))];
    what += " version";
    break;
  case 2:
    r.target += (r.target.find('?') == std::string::npos ? "?" : "&") +
                hostile_text() + "=" + hostile_text();
    what += " query";
    break;
  case 3: {
    static const char* paths[] = {"/%2e%2e/%2e%2e/etc/passwd", "//classify//",
                                  "*", "http://127.0.0.1/classify",
                                  "/models/%ff%fe/predict", "/-/../classify",
                                  "/models/\xc0\xaf/predict", "classify"};
    r.target = paths[pick(std::size(paths))];
    what += " path";
    break;
  }
  default:
    r.target = "/" + hostile_text();
    what += " hostile-path";
  }
}

void mutator::mutate_headers(request& r, std::string& what) {
  switch (pick(7)) {
  case 0:
    r.headers.emplace_back("X-Request-ID", hostile_text());
    what += " request-id";
    break;
  case 1:
    r.headers.emplace_back("serve_multiplexed_model_id", hostile_text());
    what += " model-id";
    break;
  case 2:
    r.headers.emplace_back(hostile_text(), hostile_text());
    what += " header";
    break;
  case 3:
    for (size_t i = 0, n = 50 + pick(400); i < n; ++i)
      r.headers.emplace_back("X-Many-" + std::to_string(i), "v");
    what += " many-headers";
    break;
  case 4:
    r.headers.emplace_back("X-Folded", "a\r\n  folded");
    what += " obs-fold";
    break;
  case 5: {
    static const char* enc[] = {"gzip", "br", "deflate, gzip", "identity"};
    r.headers.emplace_back("Content-Encoding", enc[pick(std::size(enc))]);
    what += " content-encoding";
    break;
  }
  default:
    r.headers.emplace_back(pick(2) ? "Expect" : "Upgrade",
                           pick(2) ? "100-continue" : "h2c");
    what += " expect/upgrade";
  }
}

void mutator::mutate_body(request& r, std::string& what) {
  switch (pick(6)) {
  case 0:
    r.body = R"({"text": ")" + hostile_text() + R"("})";
    what += " json-text";
    break;
  case 1: {
    auto depth = 1 + pick(100000);
    r.body = std::string(depth, '[') + std::string(depth, ']');
    what += " deep-json";
    break;
  }
  case 2:
    r.body = R"({"text": "\ud800", "n": 1e999, "prompt": "a\r\nevent: x\r\r"})";
    what += " odd-json";
    break;
  case 3:
    r.body = std::string(1 + pick(2 << 20), 'x');
    what += " big-body";
    break;
  case 4:
    if (!r.body.empty())
      r.body.resize(pick(r.body.size()));
    what += " cut-json";
    break;
  default:
    r.body = R"({"prompt": ")" + hostile_text() +
             R"(", "n": 2, "delay_ms": 0})";
    r.method = "POST";
    r.target = "/stream";
    what += " stream-prompt";
  }
}

void mutator::mutate_framing(request& r, std::string& what) {
  auto size = std::to_string(r.body.size());
  switch (pick(6)) {
  case 0:
    r.chunked = true;
    what += " chunked";
    return;
  case 1: {
    static const char* lengths[] = {"-1", "99999999999999999999", "0x10",
                                    " 5 ", "1, 2", "18446744073709551615", ""};
    r.headers.emplace_back("Content-Length", lengths[pick(std::size(lengths))]);
    what += " bad-length";
    break;
  }
  case 2:
    r.headers.emplace_back("Content-Length", size);
    r.headers.emplace_back("Content-Length", std::to_string(r.body.size() + 1));
    what += " two-lengths";
    break;
  case 3:
    r.headers.emplace_back("Content-Length",
                           std::to_string(r.body.size() + 1 + pick(1 << 20)));
    what += " long-length";
    break;
  case 4:
    r.headers.emplace_back("Transfer-Encoding", "chunked");
    r.headers.emplace_back("Content-Length", size);
    r.body = "5;ext=1\r\nhello\r\nFFFFFFFFFFFFFFFFFF\r\nx\r\n0\r\n\r\n";
    what += " bad-chunks";
    break;
  default:
    r.headers.emplace_back("Transfer-Encoding",
                           pick(2) ? "gzip, chunked" : "chunked, identity");
    r.chunked = true;
    what += " transfer-encoding";
    break;
  }
  r.framing_done = true;
}

void mutator::mutate(request& r, std::string& what) {
  for (size_t i = 0, n = 1 + pick(3); i < n; ++i) {
    switch (pick(4)) {
    case 0:
      mutate_start_line(r, what);
      break;
    case 1:
      mutate_headers(r, what);
      break;
    case 2:
      mutate_body(r, what);
      break;
    default:
      mutate_framing(r, what);
    }
  }
}

std::string mutator::render(const request& r) {
  std::string out = r.method + " " + r.target;
  if (!r.version.empty())
    out += " " + r.version;
  out += "\r\n";
  for (auto& [name, value] : r.headers)
    out += name + ": " + value + "\r\n";
  if (r.chunked) {
    if (!r.framing_done)
      out += "Transfer-Encoding: chunked\r\n";
    out += "\r\n";
    size_t pos = 0;
    while (pos < r.body.size()) {
      auto n = std::min(r.body.size() - pos, 1 + pick(64));
      char size[32];
      std::snprintf(size, sizeof(size), "%zX", n);
      out += std::string{size} + (chance(10) ? ";ext=\"x\"" : "") + "\r\n" +
             r.body.substr(pos, n) + "\r\n";
      pos += n;
    }
    out += chance(10) ? "0\r\nX-Trailer: t\r\n\r\n" : "0\r\n\r\n";
    return out;
  }
  if (!r.framing_done && (!r.body.empty() || r.method == "POST"))
    out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  return out + "\r\n" + r.body;
}

fuzz_case mutator::next() {
  fuzz_case c;
  size_t requests = chance(20) ? 2 + pick(6) : 1;
  std::string bytes;
  for (size_t i = 0; i < requests; ++i) {
    auto r = base();
    if (requests > 1)
      r.headers.erase(std::remove_if(r.headers.begin(), r.headers.end(),
                                     [](auto& h) { return h.first == "Connection"; }),
                      r.headers.end());
    if (chance(85))
      mutate(r, c.what);
    bytes += render(r);
  }
  if (requests > 1)
    c.what += " pipelined(" + std::to_string(requests) + ")";
  if (chance(10)) {
    for (size_t i = 0, n = 1 + pick(8); i < n && !bytes.empty(); ++i)
      bytes[pick(bytes.size())] = static_cast<char>(pick(256));
    c.what += " flipped";
  }
  if (chance(10)) {
    bytes.resize(pick(bytes.size() + 1));
    c.half_close = true;
    c.what += " cut";
  }
  if (chance(20) && bytes.size() > 1) {
    size_t pos = 0;
    while (pos < bytes.size()) {
      auto n = std::min(bytes.size() - pos, 1 + pick(std::max<size_t>(2, bytes.size() / 4)));
      c.pieces.push_back(bytes.substr(pos, n));
      pos += n;
    }
    c.what += " split";
  } else {
    c.pieces.push_back(std::move(bytes));
  }
  if (c.what.empty())
    c.what = " plain";
  return c;
}

} // namespace httpfuzz
