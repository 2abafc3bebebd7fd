// In-app HTTP routing (the FastAPI-ingress analogue) and JSON helpers.
#include <catch2/catch.hpp>

#include "actorserve/http.hpp"

using namespace actorserve;

namespace {

struct query {
  std::string text;
  int top_k = 0;
};
ACTORSERVE_JSON(query, text, top_k)

struct envelope {
  query q;
};
ACTORSERVE_JSON(envelope, q)

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
  CHECK(allowed_methods(r1.err) == "GET"); // the 405's Allow header
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

TEST_CASE("path parameters arrive URL-decoded", "[http]") {
  http_routes routes;
  routes.get("/:model_id/predict", [](http_request& req) -> reply {
    return json_response({{"model", req.param("model_id")}});
  });
  routes.post("/:model_id/predict",
              [](http_request&) -> reply { return json_response({}); });
  auto req = make("GET", "/caf%C3%A9%20x/predict");
  auto res = routes.dispatch(req);
  REQUIRE(res.flag == caf::rt_value);
  CHECK(
      nlohmann::json::parse(res.value.get_as<http_response>(0).body)["model"] ==
      "caf\xC3\xA9 x");
  CHECK(url_decode("100%") == "100%"); // not an escape: kept
  CHECK(url_decode("%zz%4") == "%zz%4");
  auto put = make("PUT", "/m/predict");
  CHECK(allowed_methods(routes.dispatch(put).err) == "GET, POST");
}

TEST_CASE("typed JSON bodies read structs and name the field that is wrong",
          "[http]") {
  http_request req;
  req.body = R"({"text": "hi", "top_k": 3})";
  auto q = json_body<query>(req);
  CHECK(q.text == "hi");
  CHECK(q.top_k == 3);
  auto fails_naming = [](std::string body, std::string field) {
    http_request bad;
    bad.body = std::move(body);
    try {
      json_body<envelope>(bad);
      FAIL("expected an exception");
    } catch (const error_exception& e) {
      CHECK(e.code() == errc::bad_request);
      CHECK_THAT(e.what(), Catch::Contains(field));
    }
  };
  fails_naming(R"({"q": {"text": "hi"}})", "'top_k'");
  fails_naming(R"({"q": {"text": 5, "top_k": 1}})", "'text'");
  fails_naming(R"({"q": {"text": 5, "top_k": 1}})", "'q'");
  fails_naming(R"([1, 2])", "object");
  // And back out: json_response takes the struct.
  auto r = json_response(envelope{{"x", 1}});
  CHECK(nlohmann::json::parse(r.body) ==
        nlohmann::json::parse(R"({"q": {"text": "x", "top_k": 1}})"));
}
