// A head with a state store dies and comes back, or a standby takes over:
// its workers keep their replicas and keep serving, rejoin, and the new
// head adopts them as they are (same ids, same start times), then changes
// reach them: real processes, a real redis-server, loopback.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>

#include <nlohmann/json.hpp>

#include "child.hpp"
#include "http_client.hpp"
#include "redis_server.hpp"
#include "state_head.hpp"

using namespace std::chrono;

namespace {

const std::string token_env = "ACTORSERVE_CLUSTER_TOKEN=recovery-test-token";

std::vector<std::string> timeouts() {
  return {"--heartbeat-period-ms", "200", "--heartbeat-timeout-ms", "600",
          "--cluster-connection-timeout-ms", "2000"};
}

/// The demo head with no room for replicas (all go to its two workers)
/// and a state store (`store`: its flags), on `port`, `admin` and `cport`.
struct head_node {
  uint16_t port;
  uint16_t admin;
  test::child proc;
  head_node(uint16_t cport, std::vector<std::string> store,
            uint16_t http_port = test::free_port(),
            uint16_t admin_port = test::free_port())
      : port(http_port), admin(admin_port),
        proc{args(cport, std::move(store)), {token_env}} {}
  std::vector<std::string> args(uint16_t cport,
                                std::vector<std::string> store) {
    std::vector<std::string> out{
        DEMO_BINARY,     "--port",          std::to_string(port),
        "--admin-port",  std::to_string(admin), "--cluster-port",
        std::to_string(cport), "--expect-nodes", "2",
        "--memory-budget-mb", "0.001"};
    out.insert(out.end(), store.begin(), store.end());
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
  head.emplace(cport, std::vector<std::string>{"--state-dir", state});
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
  head.emplace(cport, std::vector<std::string>{"--state-dir", state});
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

TEST_CASE("a standby head on the Redis store takes over within 5 s of the "
          "leader's kill -9, and requests through the workers' proxies "
          "never fail",
          "[process][cluster][store][standby]") {
  // The standby on the leader's own ports, or on ports of its own: then
  // the workers find it through the store.
  auto elsewhere = GENERATE(false, true);
  INFO((elsewhere ? "standby on other ports" : "standby on the same ports"));
  auto rport = test::free_port();
  test::redis_server redis{rport};
  auto url = "redis://127.0.0.1:" + std::to_string(rport) + "/sb";
  std::vector<std::string> store{"--state-store", url, "--lease-ttl-ms",
                                 "1500"};
  auto cport = test::free_port();
  auto port = test::free_port();
  auto admin = test::free_port();
  std::optional<head_node> leader;
  leader.emplace(cport, store, port, admin);
  uint16_t wport = test::free_port();
  auto worker_args = [&](uint16_t http) {
    std::vector<std::string> out{DEMO_BINARY, "--join",
                                 "127.0.0.1:" + std::to_string(cport),
                                 "--proxy", "--port", std::to_string(http)};
    if (elsewhere) {
      out.push_back("--state-store");
      out.push_back(url);
    }
    return out;
  };
  test::child w1{worker_args(wport), {token_env}};
  test::child w2{worker_args(test::free_port()), {token_env}};
  REQUIRE_THAT(leader->proc.read_until_for("serving on", seconds(60)),
               Catch::Contains("serving on"));
  // The standby waits for the lease before it binds anything: it takes
  // the same ports once the leader is gone, and the workers find it there.
  auto with_standby = store;
  with_standby.push_back("--standby");
  auto sport = elsewhere ? test::free_port() : port;
  auto sadmin = elsewhere ? test::free_port() : admin;
  head_node standby{elsewhere ? test::free_port() : cport, with_standby,
                    sport, sadmin};
  REQUIRE_THAT(standby.proc.read_until_for("standby: waiting", seconds(10)),
               Catch::Contains("standby: waiting"));
  REQUIRE(test::wait_until([&] { return all_healthy(admin); }));
  auto before = ready_replicas(admin);
  admin = sadmin; // from here on, status comes from the standby
  // A route whose replicas all run on w1 serves through w1's proxy: the
  // flaky app's replicas spread over both workers, so use a deployment w1
  // runs alone, found through w1's own status.
  REQUIRE(test::wait_until([&] {
    return test::http(wport, "POST", "/flaky", "").status == 200;
  }));
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::thread load{[&] {
    while (!stop.load())
      (test::http(wport, "POST", "/flaky", "").status == 200 ? ok : failed)++;
  }};
  auto killed = steady_clock::now();
  leader.reset(); // kill -9
  auto out = standby.proc.read_until_for("serving on", seconds(20));
  auto took = duration_cast<milliseconds>(steady_clock::now() - killed);
  INFO(out);
  CHECK_THAT(out, Catch::Contains("this head leads now"));
  REQUIRE_THAT(out, Catch::Contains("serving on"));
  CHECK(took < seconds(5));
  CHECK(test::wait_until([&] {
    return all_healthy(admin) && ready_replicas(admin) == before;
  }));
  stop = true;
  load.join();
  INFO(ok.load() << " requests answered through the worker's proxy");
  CHECK(ok.load() > 0);
  CHECK(failed.load() == 0);
}
