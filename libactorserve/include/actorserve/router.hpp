/// @file
/// The router: one per deployment, on the system plane.
///
/// It picks a replica for each call by power-of-two-choices over the load it
/// knows (its own in-flight calls per replica plus what replicas report when
/// they reject), retries another replica when one rejects, and queues calls
/// FIFO while every replica is full, up to `max_queued_requests`.
///
/// ## Protocol (dynamically typed: it relays any deployment's messages)
///
/// | message | sender | reply | errors (retry?) |
/// |---|---|---|---|
/// | `(call_atom, request_meta, message args)` | a handle or the HTTP ingress |
/// the replica's reply, unchanged | `overloaded` (queue full; retry with
/// backoff), `unavailable` (no replicas; retry later), `deadline_exceeded`
/// (expired while queued; no), any error of the deployment (`user_error`,
/// `bad_request`, ...) | | `(replicas_atom, vector<replica_ref>)` | the
/// controller | none | none | | `(status_atom)` | anyone | `(uint32 queued,
/// uint32 in_flight)` | none |
///
/// Ownership: `args` is moved to the replica untouched (CAF messages are
/// copy-on-write; nothing is copied on this path). The router holds the
/// caller's response promise until the replica answers.
///
/// Replica-set changes lose nothing: queued calls stay queued and go to the
/// new set; calls in flight finish at their old replica, which drains; a
/// replica that rejects (full, draining) or is gone gets the call re-routed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "actorserve/messages.hpp"

namespace actorserve {

struct router_config {
  /// The deployment's name, for errors and logs.
  std::string deployment;
  /// The replicas' admission limit; the router sends a replica no more calls
  /// than this.
  uint32_t max_ongoing_requests = 5;
  /// Queue bound; -1 means unlimited.
  int64_t max_queued_requests = -1;
  /// Seed of the random choice (fixed in tests for determinism).
  uint64_t seed = 0;
};

/// Spawns a router on the system plane.
caf::actor spawn_router(caf::actor_system& sys, router_config cfg);

namespace detail {

/// Power-of-two-choices: given the load of each candidate, draws two distinct
/// candidates with `draw(n)` (uniform in [0, n)) and returns the index of the
/// less loaded one. `loads` must not be empty.
template <class Draw>
size_t pick_two(const std::vector<uint32_t>& loads, Draw&& draw) {
  auto n = loads.size();
  if (n == 1)
    return 0;
  auto a = static_cast<size_t>(draw(n));
  auto b = static_cast<size_t>(draw(n - 1));
  if (b >= a)
    ++b;
  return loads[b] < loads[a] ? b : a;
}

} // namespace detail

} // namespace actorserve
