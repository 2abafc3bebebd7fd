/// @file
/// Reads a streamed HTTP response (chunked transfer) event by event, as a
/// browser's EventSource would, over a real loopback socket.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "http_client.hpp"

namespace test {

/// One Server-Sent Event ("message" unless the stream named it).
struct sse_event {
  std::string event = "message";
  std::string data;
};

class sse_client {
public:
  /// POSTs `body` to `target`; the response is read on demand.
  sse_client(uint16_t port, const std::string& target, const std::string& body)
      : sse_client(port, "POST", target, body) {}

  /// Sends `method` to `target` with `body`.
  sse_client(uint16_t port, const std::string& method,
             const std::string& target, const std::string& body);

  /// The response status (0 when there was none); reads the head.
  int status();

  /// The value of a response header (lower-case name), or "".
  std::string header(const std::string& lower_name);

  /// The next event, or nothing when the body ended, the connection
  /// closed, or no event came within `timeout`.
  std::optional<sse_event> next(std::chrono::milliseconds timeout);

  /// The next line of the decoded body (for chunked responses that are not
  /// SSE), or nothing at its end.
  std::optional<std::string> line(std::chrono::milliseconds timeout) {
    if (!read_head())
      return std::nullopt;
    return next_line(timeout);
  }

  /// Whether the chunked body ended with its terminating chunk.
  bool complete() const noexcept { return complete_; }

  /// Goes away mid-stream.
  void close() { conn_.close(); }

private:
  bool read_head();
  bool fill(std::chrono::milliseconds timeout);
  std::optional<std::string> next_line(std::chrono::milliseconds timeout);

  http_connection conn_;
  int status_ = 0;
  std::string raw_;  // bytes read, not yet decoded
  std::string body_; // decoded body, not yet parsed into events
  std::string head_;
  bool complete_ = false;
  bool closed_ = false;
  bool head_read_ = false;
};

} // namespace test
