// Server flags and options: parsing, validation and the --help text.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sched.h>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>

#include "actorserve/error.hpp"
#include "actorserve/placement.hpp"
#include "actorserve/serve.hpp"
#include "ops/host_check.hpp"

namespace actorserve {

namespace {

caf::error flag_error(const std::string& flag, const std::string& what) {
  return make_error(errc::invalid_config, "flag " + flag + ": " + what);
}

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
        heartbeat_period_ms(d.cluster.heartbeat.period.count()),
        heartbeat_timeout_ms(d.cluster.heartbeat.timeout.count()),
        connection_timeout_ms(d.cluster.connection_timeout.count()),
        rejoin_timeout_ms(d.cluster.rejoin_timeout.count()),
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
  int64_t heartbeat_period_ms;
  int64_t heartbeat_timeout_ms;
  int64_t connection_timeout_ms;
  int64_t rejoin_timeout_ms;
  std::string resources;
  double memory_mb = 0;
  std::string token_file;
  std::string admin_token_file;
  bool no_http = false;
  bool no_admin = false;
  bool no_metrics = false;
};

/// A range check whose bounds stay out of the help text (it says them).
template <class T>
CLI::Validator in_range(T lo, T hi) {
  CLI::Validator v = CLI::Range(lo, hi);
  v.description("");
  return v;
}

/// What `--help` shows as each flag's value.
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
    else if (name == "--log-file" || name == "--cluster-token-file" ||
             name == "--admin-token-file" ||
             name.rfind("--cluster-tls", 0) == 0)
      type = "PATH";
    opt->type_name(type);
  }
}

/// Declares every server flag on `app`, bound to `v`.
void declare(CLI::App& app, flag_values& v) {
  auto& o = v.opts;
  constexpr int64_t day_ms = 86'400'000;
  constexpr int64_t hour_ms = 3'600'000;
  auto ms = [&](const char* name, int64_t& x, int64_t max, const char* what) {
    app.add_option(name, x, what)
        ->capture_default_str()
        ->check(in_range(int64_t{0}, max));
  };
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
  ms("--request-timeout-ms", v.request_timeout_ms, day_ms,
     "408 after this many ms, 0 = none");
  app.add_option("--max-body-bytes", o.http.max_body_bytes, "413 above it")
      ->capture_default_str()
      ->check(in_range(size_t{1}, size_t{1} << 32));
  ms("--keep-alive-timeout-ms", v.keep_alive_ms, day_ms,
     "time a connection has to send its next whole request");
  app.add_option("--max-connections", o.http.max_connections,
                 "open HTTP connections, over all I/O threads")
      ->capture_default_str()
      ->check(in_range(size_t{1}, size_t{1} << 24));
  app.add_option("--max-pipelined-requests", o.http.max_pipelined_requests,
                 "requests a connection may send ahead of their answers")
      ->capture_default_str()
      ->check(in_range(size_t{2}, size_t{1024}));
  ms("--deploy-timeout-ms", v.deploy_timeout_ms, day_ms,
     "how long a deploy or delete may wait to be done");
  ms("--drain-timeout-ms", v.drain_timeout_ms, hour_ms,
     "bound on the drain at SIGINT/SIGTERM");
  app.add_option("--stream-window", o.http.stream_window,
                 "chunks a stream may run ahead of an HTTP client")
      ->capture_default_str()
      ->check(in_range(1u, 1u << 20));
  ms("--stream-first-chunk-timeout-ms", v.first_chunk_ms, day_ms,
     "end a streamed response without a first chunk, 0 = never");
  ms("--stream-idle-timeout-ms", v.stream_idle_ms, day_ms,
     "... or with no chunk for this long");
  app.add_flag("--no-http", v.no_http, "no HTTP ingress");
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
  app.add_option("--cluster-port", o.cluster.port,
                 "take worker nodes on this port, 0 picks one (needs a "
                 "token)");
  app.add_option("--cluster-host", o.cluster.host, "cluster port address")
      ->capture_default_str();
  app.add_option("--join", o.cluster.join, "run as a worker node of that head");
  app.add_option("--cluster-token-file", v.token_file,
                 "the cluster token (else ACTORSERVE_CLUSTER_TOKEN)");
  ms("--heartbeat-period-ms", v.heartbeat_period_ms, hour_ms,
     "how often the head pings each node");
  ms("--heartbeat-timeout-ms", v.heartbeat_timeout_ms, hour_ms,
     "a node silent this long is DEAD");
  ms("--cluster-connection-timeout-ms", v.connection_timeout_ms, hour_ms,
     "close a cluster connection silent this long, 0: never");
  ms("--rejoin-timeout-ms", v.rejoin_timeout_ms, hour_ms,
     "a worker that lost its head tries to join again this long, 0: exit");
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

/// Writes what the flags set back into the options.
caf::error apply(CLI::App& app, flag_values& v) {
  auto& o = v.opts;
  o.idle_spin = std::chrono::microseconds{v.idle_spin_us};
  o.http.request_timeout = std::chrono::milliseconds{v.request_timeout_ms};
  o.drain_timeout = std::chrono::milliseconds{v.drain_timeout_ms};
  o.deploy_timeout = std::chrono::milliseconds{v.deploy_timeout_ms};
  o.http.stream_first_chunk_timeout =
      std::chrono::milliseconds{v.first_chunk_ms};
  o.http.stream_idle_timeout = std::chrono::milliseconds{v.stream_idle_ms};
  o.http.keep_alive_timeout = std::chrono::milliseconds{v.keep_alive_ms};
  o.cluster.heartbeat.period = std::chrono::milliseconds{v.heartbeat_period_ms};
  o.cluster.heartbeat.timeout =
      std::chrono::milliseconds{v.heartbeat_timeout_ms};
  o.cluster.connection_timeout =
      std::chrono::milliseconds{v.connection_timeout_ms};
  o.cluster.rejoin_timeout = std::chrono::milliseconds{v.rejoin_timeout_ms};
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
  return {};
}

} // namespace

