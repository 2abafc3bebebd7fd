// The request context travels with the request: from HTTP into the ingress
// deployment, and from there with every handle call its handler makes,
// including calls made in continuations. Over real sockets, with real
// actors and threads.
#include <string>

#include <nlohmann/json.hpp>

#include "actorserve/actorserve.hpp"
#include "demo_server.hpp"

using namespace std::chrono;
using namespace actorserve;

namespace {

using probe_actor =
    caf::typed_actor<caf::replies_to<std::string>::with<std::string>>;

nlohmann::json to_json(const request_context& ctx) {
  return {{"request_id", ctx.request_id},
          {"model", ctx.multiplexed_model_id},
          {"deadline", ctx.deadline.time_since_epoch().count()}};
}

/// Answers with the context of the request it handles.
probe_actor::behavior_type probe(probe_actor::pointer self) {
  return {[=](const std::string&) {
    return to_json(request_context_of(self)).dump();
  }};
}

/// Calls the probe from its handler, then again from the continuation, the
/// second time with a model id of its own.
http_ingress::behavior_type front(http_ingress::pointer self,
                                  handle<probe_actor> p) {
  return {[=](http_request&) -> reply {
    auto rp = self->make_response_promise<http_response>();
    auto own = to_json(request_context_of(self));
    p.call(self, std::string{"first"})
        .then(
            [=](std::string& first) mutable {
              call_options opts;
              opts.multiplexed_model_id = "m9";
              p.options(opts)
                  .call(self, std::string{"second"})
                  .then(
                      [=](std::string& second) mutable {
                        rp.deliver(json_response(
                            {{"own", own},
                             {"in_continuation",
                              to_json(request_context_of(self))},
                             {"first", nlohmann::json::parse(first)},
                             {"second", nlohmann::json::parse(second)}}));
                      },
                      [=](caf::error& err) mutable { rp.deliver(err); });
            },
            [=](caf::error& err) mutable { rp.deliver(err); });
    return rp;
  }};
}

} // namespace

TEST_CASE("the request context reaches every deployment a request passes "
          "through",
          "[context]") {
  auto mode = GENERATE(execution::isolated, execution::inline_);
  serve_options opts;
  opts.admin.port = 0; // a free port: tests run side by side
  opts.http.port = 0;
  opts.http.request_timeout = seconds(5);
  serve s{opts};
  auto p = s.deployment("Probe", probe).mode(mode).bind();
  REQUIRE(s.run(s.deployment("Front", front).mode(mode).bind(p),
                {"front", "/front"}));
  auto r = test::http(
      s.http_port(), "GET", "/front", {},
      {{"X-Request-ID", "ctx-42"}, {"serve_multiplexed_model_id", "m7"}});
  REQUIRE(r.status == 200);
  auto body = test::body_of(r);
  INFO(r.body);
  auto& own = body["own"];
  CHECK(own["request_id"] == "ctx-42");
  CHECK(own["model"] == "m7");
  CHECK(own["deadline"].get<int64_t>() > 0);
  // A continuation runs in its request's context.
  CHECK(body["in_continuation"] == own);
  // Handle calls carry the request id and the deadline; the model id is
  // the caller's choice for each call (Ray Serve's handle option).
  for (auto* key : {"first", "second"}) {
    CHECK(body[key]["request_id"] == "ctx-42");
    CHECK(body[key]["deadline"] == own["deadline"]);
  }
  CHECK(body["first"]["model"] == "");
  CHECK(body["second"]["model"] == "m9");
}
