// Model multiplexing: POST /multi (the header picks the model) and
// POST /models/{model_id}/predict (an ingress routes to a ModelRouter
// deployment through a handle option; the ModelRouter loads its models
// asynchronously from a WeightStore deployment).
#include <chrono>
#include <functional>
#include <thread>

#include "actorserve/actorserve.hpp"
#include "demo.hpp"

using namespace actorserve;
using json = nlohmann::json;

namespace demo {

namespace {

/// A "model": its id and a weight derived from it. Loading takes 50 ms.
struct toy_model {
  std::string id;
  double weight = 1;
};

std::shared_ptr<toy_model> load_toy(const std::string& id) {
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto weight = 1.0 + static_cast<double>(std::hash<std::string>{}(id) % 7);
  return std::make_shared<toy_model>(toy_model{id, weight});
}

/// POST /multi with `serve_multiplexed_model_id: ID`.
http_ingress::behavior_type multi_model(http_ingress::pointer self) {
  auto replica = replica_context_of(self).replica_id;
  auto models = make_multiplexed<toy_model>(
      self, multiplex_options{2}, load_toy,
      [](const std::string&, std::shared_ptr<toy_model>) {});
  http_routes routes;
  routes.post("/", [=](http_request&) -> reply {
    return models.with<http_response>(
        multiplexed_model_id(self), [replica](toy_model& m, bool loaded) {
          return json_response(
              {{"model_id", m.id}, {"replica", replica}, {"loaded", loaded}});
        });
  });
  return {routes.handler()};
}

/// The WeightStore: reads a model's weights (50 ms of blocking I/O).
using weight_store_actor =
    caf::typed_actor<caf::replies_to<std::string>::with<double>>;

weight_store_actor::behavior_type
weight_store(weight_store_actor::pointer self) {
  return {[=](const std::string& id) {
    return run_blocking(self, [id] { return load_toy(id)->weight; });
  }};
}

/// The ModelRouter: predicts x with the model the call names. Its loader is
/// async: it asks the WeightStore and delivers the model when the answer
/// comes, leaving the replica free meanwhile.
using model_router_actor =
    caf::typed_actor<caf::replies_to<double>::with<std::string>>;

model_router_actor::behavior_type
model_router(model_router_actor::pointer self,
             handle<weight_store_actor> store) {
  auto replica = replica_context_of(self).replica_id;
  auto models = make_multiplexed<toy_model>(
      self, multiplex_options{},
      [self, store](const std::string& id, model_promise<toy_model> p) {
        store.call(self, id).then(
            [p, id](double weight) {
              p.deliver(std::make_shared<toy_model>(toy_model{id, weight}));
            },
            [p](caf::error& err) { p.deliver(std::move(err)); });
      },
      [](const std::string&, std::shared_ptr<toy_model>) {});
  return {[=](double x) {
    return models.with<std::string>(multiplexed_model_id(self),
                                    [replica, x](toy_model& m, bool loaded) {
                                      return json{{"model_id", m.id},
                                                  {"prediction", m.weight * x},
                                                  {"replica", replica},
                                                  {"loaded", loaded}}
                                          .dump();
                                    });
  }};
}

/// POST /models/{model_id}/predict: the seed's Ingress -> ModelRouter.
http_ingress::behavior_type model_ingress(http_ingress::pointer self,
                                          handle<model_router_actor> router) {
  http_routes routes;
  routes.post("/:model_id/predict", [=](http_request& req) -> reply {
    auto body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("x") || !body["x"].is_number())
      throw error_exception(errc::bad_request,
                            "the body must be {\"x\": number}");
    call_options opts;
    opts.multiplexed_model_id = req.param("model_id");
    auto rp = self->make_response_promise<http_response>();
    router.options(opts)
        .call(self, body["x"].get<double>())
        .then([=](std::string& text) mutable {
          http_response r;
          r.status = 200;
          r.content_type = "application/json";
          r.body = std::move(text);
          rp.deliver(std::move(r));
        });
    return rp;
  });
  return {routes.handler()};
}

} // namespace

namespace {

auto build_multi(serve& s) {
  return s.deployment("MultiModel", multi_model).num_replicas(2).bind();
}

auto build_models(serve& s) {
  auto store = s.deployment("WeightStore", weight_store).bind();
  auto router =
      s.deployment("ModelRouter", model_router).num_replicas(2).bind(store);
  return s.deployment("ModelIngress", model_ingress).bind(router);
}

} // namespace

caf::error run_multiplexing(serve& s) {
  if (auto h = s.run(build_multi(s), {"multi", "/multi"}); !h)
    return std::move(h.error());
  auto h = s.run(build_models(s), {"models", "/models"});
  return h ? caf::error{} : std::move(h.error());
}

void add_multiplexing_apps(app_registry& apps) {
  apps.add("demo:multi",
           [](serve& s, const nlohmann::json&) { return build_multi(s); });
  apps.add("demo:models",
           [](serve& s, const nlohmann::json&) { return build_models(s); });
}

} // namespace demo
