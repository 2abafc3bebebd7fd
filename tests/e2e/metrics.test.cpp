// Metrics end to end: requests over real HTTP move Ray Serve's counters,
// `GET /-/metrics` on the admin API passes Prometheus' own checker
// (promtool), and the dashboard's page and event stream serve.
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <unistd.h>

#include "actorserve/actorserve.hpp"
#include "demo_server.hpp"
#include "metrics_text.hpp"
#include "sse_client.hpp"

using namespace std::chrono;
using namespace actorserve;
using test::promtool_problems;
using test::sample;
using test::scrape;

TEST_CASE("requests move Ray Serve's counters, and promtool accepts the text",
          "[metrics]") {
  test::demo_server s;
  constexpr int n = 7;
  for (int i = 0; i < n; ++i)
    REQUIRE(s.post("/classify", {{"text", "I love this"}}).status == 200);
  REQUIRE(s.get("/blocking/fail").status == 500);
  REQUIRE(s.get("/no/such/route").status == 404);
  // Replicas count a call when they answer it, which happens before the
  // HTTP response is written: by now every count is in.
  auto text = scrape(s);
  INFO(text);
  CHECK(sample(text, "ray_serve_num_http_requests_total",
               {R"(route="/classify")", R"(method="POST")",
                R"(application="classify")", R"(status_code="200")"}) == n);
  CHECK(sample(text, "ray_serve_http_request_latency_ms_count",
               {R"(route="/classify")", R"(status_code="200")"}) == n);
  CHECK(sample(text, "ray_serve_http_request_latency_ms_bucket",
               {R"(route="/classify")", R"(le="+Inf")"}) == n);
  CHECK(sample(text, "ray_serve_num_http_error_requests_total",
               {R"(route="/blocking")", R"(error_code="500")"}) == 1);
  CHECK(sample(text, "ray_serve_num_deployment_http_error_requests_total",
               {R"(deployment="Sleeper")", R"(error_code="500")"}) == 1);
  CHECK(sample(text, "ray_serve_num_http_requests_total",
               {R"(route="")", R"(status_code="404")"}) == 1);
  // Per replica, summed over the deployment's replicas.
  CHECK(sample(text, "ray_serve_deployment_request_counter_total",
               {R"(deployment="Classifier")", R"(application="classify")"}) ==
        n);
  CHECK(sample(text, "ray_serve_deployment_request_counter_total",
               {R"(deployment="Tokenizer")"}) == n);
  CHECK(sample(text, "ray_serve_deployment_error_counter_total",
               {R"(deployment="Sleeper")"}) == 1);
  CHECK(sample(text, "ray_serve_deployment_error_counter_total",
               {R"(deployment="Classifier")"}) == 0);
  CHECK(sample(text, "ray_serve_deployment_processing_latency_ms_count",
               {R"(deployment="Tokenizer")"}) == n);
  CHECK(sample(text, "ray_serve_replica_processing_queries",
               {R"(deployment="Tokenizer")"}) == 0);
  CHECK(sample(text, "ray_serve_deployment_queued_queries",
               {R"(deployment="Tokenizer")"}) == 0);
  // The user plane's pool runs the demo's isolated replicas: at least its
  // base lane (-1 would mean no such gauge).
  CHECK(sample(text, "actorserve_user_plane_lanes") >= 1);
  // The demo's own counter, with the replica's labels added.
  CHECK(sample(text, "demo_classifications_total",
               {R"(label="positive")", R"(deployment="Classifier")",
                R"(application="classify")"}) == n);
  CHECK(promtool_problems(text).empty());
  // The check can fail: a broken line is a parse error.
  CHECK_FALSE(promtool_problems(text + "ray_serve_broken{ 1\n").empty());
}

TEST_CASE("a replica's processing gauge shows the calls it runs", "[metrics]") {
  test::demo_server s;
  // Four 300 ms sleeps on the one Sleeper replica (max_ongoing 4).
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i)
    clients.emplace_back([&s] { s.get("/blocking?ms=300"); });
  // The gauge reads 4 while the four run.
  auto running = test::await_sample(s, "ray_serve_replica_processing_queries",
                                    {R"(deployment="Sleeper")"}, 4);
  for (auto& t : clients)
    t.join();
  CHECK(running == 4);
}

TEST_CASE("with metrics off nothing is counted", "[metrics]") {
  auto opts = test::demo_options();
  opts.metrics = false;
  serve s{opts};
  REQUIRE_FALSE(demo::run_all(s));
  REQUIRE(test::http(s.http_port(), "POST", "/classify",
                     R"({"text": "I love this"})")
              .status == 200);
  auto r = test::http(s.admin_port(), "GET", "/-/metrics");
  CHECK(r.status == 200);
  CHECK(r.body.empty());
}

