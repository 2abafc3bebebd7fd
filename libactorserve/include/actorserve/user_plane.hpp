/// @file
/// The user plane: where a replica's user code runs, and what it can ask of
/// the framework from inside a handler (the handler's side of it is in
/// replica_api.hpp).
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
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/execution_unit.hpp>
#include <caf/infer_handle.hpp>
#include <caf/local_actor.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/message_id.hpp>
#include <caf/response_promise.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduled_actor.hpp>
#include <caf/send.hpp>
#include <caf/typed_behavior.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actorserve/blocking_pool.hpp"
#include "actorserve/config.hpp"
#include "actorserve/endpoint.hpp"
#include "actorserve/error.hpp"

namespace actorserve {

namespace detail {
class admission_gate;
class outbound;
class stream_inbox;
class batcher_base;
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

/// Framework messages that user actors handle ahead of the user's behavior,
/// with atoms of their own so they never collide with user interfaces.
/// `(ping_atom)` is answered once the user's constructor has run.
using ping_atom = caf::atom_constant<caf::atom("as_ping")>;
using completions_atom = caf::atom_constant<caf::atom("as_done")>;
/// `(check_health_atom)` from the replica: run the user's health check.
/// Reply: `true`, or the error the check threw.
using check_health_atom = caf::atom_constant<caf::atom("as_health")>;
/// `(reconfigure_atom, string user_config)` from the replica: a new
/// `user_config` for live code. Reply: `true` once the user's hook ran, or
/// the error it threw.
using reconfigure_atom = caf::atom_constant<caf::atom("as_reconf")>;

/// The threads that run isolated replicas' user actors, shared by the
/// replicas of one actor system (src/replica/user_pool.hpp).
class user_pool;

/// The calls one actor makes to deployments (call_host.hpp).
class call_host;

/// Restores a request's context around a continuation (handle.hpp).
class restore_context;

/// Whether a user plane is exiting, shared with its requests' reply guards
/// (reply_guard.hpp).
struct plane_life;

/// The framework part of every user actor.
class user_plane {
public:
  /// With `isolated`, the actor runs on the user plane's pool.
  user_plane(caf::actor_system& sys, std::shared_ptr<const replica_context> ctx,
             bool isolated);
  virtual ~user_plane();

  const replica_context& context() const noexcept { return *ctx_; }

  /// Runs `job` on a blocking thread; `job` returns a completion that is run
  /// back inside the owning actor (which is where promises get delivered).
  /// `slot` holds the promise the completion delivers; the actor drops it
  /// when it stops before the job ends.
  void offload(caf::local_actor* self, std::shared_ptr<promise_slot_base> slot,
               std::function<std::function<void()>()> job);

  /// Posts closures into `self` (this plane's actor) from any thread.
  completion_poster poster(caf::local_actor* self) const;

  /// True while the actor runs on a thread of the user plane's pool (never
  /// for an inline replica).
  bool on_own_unit() const noexcept;

  /// The user plane whose actor runs a message on this thread, if any.
  static user_plane* running_here() noexcept;

  /// The context of the request being handled (in a handler, or in a
  /// continuation of a call made for it); null when there is none.
  const request_meta* current_context() const noexcept;

  /// A reference that keeps the current context alive, for a continuation
  /// to restore it (null when there is none).
  caf::strong_actor_ptr context_token() const;

  /// Runs `f` on this actor when the current request is cancelled (at once
  /// if it is already); nothing when there is no current request.
  void on_cancel(std::function<void()> f);

  /// Whether the current request was cancelled.
  bool cancelled() const noexcept;

  /// Registers the user's health check (`on_health_check`).
  void set_health_check(std::function<void()> check);

  /// Registers a batcher (batching.hpp); returns its id for its timer.
  uint64_t add_batcher(std::weak_ptr<batcher_base> b);

  /// A batcher's timer fired.
  void batch_tick(uint64_t id);

  /// Registers the user's reconfigure hook (`on_reconfigure`) and runs it
  /// with the current `user_config` unless that is null.
  void set_reconfigure(std::function<void(const std::string&)> hook);

  /// The request whose guard is `guard` was cancelled: cancels the calls
  /// made for it and runs its hooks.
  void cancel_request(caf::abstract_actor* guard);

  // -- streams (stream.cpp) ---------------------------------------------------

  /// Registers a stream this actor produces; it holds a replica slot.
  uint64_t add_stream(std::unique_ptr<outbound> st);

  /// Ends stream `id` (stream_core.hpp, `end_stream`).
  void end_stream(uint64_t id, caf::error err);

  /// The streams this actor consumes.
  stream_inbox& inbox();

  caf::local_actor* self() const noexcept { return self_; }

  friend class restore_context;

  /// A reply guard of a request was dropped unanswered while this plane's
  /// actor ran a message; the answer goes out when that message is done.
  void defer_unanswered(caf::strong_actor_ptr caller, caf::message_id mid);

