#include "replica/user_pool.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

#include <unistd.h>

#include <caf/ref_counted.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "actorserve/handle.hpp" // thread roles
#include "actorserve/metrics.hpp"
#include "ops/logging.hpp"
#include "runtime/per_system.hpp"
#include "runtime/serve_config.hpp"
#include "runtime/spin_queue.hpp" // spin_budget, spin_until
#include "runtime/thread_name.hpp"

namespace actorserve::detail {

namespace {

using namespace std::chrono_literals;

/// A parked lane's wait before it patrols doubles, from min_patrol up to
/// this, while it finds nothing to steal.
constexpr std::chrono::microseconds max_patrol{128'000};
/// Messages an actor handles per turn on a lane before the lane moves on
/// to its next job (the actor goes to the back of the queue): a flooded
/// actor shares its lane, and does not look stalled to the monitor.
constexpr size_t lane_throughput = 64;

/// The lane the calling thread runs, if any.
thread_local user_pool::lane* current_lane = nullptr;

caf::resumable* take_front(user_pool::lane& l) {
  auto job = l.jobs.front();
  l.jobs.pop_front();
  l.size.store(l.jobs.size());
  return job;
}

caf::resumable* pop(user_pool::lane& l) {
  if (l.size.load() == 0)
    return nullptr;
  auto guard = lock_queue(l.mtx);
  return l.jobs.empty() ? nullptr : take_front(l);
}

} // namespace

/// One turn of an actor on the virtual lane, as a coordinator job. It
/// keeps the pool alive: the actor may be destroyed while it runs.
class user_pool::virtual_run : public caf::ref_counted, public caf::resumable {
public:
  virtual_run(std::shared_ptr<user_pool> pool, lane* l, caf::resumable* job)
      : pool_(std::move(pool)), lane_(l), job_(job) {}

  caf::resumable::subtype_t subtype() const override {
    return caf::resumable::function_object;
  }

  caf::resumable::resume_result resume(caf::execution_unit*,
                                       size_t max) override {
    auto prev = current_lane;
    current_lane = lane_;
    auto result = job_->resume(&lane_->run, max);
    current_lane = prev;
    if (result == caf::resumable::resume_later)
      return result; // the coordinator runs us again
    job_->intrusive_ptr_release_impl();
    return caf::resumable::done;
  }

