#include "actorserve/config.hpp"

#include <cmath>

#include <string>

#include <nlohmann/json.hpp>

#include "actorserve/error.hpp"

namespace actorserve {

const char* to_string(execution x) noexcept {
  return x == execution::isolated ? "isolated" : "inline";
}

namespace {

caf::error field_error(const deployment_config& cfg, const char* field,
                       const std::string& what) {
  return make_error(errc::invalid_config,
                    "deployment '" + cfg.name + "': " + field + " " + what);
}

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 128)
    return false;
  for (auto c : name)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'))
      return false;
  return true;
}

} // namespace

caf::error validate(const deployment_config& cfg) {
  if (!valid_name(cfg.name))
    return make_error(errc::invalid_config,
                      "deployment name '" + cfg.name +
                          "' must be 1-128 characters of [A-Za-z0-9_-]");
  if (cfg.num_replicas < 1)
    return field_error(cfg, "num_replicas", "must be >= 1 (got 0)");
  if (cfg.max_ongoing_requests < 1)
    return field_error(cfg, "max_ongoing_requests", "must be >= 1 (got 0)");
  if (cfg.max_queued_requests < -1 || cfg.max_queued_requests == 0)
    return field_error(cfg, "max_queued_requests",
                       "must be -1 (unlimited) or >= 1 (got " +
                           std::to_string(cfg.max_queued_requests) + ")");
  if (!cfg.user_config.empty() && !nlohmann::json::accept(cfg.user_config))
    return field_error(cfg, "user_config", "is not valid JSON");
  if (cfg.health_check_period.count() <= 0)
    return field_error(cfg, "health_check_period_ms", "must be > 0");
  if (cfg.health_check_timeout.count() <= 0)
    return field_error(cfg, "health_check_timeout_ms", "must be > 0");
  if (cfg.graceful_shutdown_timeout.count() < 0)
    return field_error(cfg, "graceful_shutdown_timeout_ms", "must be >= 0");
  if (cfg.startup_timeout.count() <= 0)
    return field_error(cfg, "startup_timeout_ms", "must be > 0");
  if (cfg.reconfigure_timeout.count() <= 0)
    return field_error(cfg, "reconfigure_timeout_ms", "must be > 0");
  if (cfg.max_constructor_retry_count < 1)
    return field_error(cfg, "max_constructor_retry_count", "must be >= 1");
  if (!(cfg.num_cpus >= 0) || !std::isfinite(cfg.num_cpus))
    return field_error(cfg, "num_cpus", "must be a number >= 0");
  for (auto& [resource, amount] : cfg.resources)
    if (resource.empty() || !(amount >= 0) || !std::isfinite(amount))
      return field_error(cfg, "resources",
                         "must map names to numbers >= 0 (got '" + resource +
                             "')");
  if (cfg.max_replicas_per_node > 100)
    return field_error(cfg, "max_replicas_per_node",
                       "must be 1..100, or 0 for no cap (got " +
                           std::to_string(cfg.max_replicas_per_node) + ")");
  if (cfg.version.size() > 256)
    return field_error(cfg, "version", "must be at most 256 characters");
  if (cfg.autoscaling)
    return validate(cfg.name, *cfg.autoscaling);
  return {};
}

bool operator==(const autoscaling_config& x,
                const autoscaling_config& y) noexcept {
  return x.min_replicas == y.min_replicas &&
         x.initial_replicas == y.initial_replicas &&
         x.max_replicas == y.max_replicas &&
         x.target_ongoing_requests == y.target_ongoing_requests &&
         x.upscale_delay == y.upscale_delay &&
         x.downscale_delay == y.downscale_delay &&
         x.upscaling_factor == y.upscaling_factor &&
         x.downscaling_factor == y.downscaling_factor &&
         x.look_back_period == y.look_back_period &&
         x.aggregation_function == y.aggregation_function;
}

caf::error validate(const std::string& name, const autoscaling_config& cfg) {
  auto bad = [&](const char* field, const std::string& what) {
    return make_error(errc::invalid_config, "deployment '" + name +
                                                "': autoscaling_config." +
                                                field + " " + what);
  };
  auto num = [](auto x) { return " (got " + std::to_string(x) + ")"; };
  if (cfg.max_replicas < 1)
    return bad("max_replicas", "must be >= 1" + num(cfg.max_replicas));
  if (cfg.min_replicas > cfg.max_replicas)
    return bad("min_replicas",
               "must be <= max_replicas" + num(cfg.min_replicas));
  if (cfg.initial_replicas && (*cfg.initial_replicas < cfg.min_replicas ||
                               *cfg.initial_replicas > cfg.max_replicas))
    return bad("initial_replicas", "must lie between min_replicas and "
                                   "max_replicas" +
                                       num(*cfg.initial_replicas));
  if (!(cfg.target_ongoing_requests > 0))
    return bad("target_ongoing_requests",
               "must be > 0" + num(cfg.target_ongoing_requests));
  if (cfg.upscale_delay.count() < 0)
    return bad("upscale_delay_s", "must be >= 0");
  if (cfg.downscale_delay.count() < 0)
    return bad("downscale_delay_s", "must be >= 0");
  if (!(cfg.upscaling_factor > 0))
    return bad("upscaling_factor", "must be > 0" + num(cfg.upscaling_factor));
  if (!(cfg.downscaling_factor > 0))
    return bad("downscaling_factor",
               "must be > 0" + num(cfg.downscaling_factor));
  if (cfg.look_back_period.count() <= 0)
    return bad("look_back_period_s", "must be > 0");
  return {};
}

} // namespace actorserve
