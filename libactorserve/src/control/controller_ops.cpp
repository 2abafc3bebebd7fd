// The controller's replica lifecycle: starting replicas where placement
// finds room, reconciling a deployment's count with its target, draining,
// and what follows a replica's death or failed start.
#include <algorithm>
#include <unordered_set>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include "actorserve/error.hpp"
#include "control/controller_handlers.hpp"
#include "control/controller_steps.hpp"
#include "replica/replica.hpp"

namespace actorserve::detail::ctl {

// -- handlers -----------------------------------------------------------------

void on_ready(controller_ptr self, uint64_t id, bool ok,
              const std::string& message) {
  auto at = locate_replica(self, id);
  if (!at) {
    // Drained, deleted or given up on while it started (a start on a worker
    // node that timed out was replaced): a replica nobody lists must not
    // live on.
    if (ok)
      if (auto sender = self->current_sender())
        self->send_exit(caf::actor_cast<caf::actor>(sender),
                        caf::exit_reason::user_shutdown);
    return;
  }
  auto& app = *at->app;
  auto& dep_name = at->dep_name;
  auto& dep = *at->dep;
  auto r = at->r;
  if (!ok) {
    // The replica exits; the down handler replaces it after the backoff,
    // unless this was the last try.
    r->state = replica_state::failed;
    constructor_failed(self, app, dep_name, dep, message);
    return;
  }
  if (!r->handle) {
    // Started on a worker node whose answer is still on its way: the
    // report's sender is the replica.
    r->handle = caf::actor_cast<caf::actor>(self->current_sender());
    self->monitor(r->handle);
  }
  r->state = replica_state::ready;
  r->slot_failures = 0;
  dep.ctor_failures = 0;
  // A replica that started before a config change catches up.
  if (r->user_config != dep.spec->config.user_config ||
      r->max_ongoing != dep.spec->config.max_ongoing_requests)
    reconfigure_replica(self, app.name, dep_name, dep, *r);
  schedule_push(self, app.name, dep_name, dep);
}

void on_respawn(controller_ptr self, const std::string& app_name,
                const std::string& dep_name) {
  auto a = self->state.apps.find(app_name);
  if (a == self->state.apps.end())
    return;
  auto d = a->second.deployments.find(dep_name);
  if (d == a->second.deployments.end())
    return;
  if (replaces_replicas(a->second) && !d->second.unhealthy) {
    reconcile(self, a->second, dep_name, d->second);
    check_running(self, a->second);
  }
}

void on_down(controller_ptr self, caf::down_msg& dm) {
  if (node_went_down(self, dm))
    return;
  // A replica died outside of a drain: replace it, at once, or after a
  // backoff when its constructor failed or replicas keep dying (one pass
  // over the replicas: O(n) per death).
  for (auto& [app_name, app] : self->state.apps)
    for (auto& [dep_name, dep] : app.deployments) {
      auto r = std::find_if(dep.replicas.begin(), dep.replicas.end(),
                            [&](const replica_entry& e) {
                              return e.handle.address() == dm.source;
                            });
      if (r == dep.replicas.end())
        continue;
      replica_died(self, app, dep_name, dep, r);
      return;
    }
}

// -- steps --------------------------------------------------------------------

uint32_t configured_target(const deployment_config& cfg) {
  return cfg.autoscaling ? initial_target(*cfg.autoscaling) : cfg.num_replicas;
}

bool spawn_one(controller_ptr self, app_entry& app, const std::string& name,
               deployment_entry& dep, placement_cache& cache) {
  auto node = choose_node(self, app, dep, cache);
  if (!node)
    return false;
  auto id = self->state.next_replica_id++;
  self->delayed_send(self, dep.spec->config.startup_timeout,
                     startup_timeout_atom::value, id);
  if (*node != head_node_id) {
    start_remote(self, app, name, dep, id, *node);
    return true;
  }
  replica_args args;
  args.id = id;
  args.app = app.name;
  args.spec = dep.spec;
  args.children = dep.children;
  args.controller = caf::actor_cast<caf::actor>(self);
  args.gate = std::make_shared<detail::admission_gate>(
      dep.spec->config.max_ongoing_requests);
  auto gate = args.gate;
  auto handle = spawn_replica(self->home_system(), std::move(args));
  // Listed: replicas end with the controller (`local_replicas`).
  // Monitored: the controller replaces a replica that dies on its own.
  self->state.local_replicas->emplace(id, handle);
  self->monitor(handle);
  auto& cfg = dep.spec->config;
  dep.replicas.push_back(replica_entry{id, handle, replica_state::starting,
                                       std::move(gate), dep.code, cfg.version,
                                       cfg.user_config,
                                       cfg.max_ongoing_requests});
  dep.replicas.back().started_at_ms = unix_ms_now();
  self->state.index.emplace(id, std::make_pair(app.name, name));
  return true;
}

/// Drains a replica that is already out of the router's set.
void drain(controller_ptr self, const replica_entry& r,
           std::chrono::milliseconds grace) {
  // Its reservation is released now: a pending replica may take it.
  schedule_place(self);
  self->state.index.erase(r.id);
  self->state.local_replicas->erase(r.id);
  if (!r.handle)
    return; // still being started on its node: stopped once it answers
  self->demonitor(r.handle);
  self->request(r.handle, grace + drain_margin, drain_atom::value)
      .then([](bool) {},
            [self, handle = r.handle](caf::error&) {
              self->send_exit(handle, caf::exit_reason::kill);
            });
}

namespace {

/// Takes the slots whose backoff is over out of `dep.waits`; returns their
/// failure counts.
std::vector<uint32_t> take_due_waits(controller_ptr self,
                                     deployment_entry& dep) {
  std::vector<uint32_t> due;
  auto now = self->clock().now();
  auto keep = std::stable_partition(
      dep.waits.begin(), dep.waits.end(),
      [&](const slot_wait& w) { return w.due > now; });
  for (auto i = keep; i != dep.waits.end(); ++i)
    due.push_back(i->failures);
  dep.waits.erase(keep, dep.waits.end());
  return due;
}

} // namespace

/// Makes the number of live replicas match `dep.target`.
void reconcile(controller_ptr self, app_entry& app, const std::string& name,
               deployment_entry& dep) {
  if (rolling(dep)) {
    roll(self, app, name, dep);
    answer_scale_waiters(dep, name);
    return;
  }
  // At most `max_starts_per_turn` now; the rest in later turns, after
  // whatever else waits in the controller's mailbox.
  placement_cache cache;
  uint32_t started = 0;
  dep.more_to_start = false;
  // Slots whose backoff is over are filled first, keeping their count of
  // failures; those still waiting count towards the target.
  auto due = take_due_waits(self, dep);
  auto waiting = [&] { return dep.waits.size(); };
  // Replicas a restarted head awaits from its workers hold their slots.
  while (dep.replicas.size() + waiting() + dep.awaited < dep.target) {
    if (started == max_starts_per_turn) {
      dep.more_to_start = true;
      schedule_place(self);
      break;
    }
    uint32_t failures = 0;
    if (!due.empty()) {
      failures = due.back();
      due.pop_back();
    }
    if (!spawn_one(self, app, name, dep, cache)) {
      // Pending: retried when resources are released.
      if (failures > 0)
        dep.waits.push_back(slot_wait{self->clock().now(), failures});
      break;
    }
    dep.replicas.back().slot_failures = failures;
    ++started;
  }
  // A smaller target drops waiting slots before live replicas.
  while (!dep.waits.empty() && dep.replicas.size() + waiting() > dep.target)
    dep.waits.pop_back();
  if (dep.replicas.size() >= dep.target)
    dep.pending.clear();
  if (dep.replicas.size() > dep.target) {
    // Stop starting replicas first, then the newest ready ones; the others
    // keep their order (by id: find_replica).
    auto excess = dep.replicas.size() - dep.target;
    std::unordered_set<uint64_t> chosen;
    for (int pass = 0; pass < 2; ++pass)
      for (auto r = dep.replicas.rbegin();
           r != dep.replicas.rend() && chosen.size() < excess; ++r)
        if ((r->state == replica_state::ready) == (pass == 1))
          chosen.insert(r->id);
    auto keep = std::stable_partition(
        dep.replicas.begin(), dep.replicas.end(),
        [&](const replica_entry& r) { return chosen.count(r.id) == 0; });
    std::vector<replica_entry> victims(std::make_move_iterator(keep),
                                       std::make_move_iterator(
                                           dep.replicas.end()));
    dep.replicas.erase(keep, dep.replicas.end());
    // Routers stop sending to them first; then they drain what they hold.
    push_replicas(self, dep);
    for (auto& r : victims)
      drain(self, r, dep.spec->config.graceful_shutdown_timeout);
  }
  answer_scale_waiters(dep, name);
}

void slot_failed(controller_ptr self, const std::string& app,
                 const std::string& dep_name, deployment_entry& dep,
                 uint32_t failures) {
  auto& cfg = dep.spec->config;
  auto limit = cfg.max_constructor_retry_count;
  auto delay =
      detail::after_constructor_failure(failures + 1, dep.target, limit).delay;
  // A deployment with no replica at all keeps one start going: its slot
  // waits only the first step.
  if (dep.replicas.empty())
    delay = std::min(
        delay, detail::after_constructor_failure(1, dep.target, limit).delay);
  dep.waits.push_back(slot_wait{self->clock().now() + delay, failures + 1});
  self->delayed_send(self, delay, respawn_atom::value, app, dep_name);
}

void replica_died(controller_ptr self, app_entry& app,
                  const std::string& dep_name, deployment_entry& dep,
                  std::vector<replica_entry>::iterator r) {
  // A replica that never became ready failed its start: its slot backs
  // off. One that served is replaced at once, however often replicas die,
  // so crashes never leave the deployment with fewer replicas than it
  // could have.
  auto failed_start = r->state != replica_state::ready;
  auto failures = r->slot_failures;
  self->state.index.erase(r->id);
  self->state.local_replicas->erase(r->id);
  dep.replicas.erase(r);
  push_replicas(self, dep);
  if (!replaces_replicas(app) || dep.unhealthy)
    return;
  if (failed_start)
    slot_failed(self, app.name, dep_name, dep, failures);
  // A failed slot is filled when its backoff ends (`respawn_atom`).
  if (!failed_start)
    reconcile(self, app, dep_name, dep);
  check_running(self, app);
}

void retry_constructor(deployment_entry& dep) {
  if (!dep.unhealthy)
    return;
  dep.unhealthy = false;
  dep.message.clear();
  dep.ctor_failures = 0;
}

/// A replica's constructor failed: back off, or give up past the limit.
void constructor_failed(controller_ptr self, app_entry& app,
                        const std::string& dep_name, deployment_entry& dep,
                        const std::string& message) {
  ++dep.ctor_failures;
  auto step = detail::after_constructor_failure(
      dep.ctor_failures, dep.target,
      dep.spec->config.max_constructor_retry_count);
  if (!step.give_up)
    return;
  auto why = message + " (" + std::to_string(dep.ctor_failures) +
             " attempts in a row)";
  if (app.state == application_state::deploying && !app.serving) {
    fail_deploy(self, app, dep_name, why);
    return;
  }
  // A running app (or one being updated) keeps serving with the replicas
  // it has.
  dep.unhealthy = true;
  dep.message = "the constructor keeps failing: " + why;
  app.state = application_state::unhealthy;
  app.message = "deployment '" + dep_name + "' " + dep.message;
  auto err = make_error(errc::unavailable, app.message);
  for (auto& w : dep.scale_waiters)
    w.rp.deliver(err);
  dep.scale_waiters.clear();
  for (auto& rp : app.deploy_waiters)
    rp.deliver(err);
  app.deploy_waiters.clear();
}

} // namespace actorserve::detail::ctl

namespace actorserve {

namespace detail {

constructor_retry after_constructor_failure(uint32_t failures,
                                            uint32_t num_replicas,
                                            uint32_t max_retry_count) noexcept {
  constructor_retry result;
  auto per_replica = static_cast<uint64_t>(num_replicas) * 3;
  auto limit =
      std::min<uint64_t>(max_retry_count, std::max<uint64_t>(per_replica, 1));
  result.give_up = failures >= limit;
  auto shift = std::min<uint32_t>(failures > 0 ? failures - 1 : 0, 7);
  result.delay = std::min(std::chrono::milliseconds{100} * (1 << shift),
                          std::chrono::milliseconds{10'000});
  return result;
}

} // namespace detail

} // namespace actorserve
