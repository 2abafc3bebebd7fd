// loadgen's constants, string helpers, file descriptors and fatal errors.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

#include <time.h>
#include <unistd.h>

namespace loadgen {

constexpr int64_t ns_per_s = 1'000'000'000;
constexpr size_t max_header_bytes = 64 * 1024;
constexpr int max_reported_errors = 5;

// -- small utilities -----------------------------------------------------

inline int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * ns_per_s + ts.tv_nsec;
}

inline int64_t seconds_to_ns(double s) {
  return static_cast<int64_t>(std::llround(s * static_cast<double>(ns_per_s)));
}

inline std::string lower(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return s;
}

inline std::string trim(const std::string& s) {
  auto first = s.find_first_not_of(" \t");
  if (first == std::string::npos)
    return {};
  auto last = s.find_last_not_of(" \t");
  return s.substr(first, last - first + 1);
}

/// True if the comma-separated header value contains `token`
/// (case-insensitive), e.g. "keep-alive, Close" contains "close".
inline bool has_token(const std::string& value, const std::string& token) {
  size_t start = 0;
  while (start <= value.size()) {
    auto comma = value.find(',', start);
    if (comma == std::string::npos)
      comma = value.size();
    if (lower(trim(value.substr(start, comma - start))) == token)
      return true;
    start = comma + 1;
  }
  return false;
}

/// Owns a file descriptor.
class unique_fd {
public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {}
  ~unique_fd() { reset(); }
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  void reset() noexcept {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
  }

private:
  int fd_ = -1;
};

/// A system call failed in a way that ends the run.
struct fatal_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline std::string errno_text(const std::string& what, int err = errno) {
  return what + ": " + std::strerror(err);
}

} // namespace loadgen
