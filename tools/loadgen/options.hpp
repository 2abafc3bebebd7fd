// loadgen's command line: flags, the target URL and the request it sends.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include <netinet/in.h>

namespace loadgen {

// -- command line --------------------------------------------------------

/// Bad usage: the message names the flag.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline constexpr const char* usage_text =
    "usage: loadgen --url http://HOST[:PORT][/PATH] --rate R --duration S\n"
    "               [--warmup S] [--connections N] [--method GET|POST]\n"
    "               [--body-bytes N] [--timeout S] [--json]\n"
    "  --url          target; HOST is an IPv4 literal or localhost\n"
    "  --rate         requests per second, sent open loop (> 0)\n"
    "  --duration     measured seconds (> 0)\n"
    "  --warmup       seconds sent before measuring (default 0)\n"
    "  --connections  keep-alive connections in the pool (default 8)\n"
    "  --method       GET (default) or POST\n"
    "  --body-bytes   POST body size in bytes of 'x' (default 0)\n"
    "  --timeout      seconds to wait for answers after sending stops\n"
    "                 (default 5); also bounds opening the pool\n"
    "  --json         print one JSON object instead of the summary\n"
    "Latency is measured from each request's intended start time.\n"
    "Exit status: 0 ok, 1 errors or timeouts (or no connection), 2 usage.\n";

struct target {
  std::string url;
  in_addr address{};
  uint16_t port = 80;
  std::string host_header; // "host[:port]" as written in the URL
  std::string path = "/";  // path and query
};

struct options {
  target url;
  double rate = 0;
  double duration = 0;
  double warmup = 0;
  int connections = 8;
  std::string method = "GET";
  size_t body_bytes = 0;
  double timeout = 5;
  bool json = false;
};

/// Parses `http://HOST[:PORT][/PATH]`; throws usage_error.
target parse_url(const std::string& url);

/// Fills `opts` from the command line; false for --help (usage printed).
/// Throws usage_error naming the flag.
bool parse_options(int argc, char** argv, options& opts);

/// The request every connection sends, bytes ready for the socket.
std::string build_request(const options& opts);

} // namespace loadgen
