#include "demo.hpp"
#include "sentiment.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "actorserve/actorserve.hpp"

using namespace actorserve;
using json = nlohmann::json;

namespace demo {

namespace {

/// Integral values print as integers ("8", not "8.0").
json number(double x) {
  if (std::floor(x) == x && std::fabs(x) < 1e15)
    return static_cast<int64_t>(x);
  return x;
}

// -- /classify: Classifier -> Tokenizer
// ------------------------------------------

using tokenizer_actor =
    caf::typed_actor<caf::replies_to<std::string>::with<std::vector<int32_t>>>;

using classifier_actor =
    caf::typed_actor<caf::replies_to<http_request>::with<http_response>,
                     caf::replies_to<std::vector<int32_t>>::with<std::string>>;

tokenizer_actor::behavior_type tokenizer(tokenizer_actor::pointer) {
  return {[](const std::string& text) { return model().tokenize(text); }};
}

classifier_actor::behavior_type classifier(classifier_actor::pointer self,
                                           handle<tokenizer_actor> tok) {
  // A metric of the application's own, in GET /-/metrics on the admin API
  // with this replica's deployment, replica and application labels.
  auto labels = std::make_shared<std::unordered_map<std::string, counter>>();
  for (auto label : {"positive", "negative", "neutral"})
    (*labels)[label] =
        make_counter(self, "demo_classifications_total",
                     "Texts the demo classified, by label", {{"label", label}});
  return {
      [=](http_request& req) -> reply {
        auto text = json_field<std::string>(parse_json(req), "text");
        auto rp = self->make_response_promise<http_response>();
        // An error of the call answers the request by itself.
        tok.call(self, text).then([=](std::vector<int32_t>& tokens) mutable {
          auto label = model().classify(tokens);
          (*labels)[label].inc();
          rp.deliver(json_response({{"label", label}, {"tokens", tokens}}));
        });
        return rp;
      },
      [](const std::vector<int32_t>& tokens) {
        return model().classify(tokens);
      },
  };
}

// -- /pipeline: Pipeline -> Preprocessor, Model
// ------------------------------------

using preprocess_atom = caf::atom_constant<caf::atom("preproc")>;
using predict_atom = caf::atom_constant<caf::atom("predict")>;
using describe_atom = caf::atom_constant<caf::atom("describe")>;

using preprocessor_actor = caf::typed_actor<
    caf::replies_to<preprocess_atom, std::string>::with<std::string>>;

/// A multi-method deployment: callers pick the method by atom.
using model_actor = caf::typed_actor<
    caf::replies_to<predict_atom, std::string>::with<std::string>,
    caf::replies_to<describe_atom>::with<std::string>>;

preprocessor_actor::behavior_type preprocessor(preprocessor_actor::pointer) {
  return {[](preprocess_atom, const std::string& text) {
    auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos)
      return std::string{};
    auto last = text.find_last_not_of(" \t\r\n");
    auto result = text.substr(first, last - first + 1);
    std::transform(result.begin(), result.end(), result.begin(), [](char c) {
      return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    });
    return result;
  }};
}

model_actor::behavior_type predictor(model_actor::pointer) {
  return {
      [](predict_atom, const std::string& text) {
        return model().classify(model().tokenize(text));
      },
      [](describe_atom) { return std::string{"word-list sentiment model"}; },
  };
}

http_ingress::behavior_type pipeline(http_ingress::pointer self,
                                     handle<preprocessor_actor> pre,
                                     handle<model_actor> mdl) {
  return {[=](http_request& req) -> reply {
    auto text = json_field<std::string>(parse_json(req), "text");
    auto rp = self->make_response_promise<http_response>();
    // In sequence: the model runs on the preprocessed text. Errors of
    // either call answer the request by themselves.
    pre.call(self, preprocess_atom::value, text)
        .then([=](std::string& processed) mutable {
          mdl.call(self, predict_atom::value, processed)
              .then([=](std::string& label) mutable {
                rp.deliver(json_response(
                    {{"preprocessed", processed},
                     {"output",
                      {{"label", label},
                       {"words", model().tokenize(processed).size()}}}}));
              });
        });
    return rp;
  }};
}

// -- /ensemble: Ensemble -> ModelA, ModelB in parallel
// ---------------------------------

/// (x, delay_ms) -> y: each model "computes" for delay_ms on a blocking
/// thread, like a CPU-bound model would.
using scalar_model_actor =
    caf::typed_actor<caf::replies_to<double, int32_t>::with<double>>;

template <class F>
auto scalar_model(F f) {
  return [f](scalar_model_actor::pointer self)
             -> scalar_model_actor::behavior_type {
    return {[=](double x, int32_t delay_ms) -> caf::result<double> {
      return run_blocking(self, [=] {
        std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
        return f(x);
      });
    }};
  };
}

http_ingress::behavior_type ensemble(http_ingress::pointer self,
                                     handle<scalar_model_actor> a,
                                     handle<scalar_model_actor> b) {
  return {[=](http_request& req) -> reply {
    auto body = parse_json(req);
    auto x = json_field<double>(body, "x");
    auto delay = json_field<int32_t>(body, "delay_ms", 0);
    if (delay < 0 || delay > 10'000)
      throw error_exception(errc::bad_request,
                            "field 'delay_ms' must be in [0, 10000]");
    // Both calls are in flight at once: the request takes one delay, not
    // two. The first error fails the request.
    auto rp = self->make_response_promise<http_response>();
    when_all(a.call(self, x, delay), b.call(self, x, delay))
        .then([=](double ya, double yb) mutable {
          rp.deliver(json_response({{"a", number(ya)},
                                    {"b", number(yb)},
                                    {"result", number((ya + yb) / 2)}}));
        });
    return rp;
  }};
}

// -- /route: Dispatcher -> FastModel or SlowModel
// -----------------------------------

http_ingress::behavior_type fast_model(http_ingress::pointer) {
  return {[](http_request& req) -> reply {
    auto x = json_field<double>(parse_json(req), "x");
    return json_response({{"model", "fast"}, {"y", number(x * 2)}});
  }};
}

http_ingress::behavior_type slow_model(http_ingress::pointer self) {
  return {[=](http_request& req) -> reply {
    auto x = json_field<double>(parse_json(req), "x");
    return run_blocking(self, [x] {
      // A heavier model: more work per request.
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      return json_response({{"model", "slow"}, {"y", number(x * 2)}});
    });
  }};
}

http_ingress::behavior_type dispatcher(http_ingress::pointer self,
                                       handle<http_ingress> fast,
                                       handle<http_ingress> slow) {
  return {[=](http_request& req) -> reply {
    auto urgent = json_field<bool>(parse_json(req), "urgent");
    // Pass the request on: the chosen model answers the client directly.
    if (urgent)
      return fast.delegate(self, std::move(req));
    return slow.delegate(self, std::move(req));
  }};
}

// -- /blocking: a sync handler on user threads
// -----------------------------------

http_ingress::behavior_type sleeper(http_ingress::pointer self) {
  http_routes routes;
  routes.get("/", [=](http_request& req) -> reply {
    auto ms = sleep_ms_of(req);
    return run_blocking(self, [ms] {
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      return json_response({{"slept_ms", ms}});
    });
  });
  routes.get("/fail", [=](http_request&) -> reply {
    return run_blocking(self, []() -> http_response {
      throw std::runtime_error("the model failed on purpose");
    });
  });
  return {routes.handler()};
}

} // namespace

int64_t sleep_ms_of(const http_request& req) {
  auto text = req.query_param("ms", "0");
  int64_t ms = 0;
  try {
    ms = std::stoll(text);
  } catch (const std::exception&) {
    throw error_exception(errc::bad_request, "query parameter 'ms' must be "
                                             "a number");
  }
  if (ms < 0 || ms > 60'000)
    throw error_exception(errc::bad_request,
                          "query parameter 'ms' must be in [0, 60000]");
  return ms;
}

namespace {

auto build_classify(serve& s, const nlohmann::json& args) {
  // Classifier -> Tokenizer (2 replicas; one per node in a cluster that
  // waits for its nodes, so they spread over all of them).
  auto fallback = std::max<uint32_t>(2, 1 + s.options().cluster.expect_nodes);
  auto n = args.value("tokenizers", fallback);
  if (n < 1 || n > 1000)
    throw error_exception(errc::invalid_config,
                          "tokenizers must be between 1 and 1000");
  auto tok = s.deployment("Tokenizer", tokenizer).num_replicas(n).bind();
  // The Classifier never blocks: while the Tokenizer works, it only waits
  // for the answer. Ray Serve's default of 5 would keep all but 5 requests
  // waiting in the ingress's queue, each one routed again when another is
  // answered; a light asynchronous deployment takes many more at once (as
  // serve_config.yaml sets too).
  return s.deployment("Classifier", classifier)
      .max_ongoing_requests(100)
      .bind(tok);
}

auto build_pipeline(serve& s) {
  auto pre = s.deployment("Preprocessor", preprocessor).bind();
  auto mdl = s.deployment("Model", predictor).bind();
  return s.deployment("Pipeline", pipeline).bind(pre, mdl);
}

auto build_ensemble(serve& s) {
  auto ma = s.deployment("ModelA", scalar_model([](double x) { return 2 * x; }))
                .bind();
  auto mb =
      s.deployment("ModelB", scalar_model([](double x) { return x + 10; }))
          .bind();
  return s.deployment("Ensemble", ensemble).bind(ma, mb);
}

auto build_route(serve& s) {
  auto fast = s.deployment("FastModel", fast_model).bind();
  auto slow = s.deployment("SlowModel", slow_model).num_replicas(2).bind();
  return s.deployment("Dispatcher", dispatcher).bind(fast, slow);
}

auto build_blocking(serve& s) {
  // One replica, 4 at once, 4 queued, the rest 503.
  return s.deployment("Sleeper", sleeper)
      .max_ongoing_requests(4)
      .max_queued_requests(4)
      .bind();
}

} // namespace

void register_apps(app_registry& apps) {
  apps.add("demo:classify", build_classify);
  apps.add("demo:pipeline",
           [](serve& s, const nlohmann::json&) { return build_pipeline(s); });
  apps.add("demo:ensemble",
           [](serve& s, const nlohmann::json&) { return build_ensemble(s); });
  apps.add("demo:route",
           [](serve& s, const nlohmann::json&) { return build_route(s); });
  apps.add("demo:blocking",
           [](serve& s, const nlohmann::json&) { return build_blocking(s); });
  add_flaky_apps(apps);
  add_batching_apps(apps);
  add_multiplexing_apps(apps);
  add_streaming_apps(apps);
}

caf::error run_all(serve& s) {
  auto check = [](auto&& result) -> caf::error {
    if (!result)
      return std::move(result.error());
    return {};
  };
  // POST /classify, /pipeline, /ensemble, /route; GET /blocking?ms=N.
  if (auto err = check(s.run(build_classify(s, nlohmann::json::object()),
                             {"classify", "/classify"})))
    return err;
  if (auto err = check(s.run(build_pipeline(s), {"pipeline", "/pipeline"})))
    return err;
  if (auto err = check(s.run(build_ensemble(s), {"ensemble", "/ensemble"})))
    return err;
  if (auto err = check(s.run(build_route(s), {"route", "/route"})))
    return err;
  if (auto err = check(s.run(build_blocking(s), {"blocking", "/blocking"})))
    return err;
  // POST /flaky: replicas to make sick or crash; health checks replace them.
  if (auto err = run_flaky(s))
    return err;
  // GET /autoscale?ms=N: Worker, autoscaled between 1 and 4 replicas.
  if (auto err = run_autoscale(s))
    return err;
  // POST /batch: calls answered in batches by a blocking model.
  if (auto err = run_batching(s))
    return err;
  // POST /multi and /models/{id}/predict: multiplexed models.
  if (auto err = run_multiplexing(s))
    return err;
  // POST /stream: TokenStreamer -> Generator (2 replicas), SSE.
  return run_streaming(s);
}

} // namespace demo
