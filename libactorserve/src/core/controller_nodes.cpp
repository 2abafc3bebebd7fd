// The controller's node membership: worker nodes that joined through the
// cluster gate (cluster.hpp), watched through their agents.
#include <iostream>

#include <unistd.h>

#include "actorserve/error.hpp"
#include "controller_state.hpp"

namespace actorserve::detail::ctl {

uint64_t node_joined(controller_ptr self, node_hello hello,
                     const std::string& peer) {
  auto& st = self->state;
  node_entry n;
  n.status.id = st.next_node_id++;
  n.status.role = "worker";
  n.status.address = hello.host + " (" + peer + ")";
  n.status.pid = hello.pid;
  n.status.resources = std::move(hello.resources);
  n.status.deployments = std::move(hello.deployments);
  n.agent = std::move(hello.agent);
  // A lost connection (the process died, or the network) brings a down
  // message for the agent's proxy.
  if (n.agent)
    self->monitor(n.agent);
  st.nodes.push_back(std::move(n));
  return st.nodes.back().status.id;
}

bool node_went_down(controller_ptr self, const caf::actor_addr& agent) {
  for (auto& n : self->state.nodes)
    if (n.agent && n.agent.address() == agent) {
      if (n.status.state == node_state::alive)
        std::cerr << "actorserve: node " << n.status.id
                  << " is DEAD (its connection to the head was lost)"
                  << std::endl;
      n.status.state = node_state::dead;
      return true;
    }
  return false;
}

caf::error set_node_deployments(controller_ptr self, uint64_t node,
                                std::vector<std::string> names) {
  for (auto& n : self->state.nodes)
    if (n.status.id == node) {
      n.status.deployments = std::move(names);
      return {};
    }
  return make_error(errc::not_found, "no node " + std::to_string(node));
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

} // namespace actorserve::detail::ctl
