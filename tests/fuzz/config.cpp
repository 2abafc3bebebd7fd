// The declarative config as the admin API's PUT body carries it (YAML or
// JSON): a config whose every value is in range, or `invalid_config` saying
// where. Memory stays bounded (tools/fuzz runs it under -rss_limit_mb and
// -malloc_limit_mb).
#include <set>

#include "actorserve/config.hpp"
#include "actorserve/deploy_config.hpp"
#include "actorserve/error.hpp"
#include "check.hpp"

using namespace actorserve;

namespace {

const std::string file = "the request body";

void check_deployment(const deployment_override& d, const std::string& text) {
  fuzz::require(!d.where.empty(), "a deployment knows where it stands", text);
  if (d.num_replicas)
    fuzz::require(*d.num_replicas >= 1 && *d.num_replicas <= 1'000'000,
                  "num_replicas is in range", text);
  if (d.max_ongoing_requests)
    fuzz::require(*d.max_ongoing_requests >= 1, "max_ongoing_requests >= 1",
                  text);
  if (d.max_queued_requests)
    fuzz::require(*d.max_queued_requests >= -1, "max_queued_requests >= -1",
                  text);
  if (d.user_config)
    fuzz::require(nlohmann::json::accept(*d.user_config),
                  "user_config is JSON text", text);
  for (auto& t : {d.health_check_period, d.health_check_timeout,
                  d.graceful_shutdown_timeout})
    if (t)
      fuzz::require(t->count() >= 0 && t->count() <= 86'400'000,
                    "durations are 0 to 86400 s", text);
  if (d.autoscaling)
    (void) validate(d.name, *d.autoscaling);
}

void check_config(const deploy_config& cfg, const std::string& text) {
  std::set<std::string> names;
  for (auto& app : cfg.applications) {
    fuzz::require(!app.name.empty(), "an application has a name", text);
    fuzz::require(names.insert(app.name).second, "application names differ",
                  text);
    fuzz::require(app.route_prefix.empty() || app.route_prefix[0] == '/',
                  "a route prefix starts with '/'", text);
    fuzz::require(app.args.is_object(), "args are an object", text);
    std::set<std::string> deps;
    for (auto& d : app.deployments) {
      fuzz::require(deps.insert(d.name).second, "deployment names differ",
                    text);
      check_deployment(d, text);
    }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  caf::expected<deploy_config> cfg{caf::error{}};
  try {
    cfg = parse_deploy_config(text, file);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "exception: %s\n", e.what());
    fuzz::require(false, "parse_deploy_config never throws", text);
  }
  if (!cfg) {
    fuzz::require(code_of(cfg.error()) == errc::invalid_config,
                  "a bad config is invalid_config", text);
    fuzz::require(message_of(cfg.error()).rfind(file + ":", 0) == 0,
                  "the error says where", text);
    return 0;
  }
  check_config(*cfg, text);
  return 0;
}
