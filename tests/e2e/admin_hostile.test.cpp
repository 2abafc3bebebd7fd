// Hostile input to the admin API over real sockets: requests from a web
// page (DNS rebinding), without the token, with bodies that would take the
// process's memory, and the limits' answers.
#include <string>

#include "actorserve/app_registry.hpp"
#include "actorserve/deploy_config.hpp"
#include "demo_server.hpp"

using test::body_of;

namespace {

struct admin_server_fixture {
  actorserve::app_registry apps;
  actorserve::serve s;
  explicit admin_server_fixture(actorserve::serve_options opts =
                                    test::demo_options())
      : s(std::move(opts)) {
    demo::register_apps(apps);
    s.set_app_registry(apps);
  }
};

/// A raw admin request with exactly these headers.
test::http_result raw(uint16_t port, const std::string& head,
                      const std::string& body = {}) {
  test::http_connection c{port};
  return c.raw(head + "Content-Length: " + std::to_string(body.size()) +
               "\r\n\r\n" + body);
}

/// Nested aliases: each level refers to the one before ten times.
std::string yaml_bomb(int levels) {
  std::string out = "a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
  for (int i = 1; i < levels; ++i) {
    auto prev = "*a" + std::to_string(i - 1);
    out += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k)
      out += (k ? "," : "") + prev;
    out += "]\n";
  }
  out += "applications: *a" + std::to_string(levels - 1) + "\n";
  return out;
}

} // namespace

TEST_CASE("the admin API refuses a Host header that does not name it",
          "[hostile][admin]") {
  admin_server_fixture f;
  auto port = f.s.admin_port();
  auto evil = raw(port, "GET /api/serve/applications/ HTTP/1.1\r\n"
                        "Host: attacker.example:8265\r\n");
  CHECK(evil.status == 403);
  CHECK(body_of(evil)["code"] == "forbidden");
  auto none = raw(port, "GET /api/serve/applications/ HTTP/1.1\r\n");
  CHECK(none.status == 403);
  for (auto* host : {"127.0.0.1:8265", "localhost", "[::1]:1"}) {
    auto ok = raw(port, std::string{"GET /-/healthz HTTP/1.1\r\nHost: "} +
                            host + "\r\n");
    CHECK(ok.status == 200);
  }
}

TEST_CASE("with a token, the admin API answers only requests that carry it",
          "[hostile][admin]") {
  auto opts = test::demo_options();
  opts.admin.token = "s3cret-token";
  admin_server_fixture f{opts};
  auto port = f.s.admin_port();
  auto without = test::http(port, "GET", "/api/serve/applications/");
  CHECK(without.status == 401);
  CHECK(without.header("www-authenticate") == "Bearer");
  auto wrong = test::http(port, "GET", "/api/serve/applications/", {},
                          {{"Authorization", "Bearer s3cret-tokem"}});
  CHECK(wrong.status == 401);
  auto longer = test::http(port, "GET", "/api/serve/applications/", {},
                           {{"Authorization", "Bearer s3cret-token2"}});
  CHECK(longer.status == 401);
  auto right = test::http(port, "GET", "/api/serve/applications/", {},
                          {{"Authorization", "Bearer s3cret-token"}});
  CHECK(right.status == 200);
}

TEST_CASE("an admin API off loopback without a token does not start",
          "[hostile][admin]") {
  auto opts = test::demo_options();
  opts.admin.host = "0.0.0.0";
  auto err = actorserve::validate(opts);
  REQUIRE(err);
  CHECK_THAT(actorserve::message_of(err), Catch::Contains("admin.token"));
  opts.admin.token = "t";
  CHECK_FALSE(actorserve::validate(opts));
}

TEST_CASE("a YAML alias bomb gets 400 naming the limit, at once",
          "[hostile][admin]") {
  admin_server_fixture f;
  auto port = f.s.admin_port();
  auto r = test::http(port, "PUT", "/api/serve/applications/", yaml_bomb(9));
  CHECK(r.status == 400);
  CHECK_THAT(body_of(r)["error"].get<std::string>(),
             Catch::Contains("max_config_nodes"));
  // The parser says the same to a file.
  auto parsed = actorserve::parse_deploy_config(yaml_bomb(9), "bomb.yaml");
  REQUIRE_FALSE(parsed);
  CHECK(test::http(port, "GET", "/-/healthz").status == 200);
}

TEST_CASE("admin bodies too deep or too large are refused",
          "[hostile][admin]") {
  admin_server_fixture f;
  REQUIRE_FALSE(demo::run_all(f.s));
  auto port = f.s.admin_port();
  std::string deep = "{\"user_config\": " + std::string(100'000, '[') +
                     std::string(100'000, ']') + "}";
  auto r = test::http(port, "PATCH",
                      "/api/serve/applications/classify/deployments/Tokenizer",
                      deep);
  CHECK(r.status == 400);
  test::http_connection c{port};
  auto big = c.raw("PUT /api/serve/applications/ HTTP/1.1\r\n"
                   "Host: 127.0.0.1\r\nContent-Length: 100000000\r\n\r\n");
  CHECK(big.status == 413);
  CHECK(test::http(port, "GET", "/-/healthz").status == 200);
}
