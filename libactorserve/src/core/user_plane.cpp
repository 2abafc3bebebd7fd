#include "actorserve/user_plane.hpp"

#include <chrono>
#include <stdexcept>

#include <caf/atom.hpp>
#include <caf/make_message.hpp>
#include <caf/response_promise.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

#include "call_host.hpp"
#include "serve_config.hpp"
#include "spin_queue.hpp"

namespace actorserve::detail {

// -- user_thread --------------------------------------------------------------

/// Runs one isolated replica's user actor. CAF's detached actors park their
/// thread the moment the mailbox is empty; this thread polls its queue for
/// the idle spin first (spin_queue.hpp). Every scheduler resumes the actor
/// through `user_actor::resume`, which hands it over here, so user code
/// never runs on a system-plane worker; messages the actor sends go to the
/// receivers' own schedulers (`exec_later`).
class user_thread : public caf::execution_unit {
public:
  user_thread(caf::actor_system& sys, std::chrono::nanoseconds spin)
      : caf::execution_unit(&sys) {
    jobs_.set_spin(spin);
  }

  /// Starts the thread; it keeps `self` alive until it ends.
  static void start(const std::shared_ptr<user_thread>& self) {
    self->system().inc_detached_threads();
    std::thread{[self] { self->run(); }}.detach();
  }

  /// Takes over `job` (the actor), which holds a reference for this thread.
  void push(caf::resumable* job) { jobs_.push(job); }

  /// Ends the thread once it has no job (the actor is gone).
  void stop() { jobs_.close(); }

  /// The actor this thread runs.
  void bind(caf::resumable* owner) noexcept { owner_ = owner; }

