// Hostile input over real sockets: what a stranger can send the HTTP port
// and the admin API, and what the server must answer (and keep serving).
#include <string>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "actorserve/actorserve.hpp"
#include "demo_server.hpp"
#include "sse_client.hpp"

using namespace std::chrono;
using test::body_of;

namespace {

const std::string bad_utf8 = "\xff\xfe\xc3(";

/// The server still serves: health and a real request.
void check_alive(test::demo_server& s) {
  CHECK(s.get("/-/healthz").status == 200);
  auto r = s.post("/classify", {{"text", "I love this"}});
  CHECK(r.status == 200);
}

/// The admin API's status, parsed (it must be valid JSON).
nlohmann::json admin_status(actorserve::serve& s) {
  auto r = test::http(s.admin_port(), "GET", "/-/status");
  REQUIRE(r.status == 200);
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  return j;
}

/// Answers with a header user code should not set: a name that is not a
/// token (/name), or a value that would split the response.
actorserve::http_ingress::behavior_type
bad_headers(actorserve::http_ingress::pointer) {
  using namespace actorserve;
  return {[](http_request& req) -> reply {
    http_response r;
    r.body = "x";
    if (req.path == "/name")
      r.headers.emplace_back("Bad Name", "v");
    else
      r.headers.emplace_back("X-Echo", "a\r\nSet-Cookie: evil=1");
    return r;
  }};
}

} // namespace

TEST_CASE("a request id that is not valid UTF-8 is replaced, on every error "
          "path",
          "[hostile]") {
  test::demo_server s;
  // A malformed body: the id is echoed into the JSON error body.
  auto r = test::http(s.port, "POST", "/classify", "{not json",
                      {{"X-Request-ID", bad_utf8}});
  CHECK(r.status == 400);
  auto body = body_of(r);
  REQUIRE(body.is_object());
  CHECK(body["request_id"] != bad_utf8);
  CHECK(body["request_id"] == r.header("x-request-id"));
  CHECK_FALSE(r.header("x-request-id").empty());
  // 404, and an id with control characters and one that is too long.
  CHECK(test::http(s.port, "GET", "/nowhere", {}, {{"X-Request-ID", bad_utf8}})
            .status == 404);
  auto ctl = test::http(s.port, "GET", "/nowhere", {},
                        {{"X-Request-ID", std::string{"a\tb"}}});
  CHECK(ctl.header("x-request-id") != "a\tb");
  auto longer = test::http(s.port, "GET", "/nowhere", {},
                           {{"X-Request-ID", std::string(129, 'a')}});
  CHECK(longer.header("x-request-id").size() < 129);
  // The deadline path (408) and a stream's error event carry it too.
  auto late = test::http(s.port, "GET", "/blocking?ms=5000", {},
                         {{"X-Request-ID", bad_utf8}});
  CHECK(late.status == 408);
  CHECK(body_of(late).is_object());
  check_alive(s);
}

TEST_CASE("a model id or path parameter that is not valid UTF-8 gets 400, "
          "and status stays readable",
          "[hostile]") {
  test::demo_server s;
  auto multi = test::http(s.port, "POST", "/multi", "{}",
                          {{"serve_multiplexed_model_id", bad_utf8}});
  CHECK(multi.status == 400);
  CHECK(body_of(multi).is_object());
  auto longer = test::http(s.port, "POST", "/multi", "{}",
                           {{"serve_multiplexed_model_id",
                             std::string(300, 'm')}});
  CHECK(longer.status == 400);
  auto param = test::http(s.port, "POST", "/models/%ff/predict", "{}");
  CHECK(param.status == 400);
  CHECK_THAT(body_of(param)["error"].get<std::string>(),
             Catch::Contains("UTF-8"));
  auto query = test::http(s.port, "GET", "/blocking?ms=1&x=%ff");
  CHECK(query.status == 400);
  auto st = admin_status(s.serve);
  CHECK(st["applications"]["multi"]["status"] == "RUNNING");
  check_alive(s);
}

TEST_CASE("the public port shows no status, the admin port does",
          "[hostile]") {
  test::demo_server s;
  CHECK(s.get("/-/status").status == 404);
  CHECK(s.get("/-/routes").status == 200);
  auto st = admin_status(s.serve);
  CHECK(st["applications"].contains("classify"));
}

TEST_CASE("a declared body over the limit gets 413 before any of it is sent",
          "[hostile]") {
  test::demo_server s;
  test::http_connection conn{s.port};
  REQUIRE(conn.connected());
  // Headers only: the server answers without waiting for the body.
  auto r = conn.raw("POST /classify HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Content-Length: 1000000000000\r\n\r\n");
  CHECK(r.status == 413);
  CHECK(body_of(r)["code"] == "payload_too_large");
  CHECK(r.header("connection") == "close");
  check_alive(s);
}

TEST_CASE("a response header with CR or LF from user code gets 500, not a "
          "split response",
          "[hostile]") {
  using namespace actorserve;
  serve srv{test::demo_options()};
  REQUIRE(srv.run(srv.deployment("Echo", bad_headers).bind(), {"echo", "/"}));
  for (auto* path : {"/value", "/name"}) {
    auto r = test::http(srv.http_port(), "GET", path);
    CHECK(r.status == 500);
    CHECK(r.header("set-cookie").empty());
    CHECK(body_of(r)["code"] == "user_error");
  }
  CHECK(test::http(srv.http_port(), "GET", "/-/healthz").status == 200);
}

TEST_CASE("a client that sends its request slowly is cut off at the read "
          "timeout",
          "[hostile]") {
  auto opts = test::demo_options();
  opts.http.keep_alive_timeout = milliseconds(300);
  actorserve::serve srv{opts};
  REQUIRE_FALSE(demo::run_all(srv));
  test::http_connection conn{srv.http_port()};
  REQUIRE(conn.connected());
  REQUIRE(conn.send("POST /classify HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
  // The server closes the connection: a read sees the end (the client's
  // own receive timeout, 10 s, would say otherwise).
  auto start = steady_clock::now();
  char byte = 0;
  auto n = ::recv(conn.fd(), &byte, 1, 0);
  CHECK(n == 0);
  CHECK(steady_clock::now() - start < seconds(5));
  CHECK(test::http(srv.http_port(), "GET", "/-/healthz").status == 200);
}

TEST_CASE("connections past --max-connections wait until one closes",
          "[hostile]") {
  auto opts = test::demo_options();
  opts.http.threads = 1;
  opts.http.max_connections = 2;
  actorserve::serve srv{opts};
  REQUIRE_FALSE(demo::run_all(srv));
  auto port = srv.http_port();
  auto first = std::make_unique<test::http_connection>(port);
  test::http_connection second{port};
  REQUIRE(first->request("GET", "/-/healthz").status == 200);
  REQUIRE(second.request("GET", "/-/healthz").status == 200);
  test::http_connection third{port}; // the kernel's backlog takes it
  REQUIRE(third.connected());
  REQUIRE(third.send("GET /-/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  pollfd p{third.fd(), POLLIN, 0};
  CHECK(::poll(&p, 1, 300) == 0); // not accepted while two are open
  first.reset();                  // one closes: the third is served
  CHECK(::poll(&p, 1, 10'000) == 1);
}
