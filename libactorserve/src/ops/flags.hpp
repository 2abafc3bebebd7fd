/// @file
/// The server's flags (private to the library): each flag declared on a
/// CLI11 app, bound to the values it sets (`flag_values`, in the units
/// flags use), and written back into `serve_options`. options.cpp parses
/// with them and prints them as `--help`.
#pragma once

#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>
#include <caf/error.hpp>

#include "actorserve/serve.hpp"

namespace actorserve::detail {

/// The values flags set, in the units flags use, read from and written
/// back to `serve_options`.
struct flag_values {
  explicit flag_values(const serve_options& d)
      : opts(d), idle_spin_us(d.idle_spin.count()),
        request_timeout_ms(d.http.request_timeout.count()),
        drain_timeout_ms(d.drain_timeout.count()),
        deploy_timeout_ms(d.deploy_timeout.count()),
        first_chunk_ms(d.http.stream_first_chunk_timeout.count()),
        stream_idle_ms(d.http.stream_idle_timeout.count()),
        keep_alive_ms(d.http.keep_alive_timeout.count()),
        tls_handshake_ms(d.http.tls_handshake_timeout.count()),
        heartbeat_period_ms(d.cluster.heartbeat.period.count()),
        heartbeat_timeout_ms(d.cluster.heartbeat.timeout.count()),
        connection_timeout_ms(d.cluster.connection_timeout.count()),
        orphan_timeout_s(d.cluster.orphan_timeout.count() / 1000),
        recovery_grace_ms(d.state.recovery_grace.count()),
        lease_ttl_ms(d.state.lease_ttl.count()),
        store_timeout_ms(d.state.timeout.count()),
        resources(d.node.resources.empty()
                      ? std::string{"{}"}
                      : to_string(resource_set{0, d.node.resources})) {}

  serve_options opts;
  int64_t idle_spin_us;
  int64_t request_timeout_ms;
  int64_t drain_timeout_ms;
  int64_t deploy_timeout_ms;
  int64_t first_chunk_ms;
  int64_t stream_idle_ms;
  int64_t keep_alive_ms;
  int64_t tls_handshake_ms;
  int64_t heartbeat_period_ms;
  int64_t heartbeat_timeout_ms;
  int64_t connection_timeout_ms;
  /// `--rejoin-timeout-ms`, the orphan timeout's deprecated alias.
  int64_t rejoin_timeout_ms = 0;
  int64_t orphan_timeout_s;
  int64_t recovery_grace_ms;
  int64_t lease_ttl_ms;
  int64_t store_timeout_ms;
  std::string store_password_file;
  std::string resources;
  double memory_mb = 0;
  std::string token_file;
  std::string admin_token_file;
  bool no_http = false;
  bool no_admin = false;
  bool no_metrics = false;
};

/// Declares every server flag on `app`, bound to `v`, in --help's order.
void declare_flags(CLI::App& app, flag_values& v);

/// What `--help` shows as each flag's value.
void name_values(CLI::App& app);

/// Writes what the flags set back into `v.opts`.
caf::error apply_flags(CLI::App& app, flag_values& v);

} // namespace actorserve::detail
