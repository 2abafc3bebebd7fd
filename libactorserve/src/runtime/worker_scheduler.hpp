/// @file
/// The system plane's default scheduler: a queue per worker, stealing, and a
/// bounded spin before parking.
///
/// CAF's work-sharing scheduler (and our `spin_then_park` variant of it)
/// keeps one queue for all workers: every job of every request locks it
/// twice, from every worker and I/O thread. Here each worker owns a queue:
///  - a worker enqueues the actors it wakes into its own queue;
///  - a thread outside the pool (an HTTP I/O thread, a replica's thread, the
///    timer) has a home worker, picked round robin on its first enqueue, so
///    threads spread over the queues and each queue sees few writers;
///  - a worker whose queue is empty steals from the others (oldest job
///    first), then polls all queues for the idle spin, then parks on its own
///    condition variable;
///  - an enqueue wakes the queue's owner only if it is parked; if the owner
///    is busy with a backlog (two jobs or more waiting), no worker spins and
///    one is parked, it wakes that one to steal (Go's scheduler rule, less
///    eager: waking for a single job cost 20 % of the no-op's throughput on
///    2 cores). Spinning and parking re-check the queues after they announce
///    themselves, so a backlog never waits for a busy worker while another
///    could run it, except in the window of a race that ends when the owner
///    finishes its current job;
///  - a parked worker patrols: it wakes after 1 ms to look for work to steal,
///    doubling the wait while it finds none (at most 100 ms). A single job
///    queued behind a long one (an inline handler that runs long or blocks)
///    therefore waits at most that long for an idle worker, and an idle
///    pool wakes about ten times a second per worker.
///
/// Spinning draws on the process-wide `spin_budget` (spin_queue.hpp): no
/// more threads poll at once than there are cores, and each yields its core
/// to any runnable thread, so idle threads never crowd out busy ones.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include <caf/resumable.hpp>

#include "actorserve/handle.hpp" // thread roles

// Includes caf/scheduler/coordinator.hpp with CAF's per-job logger tag
// skipped, and spin_queue.hpp (spin_budget).
#include "runtime/spin_scheduler.hpp"

namespace actorserve::detail {

class per_worker_queues : public caf::policy::unprofiled {
public:
  /// One worker's queue and parking spot.
  struct slot {
    std::mutex mtx;
    std::condition_variable cv;
    std::deque<caf::resumable*> jobs; // guarded by mtx
    bool parked = false;              // guarded by mtx
    bool wake = false;                // guarded by mtx: look for work to steal
    /// How long the owner parks before it patrols (owner only).
    std::chrono::microseconds patrol{1000};
    /// Mirrors jobs.size() for lock-free checks.
    std::atomic<size_t> size{0};
  };

  struct coordinator_data {
    explicit coordinator_data(caf::scheduler::abstract_coordinator*) {}
    std::chrono::nanoseconds spin{0};
    std::atomic<size_t> next_home{0};
    std::atomic<int> spinning{0};
    std::atomic<int> parked{0};
  };

  struct worker_data {
    explicit worker_data(caf::scheduler::abstract_coordinator*)
        : queue(std::make_unique<slot>()) {}
    // CAF copies one prototype per worker: each gets a fresh queue.
    worker_data(const worker_data&) : queue(std::make_unique<slot>()) {}
    std::unique_ptr<slot> queue;
  };

  template <class Coordinator>
  void central_enqueue(Coordinator* self, caf::resumable* job) {
    thread_local const void* pool = nullptr;
    thread_local size_t home = 0;
    if (pool != self) {
      pool = self;
      home = d(self).next_home.fetch_add(1, std::memory_order_relaxed);
    }
    push(self, self->worker_by_id(home % self->num_workers()), job);
  }

  template <class Worker>
  void external_enqueue(Worker* self, caf::resumable* job) {
    push(self->parent(), self, job);
  }

  template <class Worker>
  void internal_enqueue(Worker* self, caf::resumable* job) {
    push(self->parent(), self, job);
  }

  template <class Worker>
  void resume_job_later(Worker* self, caf::resumable* job) {
    push(self->parent(), self, job);
  }

