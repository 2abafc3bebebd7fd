/// @file
/// Atoms and message types shared by the system-plane actors, plus the
/// lifecycle and status enums that `serve::status()` reports.
///
/// Every type here is inspectable and registered by `register_types`, so the
/// same flows can cross nodes. The per-actor protocols (who sends what, what
/// comes back, which errors) are documented in routing.hpp, replica.hpp and
/// controller.hpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/timestamp.hpp>

#include "actorserve/cluster.hpp"

namespace actorserve {

namespace detail {
class admission_gate; // admission.hpp

/// The multiplexed model ids a replica on another node holds, as its
/// node's last heartbeat answer said; callers prefer holders of a
/// request's model through it as they do through a local replica's gate.
/// Thread safe.
class reported_models {
public:
  void set(std::vector<std::string> ids) {
    std::atomic_store(
        &ids_, std::make_shared<const std::vector<std::string>>(std::move(ids)));
  }

  /// Never null.
  std::shared_ptr<const std::vector<std::string>> get() const {
    return std::atomic_load(&ids_);
  }

private:
  std::shared_ptr<const std::vector<std::string>> ids_ =
      std::make_shared<const std::vector<std::string>>();
};
} // namespace detail

// -- atoms --------------------------------------------------------------------

using call_atom = caf::atom_constant<caf::atom("call")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
using deploy_atom = caf::atom_constant<caf::atom("deploy")>;
using delete_atom = caf::atom_constant<caf::atom("delete")>;
using scale_atom = caf::atom_constant<caf::atom("scale")>;
using ready_atom = caf::atom_constant<caf::atom("ready")>;
using replicas_atom = caf::atom_constant<caf::atom("replicas")>;
using drain_atom = caf::atom_constant<caf::atom("drain")>;
using routes_atom = caf::atom_constant<caf::atom("routes")>;
using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;
using offload_atom = caf::atom_constant<caf::atom("offload")>;
using endpoint_atom = caf::atom_constant<caf::atom("endpoint")>;
using health_atom = caf::atom_constant<caf::atom("health")>;
using reconfigure_atom = caf::atom_constant<caf::atom("reconf")>;
using update_atom = caf::atom_constant<caf::atom("update")>;

// -- request metadata
// -----------------------------------------------------------

/// The context of a request: travels with every call from the caller to a
/// replica, and from there with every call the replica's handler makes for
/// it (`request_context_of(self)`, handle.hpp).
struct request_meta {
  /// Correlates logs and the HTTP `X-Request-ID`.
  std::string request_id;
  /// Absolute deadline; the epoch (zero) means none. Callers drop waiting
  /// calls whose deadline has passed with `deadline_exceeded`.
  caf::timestamp deadline{};
  /// The model a multiplexed deployment should serve the request with
  /// (HTTP header `serve_multiplexed_model_id`, or the handle option);
  /// empty when none.
  std::string multiplexed_model_id;
};

/// What user code reads about the request it handles.
using request_context = request_meta;

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, request_meta& x) {
  return f(x.request_id, x.deadline, x.multiplexed_model_id);
}

/// Returns whether `meta` has a deadline that lies before `now`.
inline bool expired(const request_meta& meta, caf::timestamp now) {
  return meta.deadline.time_since_epoch().count() != 0 && meta.deadline < now;
}

/// A replica as callers know it: a stable id plus its system-side actor.
struct replica_ref {
  uint64_t id = 0;
  caf::actor handle;
  /// For a replica in this process: its admission gate, through which
  /// callers admit calls themselves and send them straight to its user
  /// actor (admission.hpp). Null: calls go through `handle`. Never
  /// serialized.
  std::shared_ptr<detail::admission_gate> gate;
  /// For a replica on another node, on the head: the model ids it reports
  /// (null elsewhere). Never serialized.
  std::shared_ptr<detail::reported_models> models{};
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replica_ref& x) {
  return f(x.id, x.handle);
}

/// An HTTP route by name, as worker nodes that serve HTTP (`--proxy`)
/// learn the head's route table: each resolves the ingress deployment
/// against its own endpoints.
struct route_name {
  std::string prefix;
  std::string app;
  std::string deployment;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, route_name& x) {
  return f(x.prefix, x.app, x.deployment);
}

