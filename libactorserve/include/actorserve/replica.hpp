/// @file
/// The replica: the system-side actor in front of one instance of a
/// deployment's user code.
///
/// It admits at most `max_ongoing_requests` calls at once and rejects the
/// rest (the router retries elsewhere), forwards admitted calls to its user
/// actor (on the user plane), turns failures into error replies, and moves
/// through `starting -> ready -> draining -> stopped` (or `failed`).
///
/// ## Protocol (dynamically typed: it relays the deployment's messages)
///
/// | message | sender | reply | errors (retry?) |
/// |---|---|---|---|
/// | `(call_atom, request_meta, message args)` | its deployment's router | the
/// user actor's reply | `rejected` (full, starting or draining: the router
/// retries another replica), `deadline_exceeded` (arrived after its deadline),
/// `user_error` and any code user code raised, `unavailable` (user actor gone)
/// | | `(status_atom)` | the controller, tests | `replica_status` | none | |
/// `(drain_atom)` | the controller | `true` once nothing is in flight; the
/// replica then stops its user actor and exits | none |
///
/// At start it reports `(ready_atom, uint64 id, bool ok, string message)` to
/// the controller once the user actor has been constructed (ok) or has failed
/// to construct (not ok, with the exception text).
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
};

/// Spawns a replica on the system plane; it spawns its user actor.
caf::actor spawn_replica(caf::actor_system& sys, replica_args args);

} // namespace actorserve
