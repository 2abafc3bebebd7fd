// POST /batch: dynamic batching. A model whose cost is a fixed 5 ms plus
// 0.1 ms per item, so that batching visibly pays.
#include <chrono>
#include <thread>

#include "actorserve/actorserve.hpp"
#include "demo.hpp"

using namespace actorserve;
using json = nlohmann::json;

namespace demo {

namespace {

http_ingress::behavior_type batcher(http_ingress::pointer self) {
  batch_options opts; // Ray's defaults: 10 items, 10 ms, one batch at a time
  auto model = make_blocking_batch<
      double, http_response>(self, opts, [](std::vector<double> xs) {
    // The model: one forward pass for the whole batch.
    std::this_thread::sleep_for(std::chrono::microseconds(
        5000 + 100 * static_cast<int64_t>(xs.size())));
    std::vector<http_response> out;
    for (auto x : xs)
      out.push_back(json_response({{"y", 2 * x}, {"batch_size", xs.size()}}));
    return out;
  });
  // The batch parameters follow the deployment's user_config.
  on_reconfigure(self, [model](const std::string& text) {
    auto cfg = json::parse(text);
    if (!cfg.is_object())
      return;
    auto opts = model.options();
    opts.max_batch_size = cfg.value("max_batch_size", opts.max_batch_size);
    opts.batch_wait_timeout = std::chrono::milliseconds(
        cfg.value("batch_wait_timeout_ms",
                  static_cast<int64_t>(opts.batch_wait_timeout.count())));
    model.set_options(opts);
  });
  http_routes routes;
  routes.post("/", [=](http_request& req) -> reply {
    auto body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("x") || !body["x"].is_number())
      throw error_exception(errc::bad_request,
                            "the body must be {\"x\": number}");
    return model(body["x"].get<double>());
  });
  return {routes.handler()};
}

} // namespace

namespace {

auto build_batching(serve& s) {
  // Enough calls at once to fill batches: a replica admits 64.
  return s.deployment("Batcher", batcher).max_ongoing_requests(64).bind();
}

} // namespace

caf::error run_batching(serve& s) {
  auto h = s.run(build_batching(s), {"batch", "/batch"});
  return h ? caf::error{} : std::move(h.error());
}

void add_batching_apps(app_registry& apps) {
  apps.add("demo:batch",
           [](serve& s, const nlohmann::json&) { return build_batching(s); });
}

} // namespace demo
