// In-app HTTP routing (the FastAPI-ingress analogue) and JSON helpers.
#include <catch2/catch.hpp>

#include "actorserve/http.hpp"

using namespace actorserve;

namespace {

http_request make(std::string method, std::string path) {
  http_request req;
  req.method = std::move(method);
  req.path = path;
  req.full_path = std::move(path);
  return req;
}

} // namespace

TEST_CASE("routes match method and path and capture path parameters",
          "[http]") {
  http_routes routes;
  routes.get("/items/:id", [](http_request& req) -> reply {
    return json_response({{"id", req.param("id")}});
  });
  routes.post("/items", [](http_request&) -> reply {
    return json_response({{"created", true}}, 201);
  });
  auto req = make("GET", "/items/42");
  auto res = routes.dispatch(req);
  REQUIRE(res.flag == caf::rt_value);
  CHECK(res.value.get_as<http_response>(0).body == R"({"id":"42"})");
  auto post = make("POST", "/items");
  CHECK(routes.dispatch(post).value.get_as<http_response>(0).status == 201);
  auto wrong_method = make("DELETE", "/items/42");
  auto r1 = routes.dispatch(wrong_method);
  REQUIRE(r1.flag == caf::rt_error);
  CHECK(code_of(r1.err) == errc::method_not_allowed);
  auto missing = make("GET", "/nothing");
  auto r2 = routes.dispatch(missing);
  REQUIRE(r2.flag == caf::rt_error);
  CHECK(code_of(r2.err) == errc::not_found);
}

TEST_CASE("JSON helpers turn bad bodies into bad_request naming the field",
          "[http]") {
  http_request req;
  req.body = "{not json";
  CHECK_THROWS_AS(parse_json(req), error_exception);
  auto body = nlohmann::json::parse(R"({"text": 5})");
  try {
    json_field<std::string>(body, "text");
    FAIL("expected an exception");
  } catch (const error_exception& e) {
    CHECK(e.code() == errc::bad_request);
    CHECK_THAT(e.what(), Catch::Contains("'text'"));
  }
  CHECK(json_field<int>(body, "missing", 7) == 7);
  CHECK_THROWS_AS(json_field<int>(body, "missing"), error_exception);
}
