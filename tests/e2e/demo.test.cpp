// Every route of the demo application, over real sockets.
#include <atomic>
#include <future>
#include <vector>

#include <set>
#include <thread>

#include "demo_server.hpp"

using namespace std::chrono;
using test::body_of;

TEST_CASE("POST /classify chains Classifier and Tokenizer", "[demo]") {
  test::demo_server s;
  auto pos = s.post("/classify", {{"text", "I love this"}});
  REQUIRE(pos.status == 200);
  auto body = body_of(pos);
  CHECK(body["label"] == "positive");
  CHECK(body["tokens"].size() == 3);
  auto neg = s.post("/classify", {{"text", "I hate this"}});
  CHECK(body_of(neg)["label"] == "negative");
  auto neutral = s.post("/classify", {{"text", "the movie is a movie"}});
  CHECK(body_of(neutral)["label"] == "neutral");
  CHECK(body_of(neutral)["tokens"].size() == 5);
}

TEST_CASE("POST /pipeline runs Preprocessor then Model", "[demo]") {
  test::demo_server s;
  auto r = s.post("/pipeline", {{"text", "  Hello World  "}});
  REQUIRE(r.status == 200);
  auto body = body_of(r);
  CHECK(body["preprocessed"] == "hello world");
  CHECK(body["output"]["label"] == "neutral");
  CHECK(body["output"]["words"] == 2);
}

TEST_CASE("POST /ensemble calls both models in parallel", "[demo]") {
  test::demo_server s;
  auto r = s.post("/ensemble", {{"x", 2}, {"delay_ms", 500}});
  REQUIRE(r.status == 200);
  CHECK(body_of(r) == nlohmann::json{{"a", 4}, {"b", 12}, {"result", 8}});
  // Sequential calls would take at least 1000 ms; parallel ones take one
  // delay. The bound leaves room for a loaded machine and still fails for
  // any sequential execution.
  CHECK(r.elapsed >= milliseconds(500));
  CHECK(r.elapsed < milliseconds(900));
}

TEST_CASE("POST /route sends urgent requests to the fast model", "[demo]") {
  test::demo_server s;
  auto fast = s.post("/route", {{"urgent", true}, {"x", 1}});
  REQUIRE(fast.status == 200);
  CHECK(body_of(fast)["model"] == "fast");
  CHECK(body_of(fast)["y"] == 2);
  auto slow = s.post("/route", {{"urgent", false}, {"x", 1}});
  REQUIRE(slow.status == 200);
  CHECK(body_of(slow)["model"] == "slow");
}

TEST_CASE("GET /blocking runs four sync calls at once", "[demo]") {
  test::demo_server s;
  auto one = s.get("/blocking?ms=10");
  REQUIRE(one.status == 200);
  CHECK(body_of(one) == nlohmann::json{{"slept_ms", 10}});
  auto start = steady_clock::now();
  std::vector<std::future<test::http_result>> calls;
  for (int i = 0; i < 4; ++i)
    calls.push_back(std::async(std::launch::async,
                               [&] { return s.get("/blocking?ms=200"); }));
  for (auto& c : calls)
    CHECK(c.get().status == 200);
  // Four 200 ms calls on four user threads: about 200 ms. Run one after
  // another they would take at least 800 ms; the bound leaves room for a
  // loaded machine and still fails for any serial execution.
  auto elapsed = steady_clock::now() - start;
  CHECK(elapsed >= milliseconds(200));
  CHECK(elapsed < milliseconds(700));
}

TEST_CASE("GET /blocking queues four and refuses the rest with 503", "[demo]") {
  test::demo_server s;
  std::vector<std::future<test::http_result>> calls;
  for (int i = 0; i < 12; ++i)
    calls.push_back(std::async(std::launch::async,
                               [&] { return s.get("/blocking?ms=1000"); }));
  int ok = 0;
  int unavailable = 0;
  for (auto& c : calls) {
    auto r = c.get();
    if (r.status == 200) {
      ++ok;
    } else if (r.status == 503) {
      ++unavailable;
      CHECK(r.header("retry-after") == "1");
      CHECK(body_of(r)["error"].get<std::string>().find(
                "max_queued_requests") != std::string::npos);
    }
  }
  CHECK(ok == 8);
  CHECK(unavailable == 4);
}

