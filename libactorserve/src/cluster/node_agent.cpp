// A worker node's agent and its registry of deployments (node_agent.hpp).
#include "../core/logging.hpp"
#include "node_agent.hpp"

#include "auth.hpp"
#include "cluster_impl.hpp"

#include <iostream>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actorserve/admission.hpp"
#include "actorserve/error.hpp"
#include "actorserve/replica.hpp"

namespace actorserve::detail {

namespace {

std::string key_of(const std::string& app, const std::string& deployment) {
  return app + "/" + deployment;
}

} // namespace

void node_registry::add(const std::string& app, const spec_ptr& ingress) {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<spec_ptr> todo{ingress};
  while (!todo.empty()) {
    auto spec = todo.back();
    todo.pop_back();
    if (!spec)
      continue;
    auto& e = entries_[key_of(app, spec->config.name)];
    if (e.spec)
      continue;
    e.spec = spec;
    e.ep = std::make_shared<endpoint>(app, spec->config.name,
                                      spec->config.max_ongoing_requests,
                                      spec->config.max_queued_requests);
    todo.insert(todo.end(), spec->children.begin(), spec->children.end());
  }
}

node_registry::entry node_registry::find(const std::string& app,
                                         const std::string& deployment) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = entries_.find(key_of(app, deployment));
  return i == entries_.end() ? entry{} : i->second;
}

std::vector<std::pair<std::string, endpoint_ptr>>
node_registry::endpoints() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::pair<std::string, endpoint_ptr>> out;
  for (auto& kvp : entries_)
    out.emplace_back(kvp.first, kvp.second.ep);
  return out;
}

std::vector<std::string> node_registry::names() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::string> out;
  for (auto& kvp : entries_)
    out.push_back(kvp.first);
  return out;
}

namespace {

struct hosted_replica {
  caf::actor handle;
  gate_ptr gate;
};

struct agent_state {
  registry_ptr reg;
  cluster_gate_actor gate;
  rejoin_info rejoin;
  std::function<void()> on_head_lost;
  /// Joining again after the head declared this node DEAD.
  bool rejoining = false;
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

/// Joining again failed: the node ends as when its head goes away.
void give_up(agent_ptr self, const caf::error& err) {
  detail::log_line{detail::log_level::error}
      << "could not join the head again: " << message_of(err);
  if (self->state.on_head_lost)
    self->state.on_head_lost();
}

/// Announces what this binary registers under the new node id.
void announce_again(agent_ptr self, uint64_t id) {
  auto& st = self->state;
  self->request(st.gate, st.rejoin.timeout, node_deployments_atom::value, id,
                st.reg->names())
      .then([self](bool) { self->state.rejoining = false; },
            [self](caf::error& err) { give_up(self, err); });
}

/// The head declared this node DEAD (it hung, or was cut off, for longer
/// than the heartbeat timeout) and has placed its replicas elsewhere: stop
/// them, then join as a new node, as a restarted worker would.
void join_again(agent_ptr self) {
  auto& st = self->state;
  if (st.rejoining)
    return;
  st.rejoining = true;
  detail::log_line{detail::log_level::warning}
      << "the head declared node " << st.rejoin.node_id->load()
      << " DEAD; stopping its " << st.hosted.size()
      << " replica(s) and joining again";
  stop_hosted(self);
  self->request(st.gate, st.rejoin.timeout, join_challenge_atom::value)
      .then(
          [self](const std::string& nonce) {
            auto& st = self->state;
            auto hello = st.rejoin.hello;
            hello.proof = auth::join_proof(st.rejoin.token, nonce);
            hello.agent = caf::actor_cast<caf::actor>(self);
            hello.deployments = st.reg->names();
            self->request(st.gate, st.rejoin.timeout, join_atom::value,
                          std::move(hello))
                .then(
                    [self](uint64_t id) {
                      self->state.rejoin.node_id->store(id);
                      detail::log_line{detail::log_level::info}
                          << "joined the head again as node " << id;
                      announce_again(self, id);
                    },
                    [self](caf::error& err) { give_up(self, err); });
          },
          [self](caf::error& err) { give_up(self, err); });
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

} // namespace

node_agent_actor spawn_node_agent(caf::actor_system& sys, registry_ptr reg,
                                  cluster_gate_actor gate, rejoin_info rejoin,
                                  std::function<void()> on_head_lost) {
  return sys.spawn(
      [](agent_ptr self, registry_ptr reg, cluster_gate_actor gate,
         rejoin_info rejoin, std::function<void()> on_head_lost)
          -> node_agent_actor::behavior_type {
        self->state.reg = std::move(reg);
        self->state.gate = gate;
        self->state.rejoin = std::move(rejoin);
        self->state.on_head_lost = on_head_lost;
        self->monitor(gate);
        auto head = gate.address();
        self->set_down_handler([=](caf::down_msg& dm) {
          auto& hosted = self->state.hosted;
          if (dm.source != head) {
            for (auto i = hosted.begin(); i != hosted.end(); ++i)
              if (i->second.handle.address() == dm.source) {
                hosted.erase(i);
                break;
              }
            return;
          }
          detail::log_line{detail::log_level::warning}
              << "lost the head; stopping this worker "
                 "node's "
              << hosted.size() << " replica(s)";
          stop_hosted(self);
          if (on_head_lost)
            on_head_lost();
        });
        return {
            [self](node_ping_atom) { return load_of(self->state); },
            [self](node_dead_atom, const caf::node_id& node) {
              if (node == self->node())
                join_again(self);
              else
                forget_node(self->home_system(), node);
            },
            [self](start_replica_atom, uint64_t id, const std::string& app,
                   const std::string& dep, deployment_config& cfg,
                   caf::actor& controller) {
              return start_replica(self, id, app, dep, cfg, controller);
            },
            [self](replicas_atom, const std::string& app,
                   const std::string& dep, std::vector<replica_ref>& refs,
                   bool scales_from_zero, uint32_t max_ongoing,
                   int64_t max_queued) {
              auto ep = self->state.reg->find(app, dep).ep;
              if (!ep)
                return;
              // Replicas here are reached through their gates, as on the
              // head; the others through their actors.
              for (auto& r : refs)
                if (auto i = self->state.hosted.find(r.id);
                    i != self->state.hosted.end())
                  r.gate = i->second.gate;
              ep->set_limits(max_ongoing, max_queued);
              ep->publish(std::move(refs), scales_from_zero);
            },
            [self](routes_atom, const std::vector<route_name>& names) {
              auto& st = self->state;
              st.routes = resolve(*st.reg, names);
              for (auto& sub : st.route_subscribers)
                caf::anon_send(sub, routes_atom::value, st.routes);
            },
            [self](routes_atom, caf::actor& subscriber) {
              caf::anon_send(subscriber, routes_atom::value,
                             self->state.routes);
              self->state.route_subscribers.push_back(std::move(subscriber));
            },
            [](health_atom) { return true; },
            [self](status_atom) -> caf::result<serve_status> {
              auto& st = self->state;
              return self->delegate(st.gate, node_status_atom::value);
            },
        };
      },
      std::move(reg), std::move(gate), std::move(rejoin),
      std::move(on_head_lost));
}

} // namespace actorserve::detail
