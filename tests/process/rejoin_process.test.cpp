// A worker whose connection to its head closed keeps its replicas serving
// and joins again (a new connection, the same token), reporting the
// replicas it kept; it exits once it has had no head for
// --orphan-timeout-s: real processes on loopback.
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "child.hpp"
#include "http_client.hpp"
#include "../e2e/steady_load.hpp"

using namespace std::chrono;

namespace {

const std::string token_env = "ACTORSERVE_CLUSTER_TOKEN=rejoin-test-token";

/// Flags both sides share: a node silent for 600 ms is DEAD, a connection
/// silent for 2 s is closed.
std::vector<std::string> with_timeouts(std::vector<std::string> args) {
  for (auto flag : {"--heartbeat-period-ms", "200", "--heartbeat-timeout-ms",
                    "600", "--cluster-connection-timeout-ms", "2000"})
    args.emplace_back(flag);
  return args;
}

/// Node id -> state, and whether every READY replica runs on `node` (and
/// there is one of each deployment).
struct view {
  std::map<uint64_t, std::string> nodes;
  size_t ready = 0;
  size_t ready_elsewhere = 0;
};

view view_of(uint16_t admin, uint64_t node) {
  view v;
  auto r = test::http(admin, "GET", "/-/status");
  if (r.status != 200)
    return v;
  auto st = nlohmann::json::parse(r.body);
  for (auto& n : st["nodes"])
    v.nodes[n["node_id"].get<uint64_t>()] = n["state"].get<std::string>();
  for (auto& [app, a] : st["applications"].items())
    for (auto& [dep, d] : a["deployments"].items())
      for (auto& rep : d["replicas"])
        if (rep["state"] == "READY") {
          ++v.ready;
          v.ready_elsewhere += rep["node_id"].get<uint64_t>() != node;
        }
  return v;
}

/// Polls status until node `node` is ALIVE and holds every READY replica
/// (at least one); false after `limit`.
bool serving_on(uint16_t admin, uint64_t node, milliseconds limit) {
  auto end = steady_clock::now() + limit;
  for (;;) {
    auto v = view_of(admin, node);
    auto i = v.nodes.find(node);
    if (i != v.nodes.end() && i->second == "ALIVE" && v.ready > 0 &&
        v.ready_elsewhere == 0)
      return true;
    if (steady_clock::now() >= end)
      return false;
    std::this_thread::sleep_for(milliseconds(50));
  }
}

/// Waits for `c` to end within `limit`: its exit status, or -2.
int exit_within(test::child& c, milliseconds limit) {
  auto end = steady_clock::now() + limit;
  while (steady_clock::now() < end) {
    int status = 0;
    if (::waitpid(c.pid, &status, WNOHANG) == c.pid) {
      c.pid = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  return -2;
}

struct head_proc {
  uint16_t port = test::free_port();
  uint16_t admin = test::free_port();
  uint16_t cport;
  test::child proc;

  // The head has no room for replicas: every one runs on the workers.
  explicit head_proc(uint16_t cluster_port, int nodes = 1)
      : cport(cluster_port),
        proc{with_timeouts({DEMO_BINARY, "--admin-port",
                            std::to_string(admin), "--port",
                            std::to_string(port), "--cluster-port",
                            std::to_string(cport), "--expect-nodes",
                            std::to_string(nodes), "--memory-budget-mb",
                            "0.001"}),
             {token_env}} {}
};

/// A worker of the head on `cport`, with `flags` added.
test::child worker_of(uint16_t cport, std::vector<std::string> flags = {}) {
  auto args = with_timeouts(
      {DEMO_BINARY, "--join", "127.0.0.1:" + std::to_string(cport)});
  args.insert(args.end(), flags.begin(), flags.end());
  return test::child{std::move(args), {token_env}};
}

} // namespace

TEST_CASE("a worker silent past the connection timeout joins again as a new "
          "node over a new connection and serves again",
          "[process][cluster][rejoin]") {
  head_proc head{test::free_port()};
  auto worker = worker_of(head.cport);
  REQUIRE_THAT(head.proc.read_until_for("serving on", seconds(60)),
               Catch::Contains("serving on"));
  REQUIRE(serving_on(head.admin, 2, seconds(10)));
  REQUIRE(test::http(head.port, "POST", "/classify", R"({"text": "ok"})")
              .status == 200);
  // Stopped for twice the connection timeout: DEAD after 600 ms, and the
  // head closes the silent connection after 2 s.
  REQUIRE(::kill(worker.pid, SIGSTOP) == 0);
  CHECK_THAT(head.proc.read_until_for("is DEAD", seconds(5)),
             Catch::Contains("node 2 is DEAD"));
  std::this_thread::sleep_for(milliseconds(4000)); // the pause under test
  REQUIRE(::kill(worker.pid, SIGCONT) == 0);
  auto out = worker.read_until_for("joined the head again", seconds(20));
  CHECK_THAT(out, Catch::Contains("joined the head again as node 3"));
  CHECK(serving_on(head.admin, 3, seconds(15)));
  auto v = view_of(head.admin, 3);
  CHECK(v.nodes.size() == 3);
  CHECK(v.nodes[2] == "DEAD");
  CHECK(test::http(head.port, "POST", "/classify", R"({"text": "ok"})")
            .status == 200);
}

TEST_CASE("a worker whose head is gone keeps trying to join again for "
          "--orphan-timeout-s, then stops its replicas and exits",
          "[process][cluster][rejoin][orphan]") {
  auto cport = test::free_port();
  std::optional<head_proc> head;
  head.emplace(cport);
  auto worker = worker_of(cport, {"--orphan-timeout-s", "1"});
  REQUIRE_THAT(head->proc.read_until_for("serving on", seconds(60)),
               Catch::Contains("serving on"));
  REQUIRE(serving_on(head->admin, 2, seconds(10)));
  head.reset(); // SIGKILL
  auto t0 = steady_clock::now();
  auto out = worker.read_until_for("and exiting", seconds(15));
  CHECK_THAT(out, Catch::Contains("lost the connection to the head; keeping"));
  CHECK_THAT(out, Catch::Contains("trying again in"));
  CHECK_THAT(out, Catch::Contains("no head for 1000 ms"));
  CHECK(exit_within(worker, seconds(15)) == 0);
  auto took = duration_cast<milliseconds>(steady_clock::now() - t0);
  CHECK(took >= milliseconds(900)); // it kept trying, not exit at once
  CHECK(took < milliseconds(10000));
}

TEST_CASE("a worker whose head restarts on the same port joins the new head",
          "[process][cluster][rejoin]") {
  auto cport = test::free_port();
  // The deprecated flag still sets the orphan timeout.
  auto worker = worker_of(cport, {"--rejoin-timeout-ms", "30000"});
  {
    head_proc head{cport};
    REQUIRE_THAT(head.proc.read_until_for("serving on", seconds(60)),
                 Catch::Contains("serving on"));
    REQUIRE(serving_on(head.admin, 2, seconds(10)));
  } // killed
  CHECK_THAT(worker.read_until_for("trying again in", seconds(10)),
             Catch::Contains("lost the connection to the head"));
  head_proc again{cport};
  CHECK_THAT(worker.read_until_for("joined the head again", seconds(20)),
             Catch::Contains("joined the head again as node 2"));
  REQUIRE_THAT(again.proc.read_until_for("serving on", seconds(60)),
               Catch::Contains("serving on"));
  CHECK(serving_on(again.admin, 2, seconds(15)));
  CHECK(test::http(again.port, "POST", "/classify", R"({"text": "ok"})")
            .status == 200);
}

namespace {

/// The node id a worker says it joined as.
uint64_t joined_as(test::child& w) {
  auto out = w.read_until_for(" as node ", seconds(60));
  auto at = out.rfind(" as node ");
  REQUIRE(at != std::string::npos);
  return std::stoull(out.substr(at + 9));
}

/// The node holding a READY replica of `app/dep`, 0 when none.
uint64_t node_of(uint16_t admin, const std::string& app,
                 const std::string& dep) {
  auto r = test::http(admin, "GET", "/-/status");
  if (r.status != 200)
    return 0;
  auto st = nlohmann::json::parse(r.body);
  for (auto& rep : st["applications"][app]["deployments"][dep]["replicas"])
    if (rep["state"] == "READY")
      return rep["node_id"].get<uint64_t>();
  return 0;
}

} // namespace

// Longer than 80 lines: a head and two workers, the head killed under load
// and restarted, checked in the order an operator would.
TEST_CASE("workers keep serving through their proxies while the head is "
          "down, answer status themselves, and join the restarted head "
          "with the replicas they kept",
          "[process][cluster][rejoin][headless]") {
  auto cport = test::free_port();
  std::optional<head_proc> head;
  head.emplace(cport, 2);
  uint16_t wport[2] = {test::free_port(), test::free_port()};
  test::child w[2] = {worker_of(cport, {"--proxy", "--port",
                                        std::to_string(wport[0])}),
                      worker_of(cport, {"--proxy", "--port",
                                        std::to_string(wport[1])})};
  REQUIRE_THAT(head->proc.read_until_for("serving on", seconds(60)),
               Catch::Contains("serving on"));
  uint64_t ids[2] = {joined_as(w[0]), joined_as(w[1])};
  // The worker that runs the Classifier runs a Tokenizer too (three, over
  // two workers): /classify needs no other node there.
  auto classifier = node_of(head->admin, "classify", "Classifier");
  REQUIRE((classifier == ids[0] || classifier == ids[1]));
  auto i = classifier == ids[0] ? 0 : 1;
  auto body = R"({"text": "I love this"})";
  auto answered = [&] {
    auto end = steady_clock::now() + seconds(10);
    // Each request is the wait: asked again as soon as it is answered.
    while (test::http(wport[i], "POST", "/classify", body).status != 200)
      if (steady_clock::now() >= end)
        return false;
    return true;
  };
  REQUIRE(answered()); // the proxy has its routes
  test::steady_load load{wport[i], 4, "POST", "/classify", body};
  REQUIRE(load.settle());
  auto before_ms = duration_cast<milliseconds>(
                       system_clock::now().time_since_epoch())
                       .count();
  head.reset(); // SIGKILL
  auto until = steady_clock::now() + seconds(10);
  auto ok_at_kill = load.ok();
  CHECK_THAT(w[i].read_until_for("keeping", seconds(10)),
             Catch::Contains("lost the connection to the head; keeping"));
  // The worker answers status itself: no head since the kill, its own
  // node and replicas.
  auto r = test::http(wport[i], "GET", "/-/status");
  INFO(r.body);
  REQUIRE(r.status == 200);
  auto st = nlohmann::json::parse(r.body);
  CHECK(st["head_unreachable_since_ms"].get<int64_t>() >= before_ms - 1000);
  REQUIRE(st["nodes"].size() == 1);
  CHECK(st["nodes"][0]["node_id"] == ids[i]);
  CHECK(st["nodes"][0]["replicas"].size() >= 2);
  CHECK(st["applications"]["classify"]["deployments"]["Classifier"]
            ["replicas"].size() == 1);
  CHECK(test::http(wport[i], "GET", "/-/healthz").status == 200);
  // The rest of the 10 s: this thread sends requests too, each of which
  // must be answered.
  while (steady_clock::now() < until)
    CHECK(test::http(wport[i], "POST", "/classify", body).status == 200);
  load.stop();
  CHECK(load.ok() >= ok_at_kill + 100);
  CHECK(load.failed() == 0);
  for (auto& f : load.failures())
    FAIL_CHECK(f);
  // The head again, on the same cluster port: both workers join it,
  // reporting the replicas they kept.
  head.emplace(cport, 2);
  for (auto& worker : w)
    CHECK_THAT(worker.read_until_for("joined the head again", seconds(30)),
               Catch::Matches("(.|\\n)*joined the head again as node [23], "
                              "reporting [1-9][0-9]* replica\\(s\\)(.|\\n)*"));
  REQUIRE_THAT(head->proc.read_until_for("serving on", seconds(60)),
               Catch::Contains("serving on"));
  auto v = view_of(head->admin, 0);
  CHECK(v.nodes == std::map<uint64_t, std::string>{
                       {1, "ALIVE"}, {2, "ALIVE"}, {3, "ALIVE"}});
  CHECK(v.ready > 0);
  CHECK(v.ready_elsewhere == v.ready); // none on the head
  // The worker's status is the head's again.
  st = nlohmann::json::parse(test::http(wport[i], "GET", "/-/status").body);
  CHECK_FALSE(st.contains("head_unreachable_since_ms"));
  CHECK(st["nodes"].size() == 3);
  CHECK(answered());
}
