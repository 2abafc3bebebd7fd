// The threads user code runs on besides an isolated replica's own: the
// blocking pool behind run_blocking (and a job's way there and back), and
// the role each thread plays.
#include <algorithm>
#include <memory>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/make_message.hpp>
#include <caf/message_id.hpp>
#include <caf/ref_counted.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "actorserve/handle.hpp"
#include "ops/logging.hpp"
#include "replica/user_plane.hpp"
#include "runtime/per_system.hpp"
#include "runtime/thread_name.hpp"

namespace actorserve::detail {

// -- blocking_pool ------------------------------------------------------------

/// Shared by the pool and its threads, which may outlive it.
struct blocking_pool::state {
  std::mutex mtx;
  std::condition_variable cv;
  std::deque<std::function<void()>> jobs;
  std::string thread_name;
  /// Counts started and waiting jobs; may be null.
  std::shared_ptr<replica_activity> activity;
  /// Idle threads end after this; zero: never.
  std::chrono::milliseconds retire_after{0};
  size_t max_threads = 0;
  size_t threads = 0;
  size_t idle = 0;
  /// Threads started that have not reached their loop yet: free too.
  size_t starting = 0;
  bool stopping = false;
};

namespace {

/// A blocking job as a test coordinator's job (no threads there).
class virtual_job : public caf::ref_counted, public caf::resumable {
public:
  virtual_job(std::shared_ptr<void> pool, const bool* stopping,
              std::function<void()> job)
      : pool_(std::move(pool)), stopping_(stopping), job_(std::move(job)) {}

  caf::resumable::subtype_t subtype() const override {
    return caf::resumable::function_object;
  }

  caf::resumable::resume_result resume(caf::execution_unit*, size_t) override {
    // A pool stopped meanwhile drops its jobs (their guards answer).
    if (!*stopping_) {
      auto job = std::move(job_);
      job();
    }
    return caf::resumable::done;
  }

