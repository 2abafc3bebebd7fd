// The server's flags (flags.hpp), declared by concern.
#include "ops/flags.hpp"

#include <cmath>

#include "actorserve/cluster.hpp"
#include "actorserve/placement.hpp"

namespace actorserve::detail {

namespace {

constexpr int64_t day_ms = 86'400'000;
constexpr int64_t hour_ms = 3'600'000;

/// A range check whose bounds stay out of the help text (it says them).
template <class T>
CLI::Validator in_range(T lo, T hi) {
  CLI::Validator v = CLI::Range(lo, hi);
  v.description("");
  return v;
}

/// A duration flag in milliseconds, 0 to `max`.
void add_ms(CLI::App& app, const char* name, int64_t& x, int64_t max,
            const char* what) {
  app.add_option(name, x, what)
      ->capture_default_str()
      ->check(in_range(int64_t{0}, max));
}

/// Where requests and user code run: addresses, threads, schedulers.
void declare_runtime(CLI::App& app, flag_values& v) {
  auto& o = v.opts;
  app.add_option("--host", o.http.host, "HTTP listen address")
      ->capture_default_str();
  app.add_option("--port", o.http.port, "HTTP port, 0 picks one")
      ->capture_default_str()
      ->check(in_range(0, 65535));
  app.add_option("--http-threads", o.http.threads,
                 "I/O threads, each routing for itself")
      ->capture_default_str()
      ->check(in_range(1, 256));
  app.add_option("--threads", o.system_threads, "system-plane workers")
      ->capture_default_str()
      ->check(in_range(1, 256));
  app.add_option("--user-threads", o.user_threads,
                 "user-plane threads (isolated replicas), more while blocked")
      ->capture_default_str()
      ->check(in_range(1, 256));
  app.add_option("--scheduler", o.scheduler_policy,
                 "workers, sharing or stealing")
      ->capture_default_str();
  app.add_option("--idle-spin-us", v.idle_spin_us,
                 "idle polling before a thread sleeps, microseconds")
      ->capture_default_str()
      ->check(in_range(int64_t{0}, int64_t{1'000'000}));
  app.add_option("--spin-threads", o.spin_threads,
                 "threads that may poll at once, 0 = one per core")
      ->capture_default_str()
      ->check(in_range(0, 1024));
}

/// HTTP limits and timeouts, and streamed responses.
void declare_http(CLI::App& app, flag_values& v) {
  auto& o = v.opts;
  add_ms(app, "--request-timeout-ms", v.request_timeout_ms, day_ms,
         "408 after this many ms, 0 = none");
  app.add_option("--max-body-bytes", o.http.max_body_bytes, "413 above it")
      ->capture_default_str()
      ->check(in_range(size_t{1}, size_t{1} << 32));
  add_ms(app, "--keep-alive-timeout-ms", v.keep_alive_ms, day_ms,
         "time a connection has to send its next whole request");
  app.add_option("--max-connections", o.http.max_connections,
                 "open HTTP connections, over all I/O threads")
      ->capture_default_str()
      ->check(in_range(size_t{1}, size_t{1} << 24));
  app.add_option("--max-pipelined-requests", o.http.max_pipelined_requests,
                 "requests a connection may send ahead of their answers")
      ->capture_default_str()
      ->check(in_range(size_t{2}, size_t{1024}));
  add_ms(app, "--deploy-timeout-ms", v.deploy_timeout_ms, day_ms,
         "how long a deploy or delete may wait to be done");
  add_ms(app, "--drain-timeout-ms", v.drain_timeout_ms, hour_ms,
         "bound on the drain at SIGINT/SIGTERM");
  app.add_option("--stream-window", o.http.stream_window,
                 "chunks a stream may run ahead of an HTTP client")
      ->capture_default_str()
      ->check(in_range(1u, 1u << 20));
  add_ms(app, "--stream-first-chunk-timeout-ms", v.first_chunk_ms, day_ms,
         "end a streamed response without a first chunk, 0 = never");
  add_ms(app, "--stream-idle-timeout-ms", v.stream_idle_ms, day_ms,
         "... or with no chunk for this long");
  app.add_option("--tls-cert", o.http.tls_cert,
                 "HTTPS: the certificate chain (PEM), with --tls-key");
  app.add_option("--tls-key", o.http.tls_key, "its private key (PEM)");
  add_ms(app, "--tls-handshake-timeout-ms", v.tls_handshake_ms, hour_ms,
         "close a TLS connection whose handshake takes longer");
  app.add_flag("--no-http", v.no_http, "no HTTP ingress");
}

/// The admin API, metrics and logs.
void declare_admin(CLI::App& app, flag_values& v) {
  auto& o = v.opts;
  app.add_option("--admin-host", o.admin.host, "admin API address")
      ->capture_default_str();
  app.add_option("--admin-port", o.admin.port, "admin API port, 0 picks one")
      ->capture_default_str()
      ->check(in_range(0, 65535));
  app.add_option("--admin-token-file", v.admin_token_file,
                 "admin requests need 'Authorization: Bearer' this token "
                 "(required off loopback)");
  app.add_option("--admin-max-body-bytes", o.admin.max_body_bytes,
                 "admin API bodies above it get 413")
      ->capture_default_str()
      ->check(in_range(size_t{1}, size_t{1} << 30));
  app.add_flag("--no-admin", v.no_admin, "no admin API");
  app.add_flag("--no-metrics", v.no_metrics,
               "count nothing (GET /-/metrics is empty)");
  app.add_flag("--access-log", o.logging.enable_access_log,
               "a log line per request and per call");
  app.add_option("--log-encoding", o.logging.encoding, "TEXT or JSON")
      ->capture_default_str();
  app.add_option("--log-level", o.logging.level,
                 "DEBUG, INFO, WARNING or ERROR")
      ->capture_default_str();
  app.add_option("--log-file", o.logging.file,
                 "append logs here instead of stderr");
}

/// What this node offers replicas.
void declare_node(CLI::App& app, flag_values& v) {
  auto& o = v.opts;
  app.add_option("--num-cpus", o.node.num_cpus,
                 "CPUs replicas may reserve here")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            try {
              size_t pos = 0;
              auto x = std::stod(text, &pos);
              if (pos == text.size() && std::isfinite(x) && x >= 0)
                return {};
            } catch (const std::exception&) {
              // said below
            }
            return "must be a number >= 0 (got '" + text + "')";
          },
          ""));
  app.add_option("--memory-budget-mb", v.memory_mb,
                 "memory replicas may reserve here, 0 = a quarter of the "
                 "machine's")
      ->capture_default_str()
      ->check(in_range(0.0, 1e9));
  app.add_option("--resources", v.resources,
                 "custom resources offered here, e.g. '{\"accel\": 2}'")
      ->capture_default_str();
}

