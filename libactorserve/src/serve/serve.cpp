#include "actorserve/serve.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <pthread.h>
#include <set>
#include <utility>

#include <caf/sec.hpp>
#include <unistd.h>
#include <sched.h>
#include <sstream>
#include <thread>

#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <nlohmann/json.hpp>

#include "actorserve/metrics.hpp"
#include "ops/fatal_signal.hpp"
#include "ops/logging.hpp"
#include "serve/serve_impl.hpp"

namespace actorserve {

namespace {

/// Blocks SIGINT and SIGTERM in the calling thread; threads started later
/// inherit the mask, so `wait()` can take the signals with sigwait.
void block_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

} // namespace

serve::serve(serve_options opts) {
  if (auto err = validate(opts))
    throw error_exception(code_of(err), message_of(err));
  if (opts.cluster.tls() && !tls_available())
    throw error_exception(errc::invalid_config,
                          "flag --cluster-tls-cert: this build has no TLS "
                          "(CAF's OpenSSL module was not found)");
  block_signals();
  try {
    detail::configure_logging(opts.logging);
  } catch (const std::exception& e) {
    throw error_exception(errc::invalid_config, "logging.file: cannot open '" +
                                                    opts.logging.file +
                                                    "': " + e.what());
  }
  detail::install_fatal_signal_log(opts.logging.file);
  impl_ = std::make_unique<impl>(std::move(opts));
  impl_->sys = std::make_unique<caf::actor_system>(impl_->cfg);
  if (impl_->opts.metrics)
    detail::set_metrics_of(*impl_->sys, std::make_shared<metrics_registry>());
  if (impl_->worker()) {
    start_worker();
    return;
  }
  auto local = with_memory(
      resource_set{impl_->opts.node.num_cpus, impl_->opts.node.resources},
      impl_->opts.node.memory_bytes);
  // A standby waits here for the leader's lease, before it binds a port.
  if (auto setup = open_state_store())
    impl_->controller = spawn_controller(*impl_->sys, std::move(local),
                                         impl_->opts.cluster.heartbeat,
                                         std::move(setup));
  else
    impl_->controller = spawn_controller(*impl_->sys, std::move(local),
                                         impl_->opts.cluster.heartbeat);
  if (impl_->opts.http.enabled) {
    impl_->http = std::make_unique<detail::http_server>(
        *impl_->sys, impl_->opts.http, impl_->controller);
    if (auto err = impl_->http->start()) {
      shutdown();
      throw error_exception(code_of(err), message_of(err));
    }
  }
  if (impl_->opts.admin.enabled) {
    impl_->admin = std::make_unique<detail::admin_server>(
        *impl_->sys, impl_->opts.admin, impl_->controller);
    impl_->admin->set_hooks(admin_hooks());
    if (auto err = impl_->admin->start()) {
      shutdown();
      throw error_exception(code_of(err), message_of(err));
    }
  }
  if (impl_->opts.cluster.listen)
    open_cluster_port();
}

static serve_options options_or_exit(int argc, char** argv,
                                     serve_options defaults,
                                     std::vector<std::string>* rest) {
  for (int i = 1; i < argc; ++i)
    if (std::string{argv[i]} == "--help" || std::string{argv[i]} == "-h") {
      std::cout << "usage: " << argv[0] << " [flags]\n" << usage_text(defaults);
      std::exit(0);
    }
  auto opts = parse_options(argc, argv, std::move(defaults), rest);
  if (!opts) {
    std::cerr << argv[0] << ": " << message_of(opts.error()) << std::endl;
    std::exit(2);
  }
  return std::move(*opts);
}

serve::serve(int argc, char** argv, serve_options defaults,
             std::vector<std::string>* rest) try
    : serve(options_or_exit(argc, argv, std::move(defaults), rest)) {
} catch (const error_exception& e) {
  // A command-line program: say what is wrong and stop.
  std::cerr << argv[0] << ": " << e.what() << std::endl;
  std::exit(1);
}

serve::~serve() {
  shutdown();
}

caf::expected<endpoint_ptr> serve::run_impl(app_spec spec) {
  if (impl_->worker()) {
    // The same main() runs here: its deployments are registered by name,
    // for the head to place (it decides where replicas run).
    auto& d = *impl_;
    d.registry->add(spec.name, spec.ingress);
    d.link.node_id = d.node_id->load(); // changed if it joined again
    if (auto err = detail::announce_deployments(
            *d.sys, d.link, d.opts.cluster.token, d.registry->names()))
      return err;
    auto& cfg = spec.ingress->config;
    return std::make_shared<endpoint>(
        spec.name, cfg.name, cfg.max_ongoing_requests, cfg.max_queued_requests);
  }
  if (auto err = wait_for_nodes())
    return err;
  caf::scoped_actor self{*impl_->sys};
  caf::error failed;
  auto app = spec.name;
  auto ingress = spec.ingress ? spec.ingress->config.name : std::string{};
  auto limit = impl_->opts.deploy_timeout;
  self->request(impl_->controller, limit, deploy_atom::value, std::move(spec))
      .receive([&](application_status&) {},
               [&](caf::error& err) { failed = std::move(err); });
  if (failed == caf::sec::request_timeout)
    return make_error(errc::deadline_exceeded,
                      "application '" + app + "' was not RUNNING within " +
                          std::to_string(limit.count()) +
                          " ms (deploy_timeout); it goes on deploying, and "
                          "status says where it stands");
  if (failed)
    return failed;
  return find_endpoint(app, ingress);
}

caf::expected<endpoint_ptr>
serve::find_endpoint(const std::string& app, const std::string& deployment) {
  if (!impl_->controller)
    return impl_->no_controller();
  caf::scoped_actor self{*impl_->sys};
  caf::expected<endpoint_ptr> result{endpoint_ptr{}};
  self->request(impl_->controller, impl_->opts.deploy_timeout,
                endpoint_atom::value, app, deployment)
      .receive([&](endpoint_ptr& ep) { result = std::move(ep); },
               [&](caf::error& err) { result = std::move(err); });
  return result;
}

caf::expected<bool> serve::remove(const std::string& app) {
  if (!impl_->controller)
    return impl_->no_controller();
  if (auto err = store_refuses())
    return err;
  caf::scoped_actor self{*impl_->sys};
  caf::expected<bool> result{false};
  self->request(impl_->controller, impl_->opts.deploy_timeout,
                delete_atom::value, app)
      .receive([&](bool ok) { result = ok; },
               [&](caf::error& err) { result = std::move(err); });
  return result;
}

caf::expected<deployment_status>
serve::scale(const std::string& app, const std::string& deployment, uint32_t n,
             std::chrono::milliseconds timeout) {
  if (!impl_->controller)
    return impl_->no_controller();
  if (auto err = store_refuses())
    return err;
  caf::scoped_actor self{*impl_->sys};
  caf::expected<deployment_status> result{deployment_status{}};
  self->request(impl_->controller, timeout, scale_atom::value, app, deployment,
                n)
      .receive([&](deployment_status& st) { result = std::move(st); },
               [&](caf::error& err) { result = std::move(err); });
  return result;
}

caf::expected<deployment_status>
serve::update(const std::string& app, const std::string& deployment,
              deployment_patch patch, std::chrono::milliseconds timeout) {
  if (!impl_->controller)
    return impl_->no_controller();
  if (auto err = store_refuses())
    return err;
  caf::scoped_actor self{*impl_->sys};
  caf::expected<deployment_status> result{deployment_status{}};
  self->request(impl_->controller, timeout, update_atom::value, app, deployment,
                std::move(patch), true)
      .receive([&](deployment_status& st) { result = std::move(st); },
               [&](caf::error& err) { result = std::move(err); });
  return result;
}

caf::expected<serve_status> serve::status(std::chrono::milliseconds timeout) {
  if (!impl_->controller)
    return impl_->no_controller();
  caf::scoped_actor self{*impl_->sys};
  caf::expected<serve_status> result{serve_status{}};
  self->request(impl_->controller, timeout, status_atom::value)
      .receive([&](serve_status& st) { result = std::move(st); },
               [&](caf::error& err) { result = std::move(err); });
  return result;
}

uint16_t serve::http_port() const noexcept {
  return impl_->http ? impl_->http->port() : 0;
}

uint16_t serve::admin_port() const noexcept {
  return impl_->admin ? impl_->admin->port() : 0;
}

uint16_t serve::cluster_port() const noexcept {
  return impl_->cluster_port;
}

uint64_t serve::node_id() const noexcept {
  return impl_->node_id->load();
}

const serve_options& serve::options() const noexcept {
  return impl_->opts;
}

caf::actor_system& serve::system() noexcept {
  return *impl_->sys;
}

controller_actor serve::controller() const {
  return impl_->controller;
}

void serve::shutdown() {
  if (!impl_ || impl_->stopped)
    return;
  impl_->stopped = true;
  auto& d = *impl_;
  // One deadline for the whole drain, whatever user code does.
  using clock = std::chrono::steady_clock;
  auto deadline = clock::now() + d.opts.drain_timeout;
  auto left = [deadline] {
    return std::max(std::chrono::milliseconds{0},
                    std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - clock::now()));
  };
  // 1. Stop taking new HTTP requests and admin changes; let the requests
  //    in flight finish.
  if (d.admin)
    d.admin->stop();
  if (d.http) {
    d.http->begin_drain();
    d.http->wait_idle(left());
  }
  // 2. Drain and stop every replica (each within its
  //    graceful_shutdown_timeout), for what is left of the drain timeout.
  if (d.controller) {
    caf::scoped_actor self{*d.sys};
    self->request(d.controller, left() + std::chrono::milliseconds(100),
                  shutdown_atom::value)
        .receive([](bool) {}, [](caf::error&) {});
  }
  // 3. Stop the ingress (requests still waiting get 503) and the
  //    controller, which ends every replica with it; the actor system then
  //    joins.
  if (d.http)
    d.http->stop();
  // The cluster front's thread hands sockets to the middleman: it ends
  // here, while the actor system is whole, not in the gate's exit, which
  // runs after ~actor_system may have begun stopping the middleman.
  if (d.close_cluster_port)
    std::exchange(d.close_cluster_port, nullptr)();
  if (d.controller)
    caf::anon_send_exit(d.controller, caf::exit_reason::user_shutdown);
  if (d.gate)
    caf::anon_send_exit(d.gate, caf::exit_reason::user_shutdown);
  if (d.admin)
    d.admin->join_changes(); // they end now that the controller is gone
  if (d.link.agent)
    caf::anon_send_exit(d.link.agent, caf::exit_reason::user_shutdown);
  close_state_store();
  d.controller = nullptr;
  d.gate = nullptr;
  d.link = {};
  if (d.sys) {
    detail::set_metrics_of(*d.sys, nullptr);
    detail::stop_transport(*d.sys); // after every actor, before the system
  }
  d.sys.reset();
}