TEST_CASE("built-in endpoints report health and routes", "[demo]") {
  test::demo_server s;
  auto health = s.get("/-/healthz");
  CHECK(health.status == 200);
  auto routes = s.get("/-/routes");
  REQUIRE(routes.status == 200);
  CHECK(body_of(routes) == nlohmann::json{{"/autoscale", "autoscale"},
                                          {"/batch", "batch"},
                                          {"/blocking", "blocking"},
                                          {"/classify", "classify"},
                                          {"/ensemble", "ensemble"},
                                          {"/flaky", "flaky"},
                                          {"/models", "models"},
                                          {"/multi", "multi"},
                                          {"/pipeline", "pipeline"},
                                          {"/route", "route"},
                                          {"/stream", "stream"}});
  auto status = test::http(s.serve.admin_port(), "GET", "/-/status");
  REQUIRE(status.status == 200);
  auto apps = body_of(status)["applications"];
  CHECK(apps["classify"]["status"] == "RUNNING");
  CHECK(apps["classify"]["deployments"]["Tokenizer"]["replicas"].size() == 2);
}

TEST_CASE("POST /flaky/sick and /flaky/crash get their replica replaced",
          "[demo][health]") {
  test::demo_server s;
  auto replaced = [&](uint64_t gone) {
    return test::wait_until([&] {
      auto now = test::ready_ids(s.serve, "flaky", "Flaky");
      return now.count(gone) == 0 && now.size() == 2;
    });
  };
  for (auto what : {"/flaky/sick", "/flaky/crash"}) {
    CAPTURE(what);
    auto r = s.post(what, nlohmann::json::object());
    REQUIRE(r.status == 200);
    auto victim = test::body_of(r)["replica"].get<uint64_t>();
    CHECK(replaced(victim));
    auto ok = s.post("/flaky", nlohmann::json::object());
    CHECK(ok.status == 200);
    CHECK(test::body_of(ok)["replica"].get<uint64_t>() != victim);
  }
}

TEST_CASE("POST /batch answers in batches under concurrency",
          "[demo][batching]") {
  test::demo_server s;
  auto one = s.post("/batch", {{"x", 21}});
  REQUIRE(one.status == 200);
  CHECK(test::body_of(one)["y"] == 42);
  CHECK(test::body_of(one)["batch_size"] == 1); // alone: the timeout sent it
  CHECK(s.post("/batch", {{"y", 1}}).status == 400);
  // 64 clients at once: batches of more than one.
  std::atomic<size_t> biggest{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 64; ++c)
    clients.emplace_back([&, c] {
      test::http_connection conn{s.port};
      for (int i = 0; i < 5; ++i) {
        auto r =
            conn.request("POST", "/batch", nlohmann::json{{"x", c}}.dump());
        if (r.status != 200) {
          ++failed;
          continue;
        }
        auto body = test::body_of(r);
        if (body["y"] != 2 * c)
          ++failed;
        size_t k = body["batch_size"];
        auto seen = biggest.load();
        while (k > seen && !biggest.compare_exchange_weak(seen, k)) {
        }
      }
    });
  for (auto& t : clients)
    t.join();
  CHECK(failed == 0);
  CHECK(biggest > 1);
  CHECK(biggest <= 10); // max_batch_size
}

TEST_CASE("POST /multi and /models/{id}/predict load each model once per "
          "replica and route to holders",
          "[demo][multiplexing]") {
  test::demo_server s;
  auto multi = [&](const std::string& model) {
    return test::http(s.port, "POST", "/multi", "{}",
                      {{"serve_multiplexed_model_id", model}});
  };
  auto first = multi("m1");
  REQUIRE(first.status == 200);
  auto b = test::body_of(first);
  CHECK(b["model_id"] == "m1");
  CHECK(b["loaded"] == true);
  auto holder = b["replica"];
  for (int i = 0; i < 5; ++i) {
    auto again = test::body_of(multi("m1"));
    CHECK(again["loaded"] == false); // held: routed to its holder
    CHECK(again["replica"] == holder);
  }
  CHECK(multi("").status == 400);
  // Status (HTTP) reports each replica's models: m1 on its holder only.
  auto reps =
      test::body_of(test::http(s.serve.admin_port(), "GET", "/-/status"))["applications"]["multi"]["deployments"]
                                       ["MultiModel"]["replicas"];
  REQUIRE(reps.size() == 2);
  for (auto& r : reps)
    CHECK(r["multiplexed_model_ids"] == (r["replica_id"] == holder
                                             ? nlohmann::json::array({"m1"})
                                             : nlohmann::json::array()));
  auto p = s.post("/models/alpha/predict", {{"x", 2}});
  REQUIRE(p.status == 200);
  auto pb = test::body_of(p);
  CHECK(pb["model_id"] == "alpha");
  CHECK(pb["loaded"] == true);
  CHECK(pb["prediction"].get<double>() > 0);
  auto p2 = test::body_of(s.post("/models/alpha/predict", {{"x", 2}}));
  CHECK(p2["loaded"] == false);
  CHECK(p2["replica"] == pb["replica"]);
  CHECK(p2["prediction"] == pb["prediction"]);
  CHECK(s.post("/models/alpha/predict", {{"y", 2}}).status == 400);
}
