#include "net.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

namespace httpfuzz {

namespace {

class socket_fd {
public:
  socket_fd() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {}
  ~socket_fd() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  socket_fd(const socket_fd&) = delete;
  socket_fd& operator=(const socket_fd&) = delete;
  int get() const noexcept { return fd_; }

private:
  int fd_;
};

bool connect_to(int fd, const std::string& host, uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1)
    return false;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
}

// Writes all of `data`; false once the server closed its side.
bool write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    auto n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// Reads into `out` until the peer closes (true) or is quiet for `quiet_ms`.
bool read_until_quiet(int fd, std::string& out, int quiet_ms,
                      size_t max_bytes = 1 << 20) {
  char buf[16384];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    auto r = ::poll(&p, 1, quiet_ms);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return false;
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return true;
    if (out.size() < max_bytes)
      out.append(buf, static_cast<size_t>(n));
  }
}

} // namespace

exchange_result exchange(const std::string& host, uint16_t port,
                         const std::vector<std::string>& pieces,
                         int quiet_ms, bool half_close) {
  exchange_result result;
  socket_fd sock;
  if (sock.get() < 0 || !connect_to(sock.get(), host, port)) {
    result.refused = true;
    return result;
  }
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (i > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (!write_all(sock.get(), pieces[i])) {
      result.closed = true;
      break;
    }
  }
  if (half_close)
    ::shutdown(sock.get(), SHUT_WR);
  if (read_until_quiet(sock.get(), result.reply, quiet_ms))
    result.closed = true;
  return result;
}

std::vector<int> statuses_of(const std::string& reply) {
  std::vector<int> out;
  size_t pos = 0;
  while ((pos = reply.find("HTTP/1.", pos)) != std::string::npos) {
    if (pos + 12 <= reply.size() && reply[pos + 8] == ' ') {
      auto code = std::atoi(reply.substr(pos + 9, 3).c_str());
      if (code >= 100 && code <= 599)
        out.push_back(code);
    }
    pos += 7;
  }
  return out;
}

health get_health(const std::string& host, uint16_t port, int timeout_ms) {
  health h;
  auto r = exchange(host, port,
                    {"GET /-/healthz HTTP/1.1\r\nHost: " + host +
                     "\r\nConnection: close\r\n\r\n"},
                    timeout_ms, false);
  auto codes = statuses_of(r.reply);
  if (codes.empty())
    return h;
  h.status = codes.front();
  auto body_at = r.reply.find("\r\n\r\n");
  h.body = body_at == std::string::npos ? std::string{}
                                        : r.reply.substr(body_at + 4);
  auto key = h.body.find("\"in_flight\":");
  if (key != std::string::npos)
    h.in_flight = std::strtol(h.body.c_str() + key + 12, nullptr, 10);
  return h;
}

long rss_kib(long pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

bool alive(long pid) {
  if (::kill(static_cast<pid_t>(pid), 0) != 0)
    return false;
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string stat;
  std::getline(in, stat);
  auto paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() ||
         stat[paren + 2] != 'Z';
}

} // namespace httpfuzz