int serve::wait() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  impl_->waiting = true;
  sigwait(&set, &sig);
  detail::log_line{detail::log_level::info}
      << "received " << (sig == SIGINT ? "SIGINT" : "SIGTERM")
      << ", draining in-flight requests (a second signal stops at once)";
  // The drain is bounded; a thread stuck in user code must not hold the
  // process past it, and a second signal ends it at once.
  std::atomic<bool> done{false};
  auto limit = impl_->opts.drain_timeout + std::chrono::seconds(2);
  std::thread watchdog{[&done, set, limit] {
    using clock = std::chrono::steady_clock;
    auto end = clock::now() + limit;
    while (!done.load()) {
      auto now = clock::now();
      if (now >= end) {
        detail::log_line{detail::log_level::warning}
            << "the drain did not finish within " << limit.count()
            << " ms; exiting, abandoning threads still in user code";
        std::_Exit(1);
      }
      auto slice =
          std::min<clock::duration>(end - now, std::chrono::milliseconds(50));
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(slice);
      timespec ts{static_cast<time_t>(ns.count() / 1'000'000'000),
                  static_cast<long>(ns.count() % 1'000'000'000)};
      int second = sigtimedwait(&set, nullptr, &ts);
      if (second == SIGINT || second == SIGTERM) {
        detail::log_line{detail::log_level::warning}
            << "received a second signal, stopping at once";
        std::_Exit(128 + second);
      }
    }
  }};
  shutdown();
  done = true;
  watchdog.join();
  return 0;
}

int serve::fail(const caf::error& err) {
  detail::log_line{detail::log_level::error} << message_of(err);
  return 1;
}

} // namespace actorserve
