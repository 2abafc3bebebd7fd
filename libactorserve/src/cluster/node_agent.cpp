// A worker node's agent and its registry of deployments (node_agent.hpp).
#include "ops/logging.hpp"
#include "cluster/node_agent.hpp"

#include "cluster/auth.hpp"
#include "cluster/cluster_impl.hpp"

#include <algorithm>
#include <iostream>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actorserve/admission.hpp"
#include "actorserve/error.hpp"
#include "replica/replica.hpp"

namespace actorserve::detail {

rejoin_step after_rejoin_failure(std::chrono::milliseconds backoff,
                                 std::chrono::milliseconds left) {
  rejoin_step out;
  if (left.count() <= 0) {
    out.give_up = true;
    return out;
  }
  out.wait = std::min(backoff, left);
  out.next_backoff =
      std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(2));
  return out;
}

namespace {

struct hosted_replica {
  caf::actor handle;
  gate_ptr gate;
};

/// Joining the head again: each attempt has a number, and answers to an
/// older attempt (over a connection since closed) are dropped.
struct rejoin_run {
  bool active = false;
  uint64_t attempt = 0;
  std::chrono::steady_clock::time_point deadline;
  std::chrono::milliseconds backoff{100};
};

struct agent_state {
  registry_ptr reg;
  /// The head's gate; null while the connection is closed.
  cluster_gate_actor gate;
  rejoin_info rejoin;
  std::function<void()> on_head_lost;
  rejoin_run again;
  /// This node's HTTP ingress (`--proxy`), and the routes it serves.
  std::vector<caf::actor> route_subscribers;
  route_table routes;
  std::unordered_map<uint64_t, hosted_replica> hosted;
  static inline const char* name = "actorserve.node_agent";
};

using agent_ptr = node_agent_actor::stateful_pointer<agent_state>;

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
  replica_args args;
  args.id = id;
  args.app = app;
  for (auto& child : spec->children)
    args.children.push_back(reg.find(app, child->config.name).ep);
  args.spec = std::move(spec);
  args.controller = std::move(controller);
  args.gate =
      std::make_shared<admission_gate>(args.spec->config.max_ongoing_requests);
  auto gate = args.gate;
  auto handle = spawn_replica(self->home_system(), std::move(args));
  self->monitor(handle);
  self->state.hosted.emplace(id, hosted_replica{handle, std::move(gate)});
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

/// Stops every replica hosted here.
void stop_hosted(agent_ptr self) {
  for (auto& [id, r] : self->state.hosted)
    self->send_exit(r.handle, caf::exit_reason::user_shutdown);
  self->state.hosted.clear();
}

/// Joining again failed for good: the node ends as when its head goes
/// away.
void give_up(agent_ptr self, const std::string& why) {
  auto& st = self->state;
  st.again.active = false;
  detail::log_line{detail::log_level::error}
      << "could not join the head again: " << why;
  if (st.on_head_lost)
    st.on_head_lost();
}

/// Attempt `attempt` failed: another after the backoff, or give up.
void retry_later(agent_ptr self, uint64_t attempt, const std::string& why) {
  using namespace std::chrono;
  auto& r = self->state.again;
  if (!r.active || attempt != r.attempt)
    return;
  auto step = after_rejoin_failure(
      r.backoff, duration_cast<milliseconds>(r.deadline - steady_clock::now()));
  if (step.give_up) {
    give_up(self, why);
    return;
  }
  detail::log_line{detail::log_level::warning}
      << "joining the head again failed (" << why << "); trying again in "
      << step.wait.count() << " ms";
  self->delayed_send(self, step.wait, rejoin_atom::value, ++r.attempt);
  r.backoff = step.next_backoff;
}

/// Connects to the head again on a thread of its own (a dial blocks); the
/// result comes back as `(rejoin_atom, attempt, gate, why)`.
void dial(agent_ptr self, uint64_t attempt) {
  auto agent = caf::actor_cast<caf::actor>(self);
  // The attempt goes in as a spawn argument: CAF 0.17 spawns functors
  // without arguments through a null pointer (undefined behavior).
  self->home_system().spawn<caf::detached>(
      [agent, dial = self->state.rejoin.dial](caf::event_based_actor* me,
                                              uint64_t attempt) {
        auto gate = dial();
        if (gate)
          caf::anon_send(agent, rejoin_atom::value, attempt, *gate,
                         std::string{});
        else
          caf::anon_send(agent, rejoin_atom::value, attempt,
                         cluster_gate_actor{}, me->system().render(gate.error()));
      },
      attempt);
}

/// One attempt: a fresh challenge, the join, and the announcement of what
/// this binary registers under the new node id; a new connection first
/// when the old one closed.
void try_join(agent_ptr self) {
  auto& st = self->state;
  auto attempt = st.again.attempt;
  if (!st.gate) {
    if (st.rejoin.dial)
      dial(self, attempt);
    else
      give_up(self, "the connection to the head closed");
    return;
  }
  auto fail = [self, attempt](caf::error& err) {
    retry_later(self, attempt, message_of(err));
  };
  auto gate = st.gate;
  auto timeout = st.rejoin.timeout;
  self->request(gate, timeout, join_challenge_atom::value)
      .then(
          [=](const std::string& nonce) {
            auto& st = self->state;
            auto hello = st.rejoin.hello;
            hello.proof = auth::join_proof(st.rejoin.token, nonce);
            hello.agent = caf::actor_cast<caf::actor>(self);
            hello.deployments = st.reg->names();
            self->request(gate, timeout, join_atom::value, std::move(hello))
                .then(
                    [=](uint64_t id) {
                      self->state.rejoin.node_id->store(id);
                      self->request(gate, timeout, node_deployments_atom::value,
                                    id, self->state.reg->names())
                          .then(
                              [=](bool) {
                                auto& r = self->state.again;
                                if (attempt != r.attempt)
                                  return;
                                r.active = false;
                                detail::log_line{detail::log_level::info}
                                    << "joined the head again as node " << id;
                              },
                              fail);
                    },
                    fail);
          },
          fail);
}

/// The head declared this node DEAD (it hung, or was cut off, for longer
/// than the heartbeat timeout), or the connection to it closed: its
/// replicas run elsewhere now. Stop them and join as a new node, as a
/// restarted worker would, trying for `give_up_after`.
void join_again(agent_ptr self, const char* why) {
  auto& st = self->state;
  detail::log_line{detail::log_level::warning}
      << why << "; stopping its " << st.hosted.size()
      << " replica(s) and joining again";
  stop_hosted(self);
  auto& r = st.again;
  ++r.attempt; // answers over the old connection no longer count
  if (!r.active) {
    r.active = true;
    r.deadline = std::chrono::steady_clock::now() + st.rejoin.give_up_after;
    r.backoff = std::chrono::milliseconds{100};
  }
  try_join(self);
}

/// A dial's result for attempt `attempt`.
void dialed(agent_ptr self, uint64_t attempt, cluster_gate_actor& gate,
            const std::string& why) {
  auto& st = self->state;
  if (!st.again.active || attempt != st.again.attempt)
    return;
  if (!gate) {
    retry_later(self, attempt, why);
    return;
  }
  st.gate = std::move(gate);
  self->monitor(st.gate);
  try_join(self);
}

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
/// connection closed): join again, or stop this node's replicas.
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
  st.gate = nullptr;
  if (st.rejoin.give_up_after.count() > 0 && st.rejoin.dial) {
    join_again(self, "lost the connection to the head");
    return;
  }
  detail::log_line{detail::log_level::warning}
      << "lost the head; stopping this worker node's " << hosted.size()
      << " replica(s)";
  stop_hosted(self);
  st.again.active = false;
  if (st.on_head_lost)
    st.on_head_lost();
}

