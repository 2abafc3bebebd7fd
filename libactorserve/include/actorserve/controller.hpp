/// @file
/// The controller: holds the desired state of every application and makes
/// the running system match it.
///
/// It validates configs, creates an endpoint and a gateway per deployment,
/// spawns and drains replicas to match `num_replicas`, publishes replica
/// sets to endpoints (where every caller reads them) and the route table to
/// ingresses, and answers status queries.
///
/// ## Protocol (`controller_actor`)
///
/// - `(deploy_atom, app_spec)` from `serve::run`. Reply:
///   `application_status` once every replica is ready. Errors:
///   `invalid_config` naming the field; `user_error` when a deployment's
///   constructor kept failing past its retry limit (the app is then
///   DEPLOY_FAILED and torn down). For an app that is already running this
///   is an update: each deployment changes by Ray Serve's classification
///   (rollout.hpp), new ones start, dropped ones stop once the rest is
///   healthy, and the app serves throughout.
/// - `(update_atom, string app, string deployment, deployment_patch, bool
///   wait)` from `serve::update` and the admin API. Reply: the
///   deployment's status, at once or (wait) once it is healthy again.
///   Errors: `not_found`, `invalid_config` naming the field, `unavailable`
///   (the app is being deleted).
/// - `(delete_atom, string app)` from `serve::remove`. Reply: `true` once its
///   replicas drained and stopped, `false` if there is no such app.
/// - `(scale_atom, string app, string deployment, uint32 n)` from
///   `serve::scale` and tests. Reply: `deployment_status` once n replicas are
///   ready. Errors: `not_found`, `invalid_config` (n = 0), `unavailable`
///   (the app is being deleted, or the deployment gave up on a failing
///   constructor).
/// - `(status_atom)` from anyone. Reply: `serve_status`.
/// - `(health_atom)` from an ingress (`GET /-/healthz`). Reply: `true`; an
///   answer proves the system plane schedules the controller.
/// - `(endpoint_atom, string app, string deployment)` from `serve` in the
///   same process. Reply: the deployment's `endpoint_ptr`. Error: `not_found`.
/// - `(routes_atom, actor subscriber)` from an ingress. No reply; sends
///   `(routes_atom, route_table)` now and on every change.
/// - `(shutdown_atom)` from `serve` on shutdown. Reply: `true` once all apps
///   drained.
/// - `(ready_atom, uint64 id, bool ok, string message)` from replicas. No
///   reply.
/// - `(health_tick_atom, string app, string deployment, uint64 chain)` from
///   itself (a tick of another chain, from a deployment entry since
///   replaced, is ignored), every
///   `health_check_period` of that deployment: probes each ready replica
///   with `(health_atom)` (timeout `health_check_timeout`) and feeds the
///   outcome to `record_probe` (health.hpp); a replica with three failures
///   in a row leaves the set, drains, and is replaced.
/// - `(autoscale_tick_atom, string app, string deployment, uint64 chain)`
///   from itself (stale chains ignored, as for health ticks),
///   every `autoscaling_tick` for an autoscaled deployment: samples the
///   requests running at its replicas (their gates) and queued at its
///   callers (the endpoint), and applies `autoscale` (autoscaling.hpp).
/// - `(push_atom, string app, string deployment)` from itself: publishes
///   the replica set once for every replica that became ready since the
///   last push (pushes are coalesced, so n replicas starting cost O(n), not
///   O(n^2)).
/// - `(respawn_atom, string app, string deployment)` from itself, when the
///   backoff after a failed constructor ends. No reply.
/// - `(place_atom)` from itself: retries pending placements, and goes on
///   with a scale-up larger than one turn's `max_starts_per_turn`.
/// - `(startup_timeout_atom, uint64 replica)` from itself, the deployment's
///   `startup_timeout` after the replica was started: a replica still
///   starting then counts as a failed constructor (stopped, and retried
///   after the backoff). No reply.
/// - `(node_join_atom, node_hello, string peer)` from the cluster gate
///   (cluster.hpp), once a worker proved its token. Reply: the node's id;
///   the controller monitors its agent and starts the heartbeats.
/// - `(node_deployments_atom, uint64 node, vector<string> names)` from the
///   cluster gate: the "app/deployment" names the worker's binary
///   registers. Reply: `true`. Error: `not_found` for an unknown node.
/// - `(cluster_address_atom, string address)` from `serve`, once its
///   cluster port listens: the head's address in status. No reply.
/// - `(heartbeat_atom)` from itself, every heartbeat period while a worker
///   is alive: pings every alive node's agent; one that does not answer
///   within the timeout is DEAD and its replicas are placed elsewhere. No
///   reply.
/// - `(wait_nodes_atom, uint32 n)` from `serve::wait_for_nodes`. Reply:
///   `true` once n workers are alive and announced their deployments
///   (the caller's request bounds the wait).
/// - `(persist_atom)` from `serve`, after a change it acknowledges. Reply:
///   the sequence number of the store write that holds the change (0
///   without a store); `serve` waits for it (state_writer.hpp).
/// - `(recovered_atom)` from the controller itself: a restarted head's
///   grace period is over; replicas of workers that did not rejoin are
///   replaced, and those no deployment claimed are stopped. No reply.
///
/// Not in the table: a down message for a node's agent (or for an actor of
/// a node whose connection dropped) marks the node DEAD; one for a replica
/// replaces it (below). An exit message ends the controller only when it
/// names the controller itself as its source (`anon_send_exit`).
///
/// Replicas that die are replaced, while the app deploys as well as while
/// it runs. One that became ready is replaced at once, however often
/// replicas die. A start that fails (the constructor threw or outlived
/// `startup_timeout`) backs off in its own slot, exponentially
/// (`detail::after_constructor_failure`), while the deployment's other
/// slots start and serve; while the deployment has no replica at all, one
/// slot starts at once. Past the retry limit a deploying
/// app is DEPLOY_FAILED, and a running one UNHEALTHY (it keeps serving with
/// the replicas it has, and `scale` tries again). No message, in any order,
/// stops the controller (`tests/core/controller_fuzz.test.cpp`).
///
/// Ownership: `app_spec` holds code (how to spawn user actors), so it is
/// process-local; the controller keeps it for the app's lifetime to respawn
/// replicas.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actorserve/deployment.hpp"
#include "actorserve/endpoint.hpp"
#include "actorserve/cluster.hpp"
#include "actorserve/messages.hpp"
#include "actorserve/placement.hpp"