size_t available_cores() noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0)
    return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

size_t default_thread_count() noexcept {
  return std::max<size_t>(1, available_cores() / 4);
}

size_t default_user_thread_count() noexcept {
  return std::max<size_t>(1, available_cores() / 2);
}

caf::expected<serve_options> parse_options(int argc, const char* const* argv,
                                           serve_options defaults,
                                           std::vector<std::string>* rest) {
  flag_values v{defaults};
  CLI::App app{"actorserve server"};
  app.set_help_flag(); // serve prints usage_text on --help
  app.allow_extras();
  declare(app, v);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return make_error(errc::invalid_config, std::string{"flag "} + e.what());
  }
  auto extra = app.remaining();
  if (!extra.empty()) {
    if (rest == nullptr)
      return flag_error(extra.front(),
                        "unknown flag (see --help for the known ones)");
    rest->insert(rest->end(), extra.begin(), extra.end()); // the app's own
  }
  if (auto err = apply(app, v))
    return err;
  auto& opts = v.opts;
  auto& cl = opts.cluster;
  if ((cl.listen || !cl.join.empty()) && cl.token.empty())
    if (auto env = std::getenv("ACTORSERVE_CLUSTER_TOKEN"))
      cl.token = env;
  if (auto err = validate(opts))
    return err;
  return opts;
}

