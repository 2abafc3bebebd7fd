// The controller's applications: deploy, delete and shutdown, the waiters
// of each, and the publication of deployments' replica sets to callers.
#include <map>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include "actorserve/error.hpp"
#include "actorserve/metrics.hpp"
#include "calls/gateway.hpp"
#include "control/controller_handlers.hpp"
#include "control/controller_steps.hpp"

namespace actorserve::detail::ctl {

namespace {

/// Deploys a new app: its deployments' entries, children first, then their
/// replicas, health checks and autoscaling. Answered once it runs.
caf::result<application_status>
start_app(controller_ptr self, const app_spec& spec,
          const std::vector<detail::spec_ptr>& specs) {
  auto& app = self->state.apps[spec.name];
  app.name = spec.name;
  app.prefix = spec.route_prefix;
  app.ingress = spec.ingress->config.name;
  app.state = application_state::deploying;
  std::map<const detail::deployment_spec*, endpoint_ptr> eps;
  for (auto& s : specs) {
    app.order.push_back(s->config.name);
    auto& dep = add_deployment(self, app, s);
    eps[s.get()] = dep.ep;
    for (auto& child : s->children)
      dep.children.push_back(eps.at(child.get()));
  }
  auto rp = self->make_response_promise<application_status>();
  app.deploy_waiters.push_back(rp);
  for (auto& name : app.order) {
    auto& dep = app.deployments.at(name);
    reconcile(self, app, name, dep);
    arm_health(self, app.name, name, dep);
    arm_autoscale(self, app.name, name, dep);
  }
  return rp;
}

/// The last replica of a deleted app drained: the app goes, and its
/// waiters (and a shutdown's, once no app is left) are answered.
void finish_delete(controller_ptr self, const std::string& name) {
  auto i = self->state.apps.find(name);
  if (i == self->state.apps.end())
    return;
  schedule_place(self); // its reservations are released
  auto& app = i->second;
  for (auto& [dname, dep] : app.deployments) {
    dep.ep->remove();
    self->send_exit(dep.gateway, caf::exit_reason::user_shutdown);
  }
  auto waiters = std::move(app.delete_waiters);
  self->state.apps.erase(i);
  for (auto& rp : waiters)
    rp.deliver(true);
  if (self->state.apps.empty()) {
    for (auto& rp : self->state.shutdown_waiters)
      rp.deliver(true);
    self->state.shutdown_waiters.clear();
  }
}

} // namespace

// -- handlers -----------------------------------------------------------------

caf::result<application_status> on_deploy(controller_ptr self, app_spec& spec) {
  auto& st = self->state;
  if (st.shutting_down)
    return make_error(errc::unavailable, "the controller is shutting down");
  std::vector<detail::spec_ptr> specs;
  if (auto err = validate_app(st, spec, specs))
    return err;
  auto i = st.apps.find(spec.name);
  if (i == st.apps.end())
    return start_app(self, spec, specs);
  auto& app = i->second;
  if (auto err = redeploy(self, app, spec, specs))
    return err;
  auto rp = self->make_response_promise<application_status>();
  app.deploy_waiters.push_back(rp);
  check_running(self, app);
  return rp;
}

caf::result<bool> on_delete(controller_ptr self, const std::string& name) {
  auto i = self->state.apps.find(name);
  if (i == self->state.apps.end())
    return false;
  auto rp = self->make_response_promise<bool>();
  i->second.delete_waiters.push_back(rp);
  if (i->second.state != application_state::deleting)
    start_delete(self, i->second);
  return rp;
}

caf::result<bool> on_shutdown(controller_ptr self) {
  auto& st = self->state;
  st.shutting_down = true;
  // The process ends, its applications do not: the store keeps them for
  // the next start (deleting them is `delete_atom`'s).
  st.writer = nullptr;
  if (st.apps.empty())
    return true;
  auto rp = self->make_response_promise<bool>();
  st.shutdown_waiters.push_back(rp);
  // By name: a delete with nothing to drain erases its app.
  std::vector<std::string> names;
  for (auto& [name, app] : st.apps)
    if (app.state != application_state::deleting)
      names.push_back(name);
  for (auto& name : names)
    if (auto i = st.apps.find(name); i != st.apps.end())
      start_delete(self, i->second);
  return rp;
}

void on_push(controller_ptr self, const std::string& app_name,
             const std::string& dep_name) {
  app_entry* app = nullptr;
  auto dep = live_deployment(self, app_name, dep_name, &app);
  if (dep == nullptr || !dep->push_pending)
    return;
  dep->push_pending = false;
  push_replicas(self, *dep);
  // New replicas are ready: old ones of a rolling update may go.
  if (rolling(*dep))
    roll(self, *app, dep_name, *dep);
  answer_scale_waiters(*dep, dep_name);
  check_running(self, *app);
}

// -- publication --------------------------------------------------------------

/// Publishes the ready replicas to every caller (they read the endpoint at
/// their next call) and tells the gateway, which may have calls waiting.
void push_replicas(controller_ptr self, deployment_entry& dep) {
  std::vector<replica_ref> refs;
  refs.reserve(dep.replicas.size());
  for (auto& r : dep.replicas)
    if (r.state == replica_state::ready)
      refs.push_back(replica_ref{r.id, r.handle, r.gate, r.models});
  auto& scaling = dep.spec->config.autoscaling;
  bool from_zero = scaling && scaling->min_replicas == 0;
  push_to_nodes(self, dep, refs, from_zero);
  dep.ep->publish(std::move(refs), from_zero);
  caf::anon_send(dep.gateway, replicas_atom::value);
}

void schedule_push(controller_ptr self, const std::string& app,
                   const std::string& dep_name, deployment_entry& dep) {
  if (dep.push_pending)
    return;
  dep.push_pending = true;
  self->send(self, push_atom::value, app, dep_name);
}

deployment_entry& add_deployment(controller_ptr self, app_entry& app,
                                 const detail::spec_ptr& spec) {
  auto& st = self->state;
  auto& dep = app.deployments[spec->config.name];
  dep.spec = spec;
  dep.target = configured_target(spec->config);
  dep.ep = std::make_shared<endpoint>(app.name, spec->config.name,
                                      spec->config.max_ongoing_requests,
                                      spec->config.max_queued_requests);
  if (auto reg = metrics_of(self->home_system())) {
    std::weak_ptr<endpoint> ep = dep.ep;
    reg->add_gauge_fn(
        "ray_serve_deployment_queued_queries",
        "Calls waiting in callers for a replica of a deployment",
        {{"deployment", spec->config.name}, {"application", app.name}}, dep.ep,
        [ep] {
          auto e = ep.lock();
          return e ? static_cast<double>(e->queued()) : 0.0;
        });
  }
  dep.gateway =
      spawn_gateway(self->home_system(), dep.ep, st.next_replica_id * 7919);
  self->link_to(dep.gateway); // gateways end with the controller
  recover_config(self, app, spec->config.name, dep);
  return dep;
}

void answer_scale_waiters(deployment_entry& dep, const std::string& name) {
  if (dep.scale_waiters.empty() || state_of(dep) != deployment_state::healthy)
    return;
  auto st = status_of(name, dep);
  for (auto& w : dep.scale_waiters)
    w.rp.deliver(st);
  dep.scale_waiters.clear();
}

/// Whether the app's replicas are replaced when they die.
bool replaces_replicas(const app_entry& app) {
  return app.state == application_state::deploying ||
         app.state == application_state::running ||
         app.state == application_state::unhealthy;
}

deployment_entry* live_deployment(controller_ptr self, const std::string& app,
                                  const std::string& dep_name,
                                  app_entry** app_out) {
  auto a = self->state.apps.find(app);
  if (a == self->state.apps.end() || !replaces_replicas(a->second))
    return nullptr;
  auto d = a->second.deployments.find(dep_name);
  if (d == a->second.deployments.end())
    return nullptr;
  if (app_out != nullptr)
    *app_out = &a->second;
  return &d->second;
}

// -- deletion and readiness ---------------------------------------------------

/// Removes the app's routes, empties its routers' replica sets (failing
/// their queues with `unavailable`) and drains every replica.
void start_delete(controller_ptr self, app_entry& app) {
  auto was = app.state;
  app.state = application_state::deleting;
  publish_routes(self);
  auto name = app.name;
  // Whoever still waits on the app gets an answer now.
  if (!app.deploy_waiters.empty()) {
    auto err = was == application_state::deploy_failed
                   ? make_error(errc::user_error, app.message)
                   : make_error(errc::unavailable,
                                "application '" + name +
                                    "' was deleted before it was running");
    for (auto& rp : app.deploy_waiters)
      rp.deliver(err);
    app.deploy_waiters.clear();
  }
  for (auto& [dname, dep] : app.deployments) {
    auto err = make_error(errc::unavailable,
                          "application '" + name + "' is being deleted");
    for (auto& w : dep.scale_waiters)
      w.rp.deliver(err);
    dep.scale_waiters.clear();
    dep.ep->publish({});
    caf::anon_send(dep.gateway, replicas_atom::value);
    for (auto& r : dep.replicas) {
      self->state.index.erase(r.id);
      self->state.local_replicas->erase(r.id);
      if (!r.handle)
        continue; // still being started on its node: stopped once it answers
      self->demonitor(r.handle);
      ++app.draining;
      self->request(r.handle,
                    dep.spec->config.graceful_shutdown_timeout + drain_margin,
                    drain_atom::value)
          .then(
              [self, name](bool) {
                auto i = self->state.apps.find(name);
                if (i != self->state.apps.end() && --i->second.draining == 0)
                  finish_delete(self, name);
              },
              [self, name](caf::error&) {
                auto i = self->state.apps.find(name);
                if (i != self->state.apps.end() && --i->second.draining == 0)
                  finish_delete(self, name);
              });
    }
    dep.replicas.clear();
  }
  if (app.draining == 0)
    finish_delete(self, name);
}

void fail_deploy(controller_ptr self, app_entry& app, const std::string& dep,
                 const std::string& message) {
  app.state = application_state::deploy_failed;
  app.message = "deployment '" + dep + "' failed to start: " + message;
  app.deployments.at(dep).message = message;
  auto err = make_error(errc::user_error, app.message);
  for (auto& rp : app.deploy_waiters)
    rp.deliver(err);
  app.deploy_waiters.clear();
  start_delete(self, app);
}

void check_running(controller_ptr self, app_entry& app) {
  if (app.state != application_state::unhealthy &&
      app.state != application_state::deploying)
    return;
  for (auto& name : app.order)
    if (state_of(app.deployments.at(name)) != deployment_state::healthy)
      return;
  auto was = app.state;
  app.state = application_state::running;
  app.message.clear();
  // Back to health; an update that turned the app UNHEALTHY (a new
  // constructor kept failing until a patch fixed it) finishes below.
  if (was == application_state::unhealthy && app.next_ingress.empty())
    return;
  // Deployed, or an update finished: its routes, then what it dropped.
  app.serving = true;
  if (!app.next_ingress.empty()) {
    app.prefix = app.next_prefix;
    app.ingress = app.next_ingress;
    app.next_ingress.clear();
  }
  publish_routes(self);
  for (auto& name : std::exchange(app.retired, {}))
    retire(self, app, name);
  auto st = status_of(app);
  for (auto& rp : app.deploy_waiters)
    rp.deliver(st);
  app.deploy_waiters.clear();
}

} // namespace actorserve::detail::ctl