/// The head declared `node` DEAD: this node joins again; another node's
/// actors are forgotten here.
void on_node_dead(agent_ptr self, const caf::node_id& node) {
  if (node != self->node()) {
    forget_node(self->home_system(), node);
    return;
  }
  auto msg = "the head declared node " +
             std::to_string(self->state.rejoin.node_id->load()) + " DEAD";
  join_again(self, msg.c_str());
}

/// A deployment's replica set from the head, published into this node's
/// endpoint of it.
void on_replicas(agent_ptr self, const std::string& app,
                 const std::string& dep, std::vector<replica_ref>& refs,
                 bool scales_from_zero, uint32_t max_ongoing,
                 int64_t max_queued) {
  auto ep = self->state.reg->find(app, dep).ep;
  if (!ep)
    return;
  // Replicas here are reached through their gates, as on the head; the
  // others through their actors.
  for (auto& r : refs)
    if (auto i = self->state.hosted.find(r.id); i != self->state.hosted.end())
      r.gate = i->second.gate;
  ep->set_limits(max_ongoing, max_queued);
  ep->publish(std::move(refs), scales_from_zero);
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

/// This node's ingress asks for status: the head's, through the gate.
caf::result<serve_status> on_status(agent_ptr self) {
  auto& st = self->state;
  if (!st.gate)
    return make_error(errc::unavailable, "this node is joining its head again");
  return self->delegate(st.gate, node_status_atom::value);
}

/// A rejoin's timer fired: the next try, unless a newer attempt began.
void on_rejoin_timer(agent_ptr self, uint64_t attempt) {
  auto& r = self->state.again;
  if (r.active && attempt == r.attempt)
    try_join(self);
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
