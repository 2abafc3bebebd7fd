// The admin API's PATCH body (`patch_from_json`) and the autoscaling
// object inside it (`autoscaling_from_json`): a patch whose every field is
// in range, or an error that names the field.
#include <cmath>

#include <nlohmann/json.hpp>

#include "actorserve/controller.hpp"
#include "actorserve/error.hpp"
#include "check.hpp"

using namespace actorserve;

namespace {

// An error names a field of the body (or says the body is not an object).
bool names_a_field(const std::string& msg, const nlohmann::json& body) {
  if (msg.rfind("the body must be a JSON object", 0) == 0)
    return true;
  if (!body.is_object())
    return false;
  for (auto& [key, v] : body.items()) {
    if (msg.rfind(key + " ", 0) == 0)
      return true;
    if (key == "autoscaling_config" && msg.rfind("autoscaling_config", 0) == 0)
      return true;
  }
  return false;
}

void check_scaling(const autoscaling_config& cfg, const std::string& text) {
  fuzz::require(cfg.min_replicas <= 1'000'000 && cfg.max_replicas <= 1'000'000,
                "replica bounds are in range", text);
  fuzz::require(std::isfinite(cfg.target_ongoing_requests) &&
                    std::isfinite(cfg.upscaling_factor) &&
                    std::isfinite(cfg.downscaling_factor),
                "autoscaling numbers are finite", text);
  for (auto d : {cfg.upscale_delay, cfg.downscale_delay, cfg.look_back_period})
    fuzz::require(d.count() >= 0 && d.count() <= 86'400'000,
                  "autoscaling delays are 0 to 86400 s", text);
  // The controller validates before it applies: that never throws.
  (void) validate("fuzz", cfg);
}

void check_patch(const std::string& text) {
  auto body = nlohmann::json::parse(text, nullptr, false);
  auto p = patch_from_json(text);
  if (!p) {
    fuzz::require(code_of(p.error()) == errc::bad_request,
                  "a bad patch is a 400", text);
    auto msg = message_of(p.error());
    fuzz::require(names_a_field(msg, body), "a patch error names the field",
                  text);
    return;
  }
  fuzz::require(body.is_object(), "only an object is a patch", text);
  if (p->num_replicas)
    fuzz::require(*p->num_replicas >= 1 && *p->num_replicas <= 1'000'000,
                  "num_replicas is in range", text);
  if (p->max_ongoing_requests)
    fuzz::require(*p->max_ongoing_requests >= 1, "max_ongoing_requests >= 1",
                  text);
  if (p->user_config)
    fuzz::require(nlohmann::json::accept(*p->user_config),
                  "user_config is JSON text", text);
  if (p->autoscaling)
    check_scaling(*p->autoscaling, text);
}

void check_autoscaling(const std::string& text) {
  auto cfg = autoscaling_from_json(text);
  if (!cfg) {
    fuzz::require(code_of(cfg.error()) == errc::invalid_config,
                  "a bad autoscaling_config is invalid_config", text);
    fuzz::require(message_of(cfg.error()).rfind("autoscaling_config", 0) == 0,
                  "the error names autoscaling_config", text);
    return;
  }
  check_scaling(*cfg, text);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  check_patch(text);
  check_autoscaling(text);
  return 0;
}
