/// @file
/// The user plane: where a replica's user code runs, and what it can ask of
/// the framework from inside a handler (the handler's side of it is in
/// replica_api.hpp). The plane itself is internal (src/replica/); this
/// header holds what public templates need of it: the `user_actor` that
/// wraps the user's actor type, with a small `plane_host` base, and free
/// functions (`detail::offload`, `detail::plane_poster`, ...) defined in the
/// library.
///
/// A deployment's implementation is an ordinary CAF actor function. Each
/// replica runs one instance of it inside a `user_actor`, which
///  - by default runs on the user plane's thread pool, apart from the
///    system plane, so blocking user code never runs on, or delays, it;
///  - catches every exception a handler or continuation throws and turns it
///    into an error reply (`user_error`, or the code of an `error_exception`),
///    so the replica lives on;
///  - owns a small pool of blocking threads (at most `max_ongoing_requests`,
///    following a reconfigure) for `run_blocking`, blocking streams and
///    batches, the analogue of Ray Serve's sync-handler threadpool;
///  - runs the user's health check on threads of its own, shared by all
///    replicas (`probe_pool`), so that probes never queue behind that work.
///
/// ```cpp
/// sleeper_actor::behavior_type sleeper(sleeper_actor::pointer self) {
///   return {[=](int ms) -> caf::result<int> {
///     return actorserve::run_blocking(self, [ms] {
///       std::this_thread::sleep_for(std::chrono::milliseconds(ms));
///       return ms;
///     });
///   }};
/// }
/// ```
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/execution_unit.hpp>
#include <caf/infer_handle.hpp>
#include <caf/local_actor.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduled_actor.hpp>
#include <caf/typed_behavior.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actorserve/blocking_pool.hpp"
#include "actorserve/config.hpp"
#include "actorserve/endpoint.hpp"
#include "actorserve/error.hpp"

namespace actorserve {

namespace detail {
class admission_gate;
/// The framework's side of a user actor (internal: src/replica/).
class user_plane;
} // namespace detail

/// What a replica knows about itself; available to user code through
/// `replica_context_of(self)`.
struct replica_context {
  std::string app;
  std::string deployment;
  uint64_t replica_id = 0;
  /// The deployment version this replica runs (`deployment_config::version`).
  std::string version;
  /// The deployment's `user_config` as JSON text ("null" when unset). A
  /// reconfigure changes it in place, on the user actor's thread (read it
  /// there, not from blocking threads).
  std::string user_config;
  uint32_t max_ongoing_requests = 5;
  /// Set once the user code registered a health check (`on_health_check`);
  /// until then the replica answers health probes by itself.
  std::shared_ptr<std::atomic<bool>> user_health_check =
      std::make_shared<std::atomic<bool>>(false);
  /// The replica's admission gate (framework use: streams hold a slot).
  /// Weak: the gate names the user actor, which holds this context.
  std::weak_ptr<detail::admission_gate> gate;
  /// What the user code is doing, for the replica's health probes
  /// (framework use).
  std::shared_ptr<detail::replica_activity> activity =
      std::make_shared<detail::replica_activity>();
};

namespace detail {

/// The error for an exception user code threw: `user_error` with its
/// message, or the code of an `error_exception`.
caf::error error_of(std::exception_ptr eptr);

/// Returns the user plane of `self`, or throws `std::logic_error` when `self`
/// is not a deployment replica.
user_plane& user_plane_of(caf::local_actor* self);

/// The user plane whose actor runs a message on this thread, if any.
user_plane* running_plane() noexcept;

// -- what public templates ask of `self`'s user plane -------------------------
// Each throws `std::logic_error` when `self` is not a deployment replica.

const replica_context& plane_context(caf::local_actor* self);

/// The context of the request being handled; null when there is none.
const request_meta* plane_request(caf::local_actor* self);

bool plane_cancelled(caf::local_actor* self);

/// Runs `f` on `self` when the current request is cancelled.
void plane_on_cancel(caf::local_actor* self, std::function<void()> f);

void plane_set_health_check(caf::local_actor* self, std::function<void()> f);

void plane_set_reconfigure(caf::local_actor* self,
                           std::function<void(const std::string&)> hook);

/// Runs `job` on one of `self`'s blocking threads; `job` returns a
/// completion that is run back inside `self` (which is where promises get
/// delivered). `slot` holds the promise the completion delivers; the actor
/// drops it when it stops before the job ends.
void offload(caf::local_actor* self, std::shared_ptr<promise_slot_base> slot,
             std::function<std::function<void()>()> job);

/// Posts closures into `self` from any thread.
completion_poster plane_poster(caf::local_actor* self);

/// As above, with `self`'s plane `up` at hand (no look-up).
completion_poster plane_poster(user_plane& up, caf::local_actor* self);

/// The framework's part of a user actor, as `user_actor` sees it: it owns
/// the actor's user plane and drives it from the actor's hooks. Its members
/// are defined in the library (src/replica/plane_host.cpp).
class plane_host {
public:
  /// With `isolated`, the actor runs on the user plane's pool.
  plane_host(caf::actor_system& sys, std::shared_ptr<const replica_context> ctx,
             bool isolated);
  virtual ~plane_host();
  plane_host(const plane_host&) = delete;
  plane_host& operator=(const plane_host&) = delete;

