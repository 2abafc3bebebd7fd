/// @file
/// A small blocking HTTP/1.1 client over raw loopback sockets, so tests can
/// send exactly the bytes they mean (keep-alive, malformed requests, big
/// bodies) to the real server.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace test {

struct http_result {
  int status = 0; // 0: no response (connection closed or failed)
  std::map<std::string, std::string> headers; // lower-case names
  std::string body;
  std::chrono::microseconds elapsed{0};

  std::string header(const std::string& lower_name) const {
    auto i = headers.find(lower_name);
    return i == headers.end() ? std::string{} : i->second;
  }
};

/// One keep-alive connection to 127.0.0.1:port.
class http_connection {
public:
  explicit http_connection(uint16_t port);
  ~http_connection();
  http_connection(const http_connection&) = delete;
  http_connection& operator=(const http_connection&) = delete;

  bool connected() const noexcept { return fd_ >= 0; }

  /// The socket, for readers of streamed bodies (sse_client.hpp).
  int fd() const noexcept { return fd_; }

  /// Sends a request and reads the whole response (Content-Length bodies).
  http_result request(const std::string& method, const std::string& target,
                      const std::string& body = {},
                      const std::map<std::string, std::string>& headers = {});

  /// Sends raw bytes and reads nothing. Returns false on failure.
  bool send(const std::string& bytes);

  /// Closes the connection (a client that goes away).
  void close();

  /// Sends raw bytes and reads one response (or none if the server closes).
  http_result raw(const std::string& bytes);

private:
  http_result read_response();

  int fd_ = -1;
  std::string buf_;
};

/// One request on a fresh connection.
http_result http(uint16_t port, const std::string& method,
                 const std::string& target, const std::string& body = {},
                 const std::map<std::string, std::string>& headers = {});

/// A TCP connection to 127.0.0.1:port, its descriptor (the caller closes
/// it); -1 when it cannot connect.
int connect_loopback(uint16_t port);

/// Returns a port that was free a moment ago (for child processes).
uint16_t free_port();

} // namespace test
