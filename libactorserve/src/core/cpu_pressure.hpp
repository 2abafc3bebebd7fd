/// @file
/// Whether the cores are contended, for the user plane's idle spin
/// (user_pool.hpp, spin_queue.hpp).
///
/// A thread that polls for work yields its core at every poll, but a yield
/// returns at once when no other thread waits on that core, even while
/// threads queue on the others: three busy threads on two cores (an I/O
/// thread, a lane and the load) leave the polling lane alone on one core
/// and the other two sharing the second. So a lane also asks the kernel:
/// Linux's pressure stall information (/proc/pressure/cpu) counts the time
/// during which some runnable task waited for a core. While that share is
/// high, lanes poll only briefly before they park.
///
/// Lanes only: system workers keep their full spin. Polling threads are
/// themselves runnable tasks that wait for cores, so a quiet exchange
/// between nodes (a worker passing each message between the network and a
/// lane) reads as contended too; gating the workers there raised the
/// cross-node round trip from about 130 to 175–200 µs, while gating the
/// lanes left it as it was.
///
/// Reading it costs one `pread`, done at most once per `pressure_window` by
/// whichever polling thread finds the last reading stale; every other
/// thread reads an atomic flag. Without the file (PSI is off on some
/// kernels, `psi=0`), the cores count as spare, as before.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string_view>

namespace actorserve::detail {

/// How often the pressure is read, and the span a reading covers.
constexpr auto pressure_window = std::chrono::milliseconds(50);

/// Above this share of a window in which some task waited for a core, the
/// cores count as contended; below `spare_share` as spare again. Between
/// the two the state holds, so it does not flip at every reading. (On a
/// 2-core machine: an idle server and its client at one connection stall
/// 8–13 %; a saturated one with its client on the same cores 32–38 %.)
constexpr double contended_share = 0.25;
constexpr double spare_share = 0.15;

/// The longest idle spin while the cores are contended: long enough to
/// catch work already on its way, short enough that a poller takes little
/// from threads waiting for its core.
constexpr auto contended_spin = std::chrono::microseconds(5);

/// The cumulative stall time in microseconds from the text of
/// /proc/pressure/cpu (the `total=` of its `some` line), or nothing when the
/// text has none.
std::optional<uint64_t> cpu_stall_total_us(std::string_view text);

/// The share of `wall` during which some task waited, from the growth of
/// the stall total over it; 0 for an empty window.
double stall_share(uint64_t stall_us, std::chrono::nanoseconds wall);

/// The next contended state, from the last one and a window's share.
bool cores_contended(bool was, double share);

/// How long a thread polls before it parks: `spin`, or at most
/// `contended_spin` while the cores are contended.
std::chrono::nanoseconds spin_for(std::chrono::nanoseconds spin,
                                  bool contended);

/// The process-wide reading of /proc/pressure/cpu.
class cpu_pressure {
public:
  using clock = std::chrono::steady_clock;

  static cpu_pressure& instance();

  /// Whether the cores were contended in the last window; reads the file
  /// first when the reading is older than `pressure_window` and no other
  /// thread is reading it.
  bool contended(clock::time_point now) noexcept;

  cpu_pressure(const cpu_pressure&) = delete;
  cpu_pressure& operator=(const cpu_pressure&) = delete;

private:
  cpu_pressure();
  ~cpu_pressure() = default;

  void refresh(clock::time_point now) noexcept;

  int fd_ = -1;
  std::atomic<int64_t> next_ns_{0};
  std::atomic<bool> contended_{false};
  std::mutex mtx_; // guards the last reading below
  uint64_t last_total_us_ = 0;
  clock::time_point last_at_{};
};

} // namespace actorserve::detail