caf::error validate(const serve_options& opts) {
  auto bad = [](const char* field, const std::string& what) {
    return make_error(errc::invalid_config,
                      std::string{"serve option "} + field + " " + what);
  };
  if (opts.system_threads < 1)
    return bad("system_threads", "must be >= 1");
  if (opts.user_threads < 1)
    return bad("user_threads", "must be >= 1");
  if (opts.scheduler_policy != "workers" &&
      opts.scheduler_policy != "sharing" && opts.scheduler_policy != "stealing")
    return bad("scheduler_policy", "must be 'workers', 'sharing' or "
                                   "'stealing' (got '" +
                                       opts.scheduler_policy + "')");
  if (opts.http.enabled) {
    if (opts.http.host.empty())
      return bad("http.host", "must not be empty");
    if (opts.http.threads < 1)
      return bad("http.threads", "must be >= 1");
    if (opts.http.max_body_bytes < 1)
      return bad("http.max_body_bytes", "must be >= 1");
    if (opts.http.stream_window < 1)
      return bad("http.stream_window", "must be >= 1");
    if (opts.http.stream_first_chunk_timeout.count() < 0)
      return bad("http.stream_first_chunk_timeout", "must be >= 0");
    if (opts.http.stream_idle_timeout.count() < 0)
      return bad("http.stream_idle_timeout", "must be >= 0");
    if (opts.http.hard_body_limit != 0 &&
        opts.http.hard_body_limit < opts.http.max_body_bytes)
      return bad("http.hard_body_limit", "must be >= http.max_body_bytes");
    if (opts.http.request_timeout.count() < 0)
      return bad("http.request_timeout", "must be >= 0");
    if (opts.http.keep_alive_timeout.count() < 1)
      return bad("http.keep_alive_timeout", "must be >= 1 ms");
    if (opts.http.max_connections < 1)
      return bad("http.max_connections", "must be >= 1");
    if (opts.http.max_pipelined_requests < 2)
      return bad("http.max_pipelined_requests", "must be >= 2");
  }
  if (opts.admin.enabled) {
    if (opts.admin.host.empty())
      return bad("admin.host", "must not be empty");
    if (opts.admin.token.empty() && !detail::is_loopback_host(opts.admin.host))
      return bad("admin.token",
                 "is required when the admin API listens on " +
                     opts.admin.host +
                     ", which is not a loopback address "
                     "(--admin-token-file)");
    if (opts.admin.max_body_bytes < 1)
      return bad("admin.max_body_bytes", "must be >= 1");
  }
  if (opts.drain_timeout.count() < 0)
    return bad("drain_timeout", "must be >= 0");
  if (opts.deploy_timeout.count() < 1)
    return bad("deploy_timeout", "must be >= 1 ms");
  auto& lg = opts.logging;
  if (lg.encoding != "TEXT" && lg.encoding != "JSON")
    return bad("logging.encoding",
               "must be 'TEXT' or 'JSON' (got '" + lg.encoding + "')");
  if (lg.level != "DEBUG" && lg.level != "INFO" && lg.level != "WARNING" &&
      lg.level != "ERROR")
    return bad("logging.level", "must be 'DEBUG', 'INFO', 'WARNING' or "
                                "'ERROR' (got '" +
                                    lg.level + "')");
  if (auto err = validate(opts.cluster))
    return err;
  if (!(opts.node.num_cpus >= 0) || !std::isfinite(opts.node.num_cpus))
    return bad("node.num_cpus", "must be a number >= 0");
  if (!(opts.node.memory_bytes >= 0) || !std::isfinite(opts.node.memory_bytes))
    return bad("node.memory_bytes", "must be a number >= 0");
  for (auto& [name, amount] : opts.node.resources)
    if (name.empty() || !(amount >= 0) || !std::isfinite(amount))
      return bad("node.resources", "must map names to numbers >= 0");
  return {};
}

std::string usage_text(const serve_options& d) {
  flag_values v{d};
  CLI::App app;
  app.set_help_flag(); // declared last, so that it ends the list
  declare(app, v);
  app.add_flag("--help", "this text");
  name_values(app);
  app.get_formatter()->column_width(36);
  // CLI11's own "Usage:" line names no program; the caller prints one.
  auto help = app.help();
  auto at = help.find("Options:\n");
  std::string out = "server flags:\n" +
                    (at == std::string::npos ? help : help.substr(at + 9));
  if (!d.usage.empty())
    out += d.usage + (d.usage.back() == '\n' ? "" : "\n");
  return out;
}

} // namespace actorserve
