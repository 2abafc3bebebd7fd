#include "actorserve/messages.hpp"
#include "actorserve/stream.hpp"

#include <caf/actor_system_config.hpp>
#include <nlohmann/json.hpp>

#include "actorserve/config.hpp"
#include "actorserve/error.hpp"
#include "actorserve/http_types.hpp"
#include "actorserve/placement.hpp"
#include "base/text.hpp"

namespace actorserve {

const char* to_string(replica_state x) noexcept {
  switch (x) {
  case replica_state::starting:
    return "STARTING";
  case replica_state::ready:
    return "READY";
  case replica_state::draining:
    return "DRAINING";
  case replica_state::stopped:
    return "STOPPED";
  case replica_state::failed:
    return "FAILED";
  }
  return "UNKNOWN";
}

const char* to_string(deployment_state x) noexcept {
  switch (x) {
  case deployment_state::updating:
    return "UPDATING";
  case deployment_state::healthy:
    return "HEALTHY";
  case deployment_state::unhealthy:
    return "UNHEALTHY";
  case deployment_state::deploy_failed:
    return "DEPLOY_FAILED";
  case deployment_state::upscaling:
    return "UPSCALING";
  case deployment_state::downscaling:
    return "DOWNSCALING";
  }
  return "UNKNOWN";
}

const char* to_string(application_state x) noexcept {
  switch (x) {
  case application_state::not_started:
    return "NOT_STARTED";
  case application_state::deploying:
    return "DEPLOYING";
  case application_state::running:
    return "RUNNING";
  case application_state::deploy_failed:
    return "DEPLOY_FAILED";
  case application_state::unhealthy:
    return "UNHEALTHY";
  case application_state::deleting:
    return "DELETING";
  }
  return "UNKNOWN";
}

namespace {

nlohmann::json json_of(const deployment_status& dep) {
  auto reps = nlohmann::json::array();
  for (auto& r : dep.replicas)
    reps.push_back({{"replica_id", r.id},
                    {"state", to_string(r.state)},
                    {"version", r.version},
                    {"ongoing_requests", r.ongoing},
                    {"multiplexed_model_ids", r.multiplexed_model_ids},
                    {"node_id", r.node_id},
                    {"started_at_ms", r.started_at_ms}});
  return {{"status", to_string(dep.state)},
          {"target_replicas", dep.target_replicas},
          {"version", dep.version},
          {"autoscaling", dep.autoscaling},
          {"replicas", reps},
          {"message", dep.message}};
}

} // namespace

std::string to_json(const deployment_status& x) {
  auto out = json_of(x);
  out["name"] = x.name;
  return detail::dump_json(out);
}

std::string to_json(const serve_status& x) {
  auto apps = nlohmann::json::object();
  for (auto& app : x.applications) {
    auto deps = nlohmann::json::object();
    for (auto& dep : app.deployments)
      deps[dep.name] = json_of(dep);
    apps[app.name] = {{"status", to_string(app.state)},
                      {"route_prefix", app.route_prefix},
                      {"ingress", app.ingress},
                      {"deployments", deps},
                      {"message", app.message}};
  }
  auto nodes = nlohmann::json::array();
  for (auto& n : x.nodes) {
    auto res = nlohmann::json{{"num_cpus", n.resources.num_cpus}};
    for (auto& [name, amount] : n.resources.custom)
      res[name] = amount;
    nodes.push_back({{"node_id", n.id},
                     {"role", n.role},
                     {"address", n.address},
                     {"pid", n.pid},
                     {"resources", res},
                     {"state", to_string(n.state)},
                     {"deployments", n.deployments},
                     {"replicas", n.replicas}});
  }
  auto out = nlohmann::json{{"applications", apps}, {"nodes", nodes}};
  // Only a worker without its head says so.
  if (x.head_unreachable_since_ms != 0)
    out["head_unreachable_since_ms"] = x.head_unreachable_since_ms;
  if (!x.store.empty())
    out["state_store"] = {{"address", x.store},
                          {"healthy", x.store_ok},
                          {"error", x.store_error},
                          {"failing_since_ms", x.store_failing_since_ms}};
  return detail::dump_json(out);
}

void register_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<request_meta>("actorserve::request_meta");
  cfg.add_message_type<replica_ref>("actorserve::replica_ref");
  cfg.add_message_type<std::vector<replica_ref>>(
      "std::vector<actorserve::replica_ref>");
  cfg.add_message_type<replica_status>("actorserve::replica_status");
  cfg.add_message_type<deployment_status>("actorserve::deployment_status");
  cfg.add_message_type<application_status>("actorserve::application_status");
  cfg.add_message_type<serve_status>("actorserve::serve_status");
  cfg.add_message_type<http_request>("actorserve::http_request");
  cfg.add_message_type<http_response>("actorserve::http_response");
  cfg.add_message_type<deployment_config>("actorserve::deployment_config");
  cfg.add_message_type<resource_set>("actorserve::resource_set");
  cfg.add_message_type<hosted_replica_report>(
      "actorserve::hosted_replica_report");
  cfg.add_message_type<node_hello>("actorserve::node_hello");
  cfg.add_message_type<node_status>("actorserve::node_status");
  cfg.add_message_type<node_load>("actorserve::node_load");
  cfg.add_message_type<route_name>("actorserve::route_name");
  cfg.add_message_type<std::vector<route_name>>(
      "std::vector<actorserve::route_name>");
  cfg.add_message_type<std::vector<std::string>>("std::vector<std::string>");
  // Vectors of numbers, as deployments pass tensors and token ids.
  cfg.add_message_type<std::vector<int32_t>>("std::vector<int32_t>");
  cfg.add_message_type<std::vector<int64_t>>("std::vector<int64_t>");
  cfg.add_message_type<std::vector<float>>("std::vector<float>");
  cfg.add_message_type<std::vector<double>>("std::vector<double>");
  // Streams of text cross nodes as such (chunks travel as vectors).
  cfg.add_message_type<stream_ref>("actorserve::stream_ref");
  cfg.add_message_type<stream<std::string>>("actorserve::stream<std::string>");
  cfg.add_error_category(error_category, [](uint8_t code, caf::atom_value,
                                            const caf::message& ctx) {
    auto err = caf::error{code, error_category, ctx};
    return std::string{to_string(code_of(err))} + ": " + message_of(err);
  });
}

} // namespace actorserve
