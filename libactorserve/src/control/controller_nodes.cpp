// The controller's worker nodes: membership through the cluster gate
// (cluster.hpp), heartbeats, replicas started on nodes through their agents
// (node_agent.hpp), and what happens when a node is lost.
#include <algorithm>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include <caf/exit_reason.hpp>
#include <unistd.h>

#include "ops/logging.hpp"
#include "actorserve/error.hpp"
#include "control/controller_handlers.hpp"
#include "control/controller_steps.hpp"
#include "runtime/serve_config.hpp"

namespace actorserve::detail::ctl {

namespace {

node_entry* find_node(controller_ptr self, uint64_t id) {
  for (auto& n : self->state.nodes)
    if (n.status.id == id)
      return &n;
  return nullptr;
}

bool registers(const node_entry& n, const std::string& key) {
  auto& names = n.status.deployments;
  return std::find(names.begin(), names.end(), key) != names.end();
}

/// Where replica `id` is kept; all null when it is gone.
struct located {
  app_entry* app = nullptr;
  std::string dep_name;
  deployment_entry* dep = nullptr;
  std::vector<replica_entry>::iterator r;
};

located locate(controller_ptr self, uint64_t id) {
  located out;
  auto i = self->state.index.find(id);
  if (i == self->state.index.end())
    return out;
  auto dep = live_deployment(self, i->second.first, i->second.second, &out.app);
  if (dep == nullptr)
    return out;
  out.r = find_replica(dep->replicas, id);
  if (out.r == dep->replicas.end())
    return out;
  out.dep_name = i->second.second;
  out.dep = dep;
  return out;
}

/// Sends `node` the ready sets of every deployment its binary registers.
void push_all(controller_ptr self, const node_entry& n) {
  for (auto& [app_name, app] : self->state.apps)
    for (auto& [dep_name, dep] : app.deployments)
      if (registers(n, app_name + "/" + dep_name)) {
        std::vector<replica_ref> refs;
        for (auto& r : dep.replicas)
          if (r.state == replica_state::ready)
            refs.push_back(replica_ref{r.id, r.handle, nullptr});
        auto& cfg = dep.spec->config;
        self->send(n.agent, replicas_atom::value, app_name, dep_name,
                   std::move(refs),
                   cfg.autoscaling && cfg.autoscaling->min_replicas == 0,
                   cfg.max_ongoing_requests, cfg.max_queued_requests);
      }
}

} // namespace

void answer_node_waiters(controller_ptr self) {
  auto& st = self->state;
  size_t ready = 0;
  for (auto& n : st.nodes)
    ready += n.status.state == node_state::alive && n.announced;
  auto& waiters = st.node_waiters;
  for (auto i = waiters.begin(); i != waiters.end();) {
    if (ready >= i->first) {
      i->second.deliver(true);
      i = waiters.erase(i);
    } else {
      ++i;
    }
  }
}

uint64_t node_joined(controller_ptr self, node_hello hello,
                     const std::string& peer) {
  auto& st = self->state;
  node_entry n;
  n.status.id = recovered_node_id(self, hello.previous_id);
  if (n.status.id == 0)
    n.status.id = st.next_node_id++;
  n.status.role = "worker";
  n.status.address = hello.host + " (" + peer + ")";
  n.status.pid = hello.pid;
  n.status.resources = with_memory(std::move(hello.resources));
  n.status.deployments = std::move(hello.deployments);
  n.agent = caf::actor_cast<node_agent_actor>(hello.agent);
  // A lost connection (the process died, or the network) brings a down
  // message for the agent's proxy; a hung node misses its heartbeats.
  if (n.agent)
    self->monitor(n.agent);
  auto id = n.status.id;
  st.nodes.push_back(std::move(n));
  if (!st.heartbeat_armed) {
    st.heartbeat_armed = true;
    self->delayed_send(self, st.heartbeat.period, heartbeat_atom::value);
  }
  offer_replicas(self, id, hello.replicas);
  return id;
}

bool node_went_down(controller_ptr self, const caf::down_msg& dm) {
  for (auto& n : self->state.nodes) {
    // A node that joined again keeps its agent: only its live entry counts.
    if (!n.agent || n.status.state == node_state::dead)
      continue;
    // The agent itself, or any actor of a node whose connection dropped
    // (its replicas' down messages may come first).
    bool agent = n.agent.address() == dm.source;
    bool link = dm.reason == caf::exit_reason::remote_link_unreachable &&
                n.agent.node() == dm.source.node();
    if (agent || link) {
      node_lost(self, n.status.id, "its connection to the head was lost");
      return true;
    }
  }
  return false;
}

namespace {

/// Every node forgets the dead node's actors: their proxies end, as when
/// its connection drops, so calls and streams in flight there fail at once
/// wherever they were made, though a hung node's socket may stay open. The
/// dead node itself hears it too, should it wake up: it joins again.
void tell_node_dead(controller_ptr self, uint64_t node) {
  auto dead = find_node(self, node);
  if (dead == nullptr || !dead->agent)
    return;
  auto where = dead->agent.node();
  // Sent before this process forgets the node: the message must still
  // reach its agent.
  self->send(dead->agent, node_dead_atom::value, where);
  for (auto& n : self->state.nodes)
    if (n.status.state == node_state::alive && n.agent)
      self->send(n.agent, node_dead_atom::value, where);
  forget_node_of(self->home_system(), where);
}

/// Keeps the most recent `max_dead_nodes` DEAD nodes for status.
void prune_dead_nodes(controller_data& st) {
  auto dead = static_cast<size_t>(
      std::count_if(st.nodes.begin(), st.nodes.end(), [](const node_entry& n) {
        return n.status.state == node_state::dead;
      }));
  for (auto i = st.nodes.begin(); dead > max_dead_nodes && i != st.nodes.end();)
    if (i->status.state == node_state::dead) {
      i = st.nodes.erase(i);
      --dead;
    } else {
      ++i;
    }
}

} // namespace

void node_lost(controller_ptr self, uint64_t node, const std::string& why) {
  mark_changed(self);
  auto n = find_node(self, node);
  if (n == nullptr || n->status.state == node_state::dead)
    return;
  n->status.state = node_state::dead;
  self->demonitor(n->agent.address());
  size_t lost = 0;
  // reconcile and check_running may change the maps iterated here
  // (check_running retires dropped deployments: app.deployments.erase):
  // they run after the walk, on what is still there.
  std::vector<std::pair<std::string, std::string>> hit;
  for (auto& [app_name, app] : self->state.apps)
    for (auto& [dep_name, dep] : app.deployments) {
      auto before = dep.replicas.size();
      for (auto i = dep.replicas.begin(); i != dep.replicas.end();) {
        if (i->node != node) {
          ++i;
          continue;
        }
        self->state.index.erase(i->id);
        if (i->handle) {
          self->demonitor(i->handle);
          // A hung node may come back: its replicas must not.
          self->send_exit(i->handle, caf::exit_reason::user_shutdown);
        }
        i = dep.replicas.erase(i);
      }
      if (dep.replicas.size() == before)
        continue;
      lost += before - dep.replicas.size();
      // Callers drop the lost replicas; calls in flight there fail at once
      // (call_host watches remote replicas), queued ones go elsewhere.
      push_replicas(self, dep);
      hit.emplace_back(app_name, dep_name);
    }
  for (auto& [app_name, dep_name] : hit) {
    auto a = self->state.apps.find(app_name);
    if (a == self->state.apps.end())
      continue;
    auto& app = a->second;
    auto d = app.deployments.find(dep_name);
    if (d != app.deployments.end() && replaces_replicas(app) &&
        !d->second.unhealthy)
      reconcile(self, app, dep_name, d->second);
    check_running(self, app);
  }
  detail::log_line{detail::log_level::warning}
      << "node " << node << " is DEAD (" << why << "); " << lost
      << " of its replica(s) are being placed elsewhere";
  tell_node_dead(self, node);
  prune_dead_nodes(self->state);
}

void heartbeat(controller_ptr self) {
  auto& st = self->state;
  bool any = false;
  for (auto& n : st.nodes) {
    if (n.status.state != node_state::alive)
      continue;
    any = true;
    auto id = n.status.id;
    auto timeout = st.heartbeat.timeout;
    self->request(n.agent, timeout, node_ping_atom::value)
        .then([self, id](node_load& load) { node_reported(self, id, load); },
              [self, id, timeout](caf::error&) {
                node_lost(self, id,
                          "it did not answer a heartbeat within " +
                              std::to_string(timeout.count()) + " ms");
              });
  }
  st.heartbeat_armed = any;
  if (any)
    self->delayed_send(self, st.heartbeat.period, heartbeat_atom::value);
}

void node_reported(controller_ptr self, uint64_t node,
                   const node_load& load) {
  auto n = find_node(self, node);
  if (n == nullptr || n->status.state != node_state::alive)
    return;
  n->queued.clear();
  auto deps = std::min(load.deployments.size(), load.queued.size());
  for (size_t i = 0; i < deps; ++i)
    n->queued[load.deployments[i]] = load.queued[i];
  auto reps = std::min(load.replicas.size(), load.running.size());
  for (size_t i = 0; i < reps; ++i) {
    auto at = locate(self, load.replicas[i]);
    if (at.dep == nullptr || at.r->node != node)
      continue;
    at.r->reported_running = load.running[i];
    if (i < load.models.size() && at.r->models &&
        *at.r->models->get() != load.models[i])
      at.r->models->set(load.models[i]);
  }
}

int64_t queued_on_nodes(controller_ptr self, const std::string& key) {
  int64_t total = 0;
  for (auto& n : self->state.nodes)
    if (n.status.state == node_state::alive)
      if (auto i = n.queued.find(key); i != n.queued.end())
        total += std::max<int64_t>(i->second, 0);
  return total;
}

caf::error set_node_deployments(controller_ptr self, uint64_t node,
                                std::vector<std::string> names) {
  auto n = find_node(self, node);
  if (n == nullptr || n->status.state != node_state::alive)
    return make_error(errc::not_found, "no alive node " + std::to_string(node));
  n->status.deployments = std::move(names);
  n->announced = true;
  if (!self->state.recovering) { // else once the grace period ends
    push_all(self, *n);
    push_route_names(self, make_routes(self->state), node);
  }
  // Replicas that fit nowhere may fit there.
  schedule_place(self);
  answer_node_waiters(self);
  return {};
}

void push_to_all_nodes(controller_ptr self) {
  for (auto& n : self->state.nodes)
    if (n.status.state == node_state::alive && n.announced)
      push_all(self, n);
  push_route_names(self, make_routes(self->state));
}

void push_route_names(controller_ptr self, const route_table& table,
                      uint64_t node) {
  // A recovering head holds back: its workers route with the sets they
  // kept until it has adopted what they run (push_to_all_nodes).
  if (self->state.recovering)
    return;
  std::vector<route_name> names;
  names.reserve(table.size());
  for (auto& e : table)
    names.push_back(route_name{e.prefix, e.app, e.target->deployment()});
  for (auto& n : self->state.nodes)
    if (n.status.state == node_state::alive && n.announced &&
        (node == 0 || n.status.id == node))
      self->send(n.agent, routes_atom::value, names);
}

void push_to_nodes(controller_ptr self, const deployment_entry& dep,
                   const std::vector<replica_ref>& refs, bool from_zero) {
  if (self->state.recovering)
    return; // as push_route_names
  auto& app = dep.ep->app();
  auto& name = dep.ep->deployment();
  auto key = app + "/" + name;
  auto& cfg = dep.spec->config;
  for (auto& n : self->state.nodes)
    if (n.status.state == node_state::alive && registers(n, key))
      self->send(n.agent, replicas_atom::value, app, name, refs, from_zero,
                 cfg.max_ongoing_requests, cfg.max_queued_requests);
}

void start_remote(controller_ptr self, app_entry& app, const std::string& name,
                  deployment_entry& dep, uint64_t id, uint64_t node) {
  auto& cfg = dep.spec->config;
  replica_entry e{id,       caf::actor{}, replica_state::starting, nullptr,
                  dep.code, cfg.version,  cfg.user_config,
                  cfg.max_ongoing_requests};
  e.node = node;
  e.models = std::make_shared<reported_models>();
  e.started_at_ms = unix_ms_now();
  dep.replicas.push_back(std::move(e));
  self->state.index.emplace(id, std::make_pair(app.name, name));
  auto n = find_node(self, node);
  self->request(n->agent, self->state.heartbeat.timeout * 2,
                start_replica_atom::value, id, app.name, name, cfg,
                caf::actor_cast<caf::actor>(self))
      .then(
          [self, id](caf::actor& handle) {
            auto at = locate(self, id);
            if (at.dep == nullptr) {
              // Drained or deleted while it started.
              self->send_exit(handle, caf::exit_reason::user_shutdown);
              return;
            }
            if (!at.r->handle) {
              at.r->handle = handle;
              self->monitor(handle);
            }
          },
          [self, id, node](caf::error& err) {
            auto at = locate(self, id);
            if (at.dep == nullptr)
              return;
            detail::log_line{detail::log_level::warning}
                << "node " << node << " could not start replica " << id
                << " of '" << at.dep_name << "': " << message_of(err);
            replica_died(self, *at.app, at.dep_name, *at.dep, at.r);
          });
}

std::vector<node_status> nodes_status(controller_ptr self) {
  auto& st = self->state;
  std::vector<node_status> out;
  node_status head;
  head.id = head_node_id;
  head.role = "head";
  head.address = st.address;
  head.pid = static_cast<int64_t>(::getpid());
  head.resources = st.local;
  out.push_back(std::move(head));
  for (auto& n : st.nodes)
    out.push_back(n.status);
  for (auto& [app_name, app] : st.apps)
    for (auto& [dep_name, dep] : app.deployments)
      for (auto& r : dep.replicas)
        for (auto& n : out)
          if (n.id == r.node)
            n.replicas.push_back(r.id);
  return out;
}

// -- handlers -----------------------------------------------------------------

caf::result<bool> on_node_deployments(controller_ptr self, uint64_t node,
                                      std::vector<std::string>& names) {
  if (auto err = set_node_deployments(self, node, std::move(names)))
    return err;
  return true;
}

void on_cluster_address(controller_ptr self, std::string& address) {
  self->state.address = std::move(address);
}

caf::result<bool> on_wait_nodes(controller_ptr self, uint32_t n) {
  auto rp = self->make_response_promise<bool>();
  self->state.node_waiters.emplace_back(n, rp);
  // Answered at once when enough nodes are there already.
  answer_node_waiters(self);
  return rp;
}

} // namespace actorserve::detail::ctl
