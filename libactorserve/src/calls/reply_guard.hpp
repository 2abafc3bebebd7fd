/// @file
/// Every request a user actor takes is answered exactly once.
///
/// A call to a replica carries a `reply_guard` in place of its sender: the
/// caller makes it when it sends the call straight to the user actor
/// (call_host.cpp), with the request's context, and the user plane makes one
/// for any other request (`user_plane::guard_request`), then adopts it. The
/// guard is a small actor that stands for the caller: every answer CAF sends
/// for the request (a handler's return value, a response promise, a delegated
/// answer) goes to it, and it passes the first one on to the caller and
/// drops any later one. Other messages sent to it pass through unchanged.
///
/// The guard lives as long as something could still answer through it: the
/// request's mailbox element, and every copy of a response promise made for
/// it. When the last of them is gone and nothing was answered (a handler or
/// continuation threw after it made a promise, or a code path forgot to
/// deliver), the guard answers itself:
///  - while its user actor runs a message on this thread, the answer waits
///    until that message is done, so that an exception the message threw
///    becomes the answer (`user_error` and its text);
///  - once its replica is stopping, `unavailable`;
///  - once its caller cancelled it, `cancelled`;
///  - otherwise `internal`, "dropped its response promise".
///
/// It also carries the request's context (`request_meta`), which is how the
/// context reaches the handler without changing the user's message.
///
/// A call sent through a replica's gate leaves its arguments with the guard
/// too (`make`'s `args`): a reference, until the user actor takes the call.
/// A user actor that is gone before it takes the call (its mailbox closed
/// before the call arrived, or while the call waited in it) has CAF bounce
/// the request, and the guard passes the bounce on as
/// `(error, caf::message)`, the arguments back with it, so the caller can
/// route the call again without keeping a reference of its own. `adopt`
/// drops the reference: the handler then owns the only one, and CAF does
/// not copy the arguments for a handler that takes them by mutable
/// reference.
///
/// Ownership: the guard holds the caller (strong), the call's arguments
/// until adopted, and a shared flag that says whether its user actor is
/// exiting; never the user actor itself.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>

#include <caf/abstract_actor.hpp>
#include <caf/atom.hpp>
#include <caf/actor_config.hpp>
#include <caf/message_id.hpp>

#include "actorserve/messages.hpp"
#include "actorserve/metrics.hpp"

namespace actorserve::detail {

class user_plane;

/// `(cancel_atom)` with a reply guard as sender, to the guard's user actor:
/// the caller cancelled that request (the guard's flag is set already).
using cancel_atom = caf::atom_constant<caf::atom("as_cancel")>;

/// Shared by a user plane and its guards.
struct plane_life {
  std::atomic<bool> exiting{false};
  /// The replica's call metrics (Ray Serve's deployment request and error
  /// counters and processing latency); no-ops with metrics off.
  counter requests;
  counter errors;
  histogram latency_ms;
  /// For the access log's line per call.
  std::string app;
  std::string deployment;
  uint64_t replica = 0;
};

class reply_guard final : public caf::abstract_actor {
public:
  reply_guard(caf::actor_config& cfg, caf::strong_actor_ptr caller,
              caf::message_id mid, request_meta meta, caf::message args);

  /// Makes a guard for the request `mid` of `caller`; `args`, the call's
  /// arguments, come back with a bounce (see above).
  static caf::strong_actor_ptr make(caf::abstract_actor* host,
                                    caf::strong_actor_ptr caller,
                                    caf::message_id mid, request_meta meta,
                                    caf::message args = {});

  /// The user plane that handles the request takes the guard over, once,
  /// before the handler runs, and the guard lets go of the arguments.
  /// Returns false when another plane owns it (a request delegated on with
  /// CAF's `delegate`).
  bool adopt(user_plane* owner, std::shared_ptr<const plane_life> life);

  user_plane* owner() const noexcept { return owner_; }

  const request_meta& meta() const noexcept { return meta_; }

  ~reply_guard() override;

  /// Passes the first response on to the caller and drops later ones;
  /// passes other messages on unchanged.
  void enqueue(caf::mailbox_element_ptr what,
               caf::execution_unit* host) override;

  /// Answers `err` unless the request was answered. Returns whether it did.
  bool answer(caf::error err, caf::execution_unit* host);

  /// Answers `msg` (a value or an error) unless the request was answered.
  bool deliver(caf::message msg, caf::execution_unit* host);

  bool answered() const noexcept {
    return answered_.load(std::memory_order_acquire);
  }

  /// The caller cancelled the request; any thread.
  void cancel() noexcept { cancelled_.store(true, std::memory_order_release); }

  bool cancelled() const noexcept {
    return cancelled_.load(std::memory_order_acquire);
  }

  /// The request is a call to count in the replica's metrics (not a
  /// framework message): its processing time starts now. On the owner's
  /// thread, after `adopt`.
  void count();

  // Nothing links to or monitors a guard.
  void attach(caf::attachable_ptr ptr) override;
  size_t detach(const caf::attachable::token& what) override;
  void add_link(caf::abstract_actor* other) override;
  void remove_link(caf::abstract_actor* other) override;
  bool add_backlink(caf::abstract_actor* other) override;
  bool remove_backlink(caf::abstract_actor* other) override;

private:
  /// Records the answer in the owner's metrics, if `count` was called.
  void finish(bool error) noexcept;

  std::atomic<bool> answered_{false};
  std::atomic<bool> counted_{false};
  std::chrono::steady_clock::time_point started_{};
  std::atomic<bool> cancelled_{false};
  caf::strong_actor_ptr caller_;
  caf::message_id mid_;
  request_meta meta_;
  /// Written by the caller before the call is sent; then touched once, by
  /// either `adopt` (the user actor took the call) or the bounce in
  /// `enqueue` (it never will), never both.
  caf::message args_;
  user_plane* owner_ = nullptr; // compared, never followed, unless running
  std::shared_ptr<const plane_life> life_;
};

/// What a caller gets for a request whose handler ended without answering.
caf::error dropped_promise_error();

/// Answers the request `mid` of `caller` with `err` (no sender).
void answer_request(const caf::strong_actor_ptr& caller, caf::message_id mid,
                    caf::error err, caf::execution_unit* host);

/// Has `owner`, whose actor is running a message on this thread, answer the
/// request `mid` of `caller` when that message is done (the exception it
/// threw, if any). Defined by the user plane (replica/plane_host.cpp).
void defer_unanswered(user_plane& owner, caf::strong_actor_ptr caller,
                      caf::message_id mid);

} // namespace actorserve::detail
