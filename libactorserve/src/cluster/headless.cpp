// What a worker node does without its head: the replica sets it still
// reaches, what it reports when it joins again, and the status it answers
// itself (node_agent.hpp).
#include "cluster/node_agent.hpp"

#include <algorithm>
#include <map>

namespace actorserve::detail {

int64_t unix_ms_now() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
      .count();
}

hosted_replica_report report_of(uint64_t id, const hosted_replica& r) {
  hosted_replica_report out;
  out.id = id;
  out.app = r.app;
  out.deployment = r.deployment;
  out.version = r.version;
  out.user_config = r.user_config;
  out.max_ongoing = r.gate ? r.gate->max_ongoing() : 0;
  out.started_at_ms = r.started_at_ms;
  out.handle = r.handle;
  return out;
}

std::vector<replica_ref> reachable_without_head(std::vector<replica_ref> refs,
                                                const std::set<uint64_t>& here) {
  std::vector<replica_ref> kept;
  for (auto& r : refs)
    if (here.count(r.id) > 0)
      kept.push_back(r);
  if (kept.empty())
    return refs;
  return kept;
}

serve_status status_without_head(const hosted_map& hosted, node_status self,
                                 int64_t since_ms) {
  // app -> deployment -> its replicas here, sorted for a stable answer.
  std::map<std::string, std::map<std::string, std::vector<replica_status>>>
      apps;
  for (auto& [id, r] : hosted) {
    replica_status rs;
    rs.id = id;
    rs.state = replica_state::ready;
    rs.ongoing = r.gate ? r.gate->running() : 0;
    rs.version = r.version;
    if (r.gate)
      rs.multiplexed_model_ids = r.gate->model_ids();
    rs.node_id = self.id;
    rs.started_at_ms = r.started_at_ms;
    apps[r.app][r.deployment].push_back(std::move(rs));
    self.replicas.push_back(id);
  }
  serve_status out;
  for (auto& [app, deps] : apps) {
    application_status a;
    a.name = app;
    a.state = application_state::running;
    a.message = "the head is unreachable: this node's replicas only";
    for (auto& [dep, reps] : deps) {
      deployment_status d;
      d.name = dep;
      d.state = deployment_state::healthy;
      d.target_replicas = static_cast<uint32_t>(reps.size());
      d.version = reps.front().version;
      std::sort(reps.begin(), reps.end(),
                [](auto& x, auto& y) { return x.id < y.id; });
      d.replicas = std::move(reps);
      a.deployments.push_back(std::move(d));
    }
    out.applications.push_back(std::move(a));
  }
  std::sort(self.replicas.begin(), self.replicas.end());
  out.nodes.push_back(std::move(self));
  out.head_unreachable_since_ms = since_ms;
  return out;
}

} // namespace actorserve::detail
