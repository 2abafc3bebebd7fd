#include "ingress/http_server.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <sys/resource.h>

#include <caf/send.hpp>

#include "ops/logging.hpp"
#include "ingress/shard.hpp"

namespace actorserve::detail {

/// The server is its shards and the state they share (shard.hpp).
struct http_server::impl : ingress_state {
  using ingress_state::ingress_state;
};

http_server::http_server(caf::actor_system& sys, http_options opts,
                         controller_actor controller)
    : impl_(std::make_unique<impl>(sys, std::move(opts),
                                   std::move(controller))) {}

http_server::~http_server() {
  stop();
}

void http_server::answer_status() {
  impl_->answers_status = true;
}

namespace {

/// SO_REUSEPORT would let us share a port that another server of this user
/// holds; bind once without it to make sure the port is free.
void check_port_free(const std::string& host, uint16_t port) {
  if (port == 0)
    return;
  asio::io_context ioc;
  asio::ip::tcp::acceptor probe{ioc};
  asio::ip::tcp::endpoint ep{asio::ip::make_address(host), port};
  probe.open(ep.protocol());
  probe.set_option(asio::ip::tcp::acceptor::reuse_address(true));
  probe.bind(ep);
}

/// Descriptors held back from client connections: the cluster's, the admin
/// API's, log files, and what user code opens.
constexpr rlim_t reserved_descriptors = 256;

/// Raises the soft descriptor limit to the hard one, and returns how many
/// connections the rest allows.
size_t raise_descriptor_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0)
    return SIZE_MAX;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0)
      lim = raised;
  }
  if (lim.rlim_cur == RLIM_INFINITY)
    return SIZE_MAX;
  auto cur = static_cast<size_t>(lim.rlim_cur);
  return cur > 2 * reserved_descriptors ? cur - reserved_descriptors
                                        : std::max<size_t>(1, cur / 2);
}

} // namespace

caf::error http_server::start() {
  auto& d = *impl_;
  d.connection_cap = raise_descriptor_limit();
  if (d.opts.max_connections > d.connection_cap)
    log_warning("http: fewer descriptors than --max-connections; the "
                "listeners accept fewer",
                {{"max_connections", d.opts.max_connections},
                 {"connections_allowed", d.connection_cap}});
  if (d.opts.tls()) {
    auto ctx = load_tls_context(d.opts.tls_cert, d.opts.tls_key, "--tls");
    if (!ctx)
      return std::move(ctx.error());
    d.tls = std::move(*ctx);
  }
  try {
    check_port_free(d.opts.host, d.opts.port);
    for (size_t i = 0; i < d.opts.threads; ++i) {
      d.shards.push_back(std::make_unique<ingress_shard>(d, i));
      auto reg = metrics_of(d.sys);
      if (reg || access_log_on())
        d.shards.back()->metrics = std::make_unique<http_metrics>(reg);
      // Shard 0 binds the port (0 picks one); the others join it.
      d.shards.back()->open(i == 0 ? d.opts.port : d.port.load());
    }
  } catch (const std::exception& e) {
    for (auto& s : d.shards)
      s->stop();
    d.shards.clear();
    return make_error(errc::invalid_config,
                      "http: cannot listen on " + d.opts.host + ":" +
                          std::to_string(d.opts.port) + ": " + e.what());
  }
  for (auto& s : d.shards)
    s->run();
  caf::anon_send(d.controller, routes_atom::value, d.shards.front()->companion);
  return {};
}

uint16_t http_server::port() const noexcept {
  return impl_->port.load();
}

void http_server::begin_drain() {
  impl_->draining = true;
}

bool http_server::wait_idle(std::chrono::milliseconds timeout) {
  auto& d = *impl_;
  std::unique_lock<std::mutex> guard{d.idle_mtx};
  return d.idle_cv.wait_for(guard, timeout, [&] { return d.in_flight() == 0; });
}

void http_server::stop() {
  auto& d = *impl_;
  if (d.stopped)
    return;
  d.stopped = true;
  for (auto& s : d.shards)
    s->stop();
  d.shards.clear();
}

} // namespace actorserve::detail
