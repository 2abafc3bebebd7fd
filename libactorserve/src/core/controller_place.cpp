// The controller's placement of replicas on nodes (placement.hpp): whether
// one more replica fits, and retrying the deployments that wait.
#include <string>

#include "controller_state.hpp"

namespace actorserve::detail::ctl {

namespace {

placement_request request_of(const deployment_config& cfg) {
  placement_request req{cfg.name, {cfg.num_cpus, cfg.resources}, {}};
  if (cfg.max_replicas_per_node > 0)
    req.max_replicas_per_node = cfg.max_replicas_per_node;
  return req;
}

} // namespace

/// Whether one more replica of `dep` fits on this node (placement.hpp);
/// sets or clears `dep.pending`. Deployments that reserve nothing and have
/// no cap always fit, without looking at the others.
bool placeable(controller_ptr self, deployment_entry& dep) {
  auto req = request_of(dep.spec->config);
  if (req.needs == resource_set{} && !req.max_replicas_per_node) {
    dep.pending.clear();
    return true;
  }
  node_view local;
  local.free = self->state.local;
  local.replicas = static_cast<uint32_t>(dep.replicas.size());
  for (auto& [app_name, app] : self->state.apps)
    for (auto& [dep_name, d] : app.deployments) {
      auto& cfg = d.spec->config;
      local.free =
          combine(local.free, resource_set{cfg.num_cpus, cfg.resources},
                  -static_cast<double>(d.replicas.size()));
    }
  auto p = place(req, {local});
  dep.pending = p.node ? std::string{} : std::move(p.reason);
  return p.node.has_value();
}

void schedule_place(controller_ptr self) {
  if (self->state.place_armed)
    return;
  self->state.place_armed = true;
  self->send(self, place_atom::value);
}

void place_pending(controller_ptr self) {
  self->state.place_armed = false;
  for (auto& [app_name, app] : self->state.apps)
    for (auto& [dep_name, dep] : app.deployments)
      if (!dep.pending.empty() && replaces_replicas(app))
        reconcile(self, app, dep_name, dep);
}

} // namespace actorserve::detail::ctl
