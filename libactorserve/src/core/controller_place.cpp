// The controller's placement of replicas on nodes (placement.hpp): whether
// one more replica fits, and retrying the deployments that wait.
#include <algorithm>
#include <optional>
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

std::optional<uint64_t> choose_node(controller_ptr self, const app_entry& app,
                                    deployment_entry& dep) {
  auto& st = self->state;
  auto req = request_of(dep.spec->config);
  bool workers = std::any_of(st.nodes.begin(), st.nodes.end(), [](auto& n) {
    return n.status.state == node_state::alive;
  });
  // Alone, a deployment that reserves nothing and has no cap always fits
  // here, without looking at the others.
  if (!workers && req.needs == resource_set{} && !req.max_replicas_per_node) {
    dep.pending.clear();
    return head_node_id;
  }
  std::vector<node_view> views;
  node_view head;
  head.id = head_node_id;
  head.free = st.local;
  views.push_back(std::move(head));
  auto key = app.name + "/" + dep.spec->config.name;
  for (auto& n : st.nodes) {
    node_view v;
    v.id = n.status.id;
    v.alive = n.status.state == node_state::alive;
    v.free = n.status.resources;
    auto& names = n.status.deployments;
    v.has_deployment =
        std::find(names.begin(), names.end(), key) != names.end();
    views.push_back(std::move(v));
  }
  auto view_of = [&views](uint64_t node) -> node_view* {
    for (auto& v : views)
      if (v.id == node)
        return &v;
    return nullptr;
  };
  // What the replicas placed on each node hold.
  for (auto& [app_name, a] : st.apps)
    for (auto& [dep_name, d] : a.deployments) {
      auto& cfg = d.spec->config;
      resource_set held{cfg.num_cpus, cfg.resources};
      for (auto& r : d.replicas)
        if (auto v = view_of(r.node)) {
          v->free = combine(v->free, held, -1);
          if (&d == &dep)
            ++v->replicas;
        }
    }
  auto p = place(req, views);
  dep.pending = p.node ? std::string{} : std::move(p.reason);
  return p.node;
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
