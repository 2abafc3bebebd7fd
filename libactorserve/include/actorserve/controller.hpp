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
///   `invalid_config` naming the field; `user_error` when a replica's
///   constructor threw (the app is then DEPLOY_FAILED and torn down).
/// - `(delete_atom, string app)` from `serve::remove`. Reply: `true` once its
///   replicas drained and stopped, `false` if there is no such app.
/// - `(scale_atom, string app, string deployment, uint32 n)` from
///   `serve::scale` and tests. Reply: `deployment_status` once n replicas are
///   ready. Errors: `not_found`, `invalid_config` (n = 0).
/// - `(status_atom)` from anyone. Reply: `serve_status`.
/// - `(endpoint_atom, string app, string deployment)` from `serve` in the
///   same process. Reply: the deployment's `endpoint_ptr`. Error: `not_found`.
/// - `(routes_atom, actor subscriber)` from an ingress. No reply; sends
///   `(routes_atom, route_table)` now and on every change.
/// - `(shutdown_atom)` from `serve` on shutdown. Reply: `true` once all apps
///   drained.
/// - `(ready_atom, uint64 id, bool ok, string message)` from replicas. No
///   reply.
///
/// Ownership: `app_spec` holds code (how to spawn user actors), so it is
/// process-local; the controller keeps it for the app's lifetime to respawn
/// replicas.
#pragma once

#include <cstdint>
#include <string>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actorserve/deployment.hpp"
#include "actorserve/endpoint.hpp"
#include "actorserve/messages.hpp"

namespace actorserve {

/// An application to deploy: a name, an HTTP route prefix (empty: not
/// exposed over HTTP) and its ingress deployment (the root of the graph).
struct app_spec {
  std::string name;
  std::string route_prefix;
  detail::spec_ptr ingress;
};

using controller_actor = caf::typed_actor<
    caf::replies_to<deploy_atom, app_spec>::with<application_status>,
    caf::replies_to<delete_atom, std::string>::with<bool>,
    caf::replies_to<scale_atom, std::string, std::string,
                    uint32_t>::with<deployment_status>,
    caf::replies_to<status_atom>::with<serve_status>,
    caf::replies_to<endpoint_atom, std::string,
                    std::string>::with<endpoint_ptr>,
    caf::reacts_to<routes_atom, caf::actor>,
    caf::replies_to<shutdown_atom>::with<bool>,
    caf::reacts_to<ready_atom, uint64_t, bool, std::string>>;

/// Spawns the controller on the system plane.
controller_actor spawn_controller(caf::actor_system& sys);

/// Checks that `prefix` is a valid route prefix ("/" or "/a/b", no trailing
/// slash, no query). Returns `invalid_config` naming `route_prefix` if not.
caf::error validate_route_prefix(const std::string& app,
                                 const std::string& prefix);

} // namespace actorserve

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actorserve::app_spec)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actorserve::endpoint_ptr)
