/// @file
/// The declarative config file (Ray Serve's `ServeDeploySchema`, in YAML):
/// the server's HTTP, admin and logging options, and the applications to
/// run, each built by an application builder the binary registered under
/// its `import_path`, with per-deployment overrides of what `main()` set.
///
/// ```yaml
/// http_options: {host: 127.0.0.1, port: 8000, request_timeout_s: 3}
/// logging_config: {encoding: JSON, enable_access_log: true}
/// applications:
///   - name: classify
///     route_prefix: /classify
///     import_path: demo:classify
///     args: {tokenizers: 2}
///     deployments:
///       - name: Tokenizer
///         num_replicas: 3
/// ```
///
/// Parsing is a pure function of the text: an unknown key, a wrong type or
/// a value out of range fails with the file, the line and the field's full
/// path (`serve_config.yaml:9: applications[0].deployments[0].num_replicas:
/// must be an integer between 1 and 1000000`). Nothing is ignored.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <nlohmann/json.hpp>

#include "actorserve/autoscaling.hpp"

namespace actorserve {

struct serve_options;

/// What a config changes in one deployment; unset fields keep what the
/// application's builder set.
struct deployment_override {
  std::string name;
  std::optional<uint32_t> num_replicas;
  std::optional<uint32_t> max_ongoing_requests;
  std::optional<int64_t> max_queued_requests;
  /// JSON text.
  std::optional<std::string> user_config;
  std::optional<std::string> version;
  std::optional<autoscaling_config> autoscaling;
  /// `autoscaling_config: null`: a fixed `num_replicas`.
  bool disable_autoscaling = false;
  std::optional<std::chrono::milliseconds> health_check_period;
  std::optional<std::chrono::milliseconds> health_check_timeout;
  std::optional<std::chrono::milliseconds> graceful_shutdown_timeout;
  std::optional<std::chrono::milliseconds> startup_timeout;
  std::optional<std::chrono::milliseconds> reconfigure_timeout;
  /// `ray_actor_options: {num_cpus, resources}`.
  std::optional<double> num_cpus;
  std::optional<std::map<std::string, double>> resources;
  std::optional<uint32_t> max_replicas_per_node;
  /// Where it stands in the file, for errors found later ("no such
  /// deployment").
  std::string where;
};

struct application_config {
  std::string name = "default";
  std::string route_prefix = "/";
  /// The builder's name, as the binary registered it (`app_registry`).
  std::string import_path;
  /// Passed to the builder (a JSON object; empty when absent).
  nlohmann::json args = nlohmann::json::object();
  std::vector<deployment_override> deployments;
  std::string where;
};

struct deploy_config {
  // http_options
  std::optional<std::string> http_host;
  std::optional<uint16_t> http_port;
  std::optional<std::chrono::milliseconds> request_timeout;
  std::optional<std::chrono::milliseconds> keep_alive_timeout;
  // admin_options
  std::optional<std::string> admin_host;
  std::optional<uint16_t> admin_port;
  // logging_config
  std::optional<std::string> log_encoding;
  std::optional<std::string> log_level;
  std::optional<bool> enable_access_log;
  std::vector<application_config> applications;
  /// The config as JSON, as `GET /api/serve/applications/` reports it.
  nlohmann::json source;
};

/// The most bytes a config may have.
constexpr size_t max_config_bytes = 1024 * 1024;
/// The most nodes a config may expand to, each use of an alias counting
/// its whole subtree again (a "billion laughs" is refused, not expanded).
constexpr size_t max_config_nodes = 100'000;
/// The deepest a config may nest.
constexpr size_t max_config_depth = 64;

/// Parses a config from YAML (JSON is YAML too). `file` names it in errors.
/// Fails with `invalid_config`: "FILE:LINE: PATH: what is wrong"; a config
/// over `max_config_bytes`, `max_config_nodes` or `max_config_depth` fails
/// naming the limit, before anything is expanded.
caf::expected<deploy_config> parse_deploy_config(const std::string& text,
                                                 const std::string& file);

/// Reads and parses the file at `path`.
caf::expected<deploy_config> load_deploy_config(const std::string& path);

/// Applies the config's server options (HTTP, admin, logging) over `opts`.
void apply_server_options(const deploy_config& cfg, serve_options& opts);

} // namespace actorserve
