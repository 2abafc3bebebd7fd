// httpfuzz's side of the socket: one exchange on a fresh connection, the
// server's health answer, and its resident memory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace httpfuzz {

/// How one exchange ended.
struct exchange_result {
  /// Could not connect at all.
  bool refused = false;
  /// Bytes the server sent back before it closed or went quiet.
  std::string reply;
  /// The server closed the connection (rather than we timing out).
  bool closed = false;
};

/// Connects to host:port, writes `pieces` one after another (a short pause
/// between them, so each tends to arrive as its own segment), then reads
/// until the server closes or is silent for `quiet_ms`. With `half_close`,
/// our side of the connection is shut down once everything was written.
exchange_result exchange(const std::string& host, uint16_t port,
                         const std::vector<std::string>& pieces,
                         int quiet_ms, bool half_close);

/// The status codes at the start of each response in `reply` (pipelined
/// requests give several).
std::vector<int> statuses_of(const std::string& reply);

/// What GET /-/healthz says.
struct health {
  int status = 0;
  std::string body;
  /// The "in_flight" number in the body, or -1.
  long in_flight = -1;
};

health get_health(const std::string& host, uint16_t port, int timeout_ms);

/// The resident set of process `pid` in KiB (VmRSS), or -1 when it is gone.
long rss_kib(long pid);

/// Whether process `pid` is still there (and not a zombie).
bool alive(long pid);

} // namespace httpfuzz
