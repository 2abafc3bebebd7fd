// The control-plane demos: POST /flaky (replicas that can be made sick or
// crash, to watch health checks replace them, and to update in place or by
// a rolling update) and GET /autoscale (a worker the load scales).
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "actorserve/actorserve.hpp"
#include "demo.hpp"

using namespace actorserve;
using json = nlohmann::json;

namespace demo {

namespace {

/// POST / answers this replica's id, version and user_config; POST /sick
/// makes its health check fail from now on (three strikes, then it is
/// replaced); POST /crash ends its user code as a fatal error would (it is
/// replaced at once). A new user_config reaches live replicas through the
/// reconfigure hook.
http_ingress::behavior_type flaky(http_ingress::pointer self) {
  auto& ctx = replica_context_of(self);
  auto id = ctx.replica_id;
  auto version = ctx.version;
  auto config = std::make_shared<json>();
  on_reconfigure(self, [config](const std::string& text) {
    *config = json::parse(text); // valid JSON: the controller checked it
  });
  auto sick = std::make_shared<std::atomic<bool>>(false);
  on_health_check(self, [sick, id] {
    if (sick->load())
      throw std::runtime_error("replica " + std::to_string(id) +
                               " was made sick");
  });
  http_routes routes;
  routes.post("/", [=](http_request&) -> reply {
    return json_response(
        {{"replica", id}, {"version", version}, {"user_config", *config}});
  });
  routes.post("/sick", [=](http_request&) -> reply {
    sick->store(true);
    return json_response({{"replica", id}, {"sick", true}});
  });
  routes.post("/crash", [=](http_request&) -> reply {
    self->quit(make_error(errc::user_error, "crash requested"));
    return json_response({{"replica", id}, {"crashed", true}});
  });
  return {routes.handler()};
}

/// GET /?ms=N sleeps N ms on one of the replica's threads and answers its
/// id: load that the autoscaler sees as requests running.
http_ingress::behavior_type worker(http_ingress::pointer self) {
  auto id = replica_context_of(self).replica_id;
  http_routes routes;
  routes.get("/", [=](http_request& req) -> reply {
    auto ms = sleep_ms_of(req);
    return run_blocking(self, [ms, id] {
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      return json_response({{"replica", id}});
    });
  });
  return {routes.handler()};
}

} // namespace

namespace {

auto build_flaky(serve& s) {
  return s.deployment("Flaky", flaky)
      .num_replicas(2)
      .version("1")
      .user_config(R"({"greeting": "hello"})")
      .health_check(std::chrono::milliseconds(500),
                    std::chrono::milliseconds(300))
      .bind();
}

auto build_autoscale(serve& s) {
  autoscaling_config scaling;
  scaling.min_replicas = 1;
  scaling.max_replicas = 4;
  scaling.target_ongoing_requests = 2;
  scaling.upscale_delay = std::chrono::seconds(1);
  scaling.downscale_delay = std::chrono::seconds(3);
  scaling.look_back_period = std::chrono::seconds(2);
  return s.deployment("Worker", worker).autoscaling(scaling).bind();
}

} // namespace

caf::error run_flaky(serve& s) {
  auto h = s.run(build_flaky(s), {"flaky", "/flaky"});
  return h ? caf::error{} : std::move(h.error());
}

caf::error run_autoscale(serve& s) {
  auto h = s.run(build_autoscale(s), {"autoscale", "/autoscale"});
  return h ? caf::error{} : std::move(h.error());
}

void add_flaky_apps(app_registry& apps) {
  apps.add("demo:flaky",
           [](serve& s, const nlohmann::json&) { return build_flaky(s); });
  apps.add("demo:autoscale",
           [](serve& s, const nlohmann::json&) { return build_autoscale(s); });
}

} // namespace demo