namespace actorserve {

/// An application to deploy: a name, an HTTP route prefix (empty: not
/// exposed over HTTP) and its ingress deployment (the root of the graph).
struct app_spec {
  std::string name;
  std::string route_prefix;
  detail::spec_ptr ingress;
};

/// A change to a running deployment (`PATCH` on the admin API,
/// `serve::update`). Unset fields stay as they are. Applied by Ray Serve's
/// classification (rollout.hpp): lightweight, in place, or rolling.
struct deployment_patch {
  std::optional<uint32_t> num_replicas;
  /// JSON text.
  std::optional<std::string> user_config;
  std::optional<std::string> version;
  std::optional<uint32_t> max_ongoing_requests;
  std::optional<int64_t> max_queued_requests;
  /// The new autoscaling config (replaces the old one whole).
  std::optional<autoscaling_config> autoscaling;
  /// Back to a fixed `num_replicas`.
  bool disable_autoscaling = false;
};

/// Reads a patch from a JSON object (the admin API's `PATCH` body): any of
/// `num_replicas`, `user_config` (any JSON), `version`,
/// `max_ongoing_requests`, `max_queued_requests` and `autoscaling_config`
/// (an object with Ray's field names and seconds, e.g. `upscale_delay_s`;
/// null turns autoscaling off). An unknown field, a wrong type or a value
/// out of range gives `bad_request` naming the field.
caf::expected<deployment_patch> patch_from_json(const std::string& text);

/// Reads an `autoscaling_config` object (Ray's field names, seconds), as
/// `patch_from_json` does; an error names the field
/// ("autoscaling_config.upscale_delay_s must be ...").
caf::expected<autoscaling_config>
autoscaling_from_json(const std::string& text);

/// How often the controller samples and decides for autoscaled deployments
/// (Ray Serve's control loop interval).
constexpr std::chrono::milliseconds autoscaling_tick{100};

using respawn_atom = caf::atom_constant<caf::atom("respawn")>;
using health_tick_atom = caf::atom_constant<caf::atom("htick")>;
using autoscale_tick_atom = caf::atom_constant<caf::atom("atick")>;
using push_atom = caf::atom_constant<caf::atom("push")>;
using place_atom = caf::atom_constant<caf::atom("place")>;
using startup_timeout_atom = caf::atom_constant<caf::atom("startto")>;
using heartbeat_atom = caf::atom_constant<caf::atom("heartbeat")>;
using wait_nodes_atom = caf::atom_constant<caf::atom("waitnodes")>;
/// Writes what changed to the state store now; the reply is the write's
/// sequence number (0 without a store), which `serve` waits for.
using persist_atom = caf::atom_constant<caf::atom("persist")>;
/// The controller's own timer: a restarted head's grace period for its
/// workers to rejoin is over.
using recovered_atom = caf::atom_constant<caf::atom("recovered")>;

using controller_actor = caf::typed_actor<
    caf::replies_to<deploy_atom, app_spec>::with<application_status>,
    caf::replies_to<delete_atom, std::string>::with<bool>,
    caf::replies_to<scale_atom, std::string, std::string,
                    uint32_t>::with<deployment_status>,
    caf::replies_to<update_atom, std::string, std::string, deployment_patch,
                    bool>::with<deployment_status>,
    caf::replies_to<status_atom>::with<serve_status>,
    caf::replies_to<health_atom>::with<bool>,
    caf::replies_to<endpoint_atom, std::string,
                    std::string>::with<endpoint_ptr>,
    caf::reacts_to<routes_atom, caf::actor>,
    caf::replies_to<shutdown_atom>::with<bool>,
    caf::reacts_to<ready_atom, uint64_t, bool, std::string>,
    caf::reacts_to<respawn_atom, std::string, std::string>,
    caf::reacts_to<health_tick_atom, std::string, std::string, uint64_t>,
    caf::reacts_to<autoscale_tick_atom, std::string, std::string, uint64_t>,
    caf::reacts_to<push_atom, std::string, std::string>,
    caf::reacts_to<place_atom>,
    caf::reacts_to<startup_timeout_atom, uint64_t>,
    caf::replies_to<node_join_atom, node_hello, std::string>::with<uint64_t>,
    caf::replies_to<node_deployments_atom, uint64_t,
                    std::vector<std::string>>::with<bool>,
    caf::reacts_to<cluster_address_atom, std::string>,
    caf::reacts_to<heartbeat_atom>,
    caf::replies_to<wait_nodes_atom, uint32_t>::with<bool>,
    caf::replies_to<persist_atom>::with<uint64_t>,
    caf::reacts_to<recovered_atom>>;

/// Spawns the controller on the system plane. `local` is what this node
/// offers replicas' reservations (placement.hpp); unbounded CPUs unless
/// given.
controller_actor spawn_controller(caf::actor_system& sys,
                                  resource_set local = unbounded_cpus(),
                                  heartbeat_options heartbeat = {});

namespace detail {
/// The state store's writer and what a restarted head read back
/// (control/controller_store.hpp).
struct store_setup;
} // namespace detail

/// Spawns the controller of a head with a state store: it writes its
/// declarative state through `setup`'s writer and starts from what
/// `setup` recovered.
controller_actor spawn_controller(caf::actor_system& sys, resource_set local,
                                  heartbeat_options heartbeat,
                                  std::shared_ptr<detail::store_setup> setup);

namespace detail {

/// What the controller does after a deployment's constructor failed
/// `failures` times in a row (a replica that becomes ready resets the
/// count).
struct constructor_retry {
  /// Past the limit: the smaller of `max_retry_count` and 3 per replica.
  bool give_up = false;
  /// How long to wait before the next replica: 100 ms, doubling, at most
  /// 10 s.
  std::chrono::milliseconds delay{0};
};

constructor_retry after_constructor_failure(uint32_t failures,
                                            uint32_t num_replicas,
                                            uint32_t max_retry_count) noexcept;

} // namespace detail

/// Checks that `prefix` is a valid route prefix ("/" or "/a/b", no trailing
/// slash, no query). Returns `invalid_config` naming `route_prefix` if not.
caf::error validate_route_prefix(const std::string& app,
                                 const std::string& prefix);

} // namespace actorserve

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actorserve::app_spec)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actorserve::deployment_patch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actorserve::endpoint_ptr)
