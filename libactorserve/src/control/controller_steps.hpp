/// @file
/// The steps the controller's handlers take, over its state
/// (controller_state.hpp), grouped by the file that implements them.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "actorserve/placement.hpp"
#include "control/controller_state.hpp"

namespace actorserve::detail::ctl {

// -- applications and publication (controller_apps.cpp) -----------------------

/// Whether the app's replicas are replaced when they die.
bool replaces_replicas(const app_entry& app);

/// Finds a deployment by name; null when the app or deployment is gone, or
/// the app no longer keeps its replicas.
deployment_entry* live_deployment(controller_ptr self, const std::string& app,
                                  const std::string& dep_name,
                                  app_entry** app_out = nullptr);

/// Creates a deployment's entry: its endpoint and gateway.
deployment_entry& add_deployment(controller_ptr self, app_entry& app,
                                 const detail::spec_ptr& spec);

/// Removes the app's routes, empties its replica sets and drains every
/// replica; the app is gone once they stopped.
void start_delete(controller_ptr self, app_entry& app);

/// A deployment of a deploying app gave up on its constructor: the app is
/// DEPLOY_FAILED, its waiters get `user_error`, and it is torn down.
void fail_deploy(controller_ptr self, app_entry& app, const std::string& dep,
                 const std::string& message);

/// Moves a deploying app to RUNNING once every deployment is healthy (or an
/// unhealthy one back to RUNNING).
void check_running(controller_ptr self, app_entry& app);

/// Publishes the ready replicas to every caller and nudges the gateway.
void push_replicas(controller_ptr self, deployment_entry& dep);

/// Publishes the replica set soon: once for every replica that becomes
/// ready before the push runs.
void schedule_push(controller_ptr self, const std::string& app,
                   const std::string& dep_name, deployment_entry& dep);

/// Answers the deployment's scale and update waiters once it is healthy.
void answer_scale_waiters(deployment_entry& dep, const std::string& name);

// -- placement (controller_place.cpp) -----------------------------------------

/// Placement's view of the nodes for one deployment, built once per
/// controller turn (a pass over every replica) and updated as that turn
/// places replicas (`commit`): starting n replicas costs one pass, not n.
struct placement_cache {
  bool built = false;
  /// The deployment reserves nothing and nothing else is there: every
  /// replica goes to the head without a look at the others.
  bool trivial = false;
  placement_request req;
  std::vector<node_view> views;
};

/// The node one more replica of `dep` goes to (placement.hpp: spread over
/// the alive nodes that fit); none when it fits nowhere. Sets or clears
/// `dep.pending`, and records the replica in `cache`.
std::optional<uint64_t> choose_node(controller_ptr self, const app_entry& app,
                                    deployment_entry& dep,
                                    placement_cache& cache);

/// Resources were released: retries pending placements (coalesced).
void schedule_place(controller_ptr self);

/// Retries the pending placements of every deployment.
void place_pending(controller_ptr self);

// -- replica lifecycle (controller_ops.cpp) -----------------------------------

/// The replica count a deployment's config asks for.
uint32_t configured_target(const deployment_config& cfg);

/// The most replicas one controller turn starts. A larger scale-up goes on
/// in later turns (`place_atom`), so that health checks, status, routing
/// updates and shutdown are served in between.
constexpr uint32_t max_starts_per_turn = 256;

/// Starts one replica of the deployment's current spec, where placement
/// finds room; false (and `dep.pending` saying why) when there is none.
bool spawn_one(controller_ptr self, app_entry& app, const std::string& name,
               deployment_entry& dep, placement_cache& cache);

/// Makes the number of live replicas match `dep.target`.
void reconcile(controller_ptr self, app_entry& app, const std::string& name,
               deployment_entry& dep);

/// Drains a replica that is already out of the callers' set.
/// Bounded: a replica that has not stopped `grace` (the deployment's
/// `graceful_shutdown_timeout`) plus a margin later, or whose node is gone,
/// is killed and forgotten.
void drain(controller_ptr self, const replica_entry& r,
           std::chrono::milliseconds grace);

/// How long the controller waits for a drained replica past its
/// `graceful_shutdown_timeout` (its own force stop fires at that).
constexpr std::chrono::seconds drain_margin{5};

/// A start of `dep` failed in a slot that had failed `failures` times
/// before: the slot waits out its backoff, then `reconcile` fills it.
void slot_failed(controller_ptr self, const std::string& app,
                 const std::string& dep_name, deployment_entry& dep,
                 uint32_t failures);

/// Replica `r` of `dep` died outside of a drain: it leaves the set and is
/// replaced, at once or after a backoff.
void replica_died(controller_ptr self, app_entry& app,
                  const std::string& dep_name, deployment_entry& dep,
                  std::vector<replica_entry>::iterator r);

/// An explicit change (scale, patch, redeploy) tries a constructor that
/// was given up on again.
void retry_constructor(deployment_entry& dep);

/// A replica's constructor failed: back off, or give up past the limit.
void constructor_failed(controller_ptr self, app_entry& app,
                        const std::string& dep_name, deployment_entry& dep,
                        const std::string& message);

// -- status, routes, validation (controller_status.cpp) -----------------------

deployment_state state_of(const deployment_entry& dep);

deployment_status status_of(const std::string& name,
                            const deployment_entry& dep);
application_status status_of(const app_entry& app);

/// The route table of the apps that serve HTTP, longest prefix first.
route_table make_routes(const controller_data& st);

/// Tells every ingress the current route table.
void publish_routes(controller_ptr self);

/// Checks a new app (or an update of a running one) against the running
/// ones; fills `specs` with its deployments, children first.
caf::error validate_app(const controller_data& st, const app_spec& spec,
                        std::vector<detail::spec_ptr>& specs);

/// `not_found` naming a deployment that `app` does not have.
caf::error no_deployment(const std::string& app, const std::string& dep);

// -- nodes (controller_nodes.cpp) ---------------------------------------------

/// Records an authenticated node (from the cluster gate) and watches its
/// agent; returns its id.
uint64_t node_joined(controller_ptr self, node_hello hello,
                     const std::string& peer);

/// The actor that went down was a node's agent, or lived on a node whose
/// connection dropped: the node is dead (true; the message is handled).
bool node_went_down(controller_ptr self, const caf::down_msg& dm);

/// Sets what a node's binary registers; `not_found` for an unknown node.
caf::error set_node_deployments(controller_ptr self, uint64_t node,
                                std::vector<std::string> names);

/// The head, then every worker node.
std::vector<node_status> nodes_status(controller_ptr self);

/// Sends a deployment's ready set to the worker nodes whose binaries
/// register it (callers there route with it).
void push_to_nodes(controller_ptr self, const deployment_entry& dep,
                   const std::vector<replica_ref>& refs, bool from_zero);

/// Sends every announced worker every replica set its binary registers,
/// and the route table (a restarted head's grace period ended).
void push_to_all_nodes(controller_ptr self);
/// Tells the worker nodes the route table by name (for those that serve
/// HTTP); with `node`, only that one. Nothing while a restarted head
/// recovers (nor `push_to_nodes`).
void push_route_names(controller_ptr self, const route_table& table,
                      uint64_t node = 0);

/// Asks worker `node`'s agent to start replica `id` of the deployment; the
/// entry waits in `dep.replicas` (starting, no handle yet) until the agent
/// answers or the replica reports ready.
void start_remote(controller_ptr self, app_entry& app, const std::string& name,
                  deployment_entry& dep, uint64_t id, uint64_t node);

/// A node stopped answering heartbeats (or its connection dropped): it is
/// DEAD, and its replicas are replaced on the others.
void node_lost(controller_ptr self, uint64_t node, const std::string& why);

/// Takes a worker's heartbeat answer: its replicas' running calls and
/// its callers' waiting ones.
void node_reported(controller_ptr self, uint64_t node, const node_load& load);

/// Calls that callers on the alive worker nodes hold waiting for a replica
/// of "app/deployment" `key`, as they last reported.
int64_t queued_on_nodes(controller_ptr self, const std::string& key);

/// Answers the `wait_nodes_atom` callers whose count of alive, announced
/// workers is reached.
void answer_node_waiters(controller_ptr self);

/// Pings every alive node; schedules the next round.
void heartbeat(controller_ptr self);

// -- health (controller_health.cpp) -------------------------------------------

/// Schedules the deployment's next health tick (starting its chain when it
/// has none).
void arm_health(controller_ptr self, const std::string& app,
                const std::string& dep_name, deployment_entry& dep);

/// Probes the next slice of the deployment's ready replicas (all of them
/// when there are few; see `schedule_probes`).
void probe_replicas(controller_ptr self, const std::string& app,
                    const std::string& dep_name, deployment_entry& dep);

/// Where a live replica is: its app, deployment and entry.
struct replica_location {
  app_entry* app;
  std::string dep_name;
  deployment_entry* dep;
  std::vector<replica_entry>::iterator r;
};

/// The replica with `id`, through the controller's index; none when it
/// was drained, deleted or never existed.
std::optional<replica_location> locate_replica(controller_ptr self,
                                              uint64_t id);

/// A replica's start-up timer fired: one still starting counts as a failed
/// constructor and is stopped; the deployment retries after its backoff.
void startup_timed_out(controller_ptr self, uint64_t id);

// -- updates (controller_update.cpp) ------------------------------------------

/// Whether the deployment has replicas of an older code generation.
bool rolling(const deployment_entry& dep);

/// One step of a rolling update (rollout.hpp): starts new replicas, drains
/// old ones that new ones replaced.
void roll(controller_ptr self, app_entry& app, const std::string& name,
          deployment_entry& dep);

/// Applies a changed config by its classification. `code` is the spec of a
/// redeploy (new code unless the version matches), else null; `rebuild`
/// forces a rolling update (the deployment's children changed).
void apply_config(controller_ptr self, app_entry& app, const std::string& name,
                  deployment_entry& dep, const deployment_config& cfg,
                  const detail::spec_ptr& code, bool rebuild);

/// Sends a replica whose config is behind the deployment's its new
/// user_config and limits.
void reconfigure_replica(controller_ptr self, const std::string& app,
                         const std::string& dep_name, deployment_entry& dep,
                         replica_entry& r);

/// Applies a patch; returns the error naming a bad field.
caf::error patch_deployment(controller_ptr self, app_entry& app,
                            const std::string& name, deployment_entry& dep,
                            const deployment_patch& patch);

/// Updates a running app to `spec` (deploy_atom for an app that exists).
caf::error redeploy(controller_ptr self, app_entry& app, const app_spec& spec,
                    const std::vector<detail::spec_ptr>& specs);

/// Stops a deployment an update dropped: callers lose it, its replicas
/// drain, its entry goes.
void retire(controller_ptr self, app_entry& app, const std::string& name);

// -- autoscaling (controller_autoscale.cpp) -----------------------------------

/// Starts the autoscaling ticks of an autoscaled deployment, unless they
/// run.
void arm_autoscale(controller_ptr self, const std::string& app,
                   const std::string& dep_name, deployment_entry& dep);

/// Schedules the next tick of the running chain.
void next_autoscale(controller_ptr self, const std::string& app,
                    const std::string& dep_name, const deployment_entry& dep);

/// One tick: sample, decide, reconcile.
void autoscale_step(controller_ptr self, app_entry& app,
                    const std::string& dep_name, deployment_entry& dep);

// -- the state store (controller_store.cpp) -----------------------------------

/// Something stored changed: a write follows after this turn (coalesced).
void mark_changed(controller_ptr self);

/// Takes the store's writer and, after a restart, what it read back: the
/// grace period for the workers starts.
void init_store(controller_ptr self, std::shared_ptr<store_setup> setup);

/// A deployment was added: records its base config and, while a restarted
/// head recovers a deployment deployed alike, applies the stored config,
/// target and awaited replicas, and adopts what workers offered already.
void recover_config(controller_ptr self, app_entry& app,
                    const std::string& dep_name, deployment_entry& dep);

/// A rejoining worker still runs `reports`: adopted, parked until their
/// deployment is deployed again (during the grace period), or stopped.
void offer_replicas(controller_ptr self, uint64_t node,
                    std::vector<hosted_replica_report>& reports);

/// The node id a rejoining worker gets back (0: a new one).
uint64_t recovered_node_id(controller_ptr self, uint64_t previous);

} // namespace actorserve::detail::ctl