/// Nodes: the cluster port, joining, heartbeats, TLS.
void declare_cluster(CLI::App& app, flag_values& v) {
  auto& o = v.opts;
  app.add_option("--cluster-port", o.cluster.port,
                 "take worker nodes on this port, 0 picks one (needs a "
                 "token)");
  app.add_option("--cluster-host", o.cluster.host, "cluster port address")
      ->capture_default_str();
  app.add_option("--join", o.cluster.join, "run as a worker node of that head");
  app.add_option("--cluster-token-file", v.token_file,
                 "the cluster token (else ACTORSERVE_CLUSTER_TOKEN)");
  add_ms(app, "--heartbeat-period-ms", v.heartbeat_period_ms, hour_ms,
         "how often the head pings each node");
  add_ms(app, "--heartbeat-timeout-ms", v.heartbeat_timeout_ms, hour_ms,
         "a node silent this long is DEAD");
  add_ms(app, "--cluster-connection-timeout-ms", v.connection_timeout_ms,
         hour_ms,
         "close a cluster connection silent this long, 0: never");
  app.add_option("--rejoin-timeout-ms", v.rejoin_timeout_ms,
                 "deprecated: --orphan-timeout-s in ms (0: never)")
      ->check(in_range(int64_t{0}, hour_ms));
  app.add_option("--cluster-tls-cert", o.cluster.tls_cert,
                 "this node's certificate (TLS between nodes, with the next "
                 "two)");
  app.add_option("--cluster-tls-key", o.cluster.tls_key, "its private key");
  app.add_option("--cluster-tls-ca", o.cluster.tls_ca,
                 "the CA that signs every node's certificate");
  app.add_flag("--proxy", o.cluster.proxy,
               "a worker node serves HTTP too (--host, --port)");
  app.add_option("--expect-nodes", o.cluster.expect_nodes,
                 "the head deploys once N worker nodes joined")
      ->capture_default_str()
      ->check(in_range(0, 1000));
}

/// The head's durable state store and its standby.
void declare_state(CLI::App& app, flag_values& v) {
  auto& o = v.opts;
  app.add_option("--state-dir", o.state.dir,
                 "keep the head's state in DIR/state.db (SQLite)");
  app.add_option("--state-store", o.state.store,
                 "keep it in Redis instead: redis://HOST:PORT/KEYPREFIX "
                 "(a worker: find the leading head there)");
  app.add_option("--state-store-password-file", v.store_password_file,
                 "the Redis password");
  add_ms(app, "--state-store-timeout-ms", v.store_timeout_ms, hour_ms,
         "each store operation's limit");
  add_ms(app, "--recovery-grace-ms", v.recovery_grace_ms, hour_ms,
         "a restarted head waits this long for its workers, 0: auto");
  app.add_flag("--standby", o.state.standby,
               "with --state-store: take over when the leader's lease lapses");
  add_ms(app, "--lease-ttl-ms", v.lease_ttl_ms, hour_ms,
         "the leader's lease, renewed every third of it");
  app.add_option("--orphan-timeout-s", v.orphan_timeout_s,
                 "a worker without a head this long stops and exits, 0: never")
      ->capture_default_str()
      ->check(in_range(int64_t{0}, int64_t{365} * 24 * 3600));
}

} // namespace