  /// CAF schedules `job` on this unit in two cases: a message woke our
  /// actor (user_actor::enqueue names this unit), which then runs here; or
  /// our actor sent to `job`, which runs on its own scheduler.
  void exec_later(caf::resumable* job) override {
    if (job == owner_)
      jobs_.push(job);
    else
      system().scheduler().enqueue(job);
  }

private:
  void run() {
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

  spin_queue jobs_;
  caf::resumable* owner_ = nullptr; // set before the actor can be woken
};

// -- blocking_pool ------------------------------------------------------------

blocking_pool::blocking_pool(size_t max_threads) : max_threads_(max_threads) {}

blocking_pool::~blocking_pool() {
  stop();
}

void blocking_pool::submit(std::function<void()> job) {
  std::lock_guard<std::mutex> guard{mtx_};
  jobs_.push_back(std::move(job));
  // An idle thread counts as free only until it takes a job; compare with
  // the queue, not just the idle count, or a burst would wake one thread
  // several times and run serially.
  if (jobs_.size() > idle_ && threads_.size() < max_threads_)
    threads_.emplace_back([this] { run(); });
  else
    cv_.notify_one();
}

void blocking_pool::stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopping_ = true;
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (auto& t : threads)
    t.join();
}

void blocking_pool::run() {
  std::unique_lock<std::mutex> guard{mtx_};
  for (;;) {
    ++idle_;
    cv_.wait(guard, [this] { return stopping_ || !jobs_.empty(); });
    --idle_;
    if (jobs_.empty())
      return; // stopping
    auto job = std::move(jobs_.front());
    jobs_.pop_front();
    guard.unlock();
    job();
    guard.lock();
  }
}

// -- user_plane ---------------------------------------------------------------

user_plane::user_plane(caf::actor_system& sys,
                       std::shared_ptr<const replica_context> ctx,
                       bool isolated)
    : ctx_(std::move(ctx)),
      pool_(std::make_unique<blocking_pool>(ctx_->max_ongoing_requests)) {
  if (isolated) {
    thread_ = std::make_shared<user_thread>(sys, idle_spin_of(sys));
    user_thread::start(thread_);
  }
}

user_plane::~user_plane() {
  callers_.reset();
  if (thread_)
    thread_->stop();
}

caf::execution_unit*
user_plane::waking_unit(caf::execution_unit* eu) const noexcept {
  return thread_ ? thread_.get() : eu;
}

void user_plane::bind_actor(caf::local_actor* self, caf::resumable* job) {
  self_ = self;
  if (thread_)
    thread_->bind(job);
}

void user_plane::route(const endpoint_ptr& ep, caf::message_id mid,
                       request_meta meta, caf::message args,
                       caf::response_promise rp) {
  if (!callers_)
    callers_ = std::make_unique<call_host>(self_, ctx_->replica_id * 7919 +
                                                      self_->id());
  callers_->route(ep, mid, std::move(meta), std::move(args), std::move(rp));
}

bool user_plane::intercept_response(caf::mailbox_element& x) {
  return callers_ && callers_->on_response(x);
}

bool user_plane::hand_over(caf::resumable* job, caf::execution_unit* eu) {
  if (!thread_ || eu == thread_.get())
    return false;
  // The scheduler that resumed us drops its reference when we return;
  // the user thread keeps one of its own.
  job->intrusive_ptr_add_ref_impl();
  thread_->push(job);
  return true;
}

void user_plane::offload(caf::local_actor* self,
                         std::function<std::function<void()>()> job) {
  auto addr = caf::actor_cast<caf::actor>(self);
  pool_->submit([this, addr, job = std::move(job)] {
    auto completion = job();
    {
      std::lock_guard<std::mutex> guard{done_mtx_};
      done_.push_back(std::move(completion));
    }
    // anon_send: the owning actor runs on its own thread, and delivers the
    // promise there (never from this foreign thread).
    caf::anon_send(addr, completions_atom::value);
  });
}

bool user_plane::handle_framework_message(caf::local_actor* self,
                                          caf::mailbox_element& x) {
  auto& content = x.content();
  if (content.match_elements<completions_atom>()) {
    std::vector<std::function<void()>> done;
    {
      std::lock_guard<std::mutex> guard{done_mtx_};
      done.swap(done_);
    }
    for (auto& f : done)
      f();
    return true;
  }
  if (content.match_elements<route_retry_atom>()) {
    if (callers_)
      callers_->on_retry();
    return true;
  }
  if (content.match_elements<replica_gone_atom, uint64_t>()) {
    if (callers_)
      callers_->on_replica_gone(content.get_as<uint64_t>(1));
    return true;
  }
  if (content.match_elements<ping_atom>()) {
    // Reaching this point means the user's constructor has run.
    reply(self, x, caf::make_message(ping_atom::value));
    return true;
  }
  return false;
}

caf::error user_plane::exception_to_error(std::exception_ptr& eptr) {
  try {
    std::rethrow_exception(eptr);
  } catch (const error_exception& e) {
    return make_error(e.code(), e.what());
  } catch (const std::exception& e) {
    return make_error(errc::user_error, e.what());
  } catch (...) {
    return make_error(errc::user_error, "unknown exception");
  }
}

void user_plane::reply(caf::local_actor* self, caf::mailbox_element& x,
                       caf::message msg) {
  if (!x.mid.is_request() || x.mid.is_answered() || !x.sender)
    return;
  x.sender->enqueue(caf::make_mailbox_element(self->ctrl(), x.mid.response_id(),
                                              {}, std::move(msg)),
                    self->context());
  x.mid.mark_as_answered();
}

void user_plane::fail(caf::local_actor* self, caf::mailbox_element& x,
                      caf::error err) {
  reply(self, x, caf::make_message(std::move(err)));
}

void user_plane::stop_pool() {
  pool_->stop();
  if (callers_) {
    callers_->fail_all(
        make_error(errc::unavailable, "the calling replica stopped"));
    callers_.reset();
  }
}

void route_call(caf::local_actor* self, const endpoint_ptr& ep,
                caf::message_id mid, request_meta meta, caf::message args) {
  if (auto up = dynamic_cast<user_plane*>(self); up != nullptr) {
    up->route(ep, mid, std::move(meta), std::move(args));
    return;
  }
  // Not a replica: the deployment's gateway routes for us.
  caf::message msg;
  caf::actor dest = ep->gateway();
  if (dest) {
    msg = caf::make_message(call_atom::value, std::move(meta), std::move(args));
  } else {
    dest = caf::actor_cast<caf::actor>(self);
    mid = mid.response_id();
    msg = caf::make_message(
        make_error(errc::unavailable,
                   "deployment '" + ep->deployment() + "' was deleted"));
  }
  dest->enqueue(
      caf::make_mailbox_element(self->ctrl(), mid, {}, std::move(msg)),
      self->context());
}

void route_delegate(caf::local_actor* self, const endpoint_ptr& ep,
                    request_meta meta, caf::message args) {
  auto rp = self->make_response_promise();
  if (auto up = dynamic_cast<user_plane*>(self); up != nullptr) {
    up->route(ep, self->new_request_id(caf::message_priority::normal),
              std::move(meta), std::move(args), std::move(rp));
    return;
  }
  if (auto gw = ep->gateway())
    rp.delegate(gw, call_atom::value, std::move(meta), std::move(args));
  else
    rp.deliver(make_error(errc::unavailable,
                          "deployment '" + ep->deployment() + "' was deleted"));
}

user_plane& user_plane_of(caf::local_actor* self) {
  auto ptr = dynamic_cast<user_plane*>(self);
  if (ptr == nullptr)
    throw std::logic_error("this actor is not a deployment replica");
  return *ptr;
}

} // namespace actorserve::detail
