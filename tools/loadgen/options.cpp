// loadgen's command line: parsing flags and the target URL.
#include "options.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

#include <arpa/inet.h>

#include "common.hpp"

namespace loadgen {

target parse_url(const std::string& url) {
  const std::string scheme = "http://";
  if (url.compare(0, scheme.size(), scheme) != 0)
    throw usage_error("--url: must start with http:// (got '" + url + "')");
  target t;
  t.url = url;
  auto rest = url.substr(scheme.size());
  auto slash = rest.find_first_of("/?");
  auto authority = rest.substr(0, slash);
  if (slash != std::string::npos)
    t.path = rest[slash] == '/' ? rest.substr(slash) : "/" + rest.substr(slash);
  if (authority.empty())
    throw usage_error("--url: missing host in '" + url + "'");
  t.host_header = authority;
  auto host = authority;
  auto colon = authority.rfind(':');
  if (colon != std::string::npos) {
    host = authority.substr(0, colon);
    auto port_text = authority.substr(colon + 1);
    char* end = nullptr;
    errno = 0;
    auto port = std::strtol(port_text.c_str(), &end, 10);
    if (port_text.empty() || *end != '\0' || errno != 0 || port < 1 ||
        port > 65535)
      throw usage_error("--url: invalid port '" + port_text + "'");
    t.port = static_cast<uint16_t>(port);
  }
  if (host == "localhost")
    host = "127.0.0.1";
  if (inet_pton(AF_INET, host.c_str(), &t.address) != 1)
    throw usage_error("--url: host must be an IPv4 address or localhost "
                      "(got '" +
                      host + "')");
  return t;
}

namespace {

double parse_number(const std::string& flag, const std::string& text,
                    double min, bool min_allowed) {
  char* end = nullptr;
  errno = 0;
  double x = std::strtod(text.c_str(), &end);
  bool ok = !text.empty() && *end == '\0' && errno == 0 && std::isfinite(x) &&
            (min_allowed ? x >= min : x > min);
  if (!ok)
    throw usage_error(
        flag + ": expected a number " + (min_allowed ? ">= " : "> ") +
        std::to_string(static_cast<long long>(min)) + ", got '" + text + "'");
  return x;
}

long long parse_integer(const std::string& flag, const std::string& text,
                        long long min, long long max) {
  char* end = nullptr;
  errno = 0;
  auto x = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || x < min || x > max)
    throw usage_error(flag + ": expected an integer in [" +
                      std::to_string(min) + ", " + std::to_string(max) +
                      "], got '" + text + "'");
  return x;
}

} // namespace

// Longer than 80 lines: one branch per flag, a table read top to bottom.
/// Parses `--flag value` and `--flag=value`. Returns false for --help.
bool parse_options(int argc, char** argv, options& opts) {
  bool have_url = false;
  bool have_rate = false;
  bool have_duration = false;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    std::string value;
    bool inline_value = false;
    if (auto eq = flag.find('='); eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
      inline_value = true;
    }
    if (flag == "--help" || flag == "-h")
      return false;
    if (flag == "--json") {
      if (inline_value)
        throw usage_error("--json: takes no value");
      opts.json = true;
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= argc)
        throw usage_error(flag + ": missing value");
      value = argv[++i];
    }
    if (flag == "--url") {
      opts.url = parse_url(value);
      have_url = true;
    } else if (flag == "--rate") {
      opts.rate = parse_number(flag, value, 0, false);
      have_rate = true;
    } else if (flag == "--duration") {
      opts.duration = parse_number(flag, value, 0, false);
      have_duration = true;
    } else if (flag == "--warmup") {
      opts.warmup = parse_number(flag, value, 0, true);
    } else if (flag == "--connections") {
      opts.connections = static_cast<int>(parse_integer(flag, value, 1, 10000));
    } else if (flag == "--method") {
      if (value != "GET" && value != "POST")
        throw usage_error("--method: expected GET or POST, got '" + value +
                          "'");
      opts.method = value;
    } else if (flag == "--body-bytes") {
      opts.body_bytes =
          static_cast<size_t>(parse_integer(flag, value, 0, 1LL << 30));
    } else if (flag == "--body") {
      opts.body = value;
      opts.literal_body = true;
    } else if (flag == "--header") {
      auto colon = value.find(':');
      if (colon == 0 || colon == std::string::npos ||
          value.find_first_of("\r\n") != std::string::npos)
        throw usage_error("--header: expected 'NAME: VALUE', got '" + value +
                          "'");
      opts.headers.push_back(value);
    } else if (flag == "--vary") {
      opts.vary = static_cast<int>(parse_integer(flag, value, 1, 1000000));
    } else if (flag == "--cut") {
      opts.cut = parse_number(flag, value, 0, true);
      if (opts.cut > 1)
        throw usage_error("--cut: expected a fraction in [0, 1], got '" +
                          value + "'");
    } else if (flag == "--cut-max-ms") {
      opts.cut_max_ms = parse_number(flag, value, 0, true);
    } else if (flag == "--seed") {
      opts.seed = static_cast<uint64_t>(
          parse_integer(flag, value, 0, std::numeric_limits<long long>::max()));
    } else if (flag == "--log") {
      opts.log_path = value;
    } else if (flag == "--timeout") {
      opts.timeout = parse_number(flag, value, 0, false);
    } else {
      throw usage_error("unknown flag '" + flag + "'");
    }
  }
  if (!have_url)
    throw usage_error("--url: required");
  if (!have_rate)
    throw usage_error("--rate: required");
  if (!have_duration)
    throw usage_error("--duration: required");
  if (opts.body_bytes > 0 && opts.method != "POST")
    throw usage_error("--body-bytes: needs --method POST");
  if (opts.literal_body && opts.method != "POST")
    throw usage_error("--body: needs --method POST");
  if (opts.literal_body && opts.body_bytes > 0)
    throw usage_error("--body: not with --body-bytes");
  if (opts.rate * (opts.warmup + opts.duration) > 1e8)
    throw usage_error("--rate: more than 100 million requests in one run");
  return true;
}

namespace {

std::string replace_all(std::string text, const std::string& what,
                        const std::string& with) {
  for (auto at = text.find(what); at != std::string::npos;
       at = text.find(what, at + with.size()))
    text.replace(at, what.size(), with);
  return text;
}

std::string build_one(const options& opts, const std::string& n) {
  auto fill = [&](const std::string& s) {
    return opts.vary > 1 ? replace_all(s, "{n}", n) : s;
  };
  std::string req = opts.method + " " + fill(opts.url.path) + " HTTP/1.1\r\n";
  req += "Host: " + opts.url.host_header + "\r\n";
  req += "Connection: keep-alive\r\n";
  for (auto& h : opts.headers)
    req += fill(h) + "\r\n";
  auto body = opts.literal_body ? fill(opts.body)
                                : std::string(opts.body_bytes, 'x');
  if (opts.method == "POST") {
    req += opts.literal_body ? "Content-Type: application/json\r\n"
                             : "Content-Type: application/octet-stream\r\n";
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n";
  return req + body;
}

} // namespace

/// The bytes of each request, sent again and again.
std::vector<std::string> build_requests(const options& opts) {
  std::vector<std::string> out;
  for (int n = 0; n < opts.vary; ++n)
    out.push_back(build_one(opts, std::to_string(n)));
  return out;
}

} // namespace loadgen
