// Server flags and options: parsing, validation and the --help text.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sched.h>
#include <sstream>
#include <thread>

#include "actorserve/error.hpp"
#include "actorserve/placement.hpp"
#include "actorserve/serve.hpp"

namespace actorserve {

namespace {

caf::error flag_error(const std::string& flag, const std::string& what) {
  return make_error(errc::invalid_config, "flag " + flag + ": " + what);
}

template <class T>
caf::error parse_number(const std::string& flag, const std::string& text, T min,
                        T max, T& out) {
  try {
    size_t pos = 0;
    auto value = std::stoll(text, &pos);
    if (pos != text.size())
      return flag_error(flag, "'" + text + "' is not a number");
    if (value < static_cast<long long>(min) ||
        value > static_cast<long long>(max))
      return flag_error(flag, "must be between " + std::to_string(min) +
                                  " and " + std::to_string(max) + " (got " +
                                  text + ")");
    out = static_cast<T>(value);
    return {};
  } catch (const std::exception&) {
    return flag_error(flag, "'" + text + "' is not a number");
  }
}

/// A flag of milliseconds in [0, max].
caf::error parse_ms(const std::string& flag, const std::string& text,
                    int64_t max, std::chrono::milliseconds& out) {
  int64_t ms = 0;
  auto err = parse_number<int64_t>(flag, text, 0, max, ms);
  if (!err)
    out = std::chrono::milliseconds{ms};
  return err;
}

/// A non-negative number of CPUs (fractions allowed).
caf::error parse_cpus(const std::string& flag, const std::string& text,
                      double& out) {
  try {
    size_t pos = 0;
    auto value = std::stod(text, &pos);
    if (pos == text.size() && value >= 0 && std::isfinite(value)) {
      out = value;
      return {};
    }
  } catch (const std::exception&) {
    // reported below
  }
  return flag_error(flag, "must be a number >= 0 (got '" + text + "')");
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

caf::expected<serve_options> parse_options(int argc, const char* const* argv,
                                           serve_options opts,
                                           std::vector<std::string>* rest) {
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    std::string value;
    auto eq = flag.find('=');
    bool has_inline = eq != std::string::npos;
    if (has_inline) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    }
    bool known =
        flag == "--no-http" || flag == "--no-admin" || flag == "--admin-host" ||
        flag == "--admin-port" || flag == "--host" || flag == "--port" ||
        flag == "--http-threads" || flag == "--threads" ||
        flag == "--scheduler" || flag == "--idle-spin-us" ||
        flag == "--spin-threads" || flag == "--request-timeout-ms" ||
        flag == "--max-body-bytes" || flag == "--drain-timeout-ms" ||
        flag == "--stream-window" ||
        flag == "--stream-first-chunk-timeout-ms" ||
        flag == "--stream-idle-timeout-ms" || flag == "--num-cpus" ||
        flag == "--resources" || flag == "--cluster-port" ||
        flag == "--cluster-host" || flag == "--join" ||
        flag == "--cluster-token-file" || flag == "--heartbeat-period-ms" ||
        flag == "--heartbeat-timeout-ms" || flag == "--expect-nodes" ||
        flag == "--cluster-tls-cert" || flag == "--cluster-tls-key" ||
        flag == "--cluster-tls-ca" || flag == "--proxy" ||
        flag == "--no-metrics" || flag == "--access-log" ||
        flag == "--log-encoding" || flag == "--log-level" ||
        flag == "--log-file";
    if (!known && rest != nullptr) {
      rest->emplace_back(argv[i]); // the application's own
      continue;
    }
    auto next = [&]() -> caf::expected<std::string> {
      if (has_inline)
        return value;
      if (i + 1 >= argc)
        return flag_error(flag, "needs a value");
      return std::string{argv[++i]};
    };
    caf::error err;
    if (flag == "--no-http") {
      opts.http.enabled = false;
      continue;
    }
    if (flag == "--no-admin") {
      opts.admin.enabled = false;
      continue;
    }
    if (flag == "--proxy") {
      opts.cluster.proxy = true;
      continue;
    }
    if (flag == "--no-metrics") {
      opts.metrics = false;
      continue;
    }
    if (flag == "--access-log") {
      opts.logging.enable_access_log = true;
      continue;
    }
    if (!known)
      return flag_error(flag, "unknown flag (known: --host, --port, "
                              "--http-threads, --threads, --scheduler, "
                              "--idle-spin-us, --spin-threads, "
                              "--request-timeout-ms, --max-body-bytes, "
                              "--drain-timeout-ms, --stream-window, "
                              "--stream-first-chunk-timeout-ms, "
                              "--stream-idle-timeout-ms, --no-http, "
                              "--admin-host, --admin-port, --no-admin, "
                              "--num-cpus, --resources, --cluster-port, "
                              "--cluster-host, --join, --cluster-token-file, "
                              "--heartbeat-period-ms, --heartbeat-timeout-ms, "
                              "--expect-nodes, --cluster-tls-cert, "
                              "--cluster-tls-key, --cluster-tls-ca, --proxy, "
                              "--no-metrics, --access-log, --log-encoding, "
                              "--log-level, --log-file, --help)");
    auto v = next();
    if (!v)
      return std::move(v.error());
    if (flag == "--host") {
      opts.http.host = *v;
    } else if (flag == "--port") {
      err = parse_number<uint16_t>(flag, *v, 0, 65535, opts.http.port);
    } else if (flag == "--admin-host") {
      opts.admin.host = *v;
    } else if (flag == "--admin-port") {
      err = parse_number<uint16_t>(flag, *v, 0, 65535, opts.admin.port);
    } else if (flag == "--http-threads") {
      err = parse_number<size_t>(flag, *v, 1, 256, opts.http.threads);
    } else if (flag == "--threads") {
      err = parse_number<size_t>(flag, *v, 1, 256, opts.system_threads);
    } else if (flag == "--scheduler") {
      opts.scheduler_policy = *v;
    } else if (flag == "--idle-spin-us") {
      int64_t us = 0;
      err = parse_number<int64_t>(flag, *v, 0, 1'000'000, us);
      opts.idle_spin = std::chrono::microseconds{us};
    } else if (flag == "--spin-threads") {
      err = parse_number<size_t>(flag, *v, 0, 1024, opts.spin_threads);
    } else if (flag == "--request-timeout-ms") {
      err = parse_ms(flag, *v, 86'400'000, opts.http.request_timeout);
    } else if (flag == "--stream-window") {
      err = parse_number<uint32_t>(flag, *v, 1, 1u << 20,
                                   opts.http.stream_window);
    } else if (flag == "--stream-first-chunk-timeout-ms") {
      err =
          parse_ms(flag, *v, 86'400'000, opts.http.stream_first_chunk_timeout);
    } else if (flag == "--stream-idle-timeout-ms") {
      err = parse_ms(flag, *v, 86'400'000, opts.http.stream_idle_timeout);
    } else if (flag == "--max-body-bytes") {
      err = parse_number<size_t>(flag, *v, 1, size_t{1} << 32,
                                 opts.http.max_body_bytes);
    } else if (flag == "--drain-timeout-ms") {
      err = parse_ms(flag, *v, 3'600'000, opts.drain_timeout);
    } else if (flag == "--num-cpus") {
      err = parse_cpus(flag, *v, opts.node.num_cpus);
    } else if (flag == "--resources") {
      err = parse_resources(*v, "flag --resources", opts.node.resources);
    } else if (flag == "--cluster-port") {
      err = parse_number<uint16_t>(flag, *v, 0, 65535, opts.cluster.port);
      opts.cluster.listen = true;
    } else if (flag == "--cluster-host") {
      opts.cluster.host = *v;
    } else if (flag == "--join") {
      opts.cluster.join = *v;
    } else if (flag == "--cluster-token-file") {
      err = read_token_file(*v, flag, opts.cluster.token);
    } else if (flag == "--heartbeat-period-ms") {
      err = parse_ms(flag, *v, 3'600'000, opts.cluster.heartbeat.period);
    } else if (flag == "--heartbeat-timeout-ms") {
      err = parse_ms(flag, *v, 3'600'000, opts.cluster.heartbeat.timeout);
    } else if (flag == "--cluster-tls-cert") {
      opts.cluster.tls_cert = *v;
    } else if (flag == "--cluster-tls-key") {
      opts.cluster.tls_key = *v;
    } else if (flag == "--cluster-tls-ca") {
      opts.cluster.tls_ca = *v;
    } else if (flag == "--log-encoding") {
      opts.logging.encoding = *v;
    } else if (flag == "--log-level") {
      opts.logging.level = *v;
    } else if (flag == "--log-file") {
      opts.logging.file = *v;
    } else if (flag == "--expect-nodes") {
      err =
          parse_number<uint32_t>(flag, *v, 0, 1000, opts.cluster.expect_nodes);
    }
    if (err)
      return err;
  }
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
  }
  if (opts.admin.enabled && opts.admin.host.empty())
    return bad("admin.host", "must not be empty");
  if (opts.drain_timeout.count() < 0)
    return bad("drain_timeout", "must be >= 0");
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
  for (auto& [name, amount] : opts.node.resources)
    if (name.empty() || !(amount >= 0) || !std::isfinite(amount))
      return bad("node.resources", "must map names to numbers >= 0");
  return {};
}