  void intrusive_ptr_add_ref_impl() override { ref(); }
  void intrusive_ptr_release_impl() override { deref(); }

private:
  std::shared_ptr<void> pool_; // keeps `stopping_` alive
  const bool* stopping_;
  std::function<void()> job_;
};

} // namespace

blocking_pool::blocking_pool(size_t max_threads, caf::actor_system& sys,
                             std::string thread_name,
                             std::chrono::milliseconds retire_after,
                             std::shared_ptr<replica_activity> activity)
    : state_(std::make_shared<state>()) {
  state_->activity = std::move(activity);
  state_->thread_name = std::move(thread_name);
  state_->retire_after = retire_after;
  state_->max_threads = max_threads;
  if (dynamic_cast<caf::scheduler::test_coordinator*>(&sys.scheduler()))
    virtual_ = &sys.scheduler();
}

blocking_pool::~blocking_pool() {
  stop();
}

void blocking_pool::submit(std::function<void()> job) {
  if (virtual_ != nullptr) {
    // One thread only (the test's): nothing else touches `stopping`.
    if (!state_->stopping)
      virtual_->enqueue(
          new virtual_job(state_, &state_->stopping, std::move(job)));
    return;
  }
  auto& st = *state_;
  std::lock_guard<std::mutex> guard{st.mtx};
  if (st.stopping)
    return; // the job's promise goes with it: its guard answers
  st.jobs.push_back(std::move(job));
  if (st.activity)
    st.activity->jobs_waiting.store(st.jobs.size(), std::memory_order_relaxed);
  st.cv.notify_one();
  grow(state_);
}

void blocking_pool::grow(const std::shared_ptr<state>& sp) {
  // An idle thread counts as free only until it takes a job; compare with
  // the queue, not just the idle count, or a burst would wake one thread
  // several times and run serially.
  auto& st = *sp;
  while (st.jobs.size() > st.idle + st.starting && st.threads < st.max_threads) {
    ++st.threads;
    ++st.starting;
    std::thread{[sp] { run(sp); }}.detach();
  }
}

void blocking_pool::set_max_threads(size_t n) {
  if (virtual_ != nullptr || n == 0)
    return;
  {
    std::lock_guard<std::mutex> guard{state_->mtx};
    state_->max_threads = n;
    grow(state_);
  }
  state_->cv.notify_all(); // idle threads above a lowered limit end
}

size_t blocking_pool::stop() {
  std::deque<std::function<void()>> dropped;
  size_t busy = 0;
  {
    std::lock_guard<std::mutex> guard{state_->mtx};
    if (state_->stopping)
      return 0;
    state_->stopping = true;
    dropped.swap(state_->jobs);
    if (state_->activity)
      state_->activity->jobs_waiting.store(0, std::memory_order_relaxed);
    busy = state_->threads - state_->idle - state_->starting;
  }
  state_->cv.notify_all();
  // Destroyed outside the lock: their reply guards answer the requests.
  dropped.clear();
  return busy;
}

namespace {

log_limiter& blocking_errors() {
  static log_limiter limiter;
  return limiter;
}

} // namespace

void blocking_pool::run(const std::shared_ptr<state>& sp) {
  set_thread_role(thread_role::blocking);
  auto& st = *sp;
  name_this_thread(st.thread_name);
  std::unique_lock<std::mutex> guard{st.mtx};
  --st.starting;
  for (;;) {
    ++st.idle;
    auto ready = [&st] {
      return st.stopping || !st.jobs.empty() || st.threads > st.max_threads;
    };
    bool woken = true;
    if (st.retire_after.count() > 0)
      woken = st.cv.wait_for(guard, st.retire_after, ready);
    else
      st.cv.wait(guard, ready);
    --st.idle;
    if (st.stopping || !woken || st.threads > st.max_threads) {
      --st.threads;
      return;
    }
    auto job = std::move(st.jobs.front());
    st.jobs.pop_front();
    if (st.activity) {
      replica_activity::bump(st.activity->jobs_started);
      st.activity->jobs_waiting.store(st.jobs.size(),
                                      std::memory_order_relaxed);
    }
    guard.unlock();
    // The loop's boundary: a job that throws past its own guard is logged,
    // and the thread takes the next one.
    try {
      job();
    } catch (const std::exception& e) {
      log_caught(blocking_errors(), "blocking thread", e.what());
    } catch (...) {
      log_caught(blocking_errors(), "blocking thread",
                 "a non-standard exception");
    }
    job = nullptr; // its captures go now, not at the next job
    guard.lock();
  }
}

std::shared_ptr<blocking_pool> probe_pool(caf::actor_system& sys) {
  return per_system<blocking_pool>(sys, [&sys] {
    return std::make_shared<blocking_pool>(max_probe_threads, sys, "as-probe",
                                           std::chrono::seconds(1));
  });
}

// -- run_blocking: offloading a job, and the way back -------------------------

promise_slot_base::~promise_slot_base() = default;

void user_plane::offload(caf::local_actor* self,
                         std::shared_ptr<promise_slot_base> slot,
                         std::function<std::function<void()>()> job) {
  offload_to(*pool_, self, std::move(slot), std::move(job));
}

void user_plane::offload_to(blocking_pool& pool, caf::local_actor* self,
                            std::shared_ptr<promise_slot_base> slot,
                            std::function<std::function<void()>()> job) {
  // Forget the slots of completed jobs now and then.
  if (blocking_.size() >= 64)
    blocking_.erase(std::remove_if(blocking_.begin(), blocking_.end(),
                                   [](const auto& w) { return w.expired(); }),
                    blocking_.end());
  blocking_.push_back(slot);
  slot.reset();
  // The job may outlive this actor (a thread left running at shutdown):
  // it holds what it needs, never `this`, and only a weak reference to the
  // actor.
  pool.submit([back = poster(self), job = std::move(job)] {
    std::function<void()> completion;
    try {
      completion = job();
    } catch (...) {
      // run_blocking catches everything; a throw here means the job's
      // promise is gone, and its reply guard answers for it.
      return;
    }
    // If the actor is gone, the completion's guard answers.
    back.post(std::move(completion));
  });
}

completion_poster user_plane::poster(caf::local_actor* self) const {
  return {caf::actor_cast<caf::weak_actor_ptr>(self->ctrl()), completions_};
}

bool completion_poster::post(std::function<void()> f) const {
  auto owner = addr_.lock();
  if (!owner || !box_)
    return false;
  {
    std::lock_guard<std::mutex> guard{box_->mtx};
    box_->done.push_back(std::move(f));
  }
  // The owning actor runs on its own plane, and delivers promises there
  // (never from this foreign thread).
  owner->get()->enqueue(nullptr, caf::make_message_id(),
                        caf::make_message(completions_atom::value), nullptr);
  return true;
}

// -- thread roles -------------------------------------------------------------

namespace {

thread_local thread_role role_of_this_thread = thread_role::other;

} // namespace

thread_role current_thread_role() noexcept {
  return role_of_this_thread;
}

void set_thread_role(thread_role role) noexcept {
  role_of_this_thread = role;
}

void check_not_blocking_thread(const char* what) {
  if (role_of_this_thread == thread_role::blocking)
    throw std::logic_error(
        std::string{what} +
        " from inside run_blocking: a blocking thread must not touch the "
        "actor; make the call in the handler or a continuation");
}

} // namespace actorserve::detail