void name_values(CLI::App& app) {
  for (auto* opt : app.get_options()) {
    if (opt->get_expected_min() == 0) {
      opt->type_name(""); // a switch
      continue;
    }
    auto name = opt->get_name();
    std::string type = "N";
    if (name.find("host") != std::string::npos)
      type = "ADDR";
    else if (name.size() > 3 && name.compare(name.size() - 3, 3, "-ms") == 0)
      type = "MS";
    else if (name == "--idle-spin-us")
      type = "US";
    else if (name == "--scheduler" || name == "--log-encoding" ||
             name == "--log-level")
      type = "NAME";
    else if (name == "--resources")
      type = "JSON";
    else if (name == "--join")
      type = "HOST:PORT";
    else if (name == "--state-store")
      type = "URL";
    else if (name == "--orphan-timeout-s")
      type = "S";
    else if (name == "--log-file" || name == "--cluster-token-file" ||
             name == "--admin-token-file" || name == "--state-dir" ||
             name == "--state-store-password-file" || name == "--tls-cert" ||
             name == "--tls-key" ||
             name.rfind("--cluster-tls", 0) == 0)
      type = "PATH";
    opt->type_name(type);
  }
}

void declare_flags(CLI::App& app, flag_values& v) {
  declare_runtime(app, v);
  declare_http(app, v);
  declare_admin(app, v);
  declare_node(app, v);
  declare_cluster(app, v);
  declare_state(app, v);
}

caf::error apply_flags(CLI::App& app, flag_values& v) {
  auto& o = v.opts;
  o.idle_spin = std::chrono::microseconds{v.idle_spin_us};
  o.http.request_timeout = std::chrono::milliseconds{v.request_timeout_ms};
  o.drain_timeout = std::chrono::milliseconds{v.drain_timeout_ms};
  o.deploy_timeout = std::chrono::milliseconds{v.deploy_timeout_ms};
  o.http.stream_first_chunk_timeout =
      std::chrono::milliseconds{v.first_chunk_ms};
  o.http.stream_idle_timeout = std::chrono::milliseconds{v.stream_idle_ms};
  o.http.keep_alive_timeout = std::chrono::milliseconds{v.keep_alive_ms};
  o.http.tls_handshake_timeout = std::chrono::milliseconds{v.tls_handshake_ms};
  o.cluster.heartbeat.period = std::chrono::milliseconds{v.heartbeat_period_ms};
  o.cluster.heartbeat.timeout =
      std::chrono::milliseconds{v.heartbeat_timeout_ms};
  o.cluster.connection_timeout =
      std::chrono::milliseconds{v.connection_timeout_ms};
  o.cluster.orphan_timeout = std::chrono::seconds{v.orphan_timeout_s};
  // The old flag, still taken, means the orphan timeout (ms).
  if (app.count("--rejoin-timeout-ms") > 0 &&
      app.count("--orphan-timeout-s") == 0)
    o.cluster.orphan_timeout = std::chrono::milliseconds{v.rejoin_timeout_ms};
  o.state.recovery_grace = std::chrono::milliseconds{v.recovery_grace_ms};
  o.state.lease_ttl = std::chrono::milliseconds{v.lease_ttl_ms};
  o.state.timeout = std::chrono::milliseconds{v.store_timeout_ms};
  if (app.count("--memory-budget-mb") > 0)
    o.node.memory_bytes = v.memory_mb * 1024 * 1024;
  if (v.no_http)
    o.http.enabled = false;
  if (v.no_admin)
    o.admin.enabled = false;
  if (v.no_metrics)
    o.metrics = false;
  if (app.count("--cluster-port") > 0)
    o.cluster.listen = true;
  if (app.count("--resources") > 0)
    if (auto err =
            parse_resources(v.resources, "flag --resources", o.node.resources))
      return err;
  if (app.count("--admin-token-file") > 0)
    if (auto err = read_token_file(v.admin_token_file, "--admin-token-file",
                                   o.admin.token))
      return err;
  if (app.count("--cluster-token-file") > 0)
    if (auto err = read_token_file(v.token_file, "--cluster-token-file",
                                   o.cluster.token))
      return err;
  if (app.count("--state-store-password-file") > 0)
    if (auto err = read_token_file(v.store_password_file,
                                   "--state-store-password-file",
                                   o.state.password))
      return err;
  return {};
}

} // namespace actorserve::detail
