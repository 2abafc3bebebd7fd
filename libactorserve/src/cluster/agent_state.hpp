/// @file
/// The node agent's state (private to cluster/): node_agent.cpp runs the
/// actor, agent_rejoin.cpp joins the head again after it was lost.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "cluster/node_agent.hpp"

namespace actorserve::detail {

/// Joining the head again: each attempt has a number, and answers to an
/// older attempt (over a connection since closed) are dropped.
struct rejoin_run {
  bool active = false;
  uint64_t attempt = 0;
  /// When the node gives up (`rejoin_info::orphan_after` after it lost
  /// its head); `time_point::max()`: never.
  std::chrono::steady_clock::time_point deadline;
  std::chrono::milliseconds backoff{100};
  /// Whether this node joins with the replicas it kept (its connection
  /// closed), or as a new node (the head declared it DEAD).
  bool keep = false;
};

/// A replica set as the head pushed it last.
struct pushed_set {
  std::vector<replica_ref> refs;
  bool scales_from_zero = false;
  uint32_t max_ongoing = 0;
  int64_t max_queued = 0;
  /// Pushed over a connection that has closed since: published less the
  /// replicas this node no longer reaches.
  bool stale = false;
};

struct agent_state {
  registry_ptr reg;
  /// The head's gate; null while the connection is closed.
  cluster_gate_actor gate;
  rejoin_info rejoin;
  std::function<void()> on_head_lost;
  rejoin_run again;
  /// This node's HTTP ingress (`--proxy`), and the routes it serves.
  std::vector<caf::actor> route_subscribers;
  route_table routes;
  hosted_map hosted;
  /// By (app, deployment).
  std::map<std::pair<std::string, std::string>, pushed_set> pushed;
  /// When this node last lost its head (ms since the epoch); 0 while it
  /// has one.
  int64_t head_lost_at_ms = 0;
  static inline const char* name = "actorserve.node_agent";
};

using agent_ptr = node_agent_actor::stateful_pointer<agent_state>;

/// Stops every replica hosted here.
void stop_hosted(agent_ptr self);

/// Publishes the pushed set of every deployment again (less the replicas
/// out of reach where it is stale).
void publish_all(agent_ptr self);

/// The connection to the head closed: keep serving, and join again with
/// the replicas kept.
void lose_head(agent_ptr self);

/// The head declared this node DEAD: stop the replicas and join as new.
void join_as_new(agent_ptr self, const std::string& why);

/// A dial's result for attempt `attempt`.
void dialed(agent_ptr self, uint64_t attempt, cluster_gate_actor& gate,
            const std::string& why);

/// A rejoin's timer fired: the next try, unless a newer attempt began.
void on_rejoin_timer(agent_ptr self, uint64_t attempt);

} // namespace actorserve::detail