std::string usage_text(const serve_options& d) {
  std::ostringstream out;
  out << "server flags:\n"
      << "  --host ADDR              listen address (" << d.http.host << ")\n"
      << "  --port N                 HTTP port, 0 picks one (" << d.http.port
      << ")\n"
      << "  --http-threads N         I/O threads (" << d.http.threads << ")\n"
      << "  --threads N              system-plane workers (" << d.system_threads
      << ")\n"
      << "  --scheduler NAME         workers, sharing or stealing ("
      << d.scheduler_policy << ")\n"
      << "  --idle-spin-us N         idle polling before a thread sleeps ("
      << d.idle_spin.count() << ")\n"
      << "  --spin-threads N         threads that may poll at once, 0 = one "
         "per "
         "core ("
      << d.spin_threads << ")\n"
      << "  --request-timeout-ms N   408 after N ms, 0 = none ("
      << d.http.request_timeout.count() << ")\n"
      << "  --max-body-bytes N       413 above it (" << d.http.max_body_bytes
      << ")\n"
      << "  --drain-timeout-ms N     bound on the drain at SIGINT/SIGTERM ("
      << d.drain_timeout.count() << ")\n"
      << "  --stream-window N        chunks a stream may run ahead of an "
         "HTTP client ("
      << d.http.stream_window << ")\n"
      << "  --stream-first-chunk-timeout-ms N  end a streamed response "
         "without a first chunk, 0 = never ("
      << d.http.stream_first_chunk_timeout.count() << ")\n"
      << "  --stream-idle-timeout-ms N  ... or with no chunk for N ms ("
      << d.http.stream_idle_timeout.count() << ")\n"
      << "  --no-http                no HTTP ingress\n"
      << "  --admin-host ADDR        admin API address (" << d.admin.host
      << ")\n"
      << "  --admin-port N           admin API port, 0 picks one ("
      << d.admin.port << ")\n"
      << "  --no-admin               no admin API\n"
      << "  --access-log             a log line per request and per call\n"
      << "  --log-encoding E         TEXT or JSON (" << d.logging.encoding
      << ")\n"
      << "  --log-level L            DEBUG, INFO, WARNING or ERROR ("
      << d.logging.level << ")\n"
      << "  --log-file PATH          append logs here instead of stderr\n"
      << "  --no-metrics             count nothing (GET /-/metrics on the "
         "admin API is empty)\n"
      << "  --num-cpus N             CPUs replicas may reserve here ("
      << d.node.num_cpus << ")\n"
      << "  --resources JSON         custom resources offered here, e.g. "
         "'{\"accel\": 2}' ("
      << to_string(resource_set{0, d.node.resources}) << ")\n"
      << "  --cluster-port N         take worker nodes on this port, 0 picks "
         "one (needs a token)\n"
      << "  --cluster-host ADDR      cluster port address (" << d.cluster.host
      << ")\n"
      << "  --join HOST:PORT         run as a worker node of that head\n"
      << "  --cluster-token-file F   the cluster token (else "
         "ACTORSERVE_CLUSTER_TOKEN)\n"
      << "  --heartbeat-period-ms N  how often the head pings each node ("
      << d.cluster.heartbeat.period.count() << ")\n"
      << "  --heartbeat-timeout-ms N a node silent this long is DEAD ("
      << d.cluster.heartbeat.timeout.count() << ")\n"
      << "  --cluster-tls-cert PEM   this node's certificate (TLS between "
         "nodes, with the next two)\n"
      << "  --cluster-tls-key PEM    its private key\n"
      << "  --cluster-tls-ca PEM     the CA that signs every node's "
         "certificate\n"
      << "  --proxy                  a worker node serves HTTP too (--host, "
         "--port)\n"
      << "  --expect-nodes N         the head deploys once N worker nodes "
         "joined ("
      << d.cluster.expect_nodes << ")\n"
      << "  --help                   this text\n";
  if (!d.usage.empty())
    out << d.usage << (d.usage.back() == '\n' ? "" : "\n");
  return out.str();
}

} // namespace actorserve
