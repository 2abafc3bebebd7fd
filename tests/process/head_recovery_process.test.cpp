// A head with a state store dies and comes back: its workers keep their
// replicas, rejoin, and the new head adopts them as they are (same ids,
// same start times), then changes reach them: real processes on loopback.
#include <catch2/catch.hpp>

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>

#include <nlohmann/json.hpp>

#include "child.hpp"
#include "http_client.hpp"
#include "state_head.hpp"

using namespace std::chrono;

namespace {

const std::string token_env = "ACTORSERVE_CLUSTER_TOKEN=recovery-test-token";

std::vector<std::string> timeouts() {
  return {"--heartbeat-period-ms", "200", "--heartbeat-timeout-ms", "600",
          "--cluster-connection-timeout-ms", "2000"};
}

/// The demo head with no room for replicas (all go to its two workers)
/// and a state store in `dir`.
struct head_node {
  uint16_t port = test::free_port();
  uint16_t admin = test::free_port();
  test::child proc;
  head_node(uint16_t cport, const std::string& dir)
      : proc{args(cport, dir), {token_env}} {}
  std::vector<std::string> args(uint16_t cport, const std::string& dir) {
    std::vector<std::string> out{
        DEMO_BINARY,     "--port",          std::to_string(port),
        "--admin-port",  std::to_string(admin), "--cluster-port",
        std::to_string(cport), "--expect-nodes", "2",
        "--memory-budget-mb", "0.001", "--state-dir", dir};
    for (auto& f : timeouts())
      out.push_back(f);
    return out;
  }
};

using replica_key =
    std::tuple<std::string, std::string, uint64_t, int64_t, uint64_t>;

/// Every READY replica: app, deployment, id, start time, node.
std::set<replica_key> ready_replicas(uint16_t admin) {
  std::set<replica_key> out;
  auto r = test::http(admin, "GET", "/-/status");
  if (r.status != 200)
    return out;
  auto st = nlohmann::json::parse(r.body);
  for (auto& [app, a] : st["applications"].items())
    for (auto& [dep, d] : a["deployments"].items())
      for (auto& rep : d["replicas"])
        if (rep["state"] == "READY")
          out.emplace(app, dep, rep["replica_id"].get<uint64_t>(),
                      rep["started_at_ms"].get<int64_t>(),
                      rep["node_id"].get<uint64_t>());
  return out;
}

/// What is in `x` and not in `y`, for a failure's message.
std::string missing(const std::set<replica_key>& x,
                    const std::set<replica_key>& y) {
  std::string out;
  for (auto& k : x)
    if (y.count(k) == 0)
      out += std::get<0>(k) + "/" + std::get<1>(k) + " id " +
             std::to_string(std::get<2>(k)) + " started " +
             std::to_string(std::get<3>(k)) + " node " +
             std::to_string(std::get<4>(k)) + "; ";
  return out;
}

/// Whether every deployment of every application is HEALTHY.
bool all_healthy(uint16_t admin) {
  auto r = test::http(admin, "GET", "/-/status");
  if (r.status != 200)
    return false;
  auto st = nlohmann::json::parse(r.body);
  for (auto& [app, a] : st["applications"].items())
    for (auto& [dep, d] : a["deployments"].items())
      if (d["status"] != "HEALTHY")
        return false;
  return !st["applications"].empty();
}

} // namespace

TEST_CASE("a head restarted with its state store adopts the replicas its "
          "workers kept: same ids and start times, and a PATCH reaches them",
          "[process][cluster][store][recovery]") {
  test::temp_dir dir;
  auto state = dir.path + "/state";
  auto cport = test::free_port();
  std::optional<head_node> head;
  head.emplace(cport, state);
  test::child w1{{DEMO_BINARY, "--join", "127.0.0.1:" + std::to_string(cport)},
                 {token_env}};
  test::child w2{{DEMO_BINARY, "--join", "127.0.0.1:" + std::to_string(cport)},
                 {token_env}};
  REQUIRE_THAT(head->proc.read_until_for("serving on", seconds(60)),
               Catch::Contains("serving on"));
  REQUIRE(test::wait_until([&] { return all_healthy(head->admin); }));
  auto before = ready_replicas(head->admin);
  REQUIRE(before.size() > 10);
  for (auto& r : before)
    REQUIRE(std::get<4>(r) != 1); // every one on a worker
  head.reset(); // kill -9
  head.emplace(cport, state);
  // The same applications, the same replicas: adopted, none restarted.
  auto banner = head->proc.read_until_for("serving on", seconds(30));
  INFO(banner);
  REQUIRE_THAT(banner, Catch::Contains("serving on"));
  CHECK_THAT(banner, Catch::Contains("adopted"));
  CHECK(test::wait_until([&] {
    return all_healthy(head->admin) && ready_replicas(head->admin) == before;
  }));
  // A change after recovery reaches the adopted replicas in place.
  auto r = test::http(head->admin, "PATCH",
                      "/api/serve/applications/flaky/deployments/Flaky",
                      R"({"user_config": {"greeting": "recovered"}})");
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(test::wait_until([&] {
    auto c = test::flaky_config(head->port);
    return c == nlohmann::json{{"greeting", "recovered"}};
  }));
  auto after = ready_replicas(head->admin);
  INFO("gone: " << missing(before, after) << "new: " << missing(after, before));
  CHECK(after == before);
}
