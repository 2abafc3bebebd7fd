// The controller and its state store (controller_store.hpp): the records
// it writes after a change, and a restarted head's recovery: stored
// configs applied again, workers' replicas adopted as they are.
#include "control/controller_store.hpp"

#include <algorithm>
#include <set>
#include <utility>

#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include "ops/logging.hpp"
#include "control/controller_handlers.hpp"
#include "control/controller_steps.hpp"

namespace actorserve::detail::ctl {

namespace {

/// Every record the controller's state renders to, by key.
std::map<std::string, std::string> render(const controller_data& st) {
  std::map<std::string, std::string> out;
  out[meta_key] =
      encode_record(stored_meta{st.next_replica_id, st.next_node_id});
  std::vector<stored_node> nodes;
  for (auto& n : st.nodes)
    if (n.status.state == node_state::alive)
      nodes.push_back(stored_node{n.status.id, n.status.address, n.status.pid,
                                  n.status.resources});
  out[nodes_key] = encode_record(nodes);
  for (auto& [name, app] : st.apps) {
    if (app.state == application_state::deleting)
      continue; // a restart must not bring it back
    out[app_key(name)] =
        encode_record(stored_app{name, app.prefix, app.ingress, app.order});
    for (auto& dep_name : app.order) {
      auto d = app.deployments.find(dep_name);
      if (d == app.deployments.end())
        continue;
      auto& dep = d->second;
      stored_deployment rec;
      rec.base = dep.base;
      rec.current = dep.spec->config;
      rec.target = dep.target;
      rec.autoscaled = dep.autoscaled_target;
      for (auto& r : dep.replicas)
        rec.replicas.push_back(stored_replica{
            r.id, r.node, r.version, r.started_at_ms,
            r.handle ? caf::to_string(r.handle.address()) : std::string{}});
      out[deployment_key(name, dep_name)] = encode_record(rec);
    }
  }
  return out;
}

/// Adopts a worker's replica as it is: ready, with its own id, config and
/// start time.
void adopt(controller_ptr self, app_entry& app, const std::string& dep_name,
           deployment_entry& dep, uint64_t node, hosted_replica_report& rep) {
  replica_entry e{rep.id,   rep.handle,      replica_state::ready,
                  nullptr,  dep.code,        rep.version,
                  rep.user_config, rep.max_ongoing};
  e.node = node;
  e.models = std::make_shared<reported_models>();
  e.started_at_ms = rep.started_at_ms;
  auto at = std::lower_bound(
      dep.replicas.begin(), dep.replicas.end(), rep.id,
      [](const replica_entry& x, uint64_t id) { return x.id < id; });
  auto& r = *dep.replicas.insert(at, std::move(e));
  self->state.index.emplace(rep.id, std::make_pair(app.name, dep_name));
  self->monitor(r.handle);
  if (dep.awaited > 0)
    --dep.awaited;
  if (r.user_config != dep.spec->config.user_config ||
      r.max_ongoing != dep.spec->config.max_ongoing_requests)
    reconfigure_replica(self, app.name, dep_name, dep, r);
  schedule_push(self, app.name, dep_name, dep);
}

void stop_offer(controller_ptr self, const hosted_replica_report& rep) {
  if (rep.handle)
    self->send_exit(rep.handle, caf::exit_reason::user_shutdown);
}

/// Takes what the plan adopts of `offers` into `dep`; stops the rest.
void settle_offers(controller_ptr self, app_entry& app,
                   const std::string& dep_name, deployment_entry& dep,
                   std::vector<offered_replica>& offers) {
  std::vector<uint64_t> stored;
  // The start time the head showed before is kept (the worker's own clock
  // read it a moment later).
  std::map<uint64_t, int64_t> started;
  auto& rec = self->state.recovery;
  if (rec) {
    auto d = rec->deployments.find(app.name + "/" + dep_name);
    if (d != rec->deployments.end())
      for (auto& r : d->second.replicas) {
        stored.push_back(r.id);
        started[r.id] = r.started_at_ms;
      }
  }
  // An offer without an actor, or of an id listed already (another node
  // offered it first), is never adopted.
  auto listed = [&](const hosted_replica_report& r) {
    auto i = find_replica(dep.replicas, r.id);
    return i != dep.replicas.end() && i->handle == r.handle;
  };
  std::vector<hosted_replica_report> eligible;
  std::vector<offered_replica*> order;
  for (auto& o : offers) {
    if (o.report.handle && self->state.index.count(o.report.id) == 0) {
      eligible.push_back(o.report);
      order.push_back(&o);
    } else if (!listed(o.report)) {
      stop_offer(self, o.report);
    }
  }
  auto plan = plan_adoption(eligible, stored, dep.spec->config.version,
                            dep.target, dep.replicas.size());
  std::set<uint64_t> to_adopt{plan.adopt.begin(), plan.adopt.end()};
  for (auto* o : order) {
    if (to_adopt.erase(o->report.id) > 0) {
      if (auto t = started.find(o->report.id);
          t != started.end() && t->second != 0)
        o->report.started_at_ms = t->second;
      adopt(self, app, dep_name, dep, o->node, o->report);
    } else if (!listed(o->report)) {
      stop_offer(self, o->report); // the same actor offered twice stays
    }
  }
  if (!plan.adopt.empty())
    log_line{log_level::info}
        << "adopted " << plan.adopt.size() << " running replica(s) of '"
        << dep_name << "' (application '" << app.name << "')";
}

} // namespace

void mark_changed(controller_ptr self) {
  auto& st = self->state;
  if (!st.writer || st.persist_armed)
    return;
  st.persist_armed = true;
  // Anonymous: the reply (a sequence number) is for `serve` only.
  caf::anon_send(caf::actor_cast<controller_actor>(self), persist_atom::value);
}

uint64_t on_persist(controller_ptr self) {
  auto& st = self->state;
  st.persist_armed = false;
  if (!st.writer)
    return 0;
  auto now = render(st);
  store_batch batch;
  for (auto& [key, value] : now) {
    auto i = st.written.find(key);
    if (i == st.written.end() || i->second != value)
      batch.puts.emplace(key, value);
  }
  for (auto& [key, value] : st.written)
    if (now.count(key) == 0) {
      if (st.recovering)
        now.emplace(key, value); // not deployed again yet: kept for now
      else
        batch.erases.push_back(key);
    }
  if (!batch.empty()) {
    st.last_seq = st.writer->submit(std::move(batch));
    st.written = std::move(now);
  }
  return st.last_seq;
}

void init_store(controller_ptr self, std::shared_ptr<store_setup> setup) {
  auto& st = self->state;
  st.writer = setup->writer;
  if (!setup->found)
    return;
  st.next_replica_id = std::max(st.next_replica_id, setup->meta.next_replica_id);
  st.next_node_id = std::max(st.next_node_id, setup->meta.next_node_id);
  st.written = setup->raw;
  st.recovery = std::move(setup);
  st.recovering = true;
  log_line{log_level::info}
      << "recovering " << st.recovery->apps.size()
      << " application(s) from the state store; waiting "
      << st.recovery->grace.count() << " ms for "
      << st.recovery->nodes.size() << " worker node(s) to rejoin";
  self->delayed_send(self, st.recovery->grace, recovered_atom::value);
}

void recover_config(controller_ptr self, app_entry& app,
                    const std::string& dep_name, deployment_entry& dep) {
  dep.base = dep.spec->config;
  auto& rec = self->state.recovery;
  if (!self->state.recovering || !rec)
    return;
  auto key = app.name + "/" + dep_name;
  auto d = rec->deployments.find(key);
  if (d == rec->deployments.end() || !same_config(d->second.base, dep.base))
    return; // deployed otherwise now: the new config wins
  auto& stored = d->second;
  auto next = std::make_shared<deployment_spec>(*dep.spec);
  next->config = stored.current;
  dep.spec = std::move(next);
  dep.target = stored.target;
  dep.autoscaled_target = stored.autoscaled;
  for (auto& r : stored.replicas)
    dep.awaited += r.node != head_node_id;
  if (auto o = rec->offered.find(key); o != rec->offered.end()) {
    auto offers = std::move(o->second);
    rec->offered.erase(o);
    settle_offers(self, app, dep_name, dep, offers);
  }
}

void offer_replicas(controller_ptr self, uint64_t node,
                    std::vector<hosted_replica_report>& reports) {
  auto& st = self->state;
  for (auto& rep : reports) {
    app_entry* app = nullptr;
    auto dep = live_deployment(self, rep.app, rep.deployment, &app);
    if (!st.recovering) {
      stop_offer(self, rep); // the head replaced them when the node was lost
      continue;
    }
    std::vector<offered_replica> one{offered_replica{node, std::move(rep)}};
    if (dep != nullptr)
      settle_offers(self, *app, one.front().report.deployment, *dep, one);
    else
      st.recovery->offered[one.front().report.app + "/" +
                           one.front().report.deployment]
          .push_back(std::move(one.front()));
  }
}

uint64_t recovered_node_id(controller_ptr self, uint64_t previous) {
  auto& st = self->state;
  if (previous == 0 || !st.recovering || !st.recovery)
    return 0;
  for (auto& n : st.nodes)
    if (n.status.id == previous)
      return 0; // taken
  for (auto& n : st.recovery->nodes)
    if (n.id == previous)
      return previous;
  return 0;
}

void on_recovered(controller_ptr self) {
  auto& st = self->state;
  if (!st.recovering)
    return;
  st.recovering = false;
  size_t stopped = 0;
  if (st.recovery)
    for (auto& [key, offers] : st.recovery->offered)
      for (auto& o : offers) {
        stop_offer(self, o.report);
        ++stopped;
      }
  if (stopped > 0)
    log_line{log_level::info}
        << "stopped " << stopped
        << " replica(s) that workers still ran but no deployment wants";
  st.recovery.reset();
  for (auto& [app_name, app] : st.apps)
    for (auto& [dep_name, dep] : app.deployments)
      if (dep.awaited > 0) {
        dep.awaited = 0;
        if (replaces_replicas(app))
          reconcile(self, app, dep_name, dep);
      }
  for (auto& [app_name, app] : st.apps)
    check_running(self, app);
  push_to_all_nodes(self);
  mark_changed(self);
}

} // namespace actorserve::detail::ctl
