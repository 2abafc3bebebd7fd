/// @file
/// A worker node's agent (private to the library): the actor the head's
/// controller talks to on that node. It speaks `node_agent_actor`, whose
/// protocol the controller owns (control/node_protocol.hpp).
///
/// The agent keeps the replicas it started (and their admission gates:
/// callers on this node take slots there, as on the head) and publishes
/// every pushed replica set into this node's endpoint of the deployment,
/// where the replicas here that call it find it.
///
/// When the connection to the head closes, the node keeps serving: its
/// replicas run on, its callers and HTTP proxy route with the last sets
/// the head pushed, less the replicas it can no longer reach (those on
/// other nodes: workers reach each other through the head), and it
/// answers status itself. It joins the head at the same address again,
/// backing off from 100 ms to 2 s, reporting its previous node id and
/// the replicas it kept; the head adopts or stops them. After
/// `rejoin_info::orphan_after` without a head (0: never) it stops its
/// replicas and tells the process (`on_head_lost`). When the head, still
/// connected, declared this node DEAD, its replicas were replaced
/// already: it stops them and joins as a new node.
///
/// Ownership: the registry is shared with `serve` (which fills it as
/// `run` builds applications); the agent owns the replicas it started.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/typed_actor.hpp>

#include "actorserve/admission.hpp"
#include "actorserve/cluster.hpp"
#include "actorserve/config.hpp"
#include "actorserve/deployment.hpp"
#include "actorserve/endpoint.hpp"
#include "actorserve/messages.hpp"
#include "control/node_protocol.hpp"

namespace actorserve::detail {

/// The deployments this node's binary registers, by "app/deployment", each
/// with the endpoint callers on this node use. Thread safe.
class node_registry {
public:
  struct entry {
    spec_ptr spec;
    endpoint_ptr ep;
  };

  /// Registers the graph below `ingress` under application `app`.
  void add(const std::string& app, const spec_ptr& ingress);

  /// Null spec when `app/deployment` is not registered.
  entry find(const std::string& app, const std::string& deployment) const;

  /// Every "app/deployment", sorted.
  std::vector<std::string> names() const;

  /// Every "app/deployment" with its endpoint here, sorted.
  std::vector<std::pair<std::string, endpoint_ptr>> endpoints() const;

private:
  mutable std::mutex mtx_;
  std::map<std::string, entry> entries_; // guarded by mtx_
};

using registry_ptr = std::shared_ptr<node_registry>;

/// What a worker needs to join its head again, once declared DEAD or
/// once its connection closed.
struct rejoin_info {
  std::string token;
  /// The node's hello (its proof and agent are filled in anew).
  node_hello hello;
  /// Each request of a join.
  std::chrono::milliseconds timeout{10'000};
  /// `--orphan-timeout-s`: how long a node without a head keeps its
  /// replicas and keeps trying; 0: forever.
  std::chrono::milliseconds orphan_after{0};
  /// Connects to the head again (blocking: it runs on a thread of its
  /// own); null: a closed connection ends the node.
  std::function<caf::expected<cluster_gate_actor>()> dial;
  /// The node's id, which a rejoin changes; read by `serve::node_id`.
  std::shared_ptr<std::atomic<uint64_t>> node_id =
      std::make_shared<std::atomic<uint64_t>>(0);
};

/// A replica this node runs, and what a rejoin reports about it.
struct hosted_replica {
  caf::actor handle;
  gate_ptr gate;
  std::string app;
  std::string deployment;
  std::string version;
  std::string user_config;
  /// System clock, milliseconds since the Unix epoch.
  int64_t started_at_ms = 0;
};

using hosted_map = std::unordered_map<uint64_t, hosted_replica>;

/// What a rejoining node reports about replica `id` (its gate's limit, as
/// a reconfigure left it).
hosted_replica_report report_of(uint64_t id, const hosted_replica& r);

/// The replica set a node without its head publishes: only the replicas
/// it hosts (`here`), which it still reaches; `refs` as they are when it
/// hosts none of them (a call may still find a replica reachable).
std::vector<replica_ref> reachable_without_head(std::vector<replica_ref> refs,
                                                const std::set<uint64_t>& here);

/// The status a node without its head answers: `self` (its own node) and
/// the replicas it runs, by application and deployment.
serve_status status_without_head(const hosted_map& hosted, node_status self,
                                 int64_t since_ms);

/// Milliseconds since the Unix epoch, now.
int64_t unix_ms_now();

/// The longest wait between a worker's tries to join its head again: a
/// restarted head's grace period outlasts it (serve_store.cpp).
constexpr std::chrono::milliseconds max_rejoin_backoff{2000};

/// What a worker does after a failed try to join its head again.
struct rejoin_step {
  bool give_up = false;
  /// How long until the next try.
  std::chrono::milliseconds wait{0};
  /// The backoff after that try, should it fail too.
  std::chrono::milliseconds next_backoff{0};
};

/// The next try after one failed: after `backoff` (the first is 100 ms,
/// doubling up to 2 s), the last one at the deadline (`left` from now;
/// `milliseconds::max()`: none); none once the deadline passed.
rejoin_step after_rejoin_failure(std::chrono::milliseconds backoff,
                                 std::chrono::milliseconds left);

/// Spawns the agent of a worker node that joins through `gate`; it calls
/// `on_head_lost` (on a system thread) once it has had no head for
/// `rejoin.orphan_after`, or at once when it has no way to dial again.
node_agent_actor spawn_node_agent(caf::actor_system& sys, registry_ptr reg,
                                  cluster_gate_actor gate, rejoin_info rejoin,
                                  std::function<void()> on_head_lost);

} // namespace actorserve::detail
