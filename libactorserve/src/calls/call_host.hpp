/// @file
/// Routing inside an actor: the calls one actor makes to deployments.
///
/// A `call_host` lives in the calling actor (a replica's user actor, or the
/// gateway) and keeps one `caller_router` per deployment it calls. Calls go
/// from the actor straight to a replica, with the actor's own request id,
/// and the answer comes straight back: no router actor between them. The
/// actor's `consume` hands every response to `on_response` first, which
/// takes rejections (and routes those calls again) before the actor's
/// response handlers could see them.
///
/// Single-threaded: the owning actor calls it while it runs.
#pragma once

#include <memory>
#include <unordered_map>
#include <unordered_set>

#include <caf/fwd.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/message_id.hpp>
#include <caf/response_promise.hpp>

#include "calls/routing.hpp"

namespace actorserve::detail {

/// The timer message a host sends itself while calls wait.
using route_retry_atom = caf::atom_constant<caf::atom("as_retry")>;

/// `(replica_gone_atom, uint64 replica)`: a replica this host sent calls
/// straight to has stopped. Sent to the host actor from the replica's exit;
/// it arrives after every answer the replica's user code sent before that.
using replica_gone_atom = caf::atom_constant<caf::atom("as_gone")>;

/// `(call_cancel_atom, uint64 request id)`: the sender cancels the call it
/// made with that request id, sent to a replica on another node; the
/// replica cancels it as a caller in its process would (replica.hpp).
using call_cancel_atom = caf::atom_constant<caf::atom("as_ccancel")>;

class call_host {
public:
  /// `seed` fixes the routers' random choices. With `ingress`, waiting calls
  /// count against each endpoint's `ingress_budget` (one caller shared by
  /// the ingress's threads) instead of a budget of this host's own.
  call_host(caf::local_actor* self, uint64_t seed, bool ingress = false);

  /// Gives back the gate slots of calls still in flight (the replicas may
  /// run one call more than `max_ongoing_requests` until those finish).
  ~call_host();

  /// Routes a call whose request id is `mid`. With a pending `rp`, the
  /// answer goes to `rp`; otherwise it arrives as the response to `mid`.
  /// `parent`: the request a handler made the call for (its reply guard).
  void route(const endpoint_ptr& ep, caf::message_id mid, request_meta meta,
             caf::message args, caf::response_promise rp = {},
             const void* parent = nullptr);

  /// Cancels the call with request id `mid`: a waiting one leaves the
  /// queue and never runs; one in flight is told so at its replica
  /// (`cancel_request`), which drops it if it has not started and
  /// otherwise lets its handler see the cancellation. Either way the
  /// answer, `cancelled` or whatever the handler still gives, arrives as
  /// usual. Returns false when no such call is known.
  bool cancel(caf::message_id mid);

  /// Cancels every call made for the request `parent` (a reply guard).
  void cancel_children(const void* parent);

  /// Called for every response the actor receives. Returns true when the
  /// host consumed it (a rejection it routes again, or an answer it passed
  /// to a promise); false when the actor should handle it as usual.
  bool on_response(caf::mailbox_element& x);

  /// The retry timer fired.
  void on_retry();

  /// A replica stopped: calls still in flight there get `unavailable` (they
  /// may have run, so they are not sent again).
  void on_replica_gone(uint64_t replica);

  /// Endpoints may have changed: route waiting calls now.
  void update();

  /// The actor is ending: fails every waiting call with `err`, and answers
  /// `err` to the promises of calls still in flight.
  void fail_all(const caf::error& err);

private:
  class entry;

  /// Asks `replica` to tell this host when it stops (once per replica).
  void watch(const replica_ref& replica);

  /// Answers a call that will get no answer from a replica.
  void answer(call_ptr call, caf::error err);

  /// Tells the replica running `call` that it was cancelled.
  void cancel_in_flight(const routed_call& call);

  /// Takes the waiting calls that match `pred` and answers them cancelled.
  template <class Pred>
  size_t cancel_waiting(Pred pred);

  caf::local_actor* self_;
  std::unordered_map<const endpoint*, std::unique_ptr<entry>> routers_;
  /// Calls in flight, by response id.
  std::unordered_map<uint64_t, std::pair<call_ptr, entry*>> in_flight_;
  /// Replicas whose exit this host hears about.
  std::unordered_set<uint64_t> watched_;
  bool timer_pending_ = false;
  uint64_t seed_;
  bool ingress_;
};

class user_plane;

/// The user plane of `self`, or null when `self` is not a deployment
/// replica. Cheap when `self` is the replica running on this thread (a
/// handler asking for its own plane), which is nearly always. Defined by the
/// user plane (replica/plane_host.cpp).
user_plane* find_user_plane(caf::local_actor* self) noexcept;

/// Routes a call of the replica whose plane is `up` through its own
/// `call_host`: the answer arrives as the response to `mid`, or goes to `rp`
/// when it is pending. Defined by the user plane (replica/plane_host.cpp).
/// By reference: the call's context and arguments are moved once, into the
/// route.
void plane_route(user_plane& up, const endpoint_ptr& ep, caf::message_id mid,
                 request_meta&& meta, caf::message&& args,
                 caf::response_promise&& rp);

} // namespace actorserve::detail
