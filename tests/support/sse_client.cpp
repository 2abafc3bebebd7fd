#include "sse_client.hpp"

#include <algorithm>
#include <cctype>
#include <poll.h>
#include <sys/socket.h>

namespace test {

sse_client::sse_client(uint16_t port, const std::string& method,
                       const std::string& target, const std::string& body)
    : conn_(port) {
  conn_.send(method + " " + target +
             " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n\r\n" + body);
}

int sse_client::status() {
  read_head();
  return status_;
}

bool sse_client::read_head() {
  if (head_read_)
    return status_ != 0;
  head_read_ = true;
  // The head: up to the blank line.
  while (raw_.find("\r\n\r\n") == std::string::npos)
    if (!fill(std::chrono::seconds(10)))
      return false;
  auto end = raw_.find("\r\n\r\n");
  head_ = raw_.substr(0, end + 2);
  raw_.erase(0, end + 4);
  std::transform(
      head_.begin(), head_.end(), head_.begin(),
      [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (head_.size() > 12)
    status_ = std::atoi(head_.c_str() + 9);
  return status_ != 0;
}

std::string sse_client::header(const std::string& lower_name) {
  read_head();
  auto pos = head_.find("\r\n" + lower_name + ":");
  if (pos == std::string::npos)
    return {};
  pos += lower_name.size() + 3;
  auto end = head_.find("\r\n", pos);
  auto value = head_.substr(pos, end - pos);
  while (!value.empty() && value.front() == ' ')
    value.erase(0, 1);
  return value;
}

bool sse_client::fill(std::chrono::milliseconds timeout) {
  if (closed_ || !conn_.connected())
    return false;
  pollfd p{conn_.fd(), POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0)
    return false;
  char buf[4096];
  auto n = ::recv(conn_.fd(), buf, sizeof(buf), 0);
  if (n <= 0) {
    closed_ = true;
    return false;
  }
  raw_.append(buf, static_cast<size_t>(n));
  return true;
}

std::optional<std::string>
sse_client::next_line(std::chrono::milliseconds timeout) {
  for (;;) {
    auto nl = body_.find('\n');
    if (nl != std::string::npos) {
      auto line = body_.substr(0, nl);
      body_.erase(0, nl + 1);
      return line;
    }
    if (complete_)
      return std::nullopt; // the lines left are all taken
    // Decode every whole chunk read so far.
    for (;;) {
      auto eol = raw_.find("\r\n");
      if (eol == std::string::npos)
        break;
      auto size = std::stoul(raw_.substr(0, eol), nullptr, 16);
      if (size == 0) {
        complete_ = true;
        raw_.clear();
        break;
      }
      if (raw_.size() < eol + 2 + size + 2)
        break;
      body_.append(raw_, eol + 2, size);
      raw_.erase(0, eol + 2 + size + 2);
    }
    if (body_.find('\n') == std::string::npos && !complete_ && !fill(timeout))
      return std::nullopt;
  }
}

std::optional<sse_event> sse_client::next(std::chrono::milliseconds timeout) {
  if (!read_head())
    return std::nullopt;
  sse_event ev;
  bool any = false;
  while (auto line = next_line(timeout)) {
    if (line->empty()) {
      if (any)
        return ev;
      continue;
    }
    any = true;
    if (line->rfind("event: ", 0) == 0) {
      ev.event = line->substr(7);
    } else if (line->rfind("data: ", 0) == 0) {
      if (!ev.data.empty())
        ev.data += '\n';
      ev.data += line->substr(6);
    }
  }
  return std::nullopt;
}

} // namespace test
