// Server options: parsing the flags (flags.hpp), validation and the
// --help text.
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
#include "ops/flags.hpp"
#include "ops/host_check.hpp"

namespace actorserve {

namespace {

caf::error flag_error(const std::string& flag, const std::string& what) {
  return make_error(errc::invalid_config, "flag " + flag + ": " + what);
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
  detail::flag_values v{defaults};
  CLI::App app{"actorserve server"};
  app.set_help_flag(); // serve prints usage_text on --help
  app.allow_extras();
  detail::declare_flags(app, v);
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
  if (auto err = detail::apply_flags(app, v))
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

namespace {

/// The state store's flags: one store, on the head, a standby only with
/// the shared one.
caf::error validate_state(const serve_options& opts) {
  auto bad = [](const std::string& what) {
    return make_error(errc::invalid_config, what);
  };
  auto& st = opts.state;
  if (!st.dir.empty() && !st.store.empty())
    return bad("flag --state-dir: give --state-dir or --state-store, not "
               "both");
  if (st.standby && st.store.empty())
    return bad("flag --standby: needs --state-store redis://... (heads "
               "share their state and lease there)");
  if (!opts.cluster.join.empty() && (!st.dir.empty() || st.standby))
    return bad("flag --state-dir/--standby: only a head keeps a state store; "
               "a worker (--join) may name the shared one (--state-store) "
               "to find the leading head there");
  if (st.enabled() && (st.timeout.count() <= 0 || st.lease_ttl.count() <= 0))
    return bad("flag --state-store-timeout-ms/--lease-ttl-ms: must be > 0");
  return {};
}

} // namespace

caf::error validate(const serve_options& opts) {
  auto bad = [](const char* field, const std::string& what) {
    return make_error(errc::invalid_config,
                      std::string{"serve option "} + field + " " + what);
  };
  if (opts.system_threads < 1)
    return bad("system_threads", "must be >= 1");
  if (auto err = validate_state(opts))
    return err;
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
    if (opts.http.tls_cert.empty() != opts.http.tls_key.empty())
      return bad(opts.http.tls_cert.empty() ? "http.tls_cert" : "http.tls_key",
                 "must be set too: HTTPS takes a certificate and its key "
                 "(--tls-cert, --tls-key)");
    if (opts.http.tls_handshake_timeout.count() < 1)
      return bad("http.tls_handshake_timeout", "must be >= 1 ms");
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
  detail::flag_values v{d};
  CLI::App app;
  app.set_help_flag(); // declared last, so that it ends the list
  detail::declare_flags(app, v);
  app.add_flag("--help", "this text");
  detail::name_values(app);
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
