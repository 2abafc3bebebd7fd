/// @file
/// The controller's state and the steps its handlers take (private to the
/// library). controller.cpp wires messages to these functions;
/// controller_ops.cpp implements them.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actorserve/admission.hpp"
#include "actorserve/controller.hpp"
#include "actorserve/health.hpp"

namespace actorserve::detail::ctl {

struct replica_entry {
  uint64_t id;
  caf::actor handle;
  replica_state state;
  detail::gate_ptr gate;
  health_record health{};
};

struct scale_waiter {
  caf::typed_response_promise<deployment_status> rp;
};

struct deployment_entry {
  detail::spec_ptr spec;
  /// Desired replica count (the spec's, until scaled).
  uint32_t target = 0;
  /// Where callers find the ready replicas.
  endpoint_ptr ep;
  /// Routes for callers outside replicas and the ingress.
  caf::actor gateway;
  std::vector<endpoint_ptr> children;
  /// Live replicas (starting or ready); draining ones are gone from here.
  std::vector<replica_entry> replicas;
  std::vector<scale_waiter> scale_waiters;
  /// Why the deployment failed (DEPLOY_FAILED or UNHEALTHY); empty when not.
  std::string message;
  /// The last thing that happened to a healthy deployment (a replica
  /// replaced after failing its health checks); shown when `message` is
  /// empty, never a failure.
  std::string note;
  /// Constructor failures in a row, and the wait before the next replica.
  uint32_t ctor_failures = 0;
  std::chrono::milliseconds retry_delay{0};
  bool respawn_armed = false;
  /// Gave up on a failing constructor while the app ran.
  bool unhealthy = false;
};

struct app_entry {
  std::string name;
  std::string prefix;
  std::string ingress;
  application_state state = application_state::not_started;
  /// Children before parents.
  std::vector<std::string> order;
  std::map<std::string, deployment_entry> deployments;
  std::vector<caf::typed_response_promise<application_status>> deploy_waiters;
  std::vector<caf::typed_response_promise<bool>> delete_waiters;
  /// Replicas still draining while the app is being deleted.
  size_t draining = 0;
  std::string message;
};

struct controller_data {
  std::map<std::string, app_entry> apps;
  std::vector<caf::actor> route_subscribers;
  uint64_t next_replica_id = 1;
  /// Replica id -> (app, deployment).
  std::unordered_map<uint64_t, std::pair<std::string, std::string>> index;
  std::vector<caf::typed_response_promise<bool>> shutdown_waiters;
  /// After `shutdown_atom`: new apps are refused.
  bool shutting_down = false;
  std::string node;
  static inline const char* name = "actorserve.controller";
};

using controller_ptr = controller_actor::stateful_pointer<controller_data>;

// -- status -------------------------------------------------------------------

deployment_state state_of(const deployment_entry& dep);

deployment_status status_of(const std::string& name,
                            const deployment_entry& dep);

application_status status_of(const app_entry& app);

// -- routes -------------------------------------------------------------------

/// The route table of the apps that serve HTTP, longest prefix first.
route_table make_routes(const controller_data& st);

/// Tells every ingress the current route table.
void publish_routes(controller_ptr self);

// -- replicas -----------------------------------------------------------------

/// Publishes the ready replicas to every caller and nudges the gateway.
void push_replicas(deployment_entry& dep);

/// Drains a replica that is already out of the callers' set.
void drain(controller_ptr self, const replica_entry& r);

/// Makes the number of live replicas match `dep.target`.
void reconcile(controller_ptr self, app_entry& app, const std::string& name,
               deployment_entry& dep);

void answer_scale_waiters(deployment_entry& dep, const std::string& name);

/// Whether the app's replicas are replaced when they die.
bool replaces_replicas(const app_entry& app);

/// Replaces the deployment's missing replicas after its backoff.
void arm_respawn(controller_ptr self, const std::string& app,
                 const std::string& dep_name, deployment_entry& dep);

// -- health
// ---------------------------------------------------------------------

/// Schedules the deployment's next health tick.
void arm_health(controller_ptr self, const std::string& app,
                const std::string& dep_name, const deployment_entry& dep);

/// Probes every ready replica of the deployment once.
void probe_replicas(controller_ptr self, const std::string& app,
                    const std::string& dep_name, deployment_entry& dep);

/// A replica's constructor failed: back off, or give up past the limit.
void constructor_failed(controller_ptr self, app_entry& app,
                        const std::string& dep_name, deployment_entry& dep,
                        const std::string& message);

// -- applications -------------------------------------------------------------

/// Removes the app's routes, empties its replica sets and drains every
/// replica; the app is gone once they stopped.
void start_delete(controller_ptr self, app_entry& app);

/// Moves a deploying app to RUNNING once every deployment is healthy (or an
/// unhealthy one back to RUNNING).
void check_running(controller_ptr self, app_entry& app);

/// Checks a new app against the running ones; fills `specs` with its
/// deployments, children first.
caf::error validate_app(const controller_data& st, const app_spec& spec,
                        std::vector<detail::spec_ptr>& specs);

} // namespace actorserve::detail::ctl
