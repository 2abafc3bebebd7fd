// Updates of running deployments: explicit scales and patches, config
// changes by their classification, rolling updates to new code, in-place
// reconfigures, and redeploys of a running app. The decisions are
// rollout.hpp's; this wires them.
#include <algorithm>
#include <map>

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include "actorserve/error.hpp"
#include "policy/rollout.hpp"
#include "control/controller_handlers.hpp"
#include "control/controller_steps.hpp"

namespace actorserve::detail::ctl {

namespace {

replica_entry* find_replica(deployment_entry& dep, uint64_t id) {
  auto r = ctl::find_replica(dep.replicas, id);
  return r == dep.replicas.end() ? nullptr : &*r;
}

/// Takes `victims` out of the callers' set, then drains them.
void stop_replicas(controller_ptr self, deployment_entry& dep,
                   std::vector<uint64_t> victims) {
  if (victims.empty())
    return;
  std::vector<replica_entry> gone;
  auto keep = std::stable_partition(
      dep.replicas.begin(), dep.replicas.end(), [&](const replica_entry& r) {
        return std::find(victims.begin(), victims.end(), r.id) == victims.end();
      });
  gone.assign(std::make_move_iterator(keep),
              std::make_move_iterator(dep.replicas.end()));
  dep.replicas.erase(keep, dep.replicas.end());
  push_replicas(self, dep);
  for (auto& r : gone)
    drain(self, r, dep.spec->config.graceful_shutdown_timeout);
}

/// How much longer than `reconfigure_timeout` the controller waits for a
/// replica's answer to a reconfigure.
constexpr auto reconfigure_margin = std::chrono::seconds{5};

std::string json_or_null(const std::string& text) {
  return text.empty() ? "null" : text;
}

} // namespace

bool rolling(const deployment_entry& dep) {
  return std::any_of(
      dep.replicas.begin(), dep.replicas.end(),
      [&](const replica_entry& r) { return r.code != dep.code; });
}

void roll(controller_ptr self, app_entry& app, const std::string& name,
          deployment_entry& dep) {
  rollout_view v;
  v.target = dep.target;
  for (auto& r : dep.replicas) {
    auto ready = r.state == replica_state::ready;
    if (r.code == dep.code)
      ++(ready ? v.new_ready : v.new_starting);
    else
      ++(ready ? v.old_ready : v.old_starting);
  }
  auto step = plan_rollout(v);
  // Old replicas still starting serve nothing; of the ready ones, the
  // oldest go first.
  std::vector<uint64_t> victims;
  for (auto& r : dep.replicas)
    if (r.code != dep.code && r.state != replica_state::ready)
      victims.push_back(r.id);
  auto ready_old = step.stop_old_ready;
  for (auto& r : dep.replicas)
    if (ready_old > 0 && r.code != dep.code &&
        r.state == replica_state::ready) {
      victims.push_back(r.id);
      --ready_old;
    }
  stop_replicas(self, dep, std::move(victims));
  placement_cache cache;
  for (uint32_t i = 0; i < step.start_new; ++i)
    spawn_one(self, app, name, dep, cache);
  if (rolling(dep))
    return;
  dep.note = "rolled out version '" + dep.spec->config.version + "'";
  if (dep.replicas.size() > dep.target) {
    // Done, with more new replicas than the target (it fell meanwhile).
    reconcile(self, app, name, dep);
  }
}

void reconfigure_replica(controller_ptr self, const std::string& app,
                         const std::string& dep_name, deployment_entry& dep,
                         replica_entry& r) {
  auto& cfg = dep.spec->config;
  r.reconfiguring = true;
  if (r.gate) // a replica on a worker node sets its own
    r.gate->set_max_ongoing(cfg.max_ongoing_requests);
  // The replica bounds the user's hook by `reconfigure_timeout`; the margin
  // covers its answer's way back (from a worker node too).
  auto limit = cfg.reconfigure_timeout + reconfigure_margin;
  self->request(r.handle, limit, actorserve::reconfigure_atom::value,
                json_or_null(cfg.user_config), cfg.max_ongoing_requests)
      .then(
          [self, app, dep_name, id = r.id, sent = cfg.user_config,
           max_ongoing = cfg.max_ongoing_requests](bool) {
            app_entry* a = nullptr;
            auto d = live_deployment(self, app, dep_name, &a);
            auto r = d != nullptr ? find_replica(*d, id) : nullptr;
            if (r == nullptr)
              return;
            r->reconfiguring = false;
            r->user_config = sent;
            r->max_ongoing = max_ongoing;
            // The config moved on while this one was applied.
            if (sent != d->spec->config.user_config ||
                max_ongoing != d->spec->config.max_ongoing_requests)
              reconfigure_replica(self, app, dep_name, *d, *r);
            answer_scale_waiters(*d, dep_name);
            check_running(self, *a);
          },
          [self, app, dep_name, id = r.id](caf::error& err) {
            app_entry* a = nullptr;
            auto d = live_deployment(self, app, dep_name, &a);
            if (d == nullptr || find_replica(*d, id) == nullptr)
              return;
            // Its code refused the config, or its hook outlived
            // `reconfigure_timeout`: a new replica starts with it.
            d->note = "replica " + std::to_string(id) +
                      " failed to reconfigure (" + message_of(err) +
                      "); replaced";
            stop_replicas(self, *d, {id});
            reconcile(self, *a, dep_name, *d);
          });
}

void apply_config(controller_ptr self, app_entry& app, const std::string& name,
                  deployment_entry& dep, const deployment_config& cfg,
                  const detail::spec_ptr& code, bool rebuild) {
  auto old = dep.spec->config;
  auto kind =
      rebuild ? update_kind::heavyweight
              : classify_update(old, cfg, code != nullptr && code != dep.spec);
  if (kind == update_kind::none)
    return;
  if (kind == update_kind::heavyweight && code) {
    dep.spec = code;
  } else {
    // The same code with the new config; the caller's spec stays as it is.
    auto next = std::make_shared<deployment_spec>(*dep.spec);
    next->config = cfg;
    dep.spec = std::move(next);
  }
  dep.ep->set_limits(cfg.max_ongoing_requests, cfg.max_queued_requests);
  if (cfg.autoscaling) {
    auto& scaling = *cfg.autoscaling;
    if (!old.autoscaling) {
      dep.target = initial_target(scaling);
      dep.autoscaled_target = false;
    } else {
      dep.target =
          std::clamp(dep.target, scaling.min_replicas, scaling.max_replicas);
    }
    dep.scaler = {};
    arm_autoscale(self, app.name, name, dep);
  } else if (old.autoscaling || cfg.num_replicas != old.num_replicas) {
    dep.target = cfg.num_replicas;
    dep.autoscaled_target = false;
  }
  if (kind == update_kind::heavyweight) {
    ++dep.code;
    dep.note = "rolling update to version '" + cfg.version + "'";
  } else if (cfg.user_config != old.user_config ||
             cfg.max_ongoing_requests != old.max_ongoing_requests) {
    for (auto& r : dep.replicas)
      if (r.state == replica_state::ready && !r.reconfiguring)
        reconfigure_replica(self, app.name, name, dep, r);
  }
  push_replicas(self, dep); // limits, and whether it scales from zero
  reconcile(self, app, name, dep);
}

caf::error patch_deployment(controller_ptr self, app_entry& app,
                            const std::string& name, deployment_entry& dep,
                            const deployment_patch& patch) {
  auto cfg = dep.spec->config;
  auto bad = [&](const std::string& what) {
    return make_error(errc::invalid_config,
                      "deployment '" + name + "': " + what);
  };
  if (patch.num_replicas && patch.autoscaling)
    return bad("num_replicas and autoscaling_config exclude each other");
  if (patch.autoscaling)
    cfg.autoscaling = *patch.autoscaling;
  else if (patch.disable_autoscaling)
    cfg.autoscaling.reset();
  if (patch.num_replicas) {
    if (cfg.autoscaling)
      return bad("num_replicas cannot be set while autoscaling_config is");
    cfg.num_replicas = *patch.num_replicas;
  }
  if (patch.user_config)
    cfg.user_config = *patch.user_config;
  if (patch.version)
    cfg.version = *patch.version;
  if (patch.max_ongoing_requests)
    cfg.max_ongoing_requests = *patch.max_ongoing_requests;
  if (patch.max_queued_requests)
    cfg.max_queued_requests = *patch.max_queued_requests;
  if (auto err = validate(cfg))
    return err;
  // An explicit change tries a failing constructor again.
  retry_constructor(dep);
  apply_config(self, app, name, dep, cfg, nullptr, false);
  reconcile(self, app, name, dep);
  return {};
}

caf::error redeploy(controller_ptr self, app_entry& app, const app_spec& spec,
                    const std::vector<detail::spec_ptr>& specs) {
  std::map<const deployment_spec*, endpoint_ptr> eps;
  std::vector<std::string> order;
  std::vector<std::string> fresh;
  for (auto& s : specs) {
    auto& name = s->config.name;
    order.push_back(name);
    std::vector<endpoint_ptr> children;
    for (auto& child : s->children)
      children.push_back(eps.at(child.get()));
    auto d = app.deployments.find(name);
    if (d == app.deployments.end()) {
      auto& dep = add_deployment(self, app, s);
      dep.children = std::move(children);
      eps[s.get()] = dep.ep;
      fresh.push_back(name);
      continue;
    }
    auto& dep = d->second;
    eps[s.get()] = dep.ep;
    // Other children: the replicas must be built anew whatever the version.
    auto rebuild = children != dep.children;
    dep.children = std::move(children);
    // A redeploy tries a failing constructor again.
    retry_constructor(dep);
    dep.base = s->config;
    apply_config(self, app, name, dep, s->config, s, rebuild);
    reconcile(self, app, name, dep);
  }
  // What this update drops: every entry the new order lacks, also those an
  // earlier update dropped and never retired (it failed), less those this
  // one adds back.
  app.retired.clear();
  for (auto& [name, dep] : app.deployments)
    if (std::find(order.begin(), order.end(), name) == order.end())
      app.retired.push_back(name);
  app.order = std::move(order);
  app.next_prefix = spec.route_prefix;
  app.next_ingress = spec.ingress->config.name;
  app.state = application_state::deploying;
  for (auto& name : fresh) {
    auto& dep = app.deployments.at(name);
    reconcile(self, app, name, dep);
    arm_health(self, app.name, name, dep);
    arm_autoscale(self, app.name, name, dep);
  }
  return {};
}

void retire(controller_ptr self, app_entry& app, const std::string& name) {
  auto d = app.deployments.find(name);
  // One the app lists again is not retired.
  if (d == app.deployments.end() ||
      std::find(app.order.begin(), app.order.end(), name) != app.order.end())
    return;
  auto& dep = d->second;
  auto err = make_error(errc::unavailable,
                        "deployment '" + name + "' was removed by an update");
  for (auto& w : dep.scale_waiters)
    w.rp.deliver(err);
  dep.ep->remove();
  self->send_exit(dep.gateway, caf::exit_reason::user_shutdown);
  for (auto& r : dep.replicas)
    drain(self, r, dep.spec->config.graceful_shutdown_timeout);
  app.deployments.erase(d);
}

// -- handlers -----------------------------------------------------------------

caf::result<deployment_status> on_scale(controller_ptr self,
                                        const std::string& app_name,
                                        const std::string& dep_name,
                                        uint32_t n) {
  auto a = self->state.apps.find(app_name);
  if (a == self->state.apps.end() ||
      a->second.deployments.count(dep_name) == 0)
    return no_deployment(app_name, dep_name);
  if (n == 0)
    return make_error(errc::invalid_config,
                      "deployment '" + dep_name +
                          "': num_replicas must be >= 1 (got 0)");
  if (!replaces_replicas(a->second))
    return make_error(errc::unavailable, "application '" + app_name +
                                             "' is " +
                                             to_string(a->second.state));
  auto& dep = a->second.deployments.at(dep_name);
  if (dep.spec->config.autoscaling)
    return make_error(errc::invalid_config,
                      "deployment '" + dep_name +
                          "': num_replicas cannot be set while "
                          "autoscaling_config is");
  dep.target = n;
  dep.autoscaled_target = false;
  // An explicit scale tries a failing constructor again.
  retry_constructor(dep);
  auto rp = self->make_response_promise<deployment_status>();
  dep.scale_waiters.push_back(scale_waiter{rp});
  reconcile(self, a->second, dep_name, dep);
  check_running(self, a->second);
  return rp;
}

caf::result<deployment_status>
on_update(controller_ptr self, const std::string& app_name,
          const std::string& dep_name, const deployment_patch& patch,
          bool wait) {
  auto a = self->state.apps.find(app_name);
  if (a == self->state.apps.end() ||
      a->second.deployments.count(dep_name) == 0 ||
      std::find(a->second.order.begin(), a->second.order.end(), dep_name) ==
          a->second.order.end())
    return no_deployment(app_name, dep_name);
  auto& app = a->second;
  if (!replaces_replicas(app))
    return make_error(errc::unavailable, "application '" + app_name +
                                             "' is " + to_string(app.state));
  auto& dep = app.deployments.at(dep_name);
  if (auto err = patch_deployment(self, app, dep_name, dep, patch))
    return err;
  check_running(self, app);
  auto st = status_of(dep_name, dep);
  if (!wait || st.state == deployment_state::healthy)
    return st;
  auto rp = self->make_response_promise<deployment_status>();
  dep.scale_waiters.push_back(scale_waiter{rp});
  return rp;
}

} // namespace actorserve::detail::ctl
