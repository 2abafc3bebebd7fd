// The control plane end to end, over real HTTP under a steady load on
// loopback: the admin API, in-place reconfigure, a rolling update, a crash,
// a sick replica, and autoscaling up and down with the load.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <utility>

#include "actorserve/actorserve.hpp"
#include "demo_server.hpp"
#include "gate.hpp"
#include "steady_load.hpp"

using namespace std::chrono;
using namespace actorserve;
using test::body_of;

namespace {

/// A request to the demo's admin API.
test::http_result admin(test::demo_server& s, const std::string& method,
                        const std::string& target,
                        const std::string& body = {}) {
  return test::http(s.serve.admin_port(), method, target, body);
}

const std::string flaky_path =
    "/api/serve/applications/flaky/deployments/Flaky";

} // namespace

TEST_CASE("the admin API shows the status and refuses bad changes by name",
          "[control][admin]") {
  test::demo_server s;
  REQUIRE(s.serve.admin_port() != 0);
  auto st = admin(s, "GET", "/api/serve/applications/");
  REQUIRE(st.status == 200);
  auto flaky = body_of(st)["applications"]["flaky"];
  CHECK(flaky["status"] == "RUNNING");
  auto dep = flaky["deployments"]["Flaky"];
  CHECK(dep["version"] == "1");
  REQUIRE(dep["replicas"].size() == 2);
  for (auto& r : dep["replicas"])
    CHECK(r["version"] == "1");
  CHECK(body_of(st)["applications"]["autoscale"]["deployments"]["Worker"]
                   ["autoscaling"] == true);
  auto bad = admin(s, "PATCH", flaky_path, R"({"num_replicas": 0})");
  CHECK(bad.status == 400);
  CHECK_THAT(bad.body, Catch::Contains("num_replicas"));
  bad = admin(s, "PATCH", flaky_path, R"({"replicas": 3})");
  CHECK(bad.status == 400);
  CHECK_THAT(bad.body, Catch::Contains("replicas"));
  bad = admin(
      s, "PATCH", flaky_path,
      R"({"autoscaling_config": {"min_replicas": 5, "max_replicas": 2}})");
  CHECK(bad.status == 400);
  CHECK_THAT(bad.body, Catch::Contains("autoscaling_config.min_replicas"));
  bad = admin(s, "PATCH", flaky_path, "not json");
  CHECK(bad.status == 400);
  CHECK(
      admin(s, "PATCH", "/api/serve/applications/flaky/deployments/Nope", "{}")
          .status == 404);
  CHECK(admin(s, "GET", flaky_path).status == 405);
  CHECK(admin(s, "GET", "/api/nothing").status == 404);
  // Nothing changed.
  CHECK(test::ready_ids(s.serve, "flaky", "Flaky").size() == 2);
}

TEST_CASE("a user_config change over the admin API keeps the replicas",
          "[control][reconfigure]") {
  test::demo_server s;
  auto ids = test::ready_ids(s.serve, "flaky", "Flaky");
  REQUIRE(ids.size() == 2);
  test::steady_load load{s.port, 4, "POST", "/flaky", "{}"};
  auto r =
      admin(s, "PATCH", flaky_path, R"({"user_config": {"greeting": "hi"}})");
  REQUIRE(r.status == 200);
  CHECK(body_of(r)["name"] == "Flaky");
  // Every replica answers with the new config once it has it.
  CHECK(test::wait_until([&] {
    auto a = s.post("/flaky", nlohmann::json::object());
    auto b = s.post("/flaky", nlohmann::json::object());
    return body_of(a)["user_config"]["greeting"] == "hi" &&
           body_of(b)["user_config"]["greeting"] == "hi" &&
           body_of(a)["replica"] != body_of(b)["replica"];
  }));
  load.stop();
  CHECK(test::ready_ids(s.serve, "flaky", "Flaky") == ids);
  CHECK(load.failed() == 0);
  CHECK(load.ok() > 0);
}

namespace {

/// Answers its config; its reconfigure hook hangs on a live replica when
/// the new config asks it to (replicas started with that config do not).
http_ingress::behavior_type stuck_hook(http_ingress::pointer self,
                                       std::shared_ptr<test::gate> latch) {
  auto started = std::make_shared<bool>(false);
  on_reconfigure(self, [latch, started](const std::string& cfg) {
    if (std::exchange(*started, true) &&
        cfg.find("hang") != std::string::npos)
      latch->pass();
  });
  return {[self](http_request&) -> reply {
    auto& ctx = replica_context_of(self);
    return json_response({{"replica", ctx.replica_id},
                          {"user_config", ctx.user_config}});
  }};
}

} // namespace

TEST_CASE("a reconfigure hook that hangs is replaced after "
          "reconfigure_timeout, and later changes still reach the deployment",
          "[control][reconfigure]") {
  test::demo_server s;
  auto latch = std::make_shared<test::gate>();
  // The hung hooks return before the server stops, whatever fails.
  struct opener {
    std::shared_ptr<test::gate> latch;
    ~opener() { latch->release(); }
  } open_at_end{latch};
  auto app = s.serve.deployment("Stuck", stuck_hook)
                 .num_replicas(2)
                 .user_config(R"({"x":1})")
                 .reconfigure_timeout(milliseconds(300))
                 .bind(latch);
  REQUIRE(s.serve.run(app, {"stuck", "/stuck"}));
  auto old_ids = test::ready_ids(s.serve, "stuck", "Stuck");
  REQUIRE(old_ids.size() == 2);
  deployment_patch p;
  p.user_config = R"({"hang":true})";
  // Healthy again only through new replicas: the hung ones are replaced.
  auto st = s.serve.update("stuck", "Stuck", p, seconds(30));
  REQUIRE(st);
  CHECK(st->state == deployment_state::healthy);
  CHECK_THAT(st->message, Catch::Contains("failed to reconfigure"));
  auto now = test::ready_ids(s.serve, "stuck", "Stuck");
  CHECK(now.size() == 2);
  for (auto id : now)
    CHECK(old_ids.count(id) == 0);
  CHECK(latch->entered.load() == 2);
  // A later change reaches every replica in place.
  p.user_config = R"({"x":3})";
  st = s.serve.update("stuck", "Stuck", p, seconds(30));
  REQUIRE(st);
  CHECK(st->state == deployment_state::healthy);
  CHECK(test::ready_ids(s.serve, "stuck", "Stuck") == now);
  auto answer = body_of(s.post("/stuck", nlohmann::json::object()));
  CHECK(answer["user_config"] == R"({"x":3})");
}

