// A cluster of real processes on loopback: the demo binary as a head and
// worker nodes, joined over CAF networking with a token.
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <future>
#include <map>
#include <set>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "child.hpp"
#include "http_client.hpp"
#include "../e2e/steady_load.hpp"

using namespace std::chrono;

namespace {

const std::string token_env = "ACTORSERVE_CLUSTER_TOKEN=process-test-token";

nlohmann::json status_of(uint16_t port) {
  auto r = test::http(port, "GET", "/-/status");
  REQUIRE(r.status == 200);
  return nlohmann::json::parse(r.body);
}

/// Node id -> state, and the nodes of each deployment's ready replicas.
struct cluster_view {
  std::map<uint64_t, std::string> nodes;
  std::map<std::string, std::multiset<uint64_t>> ready; // "app/dep"

  explicit cluster_view(const nlohmann::json& st) {
    for (auto& n : st["nodes"])
      nodes[n["node_id"].get<uint64_t>()] = n["state"].get<std::string>();
    for (auto& [app, a] : st["applications"].items())
      for (auto& [dep, d] : a["deployments"].items())
        for (auto& r : d["replicas"])
          if (r["state"] == "READY")
            ready[app + "/" + dep].insert(r["node_id"].get<uint64_t>());
  }
};

/// Polls status until `pred` holds; false after `limit`.
template <class Pred>
bool status_until(uint16_t port, Pred pred, milliseconds limit) {
  auto end = steady_clock::now() + limit;
  while (steady_clock::now() < end) {
    if (pred(cluster_view{status_of(port)}))
      return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return pred(cluster_view{status_of(port)});
}

} // namespace

// Longer than 80 lines: three processes started once, then checked in the
// order an operator would (routes, spread, a kill under load).
TEST_CASE("a head and two workers serve every demo route, spread replicas "
          "over all three, and replace a worker killed under load",
          "[process][cluster]") {
  auto port = test::free_port();
  auto cport = test::free_port();
  auto join = "127.0.0.1:" + std::to_string(cport);
  auto aport = test::free_port(); // status is on the admin port
  test::child head{
      {DEMO_BINARY, "--admin-port", std::to_string(aport), "--port",
       std::to_string(port),
       "--cluster-port", std::to_string(cport), "--expect-nodes", "2",
       "--heartbeat-period-ms", "200", "--heartbeat-timeout-ms", "1000"},
      {token_env}};
  test::child w2{{DEMO_BINARY, "--join", join}, {token_env}};
  test::child w3{{DEMO_BINARY, "--join", join}, {token_env}};
  REQUIRE_THAT(head.read_until("serving on"), Catch::Contains("serving on"));
  // The workers join in either order; each says which node it is.
  auto node_of = [](test::child& w) {
    auto out = w.read_until(" of the head");
    auto at = out.find("worker node ");
    REQUIRE(at != std::string::npos);
    return std::stoull(out.substr(at + 12));
  };
  auto killed = node_of(w3);
  auto hung = node_of(w2);
  REQUIRE(std::set<uint64_t>{killed, hung} == std::set<uint64_t>{2, 3});
  auto dead_line = [](uint64_t node) {
    return "node " + std::to_string(node) + " is DEAD";
  };
  // Every route, through the head.
  std::map<std::string, std::string> posts{
      {"/classify", R"({"text": "I love this"})"},
      {"/pipeline", R"({"text": "  Hello World  "})"},
      {"/ensemble", R"({"x": 2, "delay_ms": 5})"},
      {"/route", R"({"urgent": false, "x": 1})"},
      {"/flaky", ""},
      {"/batch", R"({"x": 21})"},
      {"/models/alpha/predict", R"({"x": 2})"},
      {"/stream", R"({"prompt": "a b", "n": 2, "delay_ms": 0})"}};
  for (auto& [path, body] : posts) {
    auto r = test::http(port, "POST", path, body);
    INFO(path << " -> " << r.status << " " << r.body);
    CHECK(r.status == 200);
  }
  CHECK(test::http(port, "GET", "/blocking?ms=5").status == 200);
  CHECK(test::http(port, "GET", "/autoscale?ms=1").status == 200);
  // Three nodes, each running replicas; the Tokenizer on every one.
  cluster_view view{status_of(aport)};
  CHECK(view.nodes == std::map<uint64_t, std::string>{
                          {1, "ALIVE"}, {2, "ALIVE"}, {3, "ALIVE"}});
  CHECK(view.ready["classify/Tokenizer"] == std::multiset<uint64_t>{1, 2, 3});
  // kill -9 a worker under steady load.
  test::steady_load load{port, 4, "POST", "/classify",
                         R"({"text": "I love this"})"};
  std::this_thread::sleep_for(milliseconds(200));
  auto t0 = steady_clock::now();
  REQUIRE(::kill(w3.pid, SIGKILL) == 0);
  auto replaced = [killed](const cluster_view& v) {
    auto& tok = v.ready.at("classify/Tokenizer");
    return v.nodes.at(killed) == "DEAD" && tok.size() == 3 &&
           tok.count(killed) == 0;
  };
  CHECK(status_until(aport, replaced, seconds(10)));
  auto took = duration_cast<milliseconds>(steady_clock::now() - t0);
  CHECK(took < milliseconds(2000)); // 2x the heartbeat timeout
  auto ok_at_kill = load.ok();
  // The load goes on without the lost node.
  auto until = steady_clock::now() + seconds(10);
  while (load.ok() < ok_at_kill + 50 && steady_clock::now() < until)
    std::this_thread::sleep_for(milliseconds(10));
  CHECK(load.ok() >= ok_at_kill + 50);
  load.stop();
  // At most the requests in flight on that node failed, each with 503;
  // none waited for the request timeout.
  CHECK(load.failed() <= 4);
  for (auto& f : load.failures())
    CHECK(f.rfind("503", 0) == 0);
  CHECK_THAT(head.read_until("is DEAD"), Catch::Contains(dead_line(killed)));
  // A worker that hangs (SIGSTOP) misses its heartbeats: DEAD within the
  // timeout, and its replicas move.
  t0 = steady_clock::now();
  REQUIRE(::kill(w2.pid, SIGSTOP) == 0);
  CHECK_THAT(
      head.read_until("did not answer a heartbeat"),
      Catch::Contains(dead_line(hung) +
                      " (it did not answer a heartbeat within 1000 ms)"));
  CHECK(status_until(
      aport,
      [hung](const cluster_view& v) {
        auto& tok = v.ready.at("classify/Tokenizer");
        return v.nodes.at(hung) == "DEAD" &&
               tok == std::multiset<uint64_t>{1, 1, 1};
      },
      seconds(10)));
  CHECK(duration_cast<milliseconds>(steady_clock::now() - t0) <
        milliseconds(2000 + 1000)); // the timeout, a period, and the move
  ::kill(w2.pid, SIGCONT);
  CHECK(test::http(port, "POST", "/classify", posts["/classify"]).status ==
        200);
}

TEST_CASE("worker processes with a wrong or missing token are refused, both "
          "sides say so and the head keeps serving",
          "[process][cluster]") {
  auto port = test::free_port();
  auto cport = test::free_port();
  auto join = "127.0.0.1:" + std::to_string(cport);
  auto aport = test::free_port(); // status is on the admin port
  test::child head{{DEMO_BINARY, "--admin-port", std::to_string(aport),
                    "--port", std::to_string(port), "--cluster-port",
                    std::to_string(cport)},
                   {token_env}};
  REQUIRE_THAT(head.read_until("serving on"), Catch::Contains("serving on"));
  {
    test::child wrong{{DEMO_BINARY, "--join", join},
                      {"ACTORSERVE_CLUSTER_TOKEN=guess"}};
    CHECK_THAT(wrong.read_until("token"),
               Catch::Contains("the head refused this node: wrong cluster "
                               "token"));
    CHECK(wrong.wait_exit() == 1);
    CHECK_THAT(head.read_until("refused"),
               Catch::Contains("refused a node joining"));
  }
  {
    test::child missing{{DEMO_BINARY, "--join", join},
                        {"ACTORSERVE_CLUSTER_TOKEN="}};
    CHECK_THAT(missing.read_until("token"),
               Catch::Contains("missing cluster token"));
    CHECK(missing.wait_exit() == 1);
    CHECK_THAT(head.read_until("missing cluster token"),
               Catch::Contains("missing cluster token"));
  }
  auto st = status_of(aport);
  CHECK(st["nodes"].size() == 1);
  CHECK(test::http(port, "POST", "/classify", R"({"text": "ok"})").status ==
        200);
}

TEST_CASE("a worker that hangs fails the calls running there with 503 at "
          "once, and joins again as a new node once it wakes up",
          "[process][cluster][hang]") {
  auto port = test::free_port();
  auto cport = test::free_port();
  auto aport = test::free_port();
  // The head has no room for replicas: every one runs on the worker.
  test::child head{{DEMO_BINARY, "--admin-port", std::to_string(aport),
                    "--port", std::to_string(port), "--cluster-port",
                    std::to_string(cport), "--expect-nodes", "1",
                    "--memory-budget-mb", "0.001", "--request-timeout-ms",
                    "30000", "--heartbeat-period-ms", "200",
                    "--heartbeat-timeout-ms", "600"},
                   {token_env}};
  test::child worker{
      {DEMO_BINARY, "--join", "127.0.0.1:" + std::to_string(cport)},
      {token_env}};
  REQUIRE_THAT(head.read_until_for("serving on", seconds(60)),
               Catch::Contains("serving on"));
  auto first = test::http(port, "POST", "/classify", R"({"text": "ok"})");
  INFO(first.body);
  REQUIRE(first.status == 200);
  // A call that runs for 20 s on the worker.
  auto slow = std::async(std::launch::async, [&] {
    auto r = test::http(port, "GET", "/blocking?ms=20000");
    return std::make_pair(r.status, steady_clock::now());
  });
  CHECK(status_until(
      aport,
      [&](const cluster_view&) {
        auto st = status_of(aport);
        auto& sleeper = st["applications"]["blocking"]["deployments"]["Sleeper"];
        for (auto& r : sleeper["replicas"])
          if (r["ongoing_requests"].get<int>() > 0)
            return true;
        return false;
      },
      seconds(10)));
  auto t0 = steady_clock::now();
  REQUIRE(::kill(worker.pid, SIGSTOP) == 0);
  // DEAD within the heartbeat timeout and a period; the call running there
  // fails at once then, not at the request timeout.
  REQUIRE(slow.wait_for(seconds(10)) == std::future_status::ready);
  auto [code, at] = slow.get();
  auto took = duration_cast<milliseconds>(at - t0);
  CHECK(code == 503);
  CHECK(took < milliseconds(3000)); // the request timeout is 30 s
  WARN("the call on the hung worker failed after " << took.count() << " ms");
  CHECK_THAT(head.read_until_for("is DEAD", seconds(5)),
             Catch::Contains("node 2 is DEAD (it did not answer a heartbeat"));
  // Awake again: it stops its old replicas and joins as node 3, which the
  // head fills with replicas again.
  REQUIRE(::kill(worker.pid, SIGCONT) == 0);
  CHECK_THAT(worker.read_until_for("joined the head again", seconds(10)),
             Catch::Contains("declared node 2 DEAD; stopping its"));
  CHECK(status_until(
      aport,
      [](const cluster_view& v) {
        if (v.nodes.size() != 3 || v.nodes.at(2) != "DEAD" ||
            v.nodes.at(3) != "ALIVE" || v.ready.count("classify/Tokenizer") == 0)
          return false;
        for (auto& [dep, nodes] : v.ready)
          if (nodes.count(3) != nodes.size())
            return false;
        return true;
      },
      seconds(10)));
  auto st = status_of(aport);
  INFO(st.dump());
  CHECK(st["nodes"][1]["replicas"].empty()); // node 2: none left
  CHECK(st["nodes"].size() == 3);
  CHECK(test::http(port, "POST", "/classify", R"({"text": "ok"})").status ==
        200);
}
