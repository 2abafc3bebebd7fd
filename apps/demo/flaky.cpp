// POST /flaky: replicas that can be made sick or crash, to watch health
// checks replace them (the control-plane demo).
#include <atomic>
#include <memory>
#include <string>

#include "actorserve/actorserve.hpp"
#include "demo.hpp"

using namespace actorserve;
using json = nlohmann::json;

namespace demo {

namespace {

/// POST / answers this replica's id; POST /sick makes its health check fail
/// from now on (three strikes, then it is replaced); POST /crash ends its
/// user code as a fatal error would (it is replaced at once).
http_ingress::behavior_type flaky(http_ingress::pointer self) {
  auto& ctx = replica_context_of(self);
  auto id = ctx.replica_id;
  auto user_config = json::parse(ctx.user_config, nullptr, false);
  auto sick = std::make_shared<std::atomic<bool>>(false);
  on_health_check(self, [sick, id] {
    if (sick->load())
      throw std::runtime_error("replica " + std::to_string(id) +
                               " was made sick");
  });
  http_routes routes;
  routes.post("/", [=](http_request&) -> reply {
    return json_response(
        {{"replica", id}, {"version", "1"}, {"user_config", user_config}});
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

} // namespace

caf::error run_flaky(serve& s) {
  auto app = s.deployment("Flaky", flaky)
                 .num_replicas(2)
                 .health_check(std::chrono::milliseconds(500),
                               std::chrono::milliseconds(300))
                 .bind();
  auto h = s.run(app, {"flaky", "/flaky"});
  return h ? caf::error{} : std::move(h.error());
}

} // namespace demo
