// loadgen's command line: flags, the target URL and the request it sends.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

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
    "               [--body-bytes N | --body TEXT] [--header 'NAME: VALUE']\n"
    "               [--vary N] [--cut F] [--cut-max-ms MS] [--seed S]\n"
    "               [--log FILE] [--timeout S] [--json]\n"
    "  --url          target; HOST is an IPv4 literal or localhost\n"
    "  --rate         requests per second, sent open loop (> 0)\n"
    "  --duration     measured seconds (> 0)\n"
    "  --warmup       seconds sent before measuring (default 0)\n"
    "  --connections  keep-alive connections in the pool (default 8)\n"
    "  --method       GET (default) or POST\n"
    "  --body-bytes   POST body size in bytes of 'x' (default 0)\n"
    "  --body         POST body, as given (Content-Type: application/json)\n"
    "  --header       an extra request header; may be given again\n"
    "  --vary         N: request i replaces {n} in the path, headers and body\n"
    "                 with i mod N (default 1: no replacing)\n"
    "  --cut          fraction of requests (0..1) whose connection we close on\n"
    "                 purpose: a quarter part way through the request's\n"
    "                 bytes, the rest at a random time up to --cut-max-ms\n"
    "                 after sending began (default 0)\n"
    "  --cut-max-ms   latest cut, ms after a request began (default 100)\n"
    "  --seed         seed of the cut choices (default 1): same seed, same cuts\n"
    "  --log          write one line per request: index, intended and end\n"
    "                 times (ns, CLOCK_MONOTONIC) and its outcome\n"
    "  --timeout      seconds to wait for answers after sending stops\n"
    "                 (default 5); also bounds opening the pool\n"
    "  --json         print one JSON object instead of the summary\n"
    "Latency is measured from each request's intended start time. Every\n"
    "request ends once: an HTTP status, a transport error (connect, write,\n"
    "reset, closed, bad_response), a cut of ours, or a timeout.\n"
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
  std::string body;                 // --body
  bool literal_body = false;        // --body was given
  std::vector<std::string> headers; // "Name: value"
  int vary = 1;
  double cut = 0;
  double cut_max_ms = 100;
  uint64_t seed = 1;
  std::string log_path;
  double timeout = 5;
  bool json = false;
};

/// Parses `http://HOST[:PORT][/PATH]`; throws usage_error.
target parse_url(const std::string& url);

/// Fills `opts` from the command line; false for --help (usage printed).
/// Throws usage_error naming the flag.
bool parse_options(int argc, char** argv, options& opts);

/// The requests, bytes ready for the socket: request i is element i mod
/// `opts.vary` (`{n}` replaced by that number).
std::vector<std::string> build_requests(const options& opts);

} // namespace loadgen
