/// @file
/// The user plane's thread pool (private to the library): the threads that
/// run isolated replicas' user actors, apart from the system plane.
///
/// Every isolated replica of an actor system shares one pool. Its threads
/// ("lanes", named `as-user-N`) have a queue each:
///  - a user actor woken by code that runs on a lane (another user actor
///    calling it, or answering it) goes into that lane's own queue, so a
///    call between isolated replicas, and its answer, stays on one thread
///    when nothing else is free to take it: no wake-up, no context switch;
///  - a user actor woken from anywhere else (an I/O thread, a system
///    worker, the timer, a blocking pool) goes to that thread's home lane,
///    picked round robin among the base lanes on its first wake-up;
///  - a lane whose queue is empty steals the oldest job of another, polls
///    for the idle spin (drawing on `spin_budget`), then parks, waking now
///    and then to look for work to steal (as system workers do,
///    worker_scheduler.hpp).
///
/// User code may block, or compute at length, on a lane. A monitor thread
/// looks at the lanes every millisecond while any is busy (every 10 ms
/// otherwise) and applies `plan_pool` (user_pool_plan.hpp): when work waits
/// behind a lane that has run one job since the previous tick, it wakes a
/// parked lane to steal it, or adds a lane. Lanes beyond the base retire
/// once they have idled for about a quarter of a second, while the base
/// number of lanes that are not stalled remains. A blocked replica therefore
/// holds back other replicas' requests for a tick or two, and what the user
/// plane costs grows with its use (lanes), not with the replica count.
///
/// The actor itself never runs anywhere else: `user_actor::resume` hands
/// it to a lane whenever another scheduler resumes it (`hand_over`), and
/// when it sends to a system actor, the lane's `exec_later` gives the
/// receiver to the system plane's scheduler.
///
/// Under CAF's test coordinator there are no threads: the pool has one
/// virtual lane, and a job pushed onto it becomes a coordinator job that
/// resumes the actor on that lane, so deterministic tests step through the
/// isolated path (hand-over, local wake-ups, sends from a lane).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>

#include <caf/actor_system.hpp>
#include <caf/execution_unit.hpp>
#include <caf/resumable.hpp>

#include "ops/logging.hpp"

namespace caf::scheduler {
class test_coordinator;
} // namespace caf::scheduler

namespace actorserve::detail {

class user_pool : public std::enable_shared_from_this<user_pool> {
public:
  /// The pool of `sys`'s isolated replicas, started by the first one. The
  /// pool stays open while a returned reference lives; its threads end
  /// after the last one is dropped (and the actor system waits for them).
  static std::shared_ptr<user_pool> attach(caf::actor_system& sys);

  user_pool(caf::actor_system& sys, size_t base, std::chrono::nanoseconds spin);
  ~user_pool();

  user_pool(const user_pool&) = delete;
  user_pool& operator=(const user_pool&) = delete;

  /// The unit that schedules a user actor woken on this thread: this
  /// lane's queue when the caller runs on one of ours, else the caller's
  /// home lane.
  caf::execution_unit* waking_unit() noexcept;

  /// Whether `eu` is the unit of the lane this thread runs.
  bool runs_here(const caf::execution_unit* eu) const noexcept;

  /// Takes over `job` (a user actor another scheduler resumed), which
  /// holds a reference for the pool.
  void hand_over(caf::resumable* job);

  /// Waits for the event "at most `n` lanes are alive" (extra lanes
  /// retire after idling); false when `timeout` passed first.
  bool wait_lanes_at_most(size_t n, std::chrono::milliseconds timeout);

  /// Lanes whose threads run now (base and extra); any thread. The
  /// `actorserve_user_plane_lanes` gauge reads it.
  size_t alive_lanes() const noexcept;

  /// A replica joined or left (the pool has at most base + replicas
  /// lanes).
  void add_member() noexcept { members_.fetch_add(1); }
  void remove_member() noexcept { members_.fetch_sub(1); }

  struct lane;