TEST_CASE("a rolling update to a new version fails no request",
          "[control][rollout]") {
  test::demo_server s;
  auto old_ids = test::ready_ids(s.serve, "flaky", "Flaky");
  std::set<std::string> versions;
  test::steady_load load{
      s.port, 4, "POST", "/flaky", "{}", [&](const nlohmann::json& body) {
        versions.insert(body["version"].get<std::string>());
      }};
  deployment_patch p;
  p.version = "2";
  auto st = s.serve.update("flaky", "Flaky", p, seconds(30));
  REQUIRE(st);
  CHECK(st->state == deployment_state::healthy);
  CHECK(st->version == "2");
  // Answers from the new version arrive.
  CHECK(test::wait_until(
      [&] { return load.locked([&] { return versions.count("2") > 0; }); }));
  load.stop();
  INFO(load.failures().size());
  CHECK(load.failed() == 0);
  CHECK(load.ok() > 0);
  auto now = test::ready_ids(s.serve, "flaky", "Flaky");
  CHECK(now.size() == 2);
  for (auto id : now)
    CHECK(old_ids.count(id) == 0);
  for (auto& rep : test::deployment_of(s.serve, "flaky", "Flaky").replicas)
    CHECK(rep.version == "2");
  CHECK(body_of(s.post("/flaky", nlohmann::json::object()))["version"] == "2");
}

TEST_CASE("a crash under load fails only what ran on the crashed replica, and "
          "a sick replica is replaced within its strikes",
          "[control][health]") {
  test::demo_server s;
  const size_t clients = 4;
  test::steady_load load{s.port, clients, "POST", "/flaky", "{}"};
  auto crash = s.post("/flaky/crash", nlohmann::json::object());
  auto victim = body_of(crash)["replica"];
  CHECK(test::wait_until([&] {
    auto now = test::ready_ids(s.serve, "flaky", "Flaky");
    return now.size() == 2 && now.count(victim.get<uint64_t>()) == 0;
  }));
  // Every call that was running when the victim died has its answer now:
  // only those may fail, at most one per client.
  REQUIRE(load.settle());
  std::string why;
  for (auto& x : load.failures())
    why += x + "\n";
  INFO(why);
  CHECK(load.failed() <= clients);
  auto failed_by_crash = load.failed();
  // Sick: three failed checks (every 500 ms, 300 ms timeout), then replaced;
  // its calls finish, so nothing fails.
  auto sick = s.post("/flaky/sick", nlohmann::json::object());
  REQUIRE(sick.status == 200);
  auto sick_id = body_of(sick)["replica"].get<uint64_t>();
  auto t0 = steady_clock::now();
  CHECK(test::wait_until(
      [&] {
        auto now = test::ready_ids(s.serve, "flaky", "Flaky");
        return now.size() == 2 && now.count(sick_id) == 0;
      },
      seconds(10)));
  auto took = steady_clock::now() - t0;
  // 3 x period + timeout, plus a margin for a loaded machine.
  CHECK(took < 3 * milliseconds(500) + milliseconds(300) + seconds(3));
  load.stop();
  CHECK(load.failed() == failed_by_crash);
  CHECK(load.ok() > 0);
}

TEST_CASE("a load step scales the Worker up after the upscale delay and down "
          "after the downscale delay",
          "[control][autoscaling]") {
  test::demo_server s;
  auto target = [&] {
    return test::deployment_of(s.serve, "autoscale", "Worker").target_replicas;
  };
  REQUIRE(target() == 1);
  // Eight clients each keep one 50 ms request running: load 8 at a target
  // of 2 per replica asks for 4 replicas (the maximum).
  std::set<uint64_t> replicas;
  auto t0 = steady_clock::now();
  test::steady_load load{s.port,
                         8,
                         "GET",
                         "/autoscale?ms=50",
                         {},
                         [&](const nlohmann::json& body) {
                           replicas.insert(body["replica"].get<uint64_t>());
                         }};
  REQUIRE(test::wait_until([&] { return target() == 4; }, seconds(15)));
  auto up = steady_clock::now() - t0;
  // Not before the upscale delay (1 s); within it plus the look-back (2 s)
  // and a margin.
  CHECK(up >= seconds(1));
  CHECK(up < seconds(1) + seconds(2) + seconds(4));
  // The new replicas take requests.
  CHECK(test::wait_until(
      [&] { return load.locked([&] { return replicas.size() >= 3; }); }));
  load.stop();
  auto t1 = steady_clock::now();
  REQUIRE(test::wait_until([&] { return target() == 1; }, seconds(20)));
  auto down = steady_clock::now() - t1;
  CHECK(down >= seconds(3)); // the downscale delay
  CHECK(down < seconds(3) + seconds(2) + seconds(6));
  CHECK(load.failed() == 0);
  CHECK(test::wait_until([&] {
    return test::ready_ids(s.serve, "autoscale", "Worker").size() == 1;
  }));
}