  /// Routes a call of this replica to deployment `ep` (routing.hpp): the
  /// replica is a caller with routing state of its own. The answer arrives
  /// as the response to `mid`, or goes to `rp` when it is pending.
  void route(const endpoint_ptr& ep, caf::message_id mid, request_meta meta,
             caf::message args, caf::response_promise rp = {});

protected:
  /// Brackets one message of the user actor's behavior (user_actor::consume)
  /// so that a request gets exactly one answer: its sender is replaced by
  /// a reply guard (reply_guard.hpp); `fail` answers the request with what
  /// the behavior threw, and requests whose promises were dropped during
  /// the message get that error too when the scope ends.
  class message_scope {
  public:
    message_scope(user_plane& up, caf::mailbox_element& x);
    ~message_scope();
    message_scope(const message_scope&) = delete;
    message_scope& operator=(const message_scope&) = delete;

    /// The behavior threw: answers the current request with `err`.
    void fail(caf::error err);

    /// The message is a request that must not run (cancelled, or past its
    /// deadline); it was answered.
    bool refused() const noexcept { return refused_; }

  private:
    user_plane& up_;
    user_plane* prev_;
    caf::abstract_actor* prev_context_;
    caf::error err_;
    bool refused_ = false;
  };

  /// Makes `running_here` report `up` on this thread (for a framework
  /// message, which runs outside `message_scope`), until it ends.
  class running_scope {
  public:
    explicit running_scope(user_plane* up) noexcept;
    ~running_scope();
    running_scope(const running_scope&) = delete;
    running_scope& operator=(const running_scope&) = delete;

  private:
    user_plane* prev_;
  };

  /// Counts one message of the user actor, begun and ended, for the
  /// replica's health probes.
  class activity_scope {
  public:
    explicit activity_scope(replica_activity& a) noexcept : a_(a) {
      replica_activity::bump(a_.begun);
    }
    ~activity_scope() { replica_activity::bump(a_.ended); }
    activity_scope(const activity_scope&) = delete;
    activity_scope& operator=(const activity_scope&) = delete;

  private:
    replica_activity& a_;
  };

  /// The replica's activity counters (`replica_context::activity`).
  replica_activity* activity_;

  /// The actor is stopping: requests still unanswered get `unavailable`.
  void mark_exiting() noexcept;

  /// Takes the answers to this replica's own routed calls ahead of its
  /// response handlers: rejections are routed again. Returns true when `x`
  /// was consumed.
  bool intercept_response(caf::mailbox_element& x);

  /// Handles the stream protocol's messages (stream.cpp). Returns true
  /// when `x` was one.
  bool handle_stream_message(caf::mailbox_element& x);

  /// Ends every stream this actor produces or consumes (it is exiting).
  void close_streams();

  /// Applies a new `user_config` (`reconfigure_atom`) and answers `x`.
  void reconfigure(caf::local_actor* self, caf::mailbox_element& x);

  /// Answers the health probe `x` with the user's check (on a blocking
  /// thread), or at once when there is none.
  void run_health_check(caf::local_actor* self, caf::mailbox_element& x);

  /// Handles framework messages ahead of the user's behavior. Returns true
  /// when `x` was one.
  bool handle_framework_message(caf::local_actor* self,
                                caf::mailbox_element& x);

  /// The error for what a handler threw.
  static caf::error exception_to_error(std::exception_ptr& eptr);

  /// Answers the request `x` (if it is one) with `msg`.
  static void reply(caf::local_actor* self, caf::mailbox_element& x,
                    caf::message msg);

  /// Stops the blocking threads and answers calls still waiting to be
  /// routed.
  void stop_pool();

  /// Isolated mode: when `eu` is not a thread of the user plane's pool,
  /// hands `job` (the actor itself, scheduled by a system-plane worker or
  /// any other thread) to the pool and returns true; the caller then
  /// reports `awaiting_message` and must not run it.
  bool hand_over(caf::resumable* job, caf::execution_unit* eu);

  /// Isolated mode: the execution unit that schedules the actor when a
  /// message wakes it: the pool thread the sender runs on, when it runs on
  /// one (a call between isolated replicas stays on one thread), else the
  /// sender's home thread in the pool, so the wake-up never goes through a
  /// system-plane worker. Otherwise `eu`.
  caf::execution_unit* waking_unit(caf::execution_unit* eu) const noexcept;

  /// Tells the user plane which actor it belongs to.
  void bind_actor(caf::local_actor* self, caf::resumable* job);

private:
  /// Puts a reply guard in place of the sender of request `x`.
  void guard_request(caf::mailbox_element& x);

  /// Leaves the pool (on exit): the actor no longer keeps it open.
  void leave_lanes();

  /// `offload` onto `pool`.
  void offload_to(blocking_pool& pool, caf::local_actor* self,
                  std::shared_ptr<promise_slot_base> slot,
                  std::function<std::function<void()>()> job);

