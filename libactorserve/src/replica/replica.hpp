/// @file
/// The replica: the system-side actor in front of one instance of a
/// deployment's user code.
///
/// It owns the replica's admission gate (admission.hpp): at most
/// `max_ongoing_requests` calls run at once. Callers in this process take a
/// slot at the gate themselves and send their calls straight to the user
/// actor (on the user plane); the replica opens the gate once the user code
/// is constructed, closes it to drain, and stops when it runs empty. It also
/// takes calls itself, for callers that cannot reach the gate, and relays
/// them. It moves through `starting -> ready -> draining -> stopped` (or
/// `failed`).
///
/// ## Protocol (dynamically typed: it relays the deployment's messages)
///
/// | message | sender | reply | errors (retry?) |
/// |---|---|---|---|
/// | `(call_atom, request_meta, message args)` | callers without the gate |
/// the user actor's reply | `rejected` (full, starting or draining: the
/// caller retries another replica), `deadline_exceeded` (arrived after its
/// deadline), `user_error` and any code user code raised, `unavailable`
/// (user actor gone). The handler sees `request_meta` as its context |
/// | `(call_cancel_atom, uint64 request id)` (call_host.hpp) | a caller
/// that sent a call this way | none: that call is cancelled (its handler
/// sees it; the answer follows as usual) | none |
/// | `(status_atom)` | the controller, tests | `replica_status` | none |
/// | `(health_atom)` | the controller, every `health_check_period` | `true`;
/// with a user health check (`on_health_check`), once that passed on a
/// probe thread | `unavailable` (not ready; or wedged: its user code made
/// no progress for `health_check_timeout` while work waited, health.hpp's
/// `watch_progress`, the message says which way), the check's error, or a
/// request timeout after `health_check_timeout` |
/// | `(reconfigure_atom, string user_config, uint32 max_ongoing)` | the
/// controller, when those changed (an in-place update) | `true` once the
/// user's `on_reconfigure` hook ran on its thread; the gate's limit changes
/// at once | `unavailable` (no user code), the hook's error, or a request
/// timeout after `reconfigure_timeout` (the controller replaces it) |
/// | `(drain_atom)` | the controller | `true` once nothing is in flight, or
/// at `graceful_shutdown_timeout`, when it kills its user actor; the replica
/// then stops its user actor and exits | none |
/// | `(gate_empty_atom)` | the caller whose answer emptied the closed gate
/// | none | none |
/// | `(force_stop_atom)` (private) | itself, `graceful_shutdown_timeout`
/// after a drain began | none: it kills its user actor and exits | none |
/// | `down_msg` | its user actor, when that ends | none: relayed calls it
/// held are answered `unavailable`; the replica fails and exits (reporting
/// not ok if it was still starting) | none |
///
/// At start it reports `(ready_atom, uint64 id, bool ok, string message)` to
/// the controller once the user actor has been constructed (ok) or has failed
/// to construct (not ok, with the exception text).
///
/// When it exits, callers that sent calls straight to its user actor hear of
/// it (call_host.hpp) and answer the calls still running there with
/// `unavailable`; relayed calls it answers itself. A call sent straight to a
/// user actor that is gone before it takes it comes back to its caller as
/// `(error, message args)` through the call's reply guard (reply_guard.hpp),
/// and the caller routes it again.
///
/// The actor itself is `replica_actor` (replica_actor.hpp): `make_behavior`
/// runs the start-up steps and maps each message above to one `on_...`
/// member function.
///
/// Ownership: `args` goes to the user actor as the message itself; the reply
/// comes back unchanged. The replica owns its user actor and stops it when it
/// stops.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "actorserve/admission.hpp"
#include "actorserve/deployment.hpp"
#include "actorserve/endpoint.hpp"
#include "actorserve/messages.hpp"

namespace actorserve {

struct replica_args {
  uint64_t id = 0;
  std::string app;
  /// The spec of the deployment (its config and how to spawn user code).
  detail::spec_ptr spec;
  /// The endpoints of the deployments bound into this one, in bind order.
  std::vector<endpoint_ptr> children;
  /// Receives the ready report; may be null.
  caf::actor controller;
  /// The replica's admission gate, shared with callers through its
  /// `replica_ref`; the replica makes one when null.
  detail::gate_ptr gate;
};

/// Spawns a replica on the system plane; it spawns its user actor.
caf::actor spawn_replica(caf::actor_system& sys, replica_args args);

} // namespace actorserve