  template <class Worker>
  caf::resumable* dequeue(Worker* self) {
    // For future::get, which must not block a thread that runs actors.
    set_thread_role(thread_role::actor);
    thread_local bool named = false;
    if (!named) {
      name_this_thread("as-worker");
      named = true;
    }
    auto parent = self->parent();
    auto& cd = d(parent);
    auto& me = *d(self).queue;
    for (;;) {
      if (auto job = pop(me))
        return job;
      if (auto job = steal(self))
        return job;
      if (cd.spin.count() > 0 && spin_budget::instance().try_acquire()) {
        cd.spinning.fetch_add(1);
        auto found = spin_until([&] { return any_work(parent); }, cd.spin);
        cd.spinning.fetch_sub(1);
        spin_budget::instance().release();
        // Re-check after we stopped counting as spinning: an enqueue that
        // saw us spinning did not wake anyone.
        if (found || any_work(parent))
          continue;
      }
      auto guard = lock_queue(me.mtx);
      if (!me.jobs.empty())
        return take_front(me);
      me.parked = true;
      cd.parked.fetch_add(1);
      // Re-check the others after we count as parked (see push).
      bool woken = true;
      if (!any_work(parent))
        woken = me.cv.wait_for(guard, me.patrol,
                               [&] { return !me.jobs.empty() || me.wake; });
      me.parked = false;
      me.wake = false;
      cd.parked.fetch_sub(1);
      if (!me.jobs.empty()) {
        me.patrol = min_patrol;
        return take_front(me);
      }
      guard.unlock();
      // A patrol: steal what waits behind a busy worker, or wait longer.
      if (!woken && !any_work(parent))
        me.patrol = std::min(me.patrol * 2, max_patrol);
      else
        me.patrol = min_patrol;
    }
  }

  template <class Worker, class F>
  void foreach_resumable(Worker* self, F f) {
    auto& me = *d(self).queue;
    std::lock_guard<std::mutex> guard{me.mtx};
    while (!me.jobs.empty())
      f(take_front(me));
  }

  template <class Coordinator, class F>
  void foreach_central_resumable(Coordinator*, F) {
    // No central queue.
  }

private:
  static constexpr std::chrono::microseconds min_patrol{1000};
  static constexpr std::chrono::microseconds max_patrol{100'000};

  static caf::resumable* take_front(slot& s) {
    auto job = s.jobs.front();
    s.jobs.pop_front();
    s.size.store(s.jobs.size());
    return job;
  }

  static caf::resumable* pop(slot& s) {
    if (s.size.load() == 0)
      return nullptr;
    auto guard = lock_queue(s.mtx);
    return s.jobs.empty() ? nullptr : take_front(s);
  }

  template <class Worker>
  static caf::resumable* steal(Worker* self) {
    auto parent = self->parent();
    auto n = parent->num_workers();
    for (size_t i = 1; i < n; ++i) {
      auto victim = parent->worker_by_id((self->id() + i) % n);
      if (auto job = pop(*d(victim).queue))
        return job;
    }
    return nullptr;
  }

  template <class Coordinator>
  static bool any_work(Coordinator* parent) {
    auto n = parent->num_workers();
    for (size_t i = 0; i < n; ++i)
      if (d(parent->worker_by_id(i)).queue->size.load() > 0)
        return true;
    return false;
  }

  template <class Coordinator, class Worker>
  static void push(Coordinator* parent, Worker* target, caf::resumable* job) {
    auto backlog = push_and_wake_owner(*d(target).queue, job);
    if (backlog == 0)
      return;
    // The owner is busy (or spinning). One job waits only for the owner's
    // current one; a backlog is worth a parked worker's wake-up (tens of
    // microseconds), unless a spinning worker will steal it anyway.
    auto& cd = d(parent);
    if (backlog < 2 || cd.spinning.load() > 0 || cd.parked.load() == 0)
      return;
    wake_one_parked(parent->num_workers(), [parent](size_t i) -> slot& {
      return *d(parent->worker_by_id(i)).queue;
    });
  }
};

/// Install with `cfg.module_factories`: CAF then uses it instead of the
/// scheduler named by `scheduler.policy`.
class worker_coordinator
    : public caf::scheduler::coordinator<per_worker_queues> {
public:
  worker_coordinator(caf::actor_system& sys, std::chrono::nanoseconds spin)
      : caf::scheduler::coordinator<per_worker_queues>(sys) {
    data().spin = spin;
  }
};

} // namespace actorserve::detail