  /// A parked lane looks for work to steal after this at first.
  static constexpr std::chrono::microseconds min_patrol{1000};
  /// The most lanes a pool ever has (base and extra).
  static constexpr size_t max_lanes = 1024;

private:
  /// Jobs run on a lane's `run_unit`: sends from there go to the
  /// receivers' own schedulers.
  class run_unit : public caf::execution_unit {
  public:
    explicit run_unit(caf::actor_system* sys) : caf::execution_unit(sys) {}
    void exec_later(caf::resumable* job) override;
  };

  /// The unit `waking_unit` returns: it queues the woken actor on its lane.
  class push_unit : public caf::execution_unit {
  public:
    push_unit(caf::actor_system* sys, user_pool* pool, lane* l)
        : caf::execution_unit(sys), pool_(pool), lane_(l) {}
    void exec_later(caf::resumable* job) override;

  private:
    user_pool* pool_;
    lane* lane_;
  };

  class virtual_run;

  friend struct lane;

  lane& add_lane();
  bool start_lane(lane& l);
  void run_lane(lane& l);
  void monitor();
  /// Whether stalled lane `l` only waits for a core (the monitor's probe).
  bool starved(lane& l, uint64_t turn);
  void close();
  lane& home_lane() noexcept;
  void push(lane& l, caf::resumable* job);
  caf::resumable* next_job(lane& l);
  caf::resumable* steal(const lane& thief);
  bool any_work() const noexcept;
  size_t free_lanes() const noexcept;
  void wake_one();

  caf::actor_system& sys_;
  size_t base_;
  std::chrono::nanoseconds spin_;
  caf::scheduler::test_coordinator* coordinator_;
  /// Lanes by index; slots are filled by the monitor only, never moved,
  /// and live as long as the pool. `count_` of them are in use.
  std::unique_ptr<std::unique_ptr<lane>[]> lanes_;
  std::atomic<size_t> count_{0};
  std::atomic<size_t> next_home_{0};
  /// Rate-limits the lines for what escapes a job on a lane.
  log_limiter lane_errors_;
  std::atomic<int> spinning_{0};
  std::atomic<int> parked_{0};
  std::atomic<size_t> members_{0};
  std::atomic<bool> closed_{false};
  std::mutex monitor_mtx_;
  std::condition_variable monitor_cv_;
  /// Signalled when a lane's thread leaves its loop.
  std::mutex retired_mtx_;
  std::condition_variable retired_cv_;

  friend class pool_owner;
};

/// One thread of the pool and its queue (user_pool.cpp runs it; the
/// monitor, user_pool_monitor.cpp, samples it).
struct user_pool::lane {
  lane(user_pool* p, size_t i)
      : pool(p), index(i), run(&p->sys_), push(&p->sys_, p, this) {}

  user_pool* pool;
  size_t index;
  run_unit run;
  push_unit push;
  std::mutex mtx;
  std::condition_variable cv;
  std::deque<caf::resumable*> jobs; // guarded by mtx
  bool parked = false;              // guarded by mtx
  bool wake = false;                // guarded by mtx
  /// How long the lane parks before it patrols (its thread only).
  std::chrono::microseconds patrol{user_pool::min_patrol};
  /// Mirrors jobs.size() for lock-free checks.
  std::atomic<size_t> size{0};
  /// Jobs started, and whether one runs now (read by the monitor).
  std::atomic<uint64_t> turns{0};
  std::atomic<bool> busy{false};
  /// Set by the monitor: the turn it found running for a tick or more.
  std::atomic<uint64_t> stalled_turn{0};
  /// A thread runs this lane.
  std::atomic<bool> alive{false};
  /// `turns` at the monitor's previous tick (monitor only).
  uint64_t seen = 0;
  /// The kernel's id of the lane's thread, for the monitor's probe.
  std::atomic<int> tid{0};
  /// The monitor's last look at the kernel's accounting of this lane's
  /// thread, in the turn `probed_turn` (monitor only; see thread_probe).
  uint64_t probed_turn = 0;
  uint64_t probed_run_ns = 0;
  uint64_t probed_wait_ns = 0;

  /// Still in the turn the monitor found stalled (a new turn clears it).
  bool stalled() const noexcept {
    return busy.load(std::memory_order_acquire) &&
           stalled_turn.load() == turns.load();
  }
};

} // namespace actorserve::detail
