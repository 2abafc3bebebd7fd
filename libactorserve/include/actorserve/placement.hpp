/// @file
/// Where a replica runs, as a pure function of plain data: Ray Serve's
/// per-replica resources (`num_cpus`, custom resources) and
/// `max_replicas_per_node`, placed by spreading over the nodes that fit.
///
/// The controller keeps a `node_view` per node (what it offers, what the
/// replicas placed there hold) and asks `place` for each replica it starts.
/// A replica that fits nowhere is pending, with `placement::reason` saying
/// why, as a pending actor is in Ray; the controller asks again when a node
/// joins or frees resources.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <caf/error.hpp>

namespace actorserve {

/// CPUs and custom resources: what a node offers, or what one replica
/// needs (Ray's `num_cpus` and `resources`).
struct resource_set {
  double num_cpus = 0;
  /// Named resources, e.g. {"accel": 1}.
  std::map<std::string, double> custom;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, resource_set& x) {
  return f(x.num_cpus, x.custom);
}

bool operator==(const resource_set& x, const resource_set& y);

/// Whether `need` fits in `available`, resource by resource.
bool fits(const resource_set& need, const resource_set& available);

/// `x` plus `times` x `y`, resource by resource (`times` -1: minus).
resource_set combine(const resource_set& x, const resource_set& y,
                     double times);

/// As many CPUs as anyone asks for, and no custom resources.
resource_set unbounded_cpus();

/// The resource that bounds the replicas a node holds by memory: a node
/// offers a budget in bytes, and each replica reserves its deployment's
/// `resources["memory"]` (Ray's `memory` option) plus
/// `replica_memory_reserve`, what the framework itself keeps per replica.
/// Replicas past the budget are pending, with the reason, so that no
/// scale-up can take a node's memory.
inline constexpr const char* memory_resource = "memory";

/// Bytes each replica reserves for the framework's own state: about 8 KiB
/// per idle replica measured, and its share of the controller's work
/// (probes, status, pushes). With the default budget, a quarter of the
/// machine's memory, this keeps a 24 GiB node near 100,000 replicas, the
/// scale at which the controller was measured to answer within 0.2 s while
/// they start (bench/control_scale --scale-to).
inline constexpr double replica_memory_reserve = 64 * 1024;

/// A node's memory budget when none is given: a quarter of the machine's
/// physical memory.
double default_memory_budget() noexcept;

/// `offered` with a memory budget: `memory_bytes` when it is not 0, else
/// the one `offered` lists, else `default_memory_budget()`.
resource_set with_memory(resource_set offered, double memory_bytes = 0);

/// "num_cpus=2, accel=1" (nothing needed: "nothing").
std::string to_string(const resource_set& x);

/// Parses `{"accel": 1, ...}` (non-negative numbers); `invalid_config`
/// naming `field` otherwise.
caf::error parse_resources(const std::string& json_text,
                           const std::string& field,
                           std::map<std::string, double>& out);

/// One node as placement sees it.
struct node_view {
  uint64_t id = 0;
  /// Only alive nodes take replicas.
  bool alive = true;
  /// What the node offers, less what the replicas placed there hold.
  resource_set free;
  /// Replicas of the deployment being placed that run there.
  uint32_t replicas = 0;
  /// Whether the node's binary registers the deployment.
  bool has_deployment = true;
};

/// What one replica of a deployment needs.
struct placement_request {
  std::string deployment;
  resource_set needs;
  /// Hard cap of this deployment's replicas per node (Ray: 1..100).
  std::optional<uint32_t> max_replicas_per_node;
};

struct placement {
  /// The chosen node; empty when the replica fits nowhere.
  std::optional<uint64_t> node;
  /// Why it fits nowhere (empty when placed).
  std::string reason;
};

/// Spreads: among the alive nodes that register the deployment, are under
/// its cap and have its needs free, the one running the fewest of its
/// replicas; ties go to the most free CPUs, then the lowest id.
placement place(const placement_request& req,
                const std::vector<node_view>& nodes);

/// Records in `nodes` that a replica of `req` now runs on `node`.
void commit(const placement_request& req, uint64_t node,
            std::vector<node_view>& nodes);

} // namespace actorserve
