// httpfuzz's inputs: real requests to the demo, mutated from a seeded
// generator (the same seed gives the same requests, in the same order).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace httpfuzz {

/// A request before it becomes bytes.
struct request {
  std::string method = "GET";
  std::string target = "/";
  std::string version = "HTTP/1.1";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  /// Send the body with Transfer-Encoding: chunked, in pieces.
  bool chunked = false;
  /// Leave Content-Length / Transfer-Encoding as the headers say.
  bool framing_done = false;
};

/// Bytes to write on one connection.
struct fuzz_case {
  /// Written one after another, so the server reads them apart.
  std::vector<std::string> pieces;
  /// Shut our side down once written (the server sees EOF).
  bool half_close = false;
  /// What was done to it, for the log.
  std::string what;
};

class mutator {
public:
  explicit mutator(uint64_t seed) : rng_(seed) {}

  /// The next case: one request or several pipelined, each possibly
  /// mutated, possibly cut short or cut into pieces.
  fuzz_case next();

private:
  request base();
  void mutate(request& r, std::string& what);
  void mutate_start_line(request& r, std::string& what);
  void mutate_headers(request& r, std::string& what);
  void mutate_body(request& r, std::string& what);
  void mutate_framing(request& r, std::string& what);
  std::string render(const request& r);
  std::string hostile_text();
  size_t pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
  bool chance(int percent) { return static_cast<int>(pick(100)) < percent; }

  std::mt19937_64 rng_;
};

} // namespace httpfuzz
