/// @file
/// Nodes: the head (the process that runs the controller and the HTTP
/// ingress) and the worker nodes that join it over CAF's io middleman.
///
/// The head takes worker nodes on one port, its cluster port, and a peer
/// must prove the cluster token before it reaches anything there: the
/// head's front (src/cluster/front.hpp) runs a challenge and response
/// (HMAC-SHA256 over fresh nonces, both ways) on every connection and hands
/// only an authenticated one to CAF's io middleman. The token never crosses
/// the wire. With TLS (`--cluster-tls-*`) CAF's OpenSSL module takes the
/// port instead and admits peers with a certificate of the cluster's CA.
///
/// Behind it, the **cluster gate** (`cluster_gate_actor`) takes joins: a
/// worker (`--join HOST:PORT`) asks it for a challenge, sends
/// `(join_atom, node_hello)` with its proof of the token, its resources and
/// the deployments its binary registers, and gets its node id back; a
/// wrong or missing token gets `unauthenticated`, and both sides log it.
/// The gate hands a joined node to the controller (`node_join_atom`), which
/// lists it in status and watches its agent actor: when the connection
/// drops, the node is `DEAD`.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/typed_actor.hpp>

#include "actorserve/fwd.hpp"
#include "actorserve/placement.hpp"

namespace actorserve {

/// How the head watches its worker nodes: it pings each every `period`; a
/// node that does not answer within `timeout` is DEAD, and its replicas are
/// placed elsewhere.
struct heartbeat_options {
  std::chrono::milliseconds period{1000};
  std::chrono::milliseconds timeout{3000};
};

/// The most DEAD nodes status keeps (the most recent); older ones are
/// forgotten, so nodes that come and go do not grow the head's state.
constexpr size_t max_dead_nodes = 16;

/// Cluster flags (serve_options::cluster).
struct cluster_options {
  /// The head listens for nodes (`--cluster-port`; 0 picks a port).
  bool listen = false;
  uint16_t port = 0;
  /// Where the head listens for nodes: loopback unless told.
  std::string host = "127.0.0.1";
  /// "HOST:PORT" of a head: this process is a worker node (`--join`).
  std::string join;
  /// The shared secret every node presents (`--cluster-token-file`, or the
  /// environment variable ACTORSERVE_CLUSTER_TOKEN).
  std::string token;
  /// How long a worker keeps trying to reach the head at start.
  std::chrono::milliseconds join_timeout{10'000};
  /// `--heartbeat-period-ms`, `--heartbeat-timeout-ms` (the head's).
  heartbeat_options heartbeat;
  /// `--cluster-connection-timeout-ms`: a cluster connection on which
  /// nothing arrived for this long is closed, on every node (CAF's BASP
  /// heartbeats, sent every heartbeat period, keep a live one busy), so a
  /// hung or unreachable peer is noticed even when its socket stays open.
  /// 0 turns it off. Longer than the heartbeat timeout, so that a worker
  /// that hung for less rejoins over its connection.
  std::chrono::milliseconds connection_timeout{10'000};
  /// `--orphan-timeout-s` (or, deprecated, `--rejoin-timeout-ms` in ms):
  /// a worker that has seen no head for this long stops its replicas and
  /// exits; 0 (the default): never. Until then it keeps serving with its
  /// last known replica sets and tries to join again, backing off from
  /// 100 ms to 2 s between tries.
  std::chrono::milliseconds orphan_timeout{0};
  /// TLS between nodes (`--cluster-tls-cert`, `--cluster-tls-key`,
  /// `--cluster-tls-ca`; PEM files): every node presents a certificate
  /// signed by the CA and checks its peer's. All three, or none.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_ca;
  bool tls() const noexcept { return !tls_ca.empty(); }
  /// `--proxy`: this worker serves HTTP too (`--host`, `--port`), routing
  /// as the head does, replicas of this node first.
  bool proxy = false;
  /// `--expect-nodes N`: the head deploys its first application once N
  /// worker nodes joined (within `join_timeout`), so replicas spread over
  /// them from the start.
  uint32_t expect_nodes = 0;
};

/// Checks the options; `invalid_config` naming the flag. A cluster port
/// needs a token, and so does joining.
caf::error validate(const cluster_options& opts);

/// Reads a token file: its text without surrounding whitespace; an error
/// naming `flag` when it cannot be read or is empty.
caf::error read_token_file(const std::string& path, const std::string& flag,
                           std::string& out);

/// Whether this build has TLS between nodes (CAF's OpenSSL module; not in
/// the ThreadSanitizer build).
bool tls_available() noexcept;

/// Compares tokens in time independent of where they differ and of their
/// lengths.
bool same_token(const std::string& x, const std::string& y) noexcept;

/// A replica a rejoining worker still runs: a head that recovered from its
/// state store adopts it when its deployment wants it as it is.
struct hosted_replica_report {
  uint64_t id = 0;
  std::string app;
  std::string deployment;
  /// The deployment version, `user_config` and `max_ongoing_requests` it
  /// last applied.
  std::string version;
  std::string user_config;
  uint32_t max_ongoing = 0;
  /// When it started (milliseconds since the Unix epoch).
  int64_t started_at_ms = 0;
  caf::actor handle;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f,
                                        hosted_replica_report& x) {
  return f(x.id, x.app, x.deployment, x.version, x.user_config,
           x.max_ongoing, x.started_at_ms, x.handle);
}

/// What a joining node says about itself.
struct node_hello {
  /// HMAC-SHA256 of the gate's challenge under the cluster token (empty
  /// when the node has no token).
  std::string proof;
  /// The node's host name and process id, for status.
  std::string host;
  int64_t pid = 0;
  /// What it offers replicas (`--num-cpus`, `--resources`).
  resource_set resources;
  /// The deployments its binary registers, by name.
  std::vector<std::string> deployments;
  /// The node's agent: the head watches it, and will ask it to start
  /// replicas.
  caf::actor agent;
  /// The node id it had before it lost its head (0 on its first join): a
  /// head that recovered it from its state store gives it back.
  uint64_t previous_id = 0;
  /// The replicas it still runs (a rejoin after its head went away).
  std::vector<hosted_replica_report> replicas;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_hello& x) {
  return f(x.proof, x.host, x.pid, x.resources, x.deployments, x.agent,
           x.previous_id, x.replicas);
}

enum class node_state : uint8_t { alive, dead };

const char* to_string(node_state x) noexcept;

/// One node, as status lists it.
struct node_status {
  uint64_t id = 0;
  /// "head" or "worker".
  std::string role;
  /// host:port of the head's cluster port; the worker's host name and its
  /// CAF node id otherwise.
  std::string address;
  int64_t pid = 0;
  resource_set resources;
  node_state state = node_state::alive;
  /// The deployments its binary registers (a worker's), by name.
  std::vector<std::string> deployments;
  /// The replicas running there.
  std::vector<uint64_t> replicas;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_status& x) {
  return f(x.id, x.role, x.address, x.pid, x.resources, x.state, x.deployments,
           x.replicas);
}

using join_atom = caf::atom_constant<caf::atom("join")>;
/// A joining node asks the gate for a fresh challenge.
using join_challenge_atom = caf::atom_constant<caf::atom("joinchal")>;
using node_deployments_atom = caf::atom_constant<caf::atom("nodedeps")>;
/// The gate hands an authenticated node to the controller.
using node_join_atom = caf::atom_constant<caf::atom("nodejoin")>;
/// The head asks a node's agent whether it is there.
using node_ping_atom = caf::atom_constant<caf::atom("nodeping")>;
/// A worker asks the head for its status (for `GET /-/status` there).
using node_status_atom = caf::atom_constant<caf::atom("nodestat")>;
/// The head's cluster address, for status.
using cluster_address_atom = caf::atom_constant<caf::atom("claddr")>;
/// `(node_dead_atom, caf::node_id)` from the head to every worker's agent:
/// the CAF node that was declared DEAD (the receiver itself: it rejoins).
using node_dead_atom = caf::atom_constant<caf::atom("nodedead")>;

/// A worker's answer to a heartbeat: what runs and waits there, for the
/// head's status and autoscaling.
struct node_load {
  /// The replicas hosted there, and the calls running at each (parallel).
  std::vector<uint64_t> replicas;
  std::vector<uint32_t> running;
  /// The multiplexed model ids each holds or is loading (parallel too).
  std::vector<std::vector<std::string>> models;
  /// "app/deployment" and the calls that callers there hold waiting for a
  /// replica of it (parallel; only those with any).
  std::vector<std::string> deployments;
  std::vector<int64_t> queued;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_load& x) {
  return f(x.replicas, x.running, x.models, x.deployments, x.queued);
}

/// The head's actor behind its cluster port.
///
/// - `(join_challenge_atom)` from a joining worker: a fresh nonce, good for
///   one join within a few seconds.
/// - `(join_atom, node_hello)` from a worker, with its proof over that
///   nonce: its node id, or `unauthenticated` (wrong or missing token, or
///   no live challenge).
/// - `(node_deployments_atom, node id, names)` from a joined worker: the
///   deployments its binary registers now; `unauthenticated` when the
///   sender's node did not join, `not_found` otherwise.
/// - `(node_status_atom)` from a joined worker that serves HTTP: the
///   controller's `serve_status`; `unauthenticated` otherwise.
using cluster_gate_actor = caf::typed_actor<
    caf::replies_to<join_challenge_atom>::with<std::string>,
    caf::replies_to<join_atom, node_hello>::with<uint64_t>,
    caf::replies_to<node_deployments_atom, uint64_t,
                    std::vector<std::string>>::with<bool>,
    caf::replies_to<node_status_atom>::with<serve_status>>;

} // namespace actorserve
