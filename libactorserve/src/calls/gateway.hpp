/// @file
/// The gateway: the caller for code that is neither a replica nor the HTTP
/// ingress.
///
/// HTTP ingress threads and replicas route their own calls
/// (routing.hpp, no actor between caller and replica). A handle used from
/// `main()`, from a test, or from an actor of your own sends its calls to
/// the deployment's gateway instead, which routes them with the same
/// `caller_router`. In Ray Serve terms the gateway is one caller, like a
/// driver's handle: its queue bound is `max_queued_requests`.
///
/// ## Protocol (dynamically typed: it relays any deployment's messages)
///
/// | message | sender | reply | errors (retry?) |
/// |---|---|---|---|
/// | `(call_atom, request_meta, message args)` | handles outside replicas |
/// the replica's reply, unchanged | `overloaded` (queue full; retry with
/// backoff), `unavailable` (no replicas, or deleted), `deadline_exceeded`
/// (expired while queued), any error of the deployment |
/// | `(replicas_atom)` | the controller, after it published a new replica
/// set | none | none |
/// | `(replica_gone_atom, uint64 replica)` (call_host.hpp) | a replica it
/// sent calls to, as it exits | none | none |
/// | `(call_cancel_atom, uint64 request id)` (call_host.hpp) | itself, at
/// the deadline of a call that has one (the caller's timeout) | none: the
/// call, still queued or running, is cancelled (a no-op once answered) |
/// none |
///
/// Ownership: `args` stays with the gateway until the call is answered (a
/// rejected call is sent again); the replica gets a reference to it.
#pragma once

#include <cstdint>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "actorserve/endpoint.hpp"

namespace actorserve {

/// Spawns the gateway of `ep` on the system plane and registers it there.
/// `seed` fixes its random choices (tests).
caf::actor spawn_gateway(caf::actor_system& sys, endpoint_ptr ep,
                         uint64_t seed = 0);

} // namespace actorserve
