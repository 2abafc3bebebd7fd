/// @file
/// The thread of one isolated replica's user actor (private to the
/// library; user_plane.cpp starts one per isolated replica).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/execution_unit.hpp>
#include <caf/ref_counted.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "actorserve/handle.hpp"
#include "actorserve/user_plane.hpp"
#include "spin_queue.hpp"
#include "thread_name.hpp"

namespace actorserve::detail {

/// Runs one isolated replica's user actor. CAF's detached actors park their
/// thread the moment the mailbox is empty; this thread polls its queue for
/// the idle spin first (spin_queue.hpp). Every scheduler resumes the actor
/// through `user_actor::resume`, which hands it over here, so user code
/// never runs on a system-plane worker; messages the actor sends go to the
/// receivers' own schedulers (`exec_later`).
///
/// Under CAF's test coordinator there are no threads: the unit is virtual.
/// A hand-over becomes a job of the coordinator that resumes the actor on
/// this unit, so deterministic tests run the isolated path (hand-over,
/// waking unit, sends from the user unit) step by step.
class user_thread : public caf::execution_unit,
                    public std::enable_shared_from_this<user_thread> {
public:
  /// `name` names the thread (thread_name.hpp).
  user_thread(caf::actor_system& sys, std::chrono::nanoseconds spin,
              std::string name)
      : caf::execution_unit(&sys), name_(std::move(name)),
        coordinator_(
            dynamic_cast<caf::scheduler::test_coordinator*>(&sys.scheduler())) {
    jobs_.set_spin(spin);
  }

  /// Starts the thread; it keeps `self` alive until it ends.
  static void start(const std::shared_ptr<user_thread>& self) {
    if (self->coordinator_)
      return;
    self->system().inc_detached_threads();
    std::thread{[self] { self->run(); }}.detach();
  }

  /// Takes over `job` (the actor), which holds a reference for this thread.
  void push(caf::resumable* job) {
    if (coordinator_)
      system().scheduler().enqueue(new virtual_run(this, job));
    else
      jobs_.push(job);
  }

  /// Ends the thread once it has no job (the actor is gone).
  void stop() { jobs_.close(); }

  /// The actor this thread runs.
  void bind(caf::resumable* owner) noexcept { owner_ = owner; }

  /// CAF schedules `job` on this unit in two cases: a message woke our
  /// actor (user_actor::enqueue names this unit), which then runs here; or
  /// our actor sent to `job`, which runs on its own scheduler.
  void exec_later(caf::resumable* job) override {
    if (job == owner_)
      push(job);
    else
      system().scheduler().enqueue(job);
  }

private:
  /// One turn of the actor on the virtual unit, as a coordinator job. It
  /// keeps the unit alive: the actor may be destroyed while it runs.
  class virtual_run : public caf::ref_counted, public caf::resumable {
  public:
    virtual_run(user_thread* unit, caf::resumable* job)
        : unit_(unit->shared_from_this()), job_(job) {}

    caf::resumable::subtype_t subtype() const override {
      return caf::resumable::function_object;
    }

    caf::resumable::resume_result resume(caf::execution_unit*,
                                         size_t max) override {
      auto result = job_->resume(unit_.get(), max);
      if (result == caf::resumable::resume_later)
        return result; // the coordinator runs us again
      job_->intrusive_ptr_release_impl();
      return caf::resumable::done;
    }

    void intrusive_ptr_add_ref_impl() override { ref(); }
    void intrusive_ptr_release_impl() override { deref(); }

  private:
    std::shared_ptr<user_thread> unit_;
    caf::resumable* job_;
  };

  void run() {
    set_thread_role(thread_role::actor);
    name_this_thread(name_);
    system().thread_started();
    auto max = system().scheduler().max_throughput();
    while (auto job = jobs_.take()) {
      auto result = job->resume(this, max);
      while (result == caf::resumable::resume_later)
        result = job->resume(this, max);
      // Drop the reference push() was given; this may destroy the actor
      // (and call stop()).
      job->intrusive_ptr_release_impl();
      if (result == caf::resumable::done)
        break;
    }
    system().thread_terminates();
    system().dec_detached_threads();
  }

  std::string name_;
  spin_queue jobs_;
  caf::resumable* owner_ = nullptr; // set before the actor can be woken
  caf::scheduler::test_coordinator* coordinator_;
};

} // namespace actorserve::detail
