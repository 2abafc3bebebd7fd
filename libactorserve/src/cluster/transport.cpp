// The cluster's transport: CAF's io middleman behind the head's front
// (front.hpp), or over TLS (CAF's OpenSSL module) when the cluster has
// certificates. Compiled without TLS when the module is missing.
#include <algorithm>
#include <chrono>
#include <future>
#include <memory>

#include <caf/actor_system_config.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>

#if ACTORSERVE_HAS_TLS
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/openssl/remote_actor.hpp>
#endif

#include "actorserve/error.hpp"
#include "cluster/cluster_impl.hpp"
#include "cluster/front.hpp"

namespace actorserve {

bool tls_available() noexcept {
  return ACTORSERVE_HAS_TLS != 0;
}

} // namespace actorserve

namespace actorserve::detail {

void load_transport(caf::actor_system_config& cfg,
                    const cluster_options& opts) {
  cfg.load<caf::io::middleman>();
  // BASP heartbeats keep a live connection busy; one silent for the
  // connection timeout is closed, and every proxy of its peer's actors
  // ends (watches fire, calls there fail at once): a hung or unreachable
  // head or worker is noticed even while its socket stays open.
  if (opts.connection_timeout.count() > 0) {
    cfg.set("middleman.heartbeat-interval",
            caf::timespan{opts.heartbeat.period});
    cfg.set("middleman.connection-timeout",
            caf::timespan{opts.connection_timeout});
  }
#if ACTORSERVE_HAS_TLS
  if (opts.tls()) {
    cfg.load<caf::openssl::manager>();
    cfg.openssl_certificate = opts.tls_cert;
    cfg.openssl_key = opts.tls_key;
    cfg.openssl_cafile = opts.tls_ca;
  }
#else
  static_cast<void>(opts);
#endif
}

caf::expected<published_port> publish_gate(caf::actor_system& sys,
                                           const cluster_gate_actor& gate,
                                           const cluster_options& opts) {
#if ACTORSERVE_HAS_TLS
  if (opts.tls()) {
    auto port = caf::openssl::publish(gate, opts.port, opts.host.c_str(),
                                      /* SO_REUSEADDR: a restarted head
                                         binds while old connections sit
                                         in TIME_WAIT */
                                      true);
    if (!port)
      return std::move(port.error());
    return published_port{*port, {}};
  }
#endif
  cluster_front::settings cfg;
  cfg.host = opts.host;
  cfg.port = opts.port;
  cfg.token = opts.token;
  auto front = cluster_front::start(
      sys, std::move(cfg), caf::actor_cast<caf::strong_actor_ptr>(gate),
      sys.message_types(gate));
  if (!front)
    return std::move(front.error());
  // The gate's end stops the front too, but only after the gate left the
  // system's count of running actors: ~actor_system may then be stopping
  // the middleman while the front's thread still runs. `serve` therefore
  // closes the port itself first; `stop` is idempotent.
  auto f = *front;
  caf::actor_cast<caf::abstract_actor*>(gate)->attach_functor(
      [f] { f->stop(); });
  return published_port{f->port(), [f] { f->stop(); }};
}

caf::expected<cluster_gate_actor> connect_gate(caf::actor_system& sys,
                                               const cluster_options& opts,
                                               const std::string& host,
                                               uint16_t port) {
#if ACTORSERVE_HAS_TLS
  if (opts.tls())
    return caf::openssl::remote_actor<cluster_gate_actor>(sys, host, port);
#endif
  auto timeout = std::min<std::chrono::milliseconds>(opts.join_timeout,
                                                    std::chrono::seconds(5));
  return dial_gate(sys, opts.token, host, port, timeout);
}

namespace {

caf::actor basp_of(caf::actor_system& sys) {
  return sys.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
}

caf::io::basp_broker* as_basp(const caf::actor& handle) {
  return dynamic_cast<caf::io::basp_broker*>(
      caf::actor_cast<caf::abstract_actor*>(handle));
}

} // namespace

void forget_node(caf::actor_system& sys, const caf::node_id& node) {
  if (!node || node == sys.node() || !sys.has_middleman())
    return;
  // The BASP broker exists once a cluster connection was made; its proxy
  // registry is guarded by a mutex of its own.
  auto broker = as_basp(basp_of(sys));
  if (broker != nullptr)
    broker->proxy_registry_ptr()->erase(node);
}

void stop_transport(caf::actor_system& sys) {
  if (!sys.has_middleman())
    return;
  // What ~actor_system waits for first: no actor of ours sends over BASP
  // from here on.
  sys.await_all_actors_done();
  auto& mm = sys.middleman();
  auto& mpx = mm.backend();
  auto done = std::make_shared<std::promise<void>>();
  auto finished = done->get_future();
  mpx.dispatch([handle = basp_of(sys), &mpx, done] {
    auto* broker = as_basp(handle);
    if (broker == nullptr) {
      done->set_value();
      return;
    }
    // As middleman::stop does it (which then skips the ended broker)...
    if (!broker->getf(caf::abstract_actor::is_terminated_flag)) {
      broker->context(&mpx);
      broker->quit();
      broker->finalize();
    }
    // ...plus what abstract_broker::cleanup leaves out: closing the
    // mailbox. What waits there is dropped, and what arrives later (the
    // next heartbeat tick, down messages of the system's own actors) is
    // refused instead of kept by the broker it refers to.
    if (broker->getf(caf::abstract_actor::is_cleaned_up_flag))
      broker->caf::scheduled_actor::cleanup(
          caf::make_error(caf::exit_reason::user_shutdown), &mpx);
    done->set_value();
  });
  // The multiplexer runs until ~actor_system stops it; the broker's end
  // waits only for BASP workers delivering what they already read.
  finished.wait_for(std::chrono::seconds(10));
}

} // namespace actorserve::detail
