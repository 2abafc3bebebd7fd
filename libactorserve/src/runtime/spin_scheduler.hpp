/// @file
/// The system plane's scheduler: CAF's work-sharing coordinator with a
/// policy whose shared queue is a `spin_queue` (spin_queue.hpp): an idle
/// worker polls before it parks, an enqueue signals only parked workers, and
/// no list node is allocated per job as in CAF's `work_sharing`. With a spin
/// of zero it behaves like `work_sharing`.
#pragma once

#include "actorserve/handle.hpp" // thread roles

#include <chrono>

#include <caf/actor_system.hpp>
#include <caf/logger.hpp>
#include <caf/policy/unprofiled.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

#include "runtime/spin_queue.hpp"
#include "runtime/thread_name.hpp"

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
  /// One queue shared by all workers.
  struct coordinator_data {
    explicit coordinator_data(caf::scheduler::abstract_coordinator*) {}
    spin_queue queue;
  };

  struct worker_data {
    explicit worker_data(caf::scheduler::abstract_coordinator*) {}
  };

  template <class Coordinator>
  void central_enqueue(Coordinator* self, caf::resumable* job) {
    d(self).queue.push(job);
  }

  template <class Worker>
  void external_enqueue(Worker* self, caf::resumable* job) {
    d(self->parent()).queue.push(job);
  }

  template <class Worker>
  void internal_enqueue(Worker* self, caf::resumable* job) {
    d(self->parent()).queue.push(job);
  }

  template <class Worker>
  void resume_job_later(Worker* self, caf::resumable* job) {
    d(self->parent()).queue.push(job);
  }

  /// The queue is never closed: CAF stops workers with a shutdown job.
  template <class Worker>
  caf::resumable* dequeue(Worker* self) {
    set_thread_role(thread_role::actor); // for future::get
    thread_local bool named = false;
    if (!named) {
      name_this_thread("as-worker");
      named = true;
    }
    return d(self->parent()).queue.take();
  }

  template <class Worker, class F>
  void foreach_resumable(Worker*, F) {
    // Workers hold no jobs of their own.
  }

  template <class Coordinator, class F>
  void foreach_central_resumable(Coordinator* self, F f) {
    d(self).queue.drain(f);
  }
};

/// Install with `cfg.module_factories`: CAF then uses it instead of the
/// scheduler named by `scheduler.policy`.
class spin_coordinator : public caf::scheduler::coordinator<spin_then_park> {
public:
  spin_coordinator(caf::actor_system& sys, std::chrono::nanoseconds spin)
      : caf::scheduler::coordinator<spin_then_park>(sys) {
    data().queue.set_spin(spin);
  }
};

} // namespace actorserve::detail
