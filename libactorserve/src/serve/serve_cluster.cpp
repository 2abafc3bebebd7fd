// serve's cluster side: a head opens its cluster port for worker nodes
// and waits for them; a worker joins its head.
#include <csignal>
#include <unistd.h>

#include <caf/scoped_actor.hpp>

#include "ops/logging.hpp"
#include "serve/serve_impl.hpp"

namespace actorserve {

namespace {

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0)
    return "unknown";
  return buf;
}

} // namespace

void serve::open_cluster_port() {
  auto& d = *impl_;
  auto& cl = d.opts.cluster;
  auto cell = std::make_shared<std::atomic<uint16_t>>(uint16_t{0});
  d.gate = detail::spawn_cluster_gate(*d.sys, cl.token, d.controller, cell);
  auto port = detail::publish_gate(*d.sys, d.gate, cl);
  if (!port) {
    auto why = d.sys->render(port.error());
    shutdown();
    throw error_exception(errc::invalid_config,
                          "flag --cluster-port: cannot listen on " + cl.host +
                              ":" + std::to_string(cl.port) + ": " + why);
  }
  d.cluster_port = port->port;
  d.close_cluster_port = std::move(port->close);
  cell->store(d.cluster_port);
  auto address = cl.host + ":" + std::to_string(d.cluster_port);
  caf::anon_send(d.controller, cluster_address_atom::value, address);
  publish_leader(address);
  detail::log_line{detail::log_level::info} << "taking worker nodes on "
                                            << address;
}

void serve::start_worker() {
  auto& d = *impl_;
  // A worker serves no admin API (the head does), and HTTP only as a
  // proxy.
  d.opts.http.enabled = d.opts.http.enabled && d.opts.cluster.proxy;
  d.opts.admin.enabled = false;
  node_hello hello;
  hello.host = host_name();
  hello.pid = static_cast<int64_t>(::getpid());
  hello.resources =
      with_memory(resource_set{d.opts.node.num_cpus, d.opts.node.resources},
                  d.opts.node.memory_bytes);
  d.registry = std::make_shared<detail::node_registry>();
  detail::rejoin_info rejoin;
  rejoin.token = d.opts.cluster.token;
  rejoin.hello = hello;
  rejoin.timeout = d.opts.cluster.join_timeout;
  rejoin.node_id = d.node_id;
  rejoin.orphan_after = d.opts.cluster.orphan_timeout;
  // The same token (or certificates) and path as the first join; the
  // same address, or with `--state-store` the one the leading head
  // published there (a standby that took over elsewhere).
  rejoin.dial = [sys = d.sys.get(), opts = d.opts.cluster,
                 state = d.opts.state]() -> caf::expected<cluster_gate_actor> {
    std::string host;
    uint16_t port = 0;
    if (auto err = split_host_port(leader_address(state, opts.join), host,
                                   port))
      return err;
    auto gate = detail::connect_gate(*sys, opts, host, port);
    if (gate)
      detail::set_cluster_nodelay(port, false);
    return gate;
  };
  auto make_agent = [&d, rejoin](const cluster_gate_actor& gate) {
    auto on_head_lost = [&d] {
      // serve::wait() drains and returns, as on SIGTERM.
      if (d.waiting.load())
        ::kill(::getpid(), SIGTERM);
    };
    return caf::actor_cast<caf::actor>(detail::spawn_node_agent(
        *d.sys, d.registry, gate, rejoin, on_head_lost));
  };
  auto link = detail::join_cluster(*d.sys, d.opts.cluster, std::move(hello),
                                   make_agent);
  if (!link) {
    auto err = std::move(link.error());
    shutdown();
    throw error_exception(code_of(err), message_of(err));
  }
  d.link = std::move(*link);
  d.node_id->store(d.link.node_id);
  detail::log_line{detail::log_level::info}
      << "joined the head at " << d.opts.cluster.join << " as node "
      << d.link.node_id;
  if (d.opts.http.enabled) {
    // The ingress asks this node's agent what it would ask the controller:
    // routes (by name from the head, resolved here), health, status.
    d.http = std::make_unique<detail::http_server>(
        *d.sys, d.opts.http, caf::actor_cast<controller_actor>(d.link.agent));
    // No admin API here: the proxy answers status (the head's, or this
    // node's own while it has no head).
    d.http->answer_status();
    if (auto err = d.http->start()) {
      shutdown();
      throw error_exception(code_of(err), message_of(err));
    }
  }
}

caf::error serve::wait_for_nodes() {
  auto& d = *impl_;
  auto n = d.opts.cluster.expect_nodes;
  if (n == 0 || d.nodes_waited)
    return {};
  d.nodes_waited = true;
  detail::log_line{detail::log_level::info} << "waiting for " << n
                                            << " worker node(s) to join";
  caf::scoped_actor self{*d.sys};
  caf::error failed;
  self->request(d.controller, d.opts.cluster.join_timeout,
                wait_nodes_atom::value, n)
      .receive([](bool) {}, [&](caf::error& err) { failed = std::move(err); });
  if (!failed)
    return {};
  return make_error(errc::unavailable,
                    "flag --expect-nodes: " + std::to_string(n) +
                        " worker node(s) did not join within " +
                        std::to_string(d.opts.cluster.join_timeout.count()) +
                        " ms");
}

} // namespace actorserve
