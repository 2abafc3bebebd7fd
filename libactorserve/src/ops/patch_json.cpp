// The admin API's PATCH body as a deployment_patch, every field checked.
#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

#include "actorserve/controller.hpp"
#include "actorserve/error.hpp"
#include "base/text.hpp"

namespace actorserve {

namespace {

using json = nlohmann::json;

struct bad_field {
  std::string message;
};

[[noreturn]] void fail(const std::string& field, const std::string& what) {
  throw bad_field{field + " " + what};
}

uint32_t count_of(const json& v, const std::string& field, uint32_t min) {
  if (!v.is_number_integer())
    fail(field, "must be an integer");
  auto n = v.get<int64_t>();
  if (n < min || n > 1'000'000)
    fail(field, "must be between " + std::to_string(min) +
                    " and 1000000 (got " + std::to_string(n) + ")");
  return static_cast<uint32_t>(n);
}

double number_of(const json& v, const std::string& field) {
  if (!v.is_number())
    fail(field, "must be a number");
  auto x = v.get<double>();
  if (!std::isfinite(x))
    fail(field, "must be finite");
  return x;
}

std::chrono::milliseconds seconds_of(const json& v, const std::string& field) {
  auto s = number_of(v, field);
  if (s < 0 || s > 86'400)
    fail(field, "must be between 0 and 86400 seconds");
  return std::chrono::milliseconds{
      static_cast<int64_t>(std::llround(s * 1000))};
}

autoscaling_config scaling_of(const json& obj) {
  if (!obj.is_object())
    fail("autoscaling_config", "must be an object or null");
  autoscaling_config cfg;
  for (auto& [key, v] : obj.items()) {
    auto field = "autoscaling_config." + key;
    if (key == "min_replicas")
      cfg.min_replicas = count_of(v, field, 0);
    else if (key == "initial_replicas")
      cfg.initial_replicas =
          v.is_null() ? std::optional<uint32_t>{} : count_of(v, field, 0);
    else if (key == "max_replicas")
      cfg.max_replicas = count_of(v, field, 1);
    else if (key == "target_ongoing_requests")
      cfg.target_ongoing_requests = number_of(v, field);
    else if (key == "upscale_delay_s")
      cfg.upscale_delay = seconds_of(v, field);
    else if (key == "downscale_delay_s")
      cfg.downscale_delay = seconds_of(v, field);
    else if (key == "upscaling_factor")
      cfg.upscaling_factor = number_of(v, field);
    else if (key == "downscaling_factor")
      cfg.downscaling_factor = number_of(v, field);
    else if (key == "look_back_period_s")
      cfg.look_back_period = seconds_of(v, field);
    else if (key == "aggregation_function") {
      auto name = v.is_string() ? v.get<std::string>() : std::string{};
      if (name == "mean")
        cfg.aggregation_function = aggregation::mean;
      else if (name == "max")
        cfg.aggregation_function = aggregation::max;
      else if (name == "min")
        cfg.aggregation_function = aggregation::min;
      else
        fail(field, "must be \"mean\", \"max\" or \"min\"");
    } else
      fail(field, "is not a field of autoscaling_config");
  }
  return cfg;
}

} // namespace

caf::expected<autoscaling_config>
autoscaling_from_json(const std::string& text) {
  auto obj = detail::parse_json_text(text);
  if (obj.is_discarded())
    return make_error(errc::invalid_config,
                      "autoscaling_config is not valid JSON");
  try {
    return scaling_of(obj);
  } catch (const bad_field& e) {
    return make_error(errc::invalid_config, e.message);
  }
}

caf::expected<deployment_patch> patch_from_json(const std::string& text) {
  auto body = detail::parse_json_text(text);
  if (body.is_discarded() || !body.is_object())
    return make_error(errc::bad_request,
                      "the body must be a JSON object, nested at most " +
                          std::to_string(detail::max_json_depth) + " levels");
  deployment_patch p;
  try {
    for (auto& [key, v] : body.items()) {
      if (key == "num_replicas")
        p.num_replicas = count_of(v, key, 1);
      else if (key == "user_config")
        p.user_config = detail::dump_json(v);
      else if (key == "version") {
        if (!v.is_string())
          fail(key, "must be a string");
        p.version = v.get<std::string>();
      } else if (key == "max_ongoing_requests")
        p.max_ongoing_requests = count_of(v, key, 1);
      else if (key == "max_queued_requests") {
        if (!v.is_number_integer())
          fail(key, "must be an integer");
        p.max_queued_requests = v.get<int64_t>();
      } else if (key == "autoscaling_config") {
        if (v.is_null())
          p.disable_autoscaling = true;
        else
          p.autoscaling = scaling_of(v);
      } else
        fail(key, "is not a field that can be changed (num_replicas, "
                  "user_config, version, max_ongoing_requests, "
                  "max_queued_requests, autoscaling_config)");
    }
  } catch (const bad_field& e) {
    return make_error(errc::bad_request, e.message);
  }
  return p;
}

} // namespace actorserve
