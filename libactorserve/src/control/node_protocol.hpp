/// @file
/// How the controller talks to a worker node's agent (private to the
/// library). The controller owns this protocol; cluster/node_agent.hpp
/// implements it on each worker, and the head never includes cluster/.
///
/// ## Protocol
///
/// | message | sender | reply | errors |
/// |---|---|---|---|
/// | `(node_ping_atom)` | the controller, every heartbeat period | the
/// `node_load` here: each hosted replica's running calls and multiplexed
/// model ids, and the calls callers here hold waiting per deployment |
/// none (a node that does not
/// answer within the heartbeat timeout is DEAD) |
/// | `(node_dead_atom, node_id)` | the controller, when a node is declared
/// DEAD | none: another node's proxies here end (`forget_node`); this
/// node's own: it stops its replicas and joins again as a new node |
/// | `(start_replica_atom, uint64 id, string app, string deployment,
/// deployment_config, actor controller)` | the controller, placing a
/// replica here | the replica actor, which reports `ready_atom` to
/// `controller` | `not_found` (this binary does not register the
/// deployment) |
/// | `(replicas_atom, string app, string deployment, vector<replica_ref>,
/// bool scales_from_zero, uint32 max_ongoing, int64 max_queued)` | the
/// controller, whenever the deployment's ready set changes | none |
/// | `(routes_atom, vector<route_name>)` | the controller, whenever the
/// route table changes | none |
/// | `(routes_atom, actor)` | this node's HTTP ingress (`--proxy`),
/// subscribing | none; it gets `(routes_atom, route_table)` now and on
/// every change |
/// | `(health_atom)` | this node's ingress (`GET /-/healthz`) | `true` |
/// none |
/// | `(status_atom)` | this node's ingress (`GET /-/status`) | the head's
/// `serve_status`, through the gate | the gate's errors |
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/node_id.hpp>
#include <caf/typed_actor.hpp>

#include "actorserve/cluster.hpp"
#include "actorserve/config.hpp"
#include "actorserve/controller.hpp"
#include "actorserve/messages.hpp"

namespace actorserve::detail {

using start_replica_atom = caf::atom_constant<caf::atom("startrep")>;
/// The agent's own messages while it joins its head again.
using rejoin_atom = caf::atom_constant<caf::atom("rejoin")>;

using node_agent_actor = caf::typed_actor<
    caf::replies_to<node_ping_atom>::with<node_load>,
    caf::reacts_to<node_dead_atom, caf::node_id>,
    caf::replies_to<start_replica_atom, uint64_t, std::string, std::string,
                    deployment_config, caf::actor>::with<caf::actor>,
    caf::reacts_to<replicas_atom, std::string, std::string,
                   std::vector<replica_ref>, bool, uint32_t, int64_t>,
    caf::reacts_to<routes_atom, std::vector<route_name>>,
    // What this node's HTTP ingress (`--proxy`) asks its controller: the
    // agent stands in for the head's.
    caf::reacts_to<routes_atom, caf::actor>,
    caf::replies_to<health_atom>::with<bool>,
    caf::replies_to<status_atom>::with<serve_status>,
    // From itself: try joining again (attempt number), and a dial's result
    // (the head's gate, or null and why not).
    caf::reacts_to<rejoin_atom, uint64_t>,
    caf::reacts_to<rejoin_atom, uint64_t, cluster_gate_actor, std::string>>;

} // namespace actorserve::detail
