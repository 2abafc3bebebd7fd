// A worker whose connection to its head closed joins again (a new
// connection, the same token) as a new node, and exits once it cannot
// within --rejoin-timeout-ms: real processes on loopback.
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

  // The head has no room for replicas: every one runs on the worker.
  explicit head_proc(uint16_t cluster_port)
      : cport(cluster_port),
        proc{with_timeouts({DEMO_BINARY, "--admin-port",
                            std::to_string(admin), "--port",
                            std::to_string(port), "--cluster-port",
                            std::to_string(cport), "--expect-nodes", "1",
                            "--memory-budget-mb", "0.001"}),
             {token_env}} {}
};

test::child worker_of(uint16_t cport, const std::string& rejoin_ms) {
  return test::child{
      with_timeouts({DEMO_BINARY, "--join", "127.0.0.1:" + std::to_string(cport),
                     "--rejoin-timeout-ms", rejoin_ms}),
      {token_env}};
}

} // namespace

TEST_CASE("a worker silent past the connection timeout joins again as a new "
          "node over a new connection and serves again",
          "[process][cluster][rejoin]") {
  head_proc head{test::free_port()};
  auto worker = worker_of(head.cport, "30000");
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
  CHECK_THAT(out, Catch::Contains("lost the connection to the head; "
                                  "stopping"));
  CHECK_THAT(out, Catch::Contains("joined the head again as node 3"));
  CHECK(serving_on(head.admin, 3, seconds(15)));
  auto v = view_of(head.admin, 3);
  CHECK(v.nodes.size() == 3);
  CHECK(v.nodes[2] == "DEAD");
  CHECK(test::http(head.port, "POST", "/classify", R"({"text": "ok"})")
            .status == 200);
}

TEST_CASE("a worker whose head is gone tries to join again for "
          "--rejoin-timeout-ms, then exits",
          "[process][cluster][rejoin]") {
  auto cport = test::free_port();
  std::optional<head_proc> head;
  head.emplace(cport);
  auto worker = worker_of(cport, "1500");
  REQUIRE_THAT(head->proc.read_until_for("serving on", seconds(60)),
               Catch::Contains("serving on"));
  REQUIRE(serving_on(head->admin, 2, seconds(10)));
  head.reset(); // SIGKILL
  auto t0 = steady_clock::now();
  auto out = worker.read_until_for("could not join the head again",
                                   seconds(15));
  CHECK_THAT(out, Catch::Contains("lost the connection to the head"));
  CHECK_THAT(out, Catch::Contains("trying again in"));
  CHECK_THAT(out, Catch::Contains("could not join the head again"));
  CHECK(exit_within(worker, seconds(15)) >= 0);
  auto took = duration_cast<milliseconds>(steady_clock::now() - t0);
  CHECK(took >= milliseconds(1000)); // it kept trying, not exit at once
  CHECK(took < milliseconds(15000));
}

TEST_CASE("a worker whose head restarts on the same port within "
          "--rejoin-timeout-ms joins the new head",
          "[process][cluster][rejoin]") {
  auto cport = test::free_port();
  auto worker = worker_of(cport, "30000");
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
