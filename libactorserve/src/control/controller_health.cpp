// The controller's health checks: a tick per deployment, a probe per ready
// replica, and the verdict from record_probe (health.hpp); and replicas
// that outlive their startup_timeout.
#include <algorithm>

#include <caf/actor_system.hpp>
#include <caf/sec.hpp>

#include "actorserve/error.hpp"
#include "control/controller_handlers.hpp"
#include "control/controller_steps.hpp"

namespace actorserve::detail::ctl {

namespace {

probe_result result_of(const caf::error& err) {
  if (!err)
    return probe_result::ok;
  if (err == caf::sec::request_timeout ||
      code_of(err) == errc::deadline_exceeded)
    return probe_result::timed_out;
  return probe_result::failed;
}

void record(controller_ptr self, const std::string& app_name,
            const std::string& dep_name, uint64_t id, const caf::error& err) {
  app_entry* app = nullptr;
  auto dep = live_deployment(self, app_name, dep_name, &app);
  if (dep == nullptr)
    return;
  auto r = find_replica(dep->replicas, id);
  if (r == dep->replicas.end() || r->state != replica_state::ready)
    return;
  if (record_probe(r->health, result_of(err)) != health_verdict::replace)
    return;
  dep->note = "replica " + std::to_string(id) + " failed " +
              std::to_string(health_strike_limit) +
              " health checks in a row (" + message_of(err) + "); replaced";
  // Out of the set first, then drained (its running calls finish), then a
  // new replica takes its place.
  auto victim = *r;
  dep->replicas.erase(r);
  push_replicas(self, *dep);
  drain(self, victim, dep->spec->config.graceful_shutdown_timeout);
  reconcile(self, *app, dep_name, *dep);
}

} // namespace

void arm_health(controller_ptr self, const std::string& app,
                const std::string& dep_name, deployment_entry& dep) {
  if (dep.health_chain == 0)
    dep.health_chain = self->state.next_chain++;
  // Sized for the target: a scale-up still starting its replicas in steps
  // (`max_starts_per_turn`) gets the ticks its full size needs.
  auto n = std::max<size_t>(dep.replicas.size(), dep.target);
  auto sched = schedule_probes(static_cast<uint32_t>(n),
                               dep.spec->config.health_check_period);
  self->delayed_send(self, sched.interval, health_tick_atom::value, app,
                     dep_name, dep.health_chain);
}

void probe_replicas(controller_ptr self, const std::string& app,
                    const std::string& dep_name, deployment_entry& dep) {
  auto n = dep.replicas.size();
  if (n == 0)
    return;
  auto sched = schedule_probes(static_cast<uint32_t>(n),
                               dep.spec->config.health_check_period);
  // Each tick takes the next slice: every replica once per period.
  auto count = (n + sched.slices - 1) / sched.slices;
  auto timeout = dep.spec->config.health_check_timeout;
  for (size_t k = 0; k < count && k < n; ++k) {
    auto& r = dep.replicas[(dep.probe_cursor + k) % n];
    if (r.state != replica_state::ready)
      continue;
    self->request(r.handle, timeout, health_atom::value)
        .then([self, app, dep_name, id = r.id](
                  bool) { record(self, app, dep_name, id, caf::error{}); },
              [self, app, dep_name, id = r.id](caf::error& err) {
                record(self, app, dep_name, id, err);
              });
  }
  dep.probe_cursor = (dep.probe_cursor + count) % n;
}

std::optional<replica_location> locate_replica(controller_ptr self,
                                              uint64_t id) {
  auto& st = self->state;
  auto i = st.index.find(id);
  if (i == st.index.end())
    return std::nullopt;
  auto a = st.apps.find(i->second.first);
  if (a == st.apps.end())
    return std::nullopt;
  auto d = a->second.deployments.find(i->second.second);
  if (d == a->second.deployments.end())
    return std::nullopt;
  auto& reps = d->second.replicas;
  auto r = find_replica(reps, id);
  if (r == reps.end())
    return std::nullopt;
  return replica_location{&a->second, d->first, &d->second, r};
}

void startup_timed_out(controller_ptr self, uint64_t id) {
  auto& st = self->state;
  auto at = locate_replica(self, id);
  if (!at || at->r->state != replica_state::starting)
    return; // ready, drained or deleted meanwhile
  auto& app = *at->app;
  auto& dep_name = at->dep_name;
  auto& dep = *at->dep;
  auto r = at->r;
  auto limit = dep.spec->config.startup_timeout;
  r->state = replica_state::failed;
  auto why = "replica " + std::to_string(id) +
             ": the constructor did not finish within " +
             std::to_string(limit.count()) + " ms (startup_timeout)";
  // Status says why while the deployment retries (past the retry limit,
  // constructor_failed sets the message, which status shows instead).
  dep.note = why + "; stopped, another starts after a backoff";
  constructor_failed(self, app, dep_name, dep, why);
  if (r->handle) {
    // Its down message replaces it after the backoff (a failed replica).
    self->send_exit(r->handle, caf::exit_reason::kill);
    return;
  }
  // Still being started on its node: nothing to stop yet (the node stops
  // a replica the head no longer lists); its slot backs off.
  auto failures = r->slot_failures;
  st.index.erase(id);
  dep.replicas.erase(r);
  if (replaces_replicas(app) && !dep.unhealthy)
    slot_failed(self, app.name, dep_name, dep, failures);
}

// -- handlers -----------------------------------------------------------------

void on_health_tick(controller_ptr self, const std::string& app_name,
                    const std::string& dep_name, uint64_t chain) {
  // Ticks end with their deployment (deleted, or the app is being
  // deleted).
  auto dep = live_deployment(self, app_name, dep_name);
  if (dep == nullptr || dep->health_chain != chain)
    return;
  probe_replicas(self, app_name, dep_name, *dep);
  arm_health(self, app_name, dep_name, *dep);
}

} // namespace actorserve::detail::ctl
