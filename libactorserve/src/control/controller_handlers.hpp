/// @file
/// The handlers of the controller's messages (its protocol:
/// actorserve/controller.hpp), each in the file of its concern.
/// controller.cpp's message table calls them; a message whose handler is
/// one step calls that step (controller_steps.hpp) directly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>


#include "control/controller_state.hpp"

namespace actorserve::detail::ctl {

// -- applications (controller_apps.cpp) ---------------------------------------

/// `deploy_atom`: a new app starts; one that exists is updated.
caf::result<application_status> on_deploy(controller_ptr self, app_spec& spec);

/// `delete_atom`: the app drains and goes; false when there is none.
caf::result<bool> on_delete(controller_ptr self, const std::string& name);

/// `shutdown_atom`: every app is deleted; new ones are refused.
caf::result<bool> on_shutdown(controller_ptr self);

/// `push_atom`: publishes a deployment's replica set (pushes coalesce).
void on_push(controller_ptr self, const std::string& app_name,
             const std::string& dep_name);

// -- replicas (controller_ops.cpp) --------------------------------------------

/// `ready_atom`: a replica's constructor finished (`ok`) or failed.
void on_ready(controller_ptr self, uint64_t id, bool ok,
              const std::string& message);

/// `respawn_atom`: a failed slot's backoff is over; it is filled again.
void on_respawn(controller_ptr self, const std::string& app_name,
                const std::string& dep_name);

/// A monitored actor went down: a node's agent, or a replica that died
/// outside of a drain (replaced).
void on_down(controller_ptr self, caf::down_msg& dm);

// -- updates (controller_update.cpp) ------------------------------------------

/// `scale_atom`: a new fixed replica count.
caf::result<deployment_status> on_scale(controller_ptr self,
                                        const std::string& app_name,
                                        const std::string& dep_name,
                                        uint32_t n);

/// `update_atom`: applies a patch to a running deployment.
caf::result<deployment_status>
on_update(controller_ptr self, const std::string& app_name,
          const std::string& dep_name, const deployment_patch& patch,
          bool wait);

// -- status (controller_status.cpp) -------------------------------------------

/// `status_atom`: every application and node.
serve_status on_status(controller_ptr self);

/// `endpoint_atom`: a deployment's endpoint; `not_found` when there is none.
caf::result<endpoint_ptr> on_endpoint(controller_ptr self,
                                      const std::string& app_name,
                                      const std::string& dep_name);

/// `routes_atom`: subscribes an ingress to the route table (sent now and on
/// every change).
void on_routes(controller_ptr self, const caf::actor& subscriber);

// -- nodes (controller_nodes.cpp) ---------------------------------------------

/// `node_deployments_atom`: what a worker's binary registers.
caf::result<bool> on_node_deployments(controller_ptr self, uint64_t node,
                                      std::vector<std::string>& names);

/// `cluster_address_atom`: the head's cluster address, for status.
void on_cluster_address(controller_ptr self, std::string& address);

/// `wait_nodes_atom`: answered once `n` workers are alive and announced.
caf::result<bool> on_wait_nodes(controller_ptr self, uint32_t n);

// -- ticks (controller_health.cpp, controller_autoscale.cpp) -----------------

/// `health_tick_atom`: probes the next slice of the deployment's replicas.
void on_health_tick(controller_ptr self, const std::string& app_name,
                    const std::string& dep_name, uint64_t chain);

/// `autoscale_tick_atom`: one autoscaling decision for the deployment.
void on_autoscale_tick(controller_ptr self, const std::string& app_name,
                       const std::string& dep_name, uint64_t chain);

// -- the state store (controller_store.cpp) -----------------------------------

/// `persist_atom`: writes what changed; the write's sequence number.
uint64_t on_persist(controller_ptr self);

/// `recovered_atom`: the grace period is over; what was not adopted is
/// replaced, offers nobody claimed are stopped.
void on_recovered(controller_ptr self);

} // namespace actorserve::detail::ctl
