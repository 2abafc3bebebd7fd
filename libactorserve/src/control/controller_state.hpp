/// @file
/// The controller's state and the steps its handlers take (private to the
/// library). controller.cpp wires messages to these functions;
/// controller_ops.cpp implements them.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/actor_clock.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actorserve/admission.hpp"
#include "actorserve/autoscaling.hpp"
#include "actorserve/controller.hpp"
#include "policy/health.hpp"
#include "actorserve/placement.hpp"
#include "control/node_protocol.hpp"

namespace actorserve::detail::ctl {

/// The head's node id; worker nodes count up from the next.
constexpr uint64_t head_node_id = 1;

/// A worker node that joined.
struct node_entry {
  node_status status;
  /// Its agent, monitored: the node is dead when it goes.
  detail::node_agent_actor agent;
  /// It said which deployments its binary registers (after its `run`s).
  bool announced = false;
  /// Calls its callers hold waiting, by "app/deployment", as its last
  /// heartbeat answer said (autoscaling counts them).
  std::map<std::string, int64_t> queued;
};

struct replica_entry {
  uint64_t id;
  caf::actor handle;
  replica_state state;
  detail::gate_ptr gate;
  /// The deployment's code generation it runs (`deployment_entry::code`).
  uint64_t code = 0;
  /// Its config's version and user_config, as it last applied them.
  std::string version;
  std::string user_config;
  /// The `max_ongoing_requests` it last applied (its gate's, on a worker
  /// node too, where the head holds no gate).
  uint32_t max_ongoing = 0;
  /// A reconfigure is on its way to it.
  bool reconfiguring = false;
  /// Failed starts in a row of the slot it fills (`slot_wait`): its
  /// constructor failing adds one, its becoming ready clears them.
  uint32_t slot_failures = 0;
  health_record health{};
  /// The node it runs on.
  uint64_t node = head_node_id;
  /// On a worker node (no gate here): the calls running there, as its
  /// node's last heartbeat answer said.
  uint32_t reported_running = 0;
  /// On a worker node: the model ids it reported, shared with the head's
  /// callers through its `replica_ref`.
  std::shared_ptr<reported_models> models{};
};

/// The multiplexed model ids `r` holds: its gate's here, its node's
/// report otherwise.
inline std::vector<std::string> models_at(const replica_entry& r) {
  if (r.gate)
    return r.gate->model_ids();
  return r.models ? *r.models->get() : std::vector<std::string>{};
}

/// The calls running at `r`: its gate's count here, its node's report
/// otherwise.
inline uint32_t running_at(const replica_entry& r) {
  return r.gate ? r.gate->running() : r.reported_running;
}

/// The replica `id` of `dep`, or `dep.replicas.end()`. A deployment's
/// replicas stay in the order of their ids (new ones are appended with
/// growing ids, and removals keep the order), so this is a binary search:
/// readiness reports and probe answers of 100,000 replicas cost
/// O(n log n), not O(n^2).
inline std::vector<replica_entry>::iterator
find_replica(std::vector<replica_entry>& reps, uint64_t id) {
  auto r = std::lower_bound(
      reps.begin(), reps.end(), id,
      [](const replica_entry& e, uint64_t x) { return e.id < x; });
  return r != reps.end() && r->id == id ? r : reps.end();
}

/// A replica slot whose last start failed (its constructor threw or timed
/// out): it is filled again at `due`, after its own backoff
/// (`detail::after_constructor_failure`), while the other slots of the
/// deployment start and serve as usual.
struct slot_wait {
  caf::actor_clock::time_point due;
  uint32_t failures = 0;
};

struct scale_waiter {
  caf::typed_response_promise<deployment_status> rp;
};

struct deployment_entry {
  /// The current spec: the code and config new replicas get.
  detail::spec_ptr spec;
  /// Changes with the code (a heavyweight update): replicas of another
  /// generation are replaced by a rolling update.
  uint64_t code = 0;
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
  /// Why replicas the target asks for cannot be placed (placement.hpp);
  /// empty when none wait.
  std::string pending;
  /// The target asks for more replicas than the last turn started
  /// (`max_starts_per_turn`): the next turn starts more.
  bool more_to_start = false;
  /// Constructor failures in a row, over all slots (Ray's retry limit).
  uint32_t ctor_failures = 0;
  /// Slots waiting out their backoff after a failed start; they count
  /// towards the target until due. A replica that served and died is
  /// replaced at once: backoff is for starts only.
  std::vector<slot_wait> waits;
  /// Gave up on a failing constructor while the app ran.
  bool unhealthy = false;
  /// A push of the replica set is scheduled (`push_atom`).
  bool push_pending = false;
  /// Autoscaling: samples, the policy's state, whether the tick runs, and
  /// whether the autoscaler set the current target.
  load_window window;
  autoscaling_state scaler;
  bool autoscale_armed = false;
  bool autoscaled_target = false;
  /// Where the next health tick's slice of probes starts.
  size_t probe_cursor = 0;
  /// The timer chains that belong to this entry: a tick of another chain
  /// (an entry since replaced, autoscaling turned off and on) is stale.
  uint64_t health_chain = 0;
  uint64_t autoscale_chain = 0;
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
  /// Routes are published for the app (it was running once), also while
  /// an update deploys.
  bool serving = false;
  /// An update's new route prefix and ingress, published once it is done,
  /// and the deployments it dropped, stopped then.
  std::string next_prefix;
  std::string next_ingress;
  std::vector<std::string> retired;
};

struct controller_data {
  std::map<std::string, app_entry> apps;
  std::vector<caf::actor> route_subscribers;
  uint64_t next_replica_id = 1;
  /// Names timer chains (deployment_entry::health_chain).
  uint64_t next_chain = 1;
  /// Replica id -> (app, deployment).
  std::unordered_map<uint64_t, std::pair<std::string, std::string>> index;
  /// The replicas of this process, by id, until they drain or die: stopped
  /// when the controller ends (an attached functor holds the map). Not
  /// links: CAF keeps an actor's links in a list it scans on every unlink,
  /// so 100,000 replicas linked to the controller took over 20 s to stop.
  std::shared_ptr<std::unordered_map<uint64_t, caf::actor>> local_replicas =
      std::make_shared<std::unordered_map<uint64_t, caf::actor>>();
  std::vector<caf::typed_response_promise<bool>> shutdown_waiters;
  /// After `shutdown_atom`: new apps are refused.
  bool shutting_down = false;
  std::string node;
  /// What this node offers replicas' reservations.
  resource_set local;
  /// A retry of pending placements is scheduled (`place_atom`).
  bool place_armed = false;
  /// The head's cluster address ("local" without a cluster port).
  std::string address = "local";
  std::vector<node_entry> nodes;
  uint64_t next_node_id = head_node_id + 1;
  heartbeat_options heartbeat;
  /// The heartbeat chain runs (while any node is alive).
  bool heartbeat_armed = false;
  /// `wait_nodes_atom` callers: how many alive, announced workers each
  /// waits for.
  std::vector<std::pair<size_t, caf::typed_response_promise<bool>>>
      node_waiters;
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

/// Tells the worker nodes the route table by name (for those that serve
/// HTTP); with `node`, only that one.
void push_route_names(controller_ptr self, const route_table& table,
                      uint64_t node = 0);

// -- replicas -----------------------------------------------------------------

/// Publishes the ready replicas to every caller and nudges the gateway.
void push_replicas(controller_ptr self, deployment_entry& dep);

/// Publishes the replica set soon: once for every replica that becomes
/// ready before the push runs.
void schedule_push(controller_ptr self, const std::string& app,
                   const std::string& dep_name, deployment_entry& dep);

/// Creates a deployment's entry: its endpoint and gateway.
deployment_entry& add_deployment(controller_ptr self, app_entry& app,
                                 const detail::spec_ptr& spec);

/// The replica count a deployment's config asks for.
uint32_t configured_target(const deployment_config& cfg);

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

/// The most replicas one controller turn starts. A larger scale-up goes on
/// in later turns (`place_atom`), so that health checks, status, routing
/// updates and shutdown are served in between.
constexpr uint32_t max_starts_per_turn = 256;

/// Starts one replica of the deployment's current spec, where placement
/// finds room; false (and `dep.pending` saying why) when there is none.
bool spawn_one(controller_ptr self, app_entry& app, const std::string& name,
               deployment_entry& dep, placement_cache& cache);

/// The node one more replica of `dep` goes to (placement.hpp: spread over
/// the alive nodes that fit); none when it fits nowhere. Sets or clears
/// `dep.pending`, and records the replica in `cache`.
std::optional<uint64_t> choose_node(controller_ptr self, const app_entry& app,
                                    deployment_entry& dep,
                                    placement_cache& cache);

// -- nodes (controller_nodes.cpp) -------------------------------------------

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

/// Resources were released: retries pending placements (coalesced).
void schedule_place(controller_ptr self);

/// Retries the pending placements of every deployment.
void place_pending(controller_ptr self);

/// Drains a replica that is already out of the callers' set.
/// Bounded: a replica that has not stopped `grace` (the deployment's
/// `graceful_shutdown_timeout`) plus a margin later, or whose node is gone,
/// is killed and forgotten.
void drain(controller_ptr self, const replica_entry& r,
           std::chrono::milliseconds grace);

/// How long the controller waits for a drained replica past its
/// `graceful_shutdown_timeout` (its own force stop fires at that).
constexpr std::chrono::seconds drain_margin{5};

/// Makes the number of live replicas match `dep.target`.
void reconcile(controller_ptr self, app_entry& app, const std::string& name,
               deployment_entry& dep);

void answer_scale_waiters(deployment_entry& dep, const std::string& name);

/// Whether the app's replicas are replaced when they die.
bool replaces_replicas(const app_entry& app);

/// A start of `dep` failed in a slot that had failed `failures` times
/// before: the slot waits out its backoff, then `reconcile` fills it.
void slot_failed(controller_ptr self, const std::string& app,
                 const std::string& dep_name, deployment_entry& dep,
                 uint32_t failures);

// -- health
// ---------------------------------------------------------------------

/// Schedules the deployment's next health tick (starting its chain when it
/// has none).
void arm_health(controller_ptr self, const std::string& app,
                const std::string& dep_name, deployment_entry& dep);

/// Probes the next slice of the deployment's ready replicas (all of them
/// when there are few; see `schedule_probes`).
void probe_replicas(controller_ptr self, const std::string& app,
                    const std::string& dep_name, deployment_entry& dep);

/// An explicit change (scale, patch, redeploy) tries a constructor that
/// was given up on again.
void retry_constructor(deployment_entry& dep);

/// Replica `r` of `dep` died outside of a drain: it leaves the set and is
/// replaced, at once or after a backoff.
void replica_died(controller_ptr self, app_entry& app,
                  const std::string& dep_name, deployment_entry& dep,
                  std::vector<replica_entry>::iterator r);

/// A replica's constructor failed: back off, or give up past the limit.
void constructor_failed(controller_ptr self, app_entry& app,
                        const std::string& dep_name, deployment_entry& dep,
                        const std::string& message);

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

// -- applications -------------------------------------------------------------

/// Removes the app's routes, empties its replica sets and drains every
/// replica; the app is gone once they stopped.
void start_delete(controller_ptr self, app_entry& app);

/// Moves a deploying app to RUNNING once every deployment is healthy (or an
/// unhealthy one back to RUNNING).
void check_running(controller_ptr self, app_entry& app);

/// Checks a new app (or an update of a running one) against the running
/// ones; fills `specs` with its deployments, children first.
caf::error validate_app(const controller_data& st, const app_spec& spec,
                        std::vector<detail::spec_ptr>& specs);

/// Finds a deployment by name; null when the app or deployment is gone, or
/// the app no longer keeps its replicas.
deployment_entry* live_deployment(controller_ptr self, const std::string& app,
                                  const std::string& dep_name,
                                  app_entry** app_out = nullptr);

} // namespace actorserve::detail::ctl
