/// @file
/// A worker node's agent (private to the library): the actor the head's
/// controller talks to on that node. It speaks `node_agent_actor`, whose
/// protocol the controller owns (control/node_protocol.hpp).
///
/// The agent keeps the replicas it started (and their admission gates:
/// callers on this node take slots there, as on the head) and publishes
/// every pushed replica set into this node's endpoint of the deployment,
/// where the replicas here that call it find it. When the head goes away,
/// or declared this node DEAD and does not take it back, it stops its
/// replicas and joins again (a new connection when the old one closed),
/// with backoff for up to `rejoin_info::give_up_after`; then it tells the
/// process (`on_head_lost`).
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
#include <string>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/typed_actor.hpp>

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
  /// How long it keeps trying (`--rejoin-timeout-ms`); 0: once the
  /// connection closed, the node ends at once.
  std::chrono::milliseconds give_up_after{60'000};
  /// Connects to the head again (blocking: it runs on a thread of its
  /// own); null: a closed connection ends the node.
  std::function<caf::expected<cluster_gate_actor>()> dial;
  /// The node's id, which a rejoin changes; read by `serve::node_id`.
  std::shared_ptr<std::atomic<uint64_t>> node_id =
      std::make_shared<std::atomic<uint64_t>>(0);
};

/// What a worker does after a failed try to join its head again.
struct rejoin_step {
  bool give_up = false;
  /// How long until the next try.
  std::chrono::milliseconds wait{0};
  /// The backoff after that try, should it fail too.
  std::chrono::milliseconds next_backoff{0};
};

/// The next try after one failed: after `backoff` (the first is 100 ms,
/// doubling up to 2 s), the last one at the deadline (`left` from now);
/// none once the deadline passed.
rejoin_step after_rejoin_failure(std::chrono::milliseconds backoff,
                                 std::chrono::milliseconds left);

/// Spawns the agent of a worker node that joins through `gate`; it calls
/// `on_head_lost` (on a system thread) when it cannot join its head again
/// within `rejoin.give_up_after`, after the connection closed or the head
/// declared this node DEAD.
node_agent_actor spawn_node_agent(caf::actor_system& sys, registry_ptr reg,
                                  cluster_gate_actor gate, rejoin_info rejoin,
                                  std::function<void()> on_head_lost);

} // namespace actorserve::detail
