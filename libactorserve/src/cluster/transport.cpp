// The cluster's transport: CAF's io middleman, over TLS (CAF's OpenSSL
// module) when the cluster has certificates. Compiled without TLS when the
// module is missing.
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>

#if ACTORSERVE_HAS_TLS
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/openssl/remote_actor.hpp>
#endif

#include "actorserve/error.hpp"
#include "cluster_impl.hpp"

namespace actorserve {

bool tls_available() noexcept {
  return ACTORSERVE_HAS_TLS != 0;
}

} // namespace actorserve

namespace actorserve::detail {

void load_transport(caf::actor_system_config& cfg,
                    const cluster_options& opts) {
  cfg.load<caf::io::middleman>();
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

caf::expected<uint16_t> publish_gate(caf::actor_system& sys,
                                     const cluster_gate_actor& gate,
                                     const cluster_options& opts) {
#if ACTORSERVE_HAS_TLS
  if (opts.tls())
    return caf::openssl::publish(gate, opts.port, opts.host.c_str());
#endif
  return sys.middleman().publish(gate, opts.port, opts.host.c_str());
}

caf::expected<cluster_gate_actor> connect_gate(caf::actor_system& sys,
                                               const cluster_options& opts,
                                               const std::string& host,
                                               uint16_t port) {
#if ACTORSERVE_HAS_TLS
  if (opts.tls())
    return caf::openssl::remote_actor<cluster_gate_actor>(sys, host, port);
#else
  static_cast<void>(opts);
#endif
  return sys.middleman().remote_actor<cluster_gate_actor>(host, port);
}

} // namespace actorserve::detail
