#include "cpu_pressure.hpp"

#include <algorithm>
#include <charconv>

#include <fcntl.h>
#include <unistd.h>

namespace actorserve::detail {

std::optional<uint64_t> cpu_stall_total_us(std::string_view text) {
  // "some avg10=0.38 avg60=2.54 avg300=7.66 total=2909499253\nfull ..."
  auto line = text.substr(0, text.find('\n'));
  if (line.substr(0, 5) != "some ")
    return std::nullopt;
  auto at = line.find(" total=");
  if (at == std::string_view::npos)
    return std::nullopt;
  auto digits = line.substr(at + 7);
  uint64_t total = 0;
  auto [end, ec] =
      std::from_chars(digits.data(), digits.data() + digits.size(), total);
  if (ec != std::errc{} || end == digits.data())
    return std::nullopt;
  return total;
}

double stall_share(uint64_t stall_us, std::chrono::nanoseconds wall) {
  if (wall.count() <= 0)
    return 0;
  auto us = std::chrono::duration<double, std::micro>(wall).count();
  return std::min(1.0, static_cast<double>(stall_us) / us);
}

bool cores_contended(bool was, double share) {
  if (share > contended_share)
    return true;
  if (share < spare_share)
    return false;
  return was;
}

std::chrono::nanoseconds spin_for(std::chrono::nanoseconds spin,
                                  bool contended) {
  if (!contended)
    return spin;
  return std::min(spin, std::chrono::nanoseconds{contended_spin});
}

cpu_pressure& cpu_pressure::instance() {
  // Never destroyed: polling threads may outlive static destruction.
  static auto* self = new cpu_pressure;
  return *self;
}

cpu_pressure::cpu_pressure() {
  fd_ = ::open("/proc/pressure/cpu", O_RDONLY | O_CLOEXEC);
}

bool cpu_pressure::contended(clock::time_point now) noexcept {
  if (fd_ < 0)
    return false;
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                now.time_since_epoch())
                .count();
  auto next = next_ns_.load(std::memory_order_relaxed);
  if (ns >= next &&
      next_ns_.compare_exchange_strong(
          next, ns + std::chrono::nanoseconds{pressure_window}.count(),
          std::memory_order_relaxed))
    refresh(now);
  return contended_.load(std::memory_order_relaxed);
}

void cpu_pressure::refresh(clock::time_point now) noexcept {
  std::unique_lock<std::mutex> guard{mtx_, std::try_to_lock};
  if (!guard.owns_lock())
    return;
  char buf[256];
  auto n = ::pread(fd_, buf, sizeof(buf) - 1, 0);
  if (n <= 0)
    return;
  auto total = cpu_stall_total_us(std::string_view{buf, size_t(n)});
  if (!total)
    return;
  if (last_at_ != clock::time_point{} && *total >= last_total_us_) {
    auto share = stall_share(*total - last_total_us_, now - last_at_);
    contended_.store(
        cores_contended(contended_.load(std::memory_order_relaxed), share),
        std::memory_order_relaxed);
  }
  last_total_us_ = *total;
  last_at_ = now;
}

} // namespace actorserve::detail
