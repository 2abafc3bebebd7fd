// serve::deploy: a declarative config applied to a running server.
#include <cstdio>
#include <functional>
#include <set>

#include "actorserve/app_registry.hpp"
#include "actorserve/deploy_config.hpp"
#include "actorserve/error.hpp"
#include "actorserve/serve.hpp"
#include "base/text.hpp"

namespace actorserve {

namespace {

/// Every spec in the tree under `root`, by deployment name.
void collect(const detail::spec_ptr& root,
             std::map<std::string, detail::spec_ptr>& out) {
  if (!root || out.count(root->config.name) > 0)
    return;
  out.emplace(root->config.name, root);
  for (auto& child : root->children)
    collect(child, out);
}

void apply(const deployment_override& o, deployment_config& c) {
  if (o.num_replicas)
    c.num_replicas = *o.num_replicas;
  if (o.max_ongoing_requests)
    c.max_ongoing_requests = *o.max_ongoing_requests;
  if (o.max_queued_requests)
    c.max_queued_requests = *o.max_queued_requests;
  if (o.user_config)
    c.user_config = *o.user_config;
  if (o.version)
    c.version = *o.version;
  if (o.autoscaling)
    c.autoscaling = *o.autoscaling;
  if (o.disable_autoscaling)
    c.autoscaling.reset();
  if (o.health_check_period)
    c.health_check_period = *o.health_check_period;
  if (o.health_check_timeout)
    c.health_check_timeout = *o.health_check_timeout;
  if (o.graceful_shutdown_timeout)
    c.graceful_shutdown_timeout = *o.graceful_shutdown_timeout;
  if (o.startup_timeout)
    c.startup_timeout = *o.startup_timeout;
  if (o.reconfigure_timeout)
    c.reconfigure_timeout = *o.reconfigure_timeout;
  if (o.num_cpus)
    c.num_cpus = *o.num_cpus;
  if (o.resources)
    c.resources = *o.resources;
  if (o.max_replicas_per_node)
    c.max_replicas_per_node = *o.max_replicas_per_node;
}

caf::error at(const std::string& where, const caf::error& err) {
  return make_error(code_of(err), where + ": " + message_of(err));
}

} // namespace

caf::error serve::deploy(const deploy_config& cfg, const app_registry& apps) {
  if (auto err = store_refuses())
    return err;
  // Build and check every application before changing anything.
  std::vector<app_spec> specs;
  for (auto& app : cfg.applications) {
    auto builder = apps.find(app.import_path);
    if (builder == nullptr) {
      std::string known;
      for (auto& n : apps.names())
        known += (known.empty() ? "" : ", ") + n;
      return make_error(errc::invalid_config,
                        app.where +
                            ".import_path: this binary has no "
                            "application '" +
                            app.import_path + "' (it has: " + known + ")");
    }
    caf::expected<built_app> built{built_app{}};
    try {
      built = (*builder)(*this, app.args);
    } catch (const error_exception& e) {
      built = make_error(errc::invalid_config, e.what());
    } catch (const std::exception& e) {
      built = make_error(errc::invalid_config, e.what());
    }
    if (!built)
      return at(app.where + ".args", built.error());
    std::map<std::string, detail::spec_ptr> by_name;
    collect(built->ingress, by_name);
    // As Ray does for config deploys: the code version of a deployment
    // without one is its application's import path and args, so that the
    // same config deploys idempotently and new args roll replicas over.
    char version[32];
    std::snprintf(
        version, sizeof(version), "config-%016zx",
        std::hash<std::string>{}(app.import_path + '\n' + detail::dump_json(app.args)));
    for (auto& kvp : by_name)
      if (kvp.second->config.version.empty())
        kvp.second->config.version = version;
    for (auto& o : app.deployments) {
      auto i = by_name.find(o.name);
      if (i == by_name.end()) {
        std::string known;
        for (auto& kvp : by_name)
          known += (known.empty() ? "" : ", ") + kvp.first;
        return make_error(errc::invalid_config,
                          o.where + ".name: application '" + app.import_path +
                              "' has no deployment '" + o.name +
                              "' (it has: " + known + ")");
      }
      apply(o, i->second->config);
      if (auto err = validate(i->second->config))
        return at(o.where, err);
    }
    specs.push_back(app_spec{app.name, app.route_prefix, built->ingress});
  }
  for (auto& spec : specs) {
    auto name = spec.name;
    if (auto r = run_impl(std::move(spec)); !r)
      return at("application '" + name + "'", r.error());
  }
  // Declarative: what the config does not list goes.
  std::set<std::string> listed;
  for (auto& app : cfg.applications)
    listed.insert(app.name);
  auto st = status();
  if (!st)
    return std::move(st.error());
  for (auto& app : st->applications)
    if (listed.count(app.name) == 0)
      if (auto r = remove(app.name); !r)
        return std::move(r.error());
  set_deployed_config(cfg.source);
  return persisted();
}

} // namespace actorserve
