/// @file
/// The command line's one request to a running server's admin API
/// (private to the library): HTTP/1.1 with `Connection: close`, the bearer
/// token when there is one, and a deadline for the whole exchange, so that
/// no CLI call waits forever.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <caf/expected.hpp>

namespace actorserve::detail {

struct admin_target {
  std::string host = "127.0.0.1";
  uint16_t port = 8265;
  /// Sent as `Authorization: Bearer <token>` when not empty.
  std::string token;
  /// For connecting, sending and reading the whole answer.
  std::chrono::milliseconds timeout{30'000};
};

struct admin_reply {
  int status = 0;
  std::string body;
};

/// The most bytes of an answer read (a status of many deployments is a few
/// MiB at most).
constexpr size_t max_admin_reply_bytes = 64 * 1024 * 1024;

/// Sends one request; `unavailable` when the server cannot be reached or
/// answers nothing readable, `deadline_exceeded` when the timeout passes.
caf::expected<admin_reply> admin_call(const admin_target& to,
                                      const std::string& method,
                                      const std::string& path,
                                      const std::string& body = {});

} // namespace actorserve::detail
