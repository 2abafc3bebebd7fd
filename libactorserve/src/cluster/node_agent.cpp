// A worker node's agent and its registry of deployments (node_agent.hpp).
#include "cluster/agent_state.hpp"

#include <set>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>

#include "cluster/cluster_impl.hpp"
#include "ops/logging.hpp"

#include "actorserve/admission.hpp"
#include "actorserve/error.hpp"
#include "replica/replica.hpp"

namespace actorserve::detail {

namespace {

/// Starts replica `id` of `app/dep` with the head's current `cfg`.
caf::result<caf::actor> start_replica(agent_ptr self, uint64_t id,
                                      const std::string& app,
                                      const std::string& dep,
                                      deployment_config& cfg,
                                      caf::actor& controller) {
  auto& reg = *self->state.reg;
  auto found = reg.find(app, dep);
  if (!found.spec)
    return make_error(errc::not_found,
                      "this node's binary does not register deployment '" +
                          dep + "' of application '" + app + "'");
  // The same code, with the config the head runs now (it may have been
  // updated in place since main() bound it).
  auto spec = std::make_shared<deployment_spec>(*found.spec);
  spec->config = std::move(cfg);
  auto& hosted = self->state.hosted;
  if (auto old = hosted.find(id); old != hosted.end()) {
    // One this node kept through its head's absence: the head starts it
    // anew, so the old one goes.
    self->send_exit(old->second.handle, caf::exit_reason::user_shutdown);
    hosted.erase(old);
  }
  hosted_replica kept;
  kept.app = app;
  kept.deployment = dep;
  kept.version = spec->config.version;
  kept.user_config = spec->config.user_config;
  kept.started_at_ms = unix_ms_now();
  replica_args args;
  args.id = id;
  args.app = app;
  for (auto& child : spec->children)
    args.children.push_back(reg.find(app, child->config.name).ep);
  args.spec = std::move(spec);
  args.controller = std::move(controller);
  args.gate =
      std::make_shared<admission_gate>(args.spec->config.max_ongoing_requests);
  kept.gate = args.gate;
  auto handle = spawn_replica(self->home_system(), std::move(args));
  self->monitor(handle);
  kept.handle = handle;
  hosted.emplace(id, std::move(kept));
  return handle;
}

/// What runs and waits here, for the head's heartbeat.
node_load load_of(const agent_state& st) {
  node_load out;
  for (auto& [id, r] : st.hosted) {
    out.replicas.push_back(id);
    out.running.push_back(r.gate->running());
    out.models.push_back(r.gate->model_ids());
  }
  for (auto& [key, ep] : st.reg->endpoints())
    if (auto n = ep->queued(); n > 0) {
      out.deployments.push_back(key);
      out.queued.push_back(n);
    }
  return out;
}

} // namespace

void stop_hosted(agent_ptr self) {
  for (auto& [id, r] : self->state.hosted)
    self->send_exit(r.handle, caf::exit_reason::user_shutdown);
  self->state.hosted.clear();
}

namespace {

/// Publishes one deployment's pushed set into this node's endpoint of it.
void publish(agent_ptr self, const std::string& app, const std::string& dep,
             const pushed_set& set) {
  auto& st = self->state;
  auto ep = st.reg->find(app, dep).ep;
  if (!ep)
    return;
  auto refs = set.refs;
  if (set.stale) {
    std::set<uint64_t> here;
    for (auto& [id, r] : st.hosted)
      here.insert(id);
    refs = reachable_without_head(std::move(refs), here);
  }
  // Replicas here are reached through their gates, as on the head; the
  // others through their actors.
  for (auto& r : refs)
    if (auto i = st.hosted.find(r.id); i != st.hosted.end())
      r.gate = i->second.gate;
  ep->set_limits(set.max_ongoing, set.max_queued);
  ep->publish(std::move(refs), set.scales_from_zero);
}

} // namespace

void publish_all(agent_ptr self) {
  for (auto& [key, set] : self->state.pushed)
    publish(self, key.first, key.second, set);
}

namespace {

/// The head's routes, resolved against this node's endpoints.
route_table resolve(const node_registry& reg,
                    const std::vector<route_name>& names) {
  route_table table;
  for (auto& n : names)
    if (auto ep = reg.find(n.app, n.deployment).ep)
      table.push_back(route_entry{n.prefix, n.app, std::move(ep)});
  return table; // in the head's order: longest prefix first
}

/// A monitored actor went down: a hosted replica, or the head's gate (the
/// connection closed): keep serving and join again.
void on_down(agent_ptr self, caf::down_msg& dm) {
  auto& st = self->state;
  auto& hosted = st.hosted;
  if (!st.gate || dm.source != st.gate.address()) {
    for (auto i = hosted.begin(); i != hosted.end(); ++i)
      if (i->second.handle.address() == dm.source) {
        hosted.erase(i);
        break;
      }
    return;
  }
  lose_head(self);
}

/// The head declared `node` DEAD: this node joins again as a new node (its
/// replicas run elsewhere now); another node's actors are forgotten here.
void on_node_dead(agent_ptr self, const caf::node_id& node) {
  if (node != self->node()) {
    forget_node(self->home_system(), node);
    return;
  }
  auto msg = "the head declared node " +
             std::to_string(self->state.rejoin.node_id->load()) + " DEAD";
  join_as_new(self, msg);
}

/// A deployment's replica set from the head, kept (for when the head goes
/// away) and published into this node's endpoint of it.
void on_replicas(agent_ptr self, const std::string& app,
                 const std::string& dep, std::vector<replica_ref>& refs,
                 bool scales_from_zero, uint32_t max_ongoing,
                 int64_t max_queued) {
  if (!self->state.reg->find(app, dep).ep)
    return;
  auto& set = self->state.pushed[{app, dep}];
  set = pushed_set{std::move(refs), scales_from_zero, max_ongoing, max_queued,
                   false};
  publish(self, app, dep, set);
}

/// The head's route table changed: resolved here, and passed on to this
/// node's ingress.
void on_routes(agent_ptr self, const std::vector<route_name>& names) {
  auto& st = self->state;
  st.routes = resolve(*st.reg, names);
  for (auto& sub : st.route_subscribers)
    caf::anon_send(sub, routes_atom::value, st.routes);
}

/// This node's ingress subscribes to the route table.
void on_route_subscriber(agent_ptr self, caf::actor& subscriber) {
  caf::anon_send(subscriber, routes_atom::value, self->state.routes);
  self->state.route_subscribers.push_back(std::move(subscriber));
}

/// This node's ingress asks for status: the head's, through the gate; its
/// own while it has no head.
caf::result<serve_status> on_status(agent_ptr self) {
  auto& st = self->state;
  if (st.gate && st.head_lost_at_ms == 0)
    return self->delegate(st.gate, node_status_atom::value);
  node_status me;
  me.id = st.rejoin.node_id->load();
  me.role = "worker";
  me.address = st.rejoin.hello.host + " (" + to_string(self->node()) + ")";
  me.pid = st.rejoin.hello.pid;
  me.resources = st.rejoin.hello.resources;
  me.deployments = st.reg->names();
  return status_without_head(st.hosted, std::move(me), st.head_lost_at_ms);
}

node_agent_actor::behavior_type
node_agent(agent_ptr self, registry_ptr reg, cluster_gate_actor gate,
           rejoin_info rejoin, std::function<void()> on_head_lost) {
  auto& st = self->state;
  st.reg = std::move(reg);
  st.gate = gate;
  st.rejoin = std::move(rejoin);
  st.on_head_lost = std::move(on_head_lost);
  self->monitor(gate);
  self->set_down_handler([self](caf::down_msg& dm) { on_down(self, dm); });
  return {
      [self](node_ping_atom) { return load_of(self->state); },
      [self](node_dead_atom, const caf::node_id& node) {
        on_node_dead(self, node);
      },
      [self](start_replica_atom, uint64_t id, const std::string& app,
             const std::string& dep, deployment_config& cfg,
             caf::actor& controller) {
        return start_replica(self, id, app, dep, cfg, controller);
      },
      [self](replicas_atom, const std::string& app, const std::string& dep,
             std::vector<replica_ref>& refs, bool scales_from_zero,
             uint32_t max_ongoing, int64_t max_queued) {
        on_replicas(self, app, dep, refs, scales_from_zero, max_ongoing,
                    max_queued);
      },
      [self](routes_atom, const std::vector<route_name>& names) {
        on_routes(self, names);
      },
      [self](routes_atom, caf::actor& sub) { on_route_subscriber(self, sub); },
      [](health_atom) { return true; },
      [self](status_atom) { return on_status(self); },
      [self](rejoin_atom, uint64_t attempt) { on_rejoin_timer(self, attempt); },
      [self](rejoin_atom, uint64_t attempt, cluster_gate_actor& gate,
             const std::string& why) { dialed(self, attempt, gate, why); },
  };
}

} // namespace

node_agent_actor spawn_node_agent(caf::actor_system& sys, registry_ptr reg,
                                  cluster_gate_actor gate, rejoin_info rejoin,
                                  std::function<void()> on_head_lost) {
  return sys.spawn(node_agent, std::move(reg), std::move(gate),
                   std::move(rejoin), std::move(on_head_lost));
}

} // namespace actorserve::detail
