/// @file
/// The user plane: the framework's side of a replica's user actor (its
/// blocking threads, completions, request contexts and cancellation,
/// batchers, streams, and the calls it makes). Internal: a user actor
/// reaches it through its `plane_host` base, and public templates through
/// the free functions in user_plane.hpp (public); both are defined in this
/// folder (plane_host.cpp).
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/execution_unit.hpp>
#include <caf/local_actor.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/message_id.hpp>
#include <caf/response_promise.hpp>
#include <caf/resumable.hpp>

#include "actorserve/blocking_pool.hpp"
#include "actorserve/endpoint.hpp"
#include "actorserve/error.hpp"
#include "actorserve/user_plane.hpp"

namespace actorserve::detail {

class outbound;
class stream_inbox;
class batcher_base;

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

/// The framework part of every user actor: a user actor's `plane_host`
/// base (user_plane.hpp, public) holds one and drives it.
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
  friend class plane_host;

  /// A reply guard of a request was dropped unanswered while this plane's
  /// actor ran a message; the answer goes out when that message is done.
  void defer_unanswered(caf::strong_actor_ptr caller, caf::message_id mid);

  /// Routes a call of this replica to deployment `ep` (routing.hpp): the
  /// replica is a caller with routing state of its own. The answer arrives
  /// as the response to `mid`, or goes to `rp` when it is pending.
  void route(const endpoint_ptr& ep, caf::message_id mid, request_meta meta,
             caf::message args, caf::response_promise rp = {});

  // -- what plane_host drives (plane_host.cpp) ------------------------------

  /// Brackets one message of the user actor's behavior (plane_host::consume_message)
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

/// The plane of `self` found by a cross-cast to its `plane_host`, or null
/// when `self` is not a deployment replica (plane_host.cpp).
user_plane* plane_of_host(caf::local_actor* self) noexcept;

} // namespace actorserve::detail
