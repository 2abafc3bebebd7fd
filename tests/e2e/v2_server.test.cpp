// The Open Inference Protocol's server endpoints on the HTTP port, over
// real sockets: metadata, live and ready, and what an application's own
// routes take from them.
#include <nlohmann/json.hpp>

#include "actorserve/actorserve.hpp"
#include "demo_server.hpp"

using namespace actorserve;

namespace {

/// Answers every request with its own path, so a test sees who answered.
http_ingress::behavior_type echo_path(http_ingress::pointer) {
  return {[](const http_request& req) {
    http_response r;
    r.body = nlohmann::json{{"app_saw", req.full_path}}.dump();
    return r;
  }};
}

} // namespace

TEST_CASE("v2 protocol: GET /v2 names the server and its extensions, "
          "live and ready answer 200, other methods get 405",
          "[v2][http]") {
  serve s{test::demo_options()};
  auto port = s.http_port();
  auto meta = test::http(port, "GET", "/v2");
  REQUIRE(meta.status == 200);
  auto body = nlohmann::json::parse(meta.body);
  CHECK(body.at("name") == "actorserve");
  CHECK_FALSE(body.at("version").get<std::string>().empty());
  auto ext = body.at("extensions");
  CHECK(std::find(ext.begin(), ext.end(), "binary_tensor_data") != ext.end());
  auto live = test::http(port, "GET", "/v2/health/live");
  CHECK(live.status == 200);
  CHECK(nlohmann::json::parse(live.body).at("live") == true);
  auto ready = test::http(port, "GET", "/v2/health/ready");
  CHECK(ready.status == 200);
  CHECK(nlohmann::json::parse(ready.body).at("ready") == true);
  auto post = test::http(port, "POST", "/v2/health/live", "{}");
  CHECK(post.status == 405);
  CHECK(post.header("allow") == "GET");
  // Not one of the protocol's server paths: no application, so 404.
  CHECK(test::http(port, "GET", "/v2/health/other").status == 404);
}

TEST_CASE("v2 protocol: an application at / leaves the server endpoints "
          "alone, one routed at /v2 takes them",
          "[v2][http]") {
  serve s{test::demo_options()};
  auto port = s.http_port();
  REQUIRE(s.run(s.deployment("Root", echo_path).bind(), {"root", "/"}));
  CHECK(nlohmann::json::parse(test::http(port, "GET", "/v2/health/live").body)
            .at("live") == true);
  // Any other path still reaches the catch-all application.
  auto other = test::http(port, "GET", "/v2/models/x");
  CHECK(other.status == 200);
  CHECK_THAT(other.body, Catch::Contains("/v2/models/x"));
  REQUIRE(s.run(s.deployment("Mine", echo_path).bind(), {"mine", "/v2"}));
  auto mine = test::http(port, "GET", "/v2/health/live");
  CHECK(mine.status == 200);
  CHECK_THAT(mine.body, Catch::Contains("app_saw"));
}
