#include "actorserve/config.hpp"

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
  if (cfg.max_constructor_retry_count < 1)
    return field_error(cfg, "max_constructor_retry_count", "must be >= 1");
  return {};
}

} // namespace actorserve