// -- lifecycle and status
// -------------------------------------------------------

/// A replica's lifecycle: starting -> ready -> draining -> stopped, or failed.
enum class replica_state : uint8_t {
  starting,
  ready,
  draining,
  stopped,
  failed
};

/// A deployment's status, as in Ray Serve.
enum class deployment_state : uint8_t {
  updating,
  healthy,
  unhealthy,
  deploy_failed,
  /// The autoscaler raised the target; replicas are starting.
  upscaling,
  /// The autoscaler lowered the target; replicas are stopping.
  downscaling,
};

/// An application's status, as in Ray Serve.
enum class application_state : uint8_t {
  not_started,
  deploying,
  running,
  deploy_failed,
  unhealthy,
  deleting,
};

const char* to_string(replica_state x) noexcept;
const char* to_string(deployment_state x) noexcept;
const char* to_string(application_state x) noexcept;

struct replica_status {
  uint64_t id = 0;
  replica_state state = replica_state::starting;
  /// Requests running at the replica now (its gate's count).
  uint32_t ongoing = 0;
  /// The deployment version the replica runs.
  std::string version;
  /// The multiplexed models it holds or is loading (multiplexing.hpp).
  std::vector<std::string> multiplexed_model_ids;
  /// The node it runs on (`node_status::id`).
  uint64_t node_id = 0;
  /// When it started (milliseconds since the Unix epoch); a replica a
  /// recovered head adopted keeps its own.
  int64_t started_at_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replica_status& x) {
  return f(x.id, x.state, x.ongoing, x.version, x.multiplexed_model_ids,
           x.node_id, x.started_at_ms);
}

struct deployment_status {
  std::string name;
  deployment_state state = deployment_state::updating;
  uint32_t target_replicas = 0;
  /// The version new replicas get.
  std::string version;
  /// Whether the autoscaler sets `target_replicas`.
  bool autoscaling = false;
  std::vector<replica_status> replicas;
  std::string message;
  /// The deployment's gateway (gateway.hpp), for callers outside replicas.
  caf::actor gateway;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, deployment_status& x) {
  return f(x.name, x.state, x.target_replicas, x.version, x.autoscaling,
           x.replicas, x.message, x.gateway);
}

struct application_status {
  std::string name;
  std::string route_prefix;
  std::string ingress;
  application_state state = application_state::not_started;
  std::vector<deployment_status> deployments;
  std::string message;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, application_status& x) {
  return f(x.name, x.route_prefix, x.ingress, x.state, x.deployments,
           x.message);
}

/// Everything the controller knows, as `serve::status()` returns it.
struct serve_status {
  std::vector<application_status> applications;
  /// The head first, then the worker nodes that joined (cluster.hpp).
  std::vector<node_status> nodes;
  /// 0 from the head. A worker that serves HTTP (`--proxy`) and cannot
  /// reach its head answers status itself: since when (milliseconds since
  /// the Unix epoch) it has had no head, with only its own node and the
  /// replicas it runs.
  int64_t head_unreachable_since_ms = 0;
  /// The head's state store (`--state-dir`, `--state-store`): where it is
  /// (empty: none), whether its writes succeed, why not and since when
  /// (milliseconds since the Unix epoch). Changes are refused with 503
  /// while it fails.
  std::string store;
  bool store_ok = true;
  std::string store_error;
  int64_t store_failing_since_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, serve_status& x) {
  return f(x.applications, x.nodes, x.head_unreachable_since_ms, x.store,
           x.store_ok, x.store_error, x.store_failing_since_ms);
}

/// Renders a status as JSON text (what `GET /-/status` and the admin API
/// return).
std::string to_json(const serve_status& x);

/// Renders one deployment's status as JSON text.
std::string to_json(const deployment_status& x);

/// Registers every actorserve message type with `cfg`. `serve` calls this;
/// tests that build their own actor system call it too.
void register_types(caf::actor_system_config& cfg);

} // namespace actorserve
