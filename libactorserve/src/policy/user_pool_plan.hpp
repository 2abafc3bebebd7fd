/// @file
/// The user pool's one decision, as a function of plain data: on each tick
/// of its monitor, should it wake a sleeping thread, add a thread, or leave
/// the pool as it is? (user_pool.hpp wires it to threads; tested in
/// tests/core/user_pool.test.cpp.)
#pragma once

#include <cstddef>
#include <vector>

namespace actorserve::detail {

/// One pool thread as the monitor saw it on this tick.
struct lane_sample {
  /// Running a job now.
  bool busy = false;
  /// Running the same job as on the previous tick: user code has held the
  /// thread for at least a tick (blocked, or computing at length).
  bool stalled = false;
  /// Stalled, but waiting for a core rather than blocked or computing: the
  /// machine's cores are all busy, and another thread would only wait too.
  bool starved = false;
  /// Sleeping on its condition variable (not polling).
  bool parked = false;
  /// Jobs waiting in its queue.
  size_t queued = 0;
};

enum class pool_step {
  none,
  /// Wake a parked thread: it steals what waits behind a stalled one.
  wake,
  /// Start one more thread.
  grow,
};

/// What the pool does on a tick, given its threads and the most it may
/// have (`cap`). Work waits on a stalled thread's queue, or waits anywhere
/// while every thread is busy and one of them is stalled: then a parked
/// thread is woken to take it; with none parked and none polling (a
/// polling thread steals it by itself), a thread is added, up to `cap`.
/// Busy threads that are not stalled get to the work on their own, and a
/// starved thread counts as not stalled.
pool_step plan_pool(const std::vector<lane_sample>& lanes, size_t cap);

/// Whether a thread that has held one job since the monitor's previous look
/// is starved: it waited on the kernel's run queue for longer than it ran
/// (`ran_ns` and `waited_ns` since that look).
constexpr bool starved_between(unsigned long long ran_ns,
                               unsigned long long waited_ns) {
  return waited_ns > ran_ns;
}

} // namespace actorserve::detail
