/// @file
/// The controller's state (private to the library): its applications,
/// deployments, replicas and worker nodes. controller_steps.hpp declares
/// the steps over it, controller_handlers.hpp the handlers of its messages.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
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
#include "actorserve/placement.hpp"
#include "policy/health.hpp"
#include "control/node_protocol.hpp"
#include "store/state_writer.hpp"

namespace actorserve::detail::ctl {

/// Milliseconds since the Unix epoch.
inline int64_t unix_ms_now() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
      .count();
}

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
  /// When it started (milliseconds since the Unix epoch).
  int64_t started_at_ms = 0;
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
  /// The config it was deployed with, before patches: a restarted head
  /// applies the stored changes only to a deployment deployed alike.
  deployment_config base;
  /// A restarted head's grace period: replicas of the stored table that
  /// ran on workers and may yet be adopted; they count towards the target
  /// until adopted or the grace ends.
  uint32_t awaited = 0;
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
  /// The state store (null without one), what was last written to it by
  /// key, and whether a write is scheduled (`persist_atom`).
  writer_ptr writer;
  std::map<std::string, std::string> written;
  bool persist_armed = false;
  uint64_t last_seq = 0;
  /// What a restarted head read back, until its grace period ends.
  std::shared_ptr<store_setup> recovery;
  bool recovering = false;
  static inline const char* name = "actorserve.controller";
};

using controller_ptr = controller_actor::stateful_pointer<controller_data>;

} // namespace actorserve::detail::ctl
