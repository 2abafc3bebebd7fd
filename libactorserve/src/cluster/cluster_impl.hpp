/// @file
/// The cluster's parts inside the library: the head's gate and a worker's
/// join (private; serve.cpp wires them).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "actorserve/cluster.hpp"
#include "actorserve/controller.hpp"

namespace actorserve {

/// Splits "HOST:PORT" (`--join`); `invalid_config` naming the flag.
caf::error split_host_port(const std::string& text, std::string& host,
                           uint16_t& port);

namespace detail {

/// Spawns the head's cluster gate: it admits nodes that present `token`
/// and hands them to `controller`.
cluster_gate_actor spawn_cluster_gate(caf::actor_system& sys, std::string token,
                                      controller_actor controller);

/// A worker node's link to its head.
struct cluster_link {
  cluster_gate_actor gate;
  uint64_t node_id = 0;
  /// The node's agent (the head watches it).
  caf::actor agent;
};

/// Connects to the head at `opts.join` (retrying until
/// `opts.join_timeout`, since the head may still be starting) and joins
/// with `hello`. `unauthenticated` when the head refuses the token,
/// `unavailable` when it cannot be reached.
/// Makes the node's agent once the head's gate is known.
using agent_factory = std::function<caf::actor(const cluster_gate_actor&)>;

caf::expected<cluster_link> join_cluster(caf::actor_system& sys,
                                         const cluster_options& opts,
                                         node_hello hello,
                                         const agent_factory& make_agent);

/// Tells the head which deployments this worker's binary registers.
caf::error announce_deployments(caf::actor_system& sys,
                                const cluster_link& link,
                                const std::string& token,
                                std::vector<std::string> names);

} // namespace detail

} // namespace actorserve
