/// @file
/// What bounds failed handshakes on the cluster port (private): a bucket of
/// allowed failures per source address and one for all of them, and a
/// budget of log lines.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <string>
#include <unordered_map>

namespace actorserve::detail {

/// A token bucket: `burst` failures at once, then `per_second`.
class failure_bucket {
public:
  using clock = std::chrono::steady_clock;

  failure_bucket(double burst, double per_second)
      : burst_(burst), rate_(per_second), left_(burst), at_(clock::now()) {}

  /// Whether one more failure is allowed now.
  bool allows(clock::time_point now) {
    refill(now);
    return left_ >= 1.0;
  }

  /// Counts a failure.
  void fail(clock::time_point now) {
    refill(now);
    left_ = left_ >= 1.0 ? left_ - 1.0 : 0.0;
  }

  /// Whether it holds its whole burst again (nothing to remember).
  bool full(clock::time_point now) {
    refill(now);
    return left_ >= burst_;
  }

private:
  void refill(clock::time_point now) {
    if (now <= at_)
      return; // a time point from before the last one
    std::chrono::duration<double> dt = now - at_;
    at_ = now;
    left_ = std::min(burst_, left_ + dt.count() * rate_);
  }

  double burst_;
  double rate_;
  double left_;
  clock::time_point at_;
};

/// Failure buckets per source address and for all addresses together.
class failure_limits {
public:
  using clock = failure_bucket::clock;

  /// Whether a connection from `addr` gets a handshake now.
  bool admits(const std::string& addr, clock::time_point now) {
    if (!all_.allows(now))
      return false;
    auto i = per_addr_.find(addr);
    return i == per_addr_.end() || i->second.allows(now);
  }

  void fail(const std::string& addr, clock::time_point now) {
    all_.fail(now);
    if (per_addr_.size() >= max_addresses)
      forget_full(now);
    if (per_addr_.size() >= max_addresses)
      return; // many sources at once: the global bucket holds them
    per_addr_.try_emplace(addr, per_addr_burst, per_addr_rate)
        .first->second.fail(now);
  }

  static constexpr double per_addr_burst = 5;
  static constexpr double per_addr_rate = 0.5;
  static constexpr double all_burst = 50;
  static constexpr double all_rate = 5;
  static constexpr size_t max_addresses = 4096;

private:
  void forget_full(clock::time_point now) {
    for (auto i = per_addr_.begin(); i != per_addr_.end();)
      i = i->second.full(now) ? per_addr_.erase(i) : std::next(i);
  }

  failure_bucket all_{all_burst, all_rate};
  std::unordered_map<std::string, failure_bucket> per_addr_;
};

/// At most `lines` log lines per `window`, which opens with the first line
/// after a quiet one; the rest are counted, for one summary line when the
/// window ends.
class log_budget {
public:
  using clock = std::chrono::steady_clock;

  log_budget(size_t lines, clock::duration window)
      : lines_(lines), window_(window) {}

  /// Whether a line may be written now (or is only counted).
  bool take(clock::time_point now) {
    roll(now);
    if (!open_) {
      open_ = true;
      start_ = now;
    }
    if (used_ < lines_) {
      ++used_;
      return true;
    }
    ++suppressed_;
    return false;
  }

  /// Lines suppressed in a window that ended (to say once), else 0.
  size_t ended(clock::time_point now) {
    roll(now);
    auto n = done_;
    done_ = 0;
    return n;
  }

private:
  void roll(clock::time_point now) {
    if (!open_ || now - start_ < window_)
      return;
    done_ += suppressed_;
    suppressed_ = 0;
    used_ = 0;
    open_ = false;
  }

  size_t lines_;
  clock::duration window_;
  bool open_ = false;
  clock::time_point start_;
  size_t used_ = 0;
  size_t suppressed_ = 0;
  size_t done_ = 0;
};

} // namespace actorserve::detail