TEST_CASE("the admin port serves the dashboard page and its event stream",
          "[metrics][dashboard]") {
  test::demo_server s;
  auto page = test::http(s.serve.admin_port(), "GET", "/");
  CHECK(page.status == 200);
  CHECK(page.header("content-type").find("text/html") == 0);
  CHECK(page.body.find("actorserve dashboard") != std::string::npos);
  // Everything is inline: no script, style, image or font from elsewhere.
  static const std::regex external{
      R"((src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|@import)"};
  CHECK_FALSE(std::regex_search(page.body, external));
  // Nor from here: the stylesheet and scripts that the page's source
  // (libactorserve/assets/dashboard.html) links to are inline.
  CHECK(page.body.find("<script src=") == std::string::npos);
  CHECK(page.body.find("<link rel=\"stylesheet\"") == std::string::npos);
  CHECK(page.body.find("\nstartSSE();\n</script>") != std::string::npos);
  REQUIRE(s.post("/classify", {{"text", "I hate this"}}).status == 200);
  test::sse_client events{s.serve.admin_port(), "GET", "/api/dashboard/events",
                          ""};
  REQUIRE(events.status() == 200);
  CHECK(events.header("content-type") == "text/event-stream");
  // The first snapshot comes at once, the next a period later.
  for (int i = 0; i < 2; ++i) {
    auto ev = events.next(seconds(5));
    REQUIRE(ev);
    auto j = nlohmann::json::parse(ev->data);
    CHECK(j.at("time_ms").get<int64_t>() > 0);
    CHECK(j.at("status").at("applications").contains("classify"));
    CHECK(j.at("metrics").get<std::string>().find(
              "ray_serve_num_http_requests_total") != std::string::npos);
  }
  CHECK(test::http(s.serve.admin_port(), "POST", "/-/metrics").status == 405);
}

namespace {

/// The lines of `path` that parse as JSON.
std::vector<nlohmann::json> json_lines(const std::string& path) {
  std::ifstream in{path};
  std::string line;
  std::vector<nlohmann::json> out;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    REQUIRE_FALSE(j.is_discarded()); // every line is one JSON object
    out.push_back(std::move(j));
  }
  return out;
}

} // namespace

TEST_CASE("the access log writes a JSON line per request and per call",
          "[logs]") {
  char path[] = "/tmp/actorserve-log-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::close(fd);
  {
    auto opts = test::demo_options();
    opts.logging.encoding = "JSON";
    opts.logging.enable_access_log = true;
    opts.logging.file = path;
    serve s{opts};
    REQUIRE_FALSE(demo::run_all(s));
    auto r =
        test::http(s.http_port(), "POST", "/classify",
                   R"({"text": "I love this"})", {{"X-Request-ID", "rq-42"}});
    REQUIRE(r.status == 200);
    REQUIRE(test::http(s.http_port(), "GET", "/blocking/fail").status == 500);
  } // the server stopped: every line is written
  auto lines = json_lines(path);
  std::remove(path);
  auto find = [&](const std::string& message, const std::string& key,
                  const std::string& value) -> nlohmann::json {
    for (auto& j : lines)
      if (j.value("message", "") == message && j.contains(key) &&
          j[key] == value)
        return j;
    return nullptr;
  };
  auto access = find("access", "request_id", "rq-42");
  INFO(nlohmann::json(lines).dump(1));
  REQUIRE(access.is_object());
  CHECK(access["levelname"] == "INFO");
  CHECK_FALSE(access["asctime"].get<std::string>().empty());
  CHECK(access["method"] == "POST");
  CHECK(access["route"] == "/classify");
  CHECK(access["application"] == "classify");
  CHECK(access["status_code"] == 200);
  CHECK(access["latency_ms"].get<double>() >= 0);
  // Both deployments the request passed through wrote a line with its id.
  for (auto dep : {"Classifier", "Tokenizer"}) {
    bool seen = false;
    for (auto& j : lines)
      seen =
          seen || (j.value("message", "") == "call" &&
                   j.value("deployment", "") == dep &&
                   j.value("request_id", "") == "rq-42" &&
                   j.value("result", "") == "OK" && j.value("replica", 0) > 0);
    CHECK(seen);
  }
  auto failed = find("call", "deployment", "Sleeper");
  REQUIRE(failed.is_object());
  CHECK(failed["result"] == "ERROR");
  auto failed_access = find("access", "route", "/blocking");
  REQUIRE(failed_access.is_object());
  CHECK(failed_access["status_code"] == 500);
}

TEST_CASE("a bad logging option fails at start-up, naming the field",
          "[logs]") {
  auto opts = test::demo_options();
  opts.logging.encoding = "XML";
  CHECK_THROWS_WITH(serve{opts}, Catch::Contains("logging.encoding"));
  opts = test::demo_options();
  opts.logging.level = "LOUD";
  CHECK_THROWS_WITH(serve{opts}, Catch::Contains("logging.level"));
  opts = test::demo_options();
  opts.logging.file = "/dev/null/x.log"; // under a file: cannot be made
  CHECK_THROWS_WITH(serve{opts}, Catch::Contains("logging.file"));
}
