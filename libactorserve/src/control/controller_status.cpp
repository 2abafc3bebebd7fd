// The controller's status, route table and validation of new apps.
#include <algorithm>
#include <set>

#include <caf/send.hpp>

#include "actorserve/error.hpp"
#include "control/controller_handlers.hpp"
#include "control/controller_steps.hpp"

namespace actorserve::detail::ctl {

namespace {

/// Collects the deployments of the graph below `spec`, children first.
caf::error collect(const detail::spec_ptr& spec,
                   std::vector<detail::spec_ptr>& out,
                   std::set<const detail::deployment_spec*>& seen) {
  if (!spec)
    return make_error(errc::invalid_config, "an application node is empty");
  if (seen.count(spec.get()) > 0)
    return {};
  seen.insert(spec.get());
  for (auto& child : spec->children)
    if (auto err = collect(child, out, seen))
      return err;
  out.push_back(spec);
  return {};
}

} // namespace

// -- status
// ---------------------------------------------------------------------

deployment_state state_of(const deployment_entry& dep) {
  if (dep.unhealthy)
    return deployment_state::unhealthy;
  if (!dep.message.empty())
    return deployment_state::deploy_failed;
  auto ready = std::count_if(
      dep.replicas.begin(), dep.replicas.end(),
      [](const replica_entry& r) { return r.state == replica_state::ready; });
  auto behind = std::any_of(dep.replicas.begin(), dep.replicas.end(),
                            [&](const replica_entry& r) {
                              return r.code != dep.code || r.reconfiguring;
                            });
  if (behind)
    return deployment_state::updating;
  if (static_cast<uint32_t>(ready) == dep.target &&
      dep.replicas.size() == dep.target)
    return deployment_state::healthy;
  if (dep.autoscaled_target)
    return static_cast<uint32_t>(ready) < dep.target
               ? deployment_state::upscaling
               : deployment_state::downscaling;
  return deployment_state::updating;
}

deployment_status status_of(const std::string& name,
                            const deployment_entry& dep) {
  deployment_status result;
  result.name = name;
  result.state = state_of(dep);
  result.target_replicas = dep.target;
  result.version = dep.spec->config.version;
  result.autoscaling = dep.spec->config.autoscaling.has_value();
  result.message = dep.message.empty() ? dep.note : dep.message;
  if (dep.message.empty() && !dep.pending.empty() &&
      dep.replicas.size() < dep.target) {
    auto n = dep.target - dep.replicas.size();
    result.message = std::to_string(n) + (n == 1 ? " replica" : " replicas") +
                     " pending: " + dep.pending;
  }
  result.gateway = dep.gateway;
  for (auto& r : dep.replicas)
    result.replicas.push_back(replica_status{
        r.id, r.state, running_at(r), r.version,
        models_at(r), r.node, r.started_at_ms});
  return result;
}

application_status status_of(const app_entry& app) {
  application_status result;
  result.name = app.name;
  result.route_prefix = app.prefix;
  result.ingress = app.ingress;
  result.state = app.state;
  result.message = app.message;
  for (auto& name : app.order)
    result.deployments.push_back(status_of(name, app.deployments.at(name)));
  // Those an update dropped still serve the old version until it is done.
  for (auto& name : app.retired)
    if (auto d = app.deployments.find(name); d != app.deployments.end()) {
      result.deployments.push_back(status_of(name, d->second));
      result.deployments.back().message =
          "dropped by the update; stops once the update is done";
    }
  return result;
}

// -- routes
// ---------------------------------------------------------------------

route_table make_routes(const controller_data& st) {
  route_table result;
  // An unhealthy app keeps serving with the replicas it has, and an app
  // that is being updated with the replicas it has so far.
  for (auto& [name, app] : st.apps)
    if (app.serving && app.state != application_state::deleting &&
        app.state != application_state::deploy_failed && !app.prefix.empty())
      result.push_back(
          route_entry{app.prefix, name, app.deployments.at(app.ingress).ep});
  // Longest prefix first: the ingress takes the first match.
  std::sort(result.begin(), result.end(),
            [](const route_entry& x, const route_entry& y) {
              return x.prefix.size() > y.prefix.size();
            });
  return result;
}

void publish_routes(controller_ptr self) {
  auto table = make_routes(self->state);
  push_route_names(self, table);
  for (auto& sub : self->state.route_subscribers)
    caf::anon_send(sub, routes_atom::value, table);
}

caf::error validate_app(const controller_data& st, const app_spec& spec,
                        std::vector<detail::spec_ptr>& specs) {
  if (spec.name.empty())
    return make_error(errc::invalid_config,
                      "application name must not be empty");
  if (auto err = validate_route_prefix(spec.name, spec.route_prefix))
    return err;
  // A running app is updated in place; one in any other state is busy.
  if (auto i = st.apps.find(spec.name);
      i != st.apps.end() && i->second.state != application_state::running &&
      i->second.state != application_state::unhealthy)
    return make_error(errc::unavailable, "application '" + spec.name + "' is " +
                                             to_string(i->second.state) +
                                             "; update it once that is over");
  if (!spec.route_prefix.empty())
    for (auto& [name, app] : st.apps)
      if (name != spec.name && (app.prefix == spec.route_prefix ||
                                app.next_prefix == spec.route_prefix))
        return make_error(errc::invalid_config,
                          "application '" + spec.name + "': route_prefix '" +
                              spec.route_prefix + "' is taken by '" + name +
                              "'");
  std::set<const detail::deployment_spec*> seen;
  if (auto err = collect(spec.ingress, specs, seen))
    return err;
  std::set<std::string> names;
  for (auto& s : specs) {
    if (auto err = validate(s->config))
      return make_error(errc::invalid_config,
                        "application '" + spec.name + "': " + message_of(err));
    if (!names.insert(s->config.name).second)
      return make_error(errc::invalid_config,
                        "application '" + spec.name +
                            "': two deployments are named '" + s->config.name +
                            "'");
  }
  if (!spec.route_prefix.empty() && !spec.ingress->accepts_http)
    return make_error(errc::invalid_config,
                      "application '" + spec.name + "': ingress deployment '" +
                          spec.ingress->config.name +
                          "' does not accept http_request; run it with an "
                          "empty route_prefix");
  return {};
}

caf::error no_deployment(const std::string& app, const std::string& dep) {
  return make_error(errc::not_found,
                    "no deployment '" + dep + "' in application '" + app + "'");
}

// -- handlers -----------------------------------------------------------------

serve_status on_status(controller_ptr self) {
  serve_status result;
  for (auto& [name, app] : self->state.apps)
    result.applications.push_back(status_of(app));
  result.nodes = nodes_status(self);
  if (auto& w = self->state.writer) {
    auto h = w->health();
    result.store = h.where;
    result.store_ok = h.ok;
    result.store_error = h.error;
    result.store_failing_since_ms = h.failing_since_ms;
  }
  return result;
}

caf::result<endpoint_ptr> on_endpoint(controller_ptr self,
                                      const std::string& app_name,
                                      const std::string& dep_name) {
  auto a = self->state.apps.find(app_name);
  if (a == self->state.apps.end() ||
      a->second.deployments.count(dep_name) == 0)
    return no_deployment(app_name, dep_name);
  return a->second.deployments.at(dep_name).ep;
}

void on_routes(controller_ptr self, const caf::actor& subscriber) {
  self->state.route_subscribers.push_back(subscriber);
  caf::anon_send(subscriber, routes_atom::value, make_routes(self->state));
}

} // namespace actorserve::detail::ctl

namespace actorserve {

caf::error validate_route_prefix(const std::string& app,
                                 const std::string& prefix) {
  if (prefix.empty() || prefix == "/")
    return {};
  auto bad = [&](const char* why) {
    return make_error(errc::invalid_config, "application '" + app +
                                                "': route_prefix '" + prefix +
                                                "' " + why);
  };
  if (prefix.front() != '/')
    return bad("must start with '/'");
  if (prefix.back() == '/')
    return bad("must not end with '/'");
  if (prefix.find_first_of("?#{} ") != std::string::npos)
    return bad("must not contain '?', '#', '{', '}' or spaces");
  return {};
}

} // namespace actorserve
