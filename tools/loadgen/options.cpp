// loadgen's command line: parsing flags and the target URL.
#include "options.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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
  if (opts.rate * (opts.warmup + opts.duration) > 1e8)
    throw usage_error("--rate: more than 100 million requests in one run");
  return true;
}

/// The bytes of the one request every connection sends, again and again.
std::string build_request(const options& opts) {
  std::string req = opts.method + " " + opts.url.path + " HTTP/1.1\r\n";
  req += "Host: " + opts.url.host_header + "\r\n";
  req += "Connection: keep-alive\r\n";
  if (opts.method == "POST") {
    req += "Content-Type: application/octet-stream\r\n";
    req += "Content-Length: " + std::to_string(opts.body_bytes) + "\r\n";
  }
  req += "\r\n";
  req.append(opts.body_bytes, 'x');
  return req;
}

} // namespace loadgen
