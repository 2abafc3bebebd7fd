// Cluster options and tokens.
#include "actorserve/cluster.hpp"

#include <fstream>
#include <iostream>
#include <sstream>

#include <caf/actor_system.hpp>

#include "actorserve/controller.hpp"
#include "actorserve/error.hpp"
#include "cluster/cluster_impl.hpp"

namespace actorserve {

namespace {

bool loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" ||
         host.rfind("127.", 0) == 0;
}

caf::error flag_error(const std::string& flag, const std::string& what) {
  return make_error(errc::invalid_config, "flag " + flag + ": " + what);
}

} // namespace

caf::error validate(const cluster_options& opts) {
  if (opts.listen && !opts.join.empty())
    return flag_error("--join", "a worker node opens no cluster port "
                                "(drop --cluster-port)");
  if (opts.listen && opts.token.empty())
    return flag_error("--cluster-port",
                      std::string{"needs a cluster token (--cluster-token-file "
                                  "PATH or ACTORSERVE_CLUSTER_TOKEN)"} +
                          (loopback(opts.host)
                               ? ""
                               : "; the head never opens a cluster port "
                                 "beyond loopback without one"));
  if (opts.listen && opts.host.empty())
    return flag_error("--cluster-host", "must not be empty");
  if (opts.heartbeat.period.count() <= 0)
    return flag_error("--heartbeat-period-ms", "must be > 0");
  if (opts.heartbeat.timeout.count() <= 0)
    return flag_error("--heartbeat-timeout-ms", "must be > 0");
  if (opts.connection_timeout.count() != 0 &&
      opts.connection_timeout <= opts.heartbeat.timeout)
    return flag_error("--cluster-connection-timeout-ms",
                      "must be 0 (never) or longer than "
                      "--heartbeat-timeout-ms");
  if (opts.proxy && opts.join.empty())
    return flag_error("--proxy", "only a worker node (--join) takes it; the "
                                 "head serves HTTP anyway");
  if (opts.expect_nodes > 0 && !opts.listen)
    return flag_error("--expect-nodes", "needs --cluster-port (only a head "
                                        "takes nodes)");
  auto set =
      !opts.tls_cert.empty() + !opts.tls_key.empty() + !opts.tls_ca.empty();
  if (set != 0 && set != 3)
    return flag_error(opts.tls_cert.empty()  ? "--cluster-tls-cert"
                      : opts.tls_key.empty() ? "--cluster-tls-key"
                                             : "--cluster-tls-ca",
                      "TLS needs all of --cluster-tls-cert, "
                      "--cluster-tls-key and --cluster-tls-ca");
  for (auto [flag, path] : {std::pair{"--cluster-tls-cert", &opts.tls_cert},
                            std::pair{"--cluster-tls-key", &opts.tls_key},
                            std::pair{"--cluster-tls-ca", &opts.tls_ca}})
    if (!path->empty() && !std::ifstream{*path})
      return flag_error(flag, "cannot read '" + *path + "'");
  if (!opts.join.empty()) {
    std::string host;
    uint16_t port = 0;
    if (auto err = split_host_port(opts.join, host, port))
      return err;
  }
  return {};
}

caf::error split_host_port(const std::string& text, std::string& host,
                           uint16_t& port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    return flag_error("--join", "expected HOST:PORT (got '" + text + "')");
  try {
    size_t pos = 0;
    auto n = std::stoul(text.substr(colon + 1), &pos);
    if (pos != text.size() - colon - 1 || n == 0 || n > 65535)
      throw std::out_of_range{"port"};
    port = static_cast<uint16_t>(n);
  } catch (const std::exception&) {
    return flag_error("--join", "expected HOST:PORT with a port 1..65535 "
                                "(got '" +
                                    text + "')");
  }
  host = text.substr(0, colon);
  return {};
}

caf::error read_token_file(const std::string& path, const std::string& flag,
                           std::string& out) {
  std::ifstream in{path};
  if (!in)
    return flag_error(flag, "cannot read '" + path + "'");
  std::stringstream text;
  text << in.rdbuf();
  auto s = text.str();
  auto first = s.find_first_not_of(" \t\r\n");
  auto last = s.find_last_not_of(" \t\r\n");
  if (first == std::string::npos)
    return flag_error(flag, "'" + path + "' is empty");
  out = s.substr(first, last - first + 1);
  return {};
}

bool same_token(const std::string& x, const std::string& y) noexcept {
  // Every byte of the longer one is looked at, whatever differs.
  auto n = std::max(x.size(), y.size());
  unsigned char diff = x.size() == y.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    auto a = i < x.size() ? static_cast<unsigned char>(x[i]) : 0;
    auto b = i < y.size() ? static_cast<unsigned char>(y[i]) : 0;
    diff = static_cast<unsigned char>(diff | (a ^ b));
  }
  return diff == 0;
}

const char* to_string(node_state x) noexcept {
  return x == node_state::alive ? "ALIVE" : "DEAD";
}

} // namespace actorserve
