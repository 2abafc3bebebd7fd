/// @file
/// The system plane's scheduler: CAF's work-sharing coordinator with a
/// policy that spins briefly before a worker parks.
///
/// CAF's own `work_sharing` policy parks an idle worker on a condition
/// variable at once, and allocates a list node per enqueued job. On a
/// virtual machine a parked thread takes tens of microseconds to wake
/// (futex wake, then the idle vCPU must be rescheduled), and a request
/// crosses threads several times, so at low load the wake-ups, not the work,
/// set the latency. This policy keeps a worker polling the shared queue for
/// `spin` after its last job before it parks, so a request that arrives
/// meanwhile costs no wake-up; an enqueue signals the condition variable only
/// when a worker is parked. With `spin` zero it behaves like `work_sharing`.
/// The cost is CPU while spinning: at most `spin` per idle period per
/// worker.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/logger.hpp>
#include <caf/policy/unprofiled.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

// CAF 0.17's worker loop tags every job with its actor id for the logger: a
// dynamic_cast through CAF's virtual bases and two thread-local updates per
// job. callgrind puts it at about 1,400 instructions per job, 13 % of a
// no-op HTTP request. Debian's CAF is built with CAF_LOG_LEVEL QUIET and logs
// nothing, so the tag is never read: our instantiation of the worker skips
// it. (Macros expand where the template is parsed, so this must come before
// the first include of caf/scheduler/worker.hpp in the translation unit.)
#if CAF_LOG_LEVEL == CAF_LOG_LEVEL_QUIET
#undef CAF_PUSH_AID_FROM_PTR
#define CAF_PUSH_AID_FROM_PTR(unused) static_cast<void>(0)
#endif
#include <caf/scheduler/coordinator.hpp>

namespace actorserve::detail {

class spin_then_park : public caf::policy::unprofiled {
public:
  struct coordinator_data {
    explicit coordinator_data(caf::scheduler::abstract_coordinator*) {}

    std::mutex lock;
    std::condition_variable cv;
    std::deque<caf::resumable*> queue; // guarded by lock
    size_t parked = 0;                 // guarded by lock
    /// Mirrors queue.size() for polling without the lock.
    std::atomic<size_t> size{0};
    /// Set before the workers start; read-only afterwards.
    std::chrono::nanoseconds spin{0};
  };

  struct worker_data {
    explicit worker_data(caf::scheduler::abstract_coordinator*) {}
  };

  template <class Coordinator>
  void central_enqueue(Coordinator* self, caf::resumable* job) {
    push(d(self), job);
  }

  template <class Worker>
  void external_enqueue(Worker* self, caf::resumable* job) {
    push(d(self->parent()), job);
  }

  template <class Worker>
  void internal_enqueue(Worker* self, caf::resumable* job) {
    push(d(self->parent()), job);
  }

  template <class Worker>
  void resume_job_later(Worker* self, caf::resumable* job) {
    push(d(self->parent()), job);
  }

  template <class Worker>
  caf::resumable* dequeue(Worker* self) {
    auto& q = d(self->parent());
    if (q.spin.count() > 0) {
      auto until = std::chrono::steady_clock::now() + q.spin;
      do {
        if (q.size.load(std::memory_order_acquire) > 0) {
          std::unique_lock<std::mutex> guard{q.lock};
          if (!q.queue.empty())
            return pop(q);
        }
        relax();
      } while (std::chrono::steady_clock::now() < until);
    }
    std::unique_lock<std::mutex> guard{q.lock};
    ++q.parked;
    q.cv.wait(guard, [&] { return !q.queue.empty(); });
    --q.parked;
    return pop(q);
  }

  template <class Worker, class F>
  void foreach_resumable(Worker*, F) {
    // Workers hold no jobs of their own.
  }

  template <class Coordinator, class F>
  void foreach_central_resumable(Coordinator* self, F f) {
    auto& q = d(self);
    std::unique_lock<std::mutex> guard{q.lock};
    while (!q.queue.empty())
      f(pop(q));
  }

private:
  static void push(coordinator_data& q, caf::resumable* job) {
    bool wake;
    {
      std::lock_guard<std::mutex> guard{q.lock};
      q.queue.push_back(job);
      q.size.store(q.queue.size(), std::memory_order_release);
      wake = q.parked > 0;
    }
    if (wake)
      q.cv.notify_one();
  }

  /// Takes the front job; the caller holds the lock.
  static caf::resumable* pop(coordinator_data& q) {
    auto job = q.queue.front();
    q.queue.pop_front();
    q.size.store(q.queue.size(), std::memory_order_release);
    return job;
  }

  static void relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    std::this_thread::yield();
#endif
  }
};

/// Install with `cfg.module_factories`: CAF then uses it instead of the
/// scheduler named by `scheduler.policy`.
class spin_coordinator : public caf::scheduler::coordinator<spin_then_park> {
public:
  spin_coordinator(caf::actor_system& sys, std::chrono::nanoseconds spin)
      : caf::scheduler::coordinator<spin_then_park>(sys) {
    data().spin = spin;
  }
};

} // namespace actorserve::detail
