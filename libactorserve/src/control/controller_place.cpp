// The controller's placement of replicas on nodes (placement.hpp): whether
// one more replica fits, and retrying the deployments that wait.
#include <algorithm>
#include <optional>
#include <string>
#include <unordered_map>

#include "control/controller_steps.hpp"

namespace actorserve::detail::ctl {

namespace {

placement_request request_of(const deployment_config& cfg) {
  placement_request req{cfg.name, {cfg.num_cpus, cfg.resources}, {}};
  req.needs.custom[memory_resource] += replica_memory_reserve;
  if (cfg.max_replicas_per_node > 0)
    req.max_replicas_per_node = cfg.max_replicas_per_node;
  return req;
}

} // namespace

namespace {

/// Builds `cache` for `dep`: what every node offers, less what the
/// replicas placed there hold.
void build_views(controller_ptr self, const app_entry& app,
                 const deployment_entry& dep, placement_cache& cache) {
  auto& st = self->state;
  cache.built = true;
  cache.req = request_of(dep.spec->config);
  auto& req = cache.req;
  bool workers = std::any_of(st.nodes.begin(), st.nodes.end(), [](auto& n) {
    return n.status.state == node_state::alive;
  });
  // Alone, a deployment that reserves nothing and has no cap always fits
  // here, without looking at the others.
  cache.trivial =
      !workers && req.needs == resource_set{} && !req.max_replicas_per_node;
  if (cache.trivial)
    return;
  auto& views = cache.views;
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
  std::unordered_map<uint64_t, node_view*> by_id;
  for (auto& v : views)
    by_id.emplace(v.id, &v);
  // What the replicas placed on each node hold.
  for (auto& [app_name, a] : st.apps)
    for (auto& [dep_name, d] : a.deployments) {
      auto& cfg = d.spec->config;
      auto held = request_of(cfg).needs;
      for (auto& r : d.replicas)
        if (auto i = by_id.find(r.node); i != by_id.end()) {
          i->second->free = combine(i->second->free, held, -1);
          if (&d == &dep)
            ++i->second->replicas;
        }
    }
}

} // namespace

std::optional<uint64_t> choose_node(controller_ptr self, const app_entry& app,
                                    deployment_entry& dep,
                                    placement_cache& cache) {
  if (!cache.built)
    build_views(self, app, dep, cache);
  if (cache.trivial) {
    dep.pending.clear();
    return head_node_id;
  }
  auto p = place(cache.req, cache.views);
  dep.pending = p.node ? std::string{} : std::move(p.reason);
  if (p.node)
    commit(cache.req, *p.node, cache.views);
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
      if ((!dep.pending.empty() || dep.more_to_start) &&
          replaces_replicas(app))
        reconcile(self, app, dep_name, dep);
}

} // namespace actorserve::detail::ctl
