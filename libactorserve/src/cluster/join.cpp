// A worker node joining its head: through its front, then the gate.
#include <chrono>
#include <cstdlib>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <thread>

#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actorserve/error.hpp"
#include "cluster/auth.hpp"
#include "cluster/cluster_impl.hpp"

namespace actorserve::detail {

void set_cluster_nodelay(uint16_t port, bool local) {
  auto dir = ::opendir("/proc/self/fd");
  if (dir == nullptr)
    return;
  while (auto entry = ::readdir(dir)) {
    char* end = nullptr;
    auto fd = static_cast<int>(std::strtol(entry->d_name, &end, 10));
    if (end == entry->d_name || *end != '\0')
      continue;
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    int rc = local
                 ? ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len)
                 : ::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    if (rc != 0)
      continue; // not a socket, or not connected
    uint16_t p = 0;
    if (addr.ss_family == AF_INET)
      p = ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    else if (addr.ss_family == AF_INET6)
      p = ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
    else
      continue;
    if (p != port)
      continue;
    int on = 1;
    // Fails harmlessly on the listening socket.
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
  }
  ::closedir(dir);
}

caf::expected<cluster_link> join_cluster(caf::actor_system& sys,
                                         const cluster_options& opts,
                                         node_hello hello,
                                         const agent_factory& make_agent) {
  std::string host;
  uint16_t port = 0;
  if (auto err = split_host_port(opts.join, host, port))
    return err;
  // The head may still be starting: keep trying until the timeout.
  using clock = std::chrono::steady_clock;
  auto give_up = clock::now() + opts.join_timeout;
  caf::expected<cluster_gate_actor> gate{caf::error{}};
  for (;;) {
    gate = connect_gate(sys, opts, host, port);
    if (gate || clock::now() >= give_up)
      break;
    if (code_of(gate.error()) == errc::unauthenticated)
      return std::move(gate.error()); // trying again changes nothing
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!gate)
    return make_error(errc::unavailable, "cannot reach the head at " +
                                             opts.join + ": " +
                                             sys.render(gate.error()));
  set_cluster_nodelay(port, false);
  cluster_link link;
  link.gate = *gate;
  link.agent = make_agent(link.gate);
  hello.agent = link.agent;
  caf::scoped_actor self{sys};
  caf::error failed;
  // The join proves the token over a fresh challenge of the gate's.
  self->request(link.gate, opts.join_timeout, join_challenge_atom::value)
      .receive(
          [&](const std::string& nonce) {
            hello.proof = auth::join_proof(opts.token, nonce);
          },
          [&](caf::error& err) { failed = std::move(err); });
  if (!failed)
    self->request(link.gate, opts.join_timeout, join_atom::value,
                  std::move(hello))
        .receive([&](uint64_t id) { link.node_id = id; },
                 [&](caf::error& err) { failed = std::move(err); });
  if (failed) {
    caf::anon_send_exit(link.agent, caf::exit_reason::user_shutdown);
    if (code_of(failed) == errc::unauthenticated)
      return failed;
    return make_error(errc::unavailable,
                      "the head at " + opts.join +
                          " did not admit this node: " + sys.render(failed));
  }
  return link;
}

caf::error announce_deployments(caf::actor_system& sys,
                                const cluster_link& link, const std::string&,
                                std::vector<std::string> names) {
  caf::scoped_actor self{sys};
  caf::error failed;
  self->request(link.gate, std::chrono::seconds(10),
                node_deployments_atom::value, link.node_id, std::move(names))
      .receive([](bool) {}, [&](caf::error& err) { failed = std::move(err); });
  return failed;
}

} // namespace actorserve::detail
