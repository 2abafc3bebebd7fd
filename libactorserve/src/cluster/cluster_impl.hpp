/// @file
/// The cluster's parts inside the library: the head's gate and a worker's
/// join (private; serve.cpp wires them).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
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

/// The cluster port, set once it is open.
using port_cell = std::shared_ptr<std::atomic<uint16_t>>;

/// Spawns the head's cluster gate: it admits nodes that prove `token`
/// over one of its challenges and hands them to `controller`.
cluster_gate_actor spawn_cluster_gate(caf::actor_system& sys, std::string token,
                                      controller_actor controller,
                                      port_cell port);

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
/// Loads the io middleman, and the OpenSSL module with the cluster's
/// certificates when it has them.
void load_transport(caf::actor_system_config& cfg, const cluster_options& opts);

/// The head's open cluster port: its number, and how to close it before
/// the actor system goes (empty over TLS, where CAF's own doorman ends
/// with the middleman).
struct published_port {
  uint16_t port = 0;
  std::function<void()> close;
};

/// Opens the head's cluster port for its gate: behind the front
/// (front.hpp), which admits only connections that prove the token, or
/// over TLS when set. `serve` closes it while shutting down, before the
/// actor system; the front also stops when the gate does.
caf::expected<published_port> publish_gate(caf::actor_system& sys,
                                           const cluster_gate_actor& gate,
                                           const cluster_options& opts);

/// Connects to a head's gate: through its front with the token, or over
/// TLS when set.
caf::expected<cluster_gate_actor> connect_gate(caf::actor_system& sys,
                                               const cluster_options& opts,
                                               const std::string& host,
                                               uint16_t port);

/// Proves `token` to the front at host:port and takes the head's gate over
/// that connection; `unauthenticated` when the head refuses the token or
/// does not prove it itself, `unavailable` otherwise. Each step waits at
/// most `timeout`.
caf::expected<cluster_gate_actor>
dial_gate(caf::actor_system& sys, const std::string& token,
          const std::string& host, uint16_t port,
          std::chrono::milliseconds timeout);

/// Makes the node's agent once the head's gate is known.
using agent_factory = std::function<caf::actor(const cluster_gate_actor&)>;

caf::expected<cluster_link> join_cluster(caf::actor_system& sys,
                                         const cluster_options& opts,
                                         node_hello hello,
                                         const agent_factory& make_agent);

/// Turns Nagle's algorithm off on this process's TCP connections whose
/// local (`local` true) or peer port is `port`: the cluster connections.
/// CAF 0.17's BASP leaves it on and writes a message in more than one
/// piece, so a small request waits for the peer's delayed ACK (about 4 ms
/// on loopback) without this.
void set_cluster_nodelay(uint16_t port, bool local);

/// Ends this process's proxies of the actors on CAF node `node`, as CAF
/// does when the connection to it drops: every watch and monitor of one
/// fires at once (calls running there fail `unavailable`, streams from
/// there end), though the connection may still be open. For a node the
/// head declared DEAD. Any thread.
void forget_node(caf::actor_system& sys, const caf::node_id& node);

/// Ends the cluster transport of `sys` before `~actor_system` does: once
/// every actor of `sys` has ended, the BASP broker ends on its multiplexer
/// thread and its mailbox closes. CAF's own shutdown leaves a broker's
/// mailbox open, and the broker's heartbeat tick, a message to itself, can
/// arrive there after it ended and before the scheduler stops: the broker
/// then holds itself and is never freed. No-op without a middleman.
void stop_transport(caf::actor_system& sys);

/// Tells the head which deployments this worker's binary registers. The
/// connection proved the token already, so `token` stays here.
caf::error announce_deployments(caf::actor_system& sys,
                                const cluster_link& link,
                                const std::string& token,
                                std::vector<std::string> names);

} // namespace detail

} // namespace actorserve