  void intrusive_ptr_add_ref_impl() override { ref(); }
  void intrusive_ptr_release_impl() override { deref(); }

private:
  std::shared_ptr<user_pool> pool_;
  lane* lane_;
  caf::resumable* job_;
};

// -- units --------------------------------------------------------------------

void user_pool::run_unit::exec_later(caf::resumable* job) {
  // An actor on this lane sent to `job`, which is not a user actor (those
  // pick their unit in user_actor::enqueue): it runs on its own scheduler.
  system().scheduler().enqueue(job);
}

void user_pool::push_unit::exec_later(caf::resumable* job) {
  pool_->push(*lane_, job);
}

// -- the registry
// ---------------------------------------------------------------

/// Closes the pool when the last replica's reference goes.
class pool_owner {
public:
  explicit pool_owner(std::shared_ptr<user_pool> p) : pool(std::move(p)) {}
  ~pool_owner() { pool->close(); }
  std::shared_ptr<user_pool> pool;
};

std::shared_ptr<user_pool> user_pool::attach(caf::actor_system& sys) {
  auto owner = per_system<pool_owner>(sys, [&sys] {
    auto pool = std::make_shared<user_pool>(sys, user_threads_of(sys),
                                            idle_spin_of(sys));
    if (pool->coordinator_ != nullptr) {
      pool->add_lane().alive = true;
    } else {
      bool started = true;
      for (size_t i = 0; i < pool->base_ && started; ++i)
        started = pool->start_lane(pool->add_lane());
      if (started) {
        sys.inc_detached_threads();
        try {
          std::thread{[pool] { pool->monitor(); }}.detach();
        } catch (const std::system_error&) {
          sys.dec_detached_threads();
          started = false;
        }
      }
      if (!started) {
        pool->close();
        throw std::runtime_error("cannot start the user plane's threads");
      }
    }
    auto made = std::make_shared<pool_owner>(std::move(pool));
    if (auto reg = metrics_of(sys))
      reg->add_gauge_fn(
          "actorserve_user_plane_lanes",
          "Threads of the user plane's pool, which runs isolated replicas: "
          "the base lanes, plus extra ones while user code blocks lanes.",
          {}, std::weak_ptr<const void>{made},
          [p = made->pool.get()] { return double(p->alive_lanes()); });
    return made;
  });
  // Aliasing: the reference keeps the owner alive and points to the pool.
  return std::shared_ptr<user_pool>(owner, owner->pool.get());
}

// -- construction -------------------------------------------------------------

user_pool::user_pool(caf::actor_system& sys, size_t base,
                     std::chrono::nanoseconds spin)
    : sys_(sys), base_(std::clamp<size_t>(base, 1, max_lanes)), spin_(spin),
      coordinator_(
          dynamic_cast<caf::scheduler::test_coordinator*>(&sys.scheduler())),
      lanes_(std::make_unique<std::unique_ptr<lane>[]>(max_lanes)) {
  if (coordinator_ != nullptr)
    base_ = 1;
}

user_pool::~user_pool() = default;

user_pool::lane& user_pool::add_lane() {
  auto n = count_.load(std::memory_order_acquire);
  // Reuse a retired extra lane (its old thread has left its loop).
  for (size_t i = base_; i < n; ++i)
    if (!lanes_[i]->alive.load()) {
      lanes_[i]->patrol = min_patrol;
      return *lanes_[i];
    }
  lanes_[n] = std::make_unique<lane>(this, n);
  count_.store(n + 1, std::memory_order_release);
  return *lanes_[n];
}

bool user_pool::start_lane(lane& l) {
  l.alive = true;
  sys_.inc_detached_threads();
  try {
    std::thread{[self = shared_from_this(), &l] {
      self->run_lane(l);
    }}.detach();
    return true;
  } catch (const std::system_error&) {
    // Out of threads: the pool goes on with the lanes it has.
    l.alive = false;
    sys_.dec_detached_threads();
    return false;
  }
}

bool user_pool::wait_lanes_at_most(size_t n,
                                   std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> guard{retired_mtx_};
  return retired_cv_.wait_for(guard, timeout,
                              [&] { return alive_lanes() <= n; });
}

size_t user_pool::alive_lanes() const noexcept {
  auto count = count_.load(std::memory_order_acquire);
  size_t x = 0;
  for (size_t i = 0; i < count; ++i)
    x += lanes_[i]->alive.load() ? 1 : 0;
  return x;
}

// -- scheduling ---------------------------------------------------------------

caf::execution_unit* user_pool::waking_unit() noexcept {
  if (current_lane != nullptr && current_lane->pool == this)
    return &current_lane->push;
  return &home_lane().push;
}

bool user_pool::runs_here(const caf::execution_unit* eu) const noexcept {
  return current_lane != nullptr && current_lane->pool == this &&
         eu == &current_lane->run;
}

void user_pool::hand_over(caf::resumable* job) {
  push(home_lane(), job);
}

user_pool::lane& user_pool::home_lane() noexcept {
  thread_local const user_pool* pool = nullptr;
  thread_local size_t home = 0;
  if (pool != this) {
    pool = this;
    home = next_home_.fetch_add(1, std::memory_order_relaxed);
  }
  // Base lanes only (extra lanes retire), and past a stalled one.
  for (size_t i = 0; i < base_; ++i) {
    auto& l = *lanes_[(home + i) % base_];
    if (!l.stalled())
      return l;
  }
  return *lanes_[home % base_];
}

void user_pool::push(lane& l, caf::resumable* job) {
  if (coordinator_ != nullptr) {
    sys_.scheduler().enqueue(new virtual_run(shared_from_this(), &l, job));
    return;
  }
  auto backlog = push_and_wake_owner(l, job);
  if (backlog == 0)
    return;
  // The owner is busy or polling. One job waits only for its current one,
  // unless that one is stalled; a backlog is worth a parked lane's wake-up,
  // unless a polling lane will steal it anyway (worker_scheduler.hpp).
  if ((backlog < 2 && !l.stalled()) || spinning_.load() > 0 ||
      parked_.load() == 0)
    return;
  wake_one();
}

void user_pool::wake_one() {
  wake_one_parked(count_.load(std::memory_order_acquire),
                  [this](size_t i) -> lane& { return *lanes_[i]; });
}

caf::resumable* user_pool::steal(const lane& thief) {
  auto n = count_.load(std::memory_order_acquire);
  for (size_t i = 1; i < n; ++i)
    if (auto job = pop(*lanes_[(thief.index + i) % n]))
      return job;
  return nullptr;
}

bool user_pool::any_work() const noexcept {
  auto n = count_.load(std::memory_order_acquire);
  for (size_t i = 0; i < n; ++i)
    if (lanes_[i]->size.load() > 0)
      return true;
  return false;
}

size_t user_pool::free_lanes() const noexcept {
  auto n = count_.load(std::memory_order_acquire);
  size_t free = 0;
  for (size_t i = 0; i < n; ++i)
    if (lanes_[i]->alive.load() && !lanes_[i]->stalled())
      ++free;
  return free;
}

caf::resumable* user_pool::next_job(lane& l) {
  for (;;) {
    if (auto job = pop(l))
      return job;
    if (auto job = steal(l))
      return job;
    if (spin_.count() > 0 && !closed_.load() &&
        spin_budget::instance().try_acquire()) {
      spinning_.fetch_add(1);
      auto found = spin_until([&] { return any_work(); }, spin_);
      spinning_.fetch_sub(1);
      spin_budget::instance().release();
      // Re-check after we stopped counting as polling: a push that saw us
      // polling woke no one.
      if (found || any_work())
        continue;
    }
    auto guard = lock_queue(l.mtx);
    if (!l.jobs.empty())
      return take_front(l);
    if (closed_.load()) {
      l.alive = false;
      return nullptr;
    }
    l.parked = true;
    parked_.fetch_add(1);
    // Re-check the others after we count as parked (see push).
    bool woken = true;
    if (!any_work())
      woken = l.cv.wait_for(guard, l.patrol, [&] {
        return !l.jobs.empty() || l.wake || closed_.load();
      });
    l.parked = false;
    l.wake = false;
    parked_.fetch_sub(1);
    if (!l.jobs.empty()) {
      l.patrol = min_patrol;
      return take_front(l);
    }
    if (woken || any_work()) {
      l.patrol = min_patrol;
      continue;
    }
    // A patrol found nothing. An extra lane that has idled this long
    // retires while the base number of other lanes are free to run jobs
    // (only its own thread ever queues onto it).
    if (l.patrol >= max_patrol && l.index >= base_ && free_lanes() > base_) {
      l.alive = false;
      return nullptr;
    }
    l.patrol = std::min(l.patrol * 2, max_patrol);
  }
}

void user_pool::run_lane(lane& l) {
  set_thread_role(thread_role::actor);
  name_this_thread("as-user-" + std::to_string(l.index));
  l.tid.store(static_cast<int>(::gettid()));
  sys_.thread_started();
  current_lane = &l;
  auto max = std::min(sys_.scheduler().max_throughput(), lane_throughput);
  while (auto job = next_job(l)) {
    l.turns.fetch_add(1);
    l.busy.store(true, std::memory_order_release);
    // The lane's boundary: CAF turns what a handler throws into the actor's
    // exit; anything that still escapes is logged, the job counts as done,
    // and the lane goes on.
    auto result = caf::resumable::done;
    try {
      result = job->resume(&l.run, max);
    } catch (const std::exception& e) {
      log_caught(lane_errors_, "user-plane lane", e.what());
    } catch (...) {
      log_caught(lane_errors_, "user-plane lane", "a non-standard exception");
    }
    l.busy.store(false, std::memory_order_release);
    if (result == caf::resumable::resume_later)
      push(l, job); // to the back of the queue, reference kept
    else
      // Drop the reference the job came with; this may destroy the actor.
      job->intrusive_ptr_release_impl();
  }
  current_lane = nullptr;
  { std::lock_guard<std::mutex> guard{retired_mtx_}; }
  retired_cv_.notify_all();
  sys_.thread_terminates();
  sys_.dec_detached_threads();
}

} // namespace actorserve::detail
