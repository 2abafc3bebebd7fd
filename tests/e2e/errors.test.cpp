// Every error status, request ids and connections, over real sockets.
#include <string>

#include "demo_server.hpp"

using namespace std::chrono;
using test::body_of;

namespace {

void check_error_body(const test::http_result& r) {
  auto body = body_of(r);
  REQUIRE(body.is_object());
  CHECK(body["error"].is_string());
  CHECK(body["request_id"] == r.header("x-request-id"));
}

} // namespace

TEST_CASE("no matching route gives 404 with a JSON body", "[errors]") {
  test::demo_server s;
  auto r = s.get("/nowhere");
  CHECK(r.status == 404);
  check_error_body(r);
  // "/classifyx" is not under "/classify".
  CHECK(s.post("/classifyx", {{"text", "x"}}).status == 404);
}

TEST_CASE("invalid JSON or a wrong shape gives 400", "[errors]") {
  test::demo_server s;
  auto bad = test::http(s.port, "POST", "/classify", "{not json");
  CHECK(bad.status == 400);
  check_error_body(bad);
  auto shape = s.post("/classify", {{"text", 5}});
  CHECK(shape.status == 400);
  CHECK_THAT(body_of(shape)["error"].get<std::string>(),
             Catch::Contains("text"));
}

TEST_CASE("a path served for other methods gives 405 with an Allow header",
          "[errors]") {
  test::demo_server s;
  auto r = test::http(s.port, "POST", "/blocking", "{}");
  CHECK(r.status == 405);
  CHECK(r.header("allow") == "GET");
  check_error_body(r);
}

TEST_CASE("a body over the limit gives 413", "[errors]") {
  test::demo_server s;
  std::string big(10 * 1024 * 1024 + 1, 'x');
  auto r = test::http(s.port, "POST", "/classify", big);
  CHECK(r.status == 413);
  check_error_body(r);
}

TEST_CASE("a request past the timeout gives 408 and the server stays healthy",
          "[errors]") {
  test::demo_server s;
  auto r = s.get("/blocking?ms=5000");
  CHECK(r.status == 408);
  check_error_body(r);
  CHECK(r.elapsed >= milliseconds(2900));
  CHECK(r.elapsed < milliseconds(4500));
  CHECK(s.get("/-/healthz").status == 200);
  CHECK(s.post("/classify", {{"text", "good"}}).status == 200);
}

TEST_CASE("a user exception gives 500 and the next request succeeds",
          "[errors]") {
  test::demo_server s;
  auto r = s.get("/blocking/fail");
  CHECK(r.status == 500);
  check_error_body(r);
  CHECK_THAT(body_of(r)["error"].get<std::string>(),
             Catch::Contains("failed on purpose"));
  CHECK(s.get("/blocking?ms=1").status == 200);
}

TEST_CASE("X-Request-ID is echoed, or generated, on every response",
          "[errors]") {
  test::demo_server s;
  auto given = test::http(s.port, "POST", "/classify", R"({"text":"hi"})",
                          {{"X-Request-ID", "abc-123"}});
  CHECK(given.status == 200);
  CHECK(given.header("x-request-id") == "abc-123");
  auto on_error =
      test::http(s.port, "GET", "/nowhere", {}, {{"X-Request-ID", "err-7"}});
  CHECK(on_error.header("x-request-id") == "err-7");
  CHECK(body_of(on_error)["request_id"] == "err-7");
  auto a = s.get("/-/healthz");
  auto b = s.get("/-/healthz");
  CHECK_FALSE(a.header("x-request-id").empty());
  CHECK(a.header("x-request-id") != b.header("x-request-id"));
}

TEST_CASE("connections are kept alive across requests", "[errors]") {
  test::demo_server s;
  test::http_connection conn{s.port};
  REQUIRE(conn.connected());
  for (int i = 0; i < 5; ++i) {
    auto r = conn.request("POST", "/classify", R"({"text":"I love it"})");
    REQUIRE(r.status == 200);
    CHECK(body_of(r)["label"] == "positive");
  }
}

TEST_CASE("a deleted application stops being served", "[errors]") {
  test::demo_server s;
  REQUIRE(s.post("/pipeline", {{"text", "x"}}).status == 200);
  auto removed = s.serve.remove("pipeline");
  REQUIRE(removed);
  CHECK(*removed);
  CHECK(s.post("/pipeline", {{"text", "x"}}).status == 404);
  auto routes = body_of(s.get("/-/routes"));
  CHECK(routes.find("/pipeline") == routes.end());
  auto st = s.serve.status();
  REQUIRE(st);
  for (auto& app : st->applications)
    CHECK(app.name != "pipeline");
  CHECK_FALSE(*s.serve.remove("pipeline"));
}