  user_plane& plane() const noexcept { return *plane_; }

protected:
  /// The user's behavior: `Base::consume` of the actor `self`.
  using consume_fn = caf::invoke_message_result (*)(caf::local_actor* self,
                                                    caf::mailbox_element& x);

  /// One message of the user actor: framework messages are handled here;
  /// any other runs through `next` inside the plane's request bracket
  /// (exactly one answer per request), and what it throws becomes the
  /// request's error answer, so the replica lives on.
  caf::invoke_message_result consume_message(caf::local_actor* self,
                                             caf::mailbox_element& x,
                                             consume_fn next);

  /// The execution unit that schedules the actor when a message wakes it
  /// (isolated: one of the user plane's threads).
  caf::execution_unit* waking_unit(caf::execution_unit* eu) const noexcept;

  /// Isolated: hands `job` to the user plane's pool when `eu` is not one of
  /// its threads, and returns true; the caller must not run it then.
  bool hand_over(caf::resumable* job, caf::execution_unit* eu);

  /// Tells the user plane which actor it belongs to.
  void bind_actor(caf::local_actor* self, caf::resumable* job);

  /// The actor is exiting: unanswered requests get `unavailable`, the
  /// blocking threads stop.
  void exit_plane();

private:
  user_plane* plane_;
};

/// The actor type that runs a replica's user code: the user's actor type,
/// plus exception containment and the framework messages.
template <class Base>
class user_actor : public Base, public plane_host {
public:
  user_actor(caf::actor_config& cfg, std::shared_ptr<const replica_context> ctx,
             bool isolated)
      : Base(cfg), plane_host(this->home_system(), std::move(ctx), isolated) {
    // Keep the exception text as the exit reason (a constructor that throws
    // ends the actor; the replica reports the reason).
    this->set_exception_handler(
        [](caf::scheduled_actor*, std::exception_ptr& eptr) -> caf::error {
          return error_of(eptr);
        });
    bind_actor(this, this);
  }

  using Base::enqueue;

  void enqueue(caf::mailbox_element_ptr ptr, caf::execution_unit* eu) override {
    Base::enqueue(std::move(ptr), waking_unit(eu));
  }

  caf::invoke_message_result consume(caf::mailbox_element& x) override {
    return consume_message(this, x, &base_consume);
  }

  void on_exit() override {
    exit_plane();
    Base::on_exit();
  }

  /// Every scheduler resumes the actor through here. An isolated replica's
  /// actor only ever runs on the user plane's pool.
  caf::resumable::resume_result resume(caf::execution_unit* eu,
                                       size_t max_throughput) override {
    if (hand_over(this, eu))
      return caf::resumable::awaiting_message;
    return Base::resume(eu, max_throughput);
  }

private:
  static caf::invoke_message_result base_consume(caf::local_actor* self,
                                                 caf::mailbox_element& x) {
    return static_cast<user_actor*>(self)->Base::consume(x);
  }
};

inline caf::behavior to_behavior(caf::behavior x) {
  return x;
}

template <class... Sigs>
caf::behavior to_behavior(caf::typed_behavior<Sigs...> x) {
  return std::move(x.unbox());
}

/// Spawns the user actor of one replica: `fun(self, args...)` builds its
/// behavior (that is the user's constructor).
template <class F, class... Ts>
caf::actor spawn_user_actor(caf::actor_system& sys, execution mode,
                            std::shared_ptr<const replica_context> ctx, F fun,
                            Ts... args) {
  using impl = typename caf::infer_handle_from_fun<F>::impl;
  using actor_type = user_actor<impl>;
  caf::actor_config cfg;
  cfg.init_fun = caf::actor_config::init_fun_type{
      [fun, args...](caf::local_actor* self) mutable -> caf::behavior {
        return to_behavior(fun(static_cast<actor_type*>(self), args...));
      }};
  return caf::actor_cast<caf::actor>(
      sys.spawn_class<actor_type, caf::no_spawn_options>(
          cfg, std::move(ctx), mode == execution::isolated));
}

} // namespace detail

} // namespace actorserve