  /// Isolated mode: the pool (kept as long as the actor lives, for late
  /// enqueues) and the membership that keeps it open (until the actor
  /// exits; user_pool::attach).
  std::shared_ptr<user_pool> lanes_;
  std::shared_ptr<user_pool> member_;
  std::shared_ptr<plane_life> life_;
  /// The guard of the request being handled (kept alive for the message).
  caf::strong_actor_ptr current_guard_;
  /// The reply guard whose context applies now (a handler's request, or
  /// the one a continuation restored).
  caf::abstract_actor* context_ = nullptr;
  /// The context of a continuation that is throwing.
  caf::strong_actor_ptr failing_context_;
  /// Requests whose guards were dropped unanswered during this message.
  std::vector<std::pair<caf::strong_actor_ptr, caf::message_id>> unanswered_;
  caf::local_actor* self_ = nullptr;
  std::unique_ptr<call_host> callers_; // created at the first call
  /// Mutable for reconfigure only, on the actor's thread.
  std::shared_ptr<replica_context> ctx_;
  std::unique_ptr<blocking_pool> pool_;
  /// Shared with jobs still running, which may outlive the actor.
  std::shared_ptr<completion_box> completions_;
  /// The promises of blocking jobs not yet completed.
  std::vector<std::weak_ptr<promise_slot_base>> blocking_;
  /// Cancellation hooks per request (by reply guard).
  struct cancel_entry {
    caf::weak_actor_ptr guard;
    std::vector<std::function<void()>> hooks;
  };
  std::unordered_map<const caf::abstract_actor*, cancel_entry> cancel_hooks_;
  size_t hooks_scan_at_ = 64;
  /// Streams this actor produces, by id, and the streams it consumes.
  std::unordered_map<uint64_t, std::unique_ptr<outbound>> streams_;
  /// The user's health check; runs on the probe pool's threads
  /// (`probe_pool`), one check at a time: `checking_` is set while one
  /// runs.
  std::function<void()> health_check_;
  std::shared_ptr<blocking_pool> probes_;
  std::shared_ptr<std::atomic<bool>> checking_ =
      std::make_shared<std::atomic<bool>>(false);
  /// The user's reconfigure hook; runs on the actor's thread.
  std::function<void(const std::string&)> reconfigure_;
  /// Batched methods, by timer id (batching.hpp).
  std::unordered_map<uint64_t, std::weak_ptr<batcher_base>> batchers_;
  uint64_t next_batcher_ = 1;
  uint64_t next_stream_ = 1;
  std::unique_ptr<stream_inbox> inbox_;
};

/// The error for an exception user code threw: `user_error` with its
/// message, or the code of an `error_exception`.
caf::error error_of(std::exception_ptr eptr);

/// Returns the user plane of `self`, or throws `std::logic_error` when `self`
/// is not a deployment replica.
user_plane& user_plane_of(caf::local_actor* self);

/// The user plane of `self`, or null when `self` is not a deployment
/// replica. Cheap when `self` is the replica running on this thread (a
/// handler asking for its own plane), which is nearly always.
user_plane* find_user_plane(caf::local_actor* self) noexcept;

/// The actor type that runs a replica's user code: the user's actor type,
/// plus exception containment and the framework messages.
template <class Base>
class user_actor : public Base, public user_plane {
public:
  user_actor(caf::actor_config& cfg, std::shared_ptr<const replica_context> ctx,
             bool isolated)
      : Base(cfg), user_plane(this->home_system(), std::move(ctx), isolated) {
    // Keep the exception text as the exit reason (a constructor that throws
    // ends the actor; the replica reports the reason).
    this->set_exception_handler(
        [](caf::scheduled_actor*, std::exception_ptr& eptr) -> caf::error {
          return exception_to_error(eptr);
        });
    bind_actor(this, this);
  }

  using Base::enqueue;

  void enqueue(caf::mailbox_element_ptr ptr, caf::execution_unit* eu) override {
    Base::enqueue(std::move(ptr), waking_unit(eu));
  }

  caf::invoke_message_result consume(caf::mailbox_element& x) override {
    activity_scope turn{*activity_};
    if (handle_framework_message(this, x))
      return caf::invoke_message_result::consumed;
    message_scope scope{*this, x};
    if (scope.refused())
      return caf::invoke_message_result::consumed;
    try {
      if (x.mid.is_response() && intercept_response(x))
        return caf::invoke_message_result::consumed;
      return Base::consume(x);
    } catch (const error_exception& e) {
      scope.fail(make_error(e.code(), e.what()));
    } catch (const std::exception& e) {
      scope.fail(make_error(errc::user_error, e.what()));
    } catch (...) {
      scope.fail(make_error(errc::user_error, "unknown exception"));
    }
    return caf::invoke_message_result::consumed;
  }

  void on_exit() override {
    mark_exiting();
    stop_pool();
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
