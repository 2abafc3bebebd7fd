// The head's embedded state store (--state-dir, SQLite) with real
// processes: what the admin API, `deploy` and a PATCH changed survives a
// kill -9, and a kill at any point of a stream of changes leaves a state
// one of the acknowledged changes produced.
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <atomic>
#include <mutex>
#include <thread>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "child.hpp"
#include "http_client.hpp"
#include "state_head.hpp"

namespace {

using json = nlohmann::json;
using test::head;
using test::temp_dir;
using test::wait_until;
using test::flaky_config;
using test::shape_of;

const char* flaky_only = test::flaky_only;

} // namespace

TEST_CASE("a single node with --state-dir comes back after kill -9 with what "
          "the admin API, deploy and a PATCH changed",
          "[process][store]") {
  temp_dir dir;
  auto config = dir.file("serve.yaml", flaky_only);
  auto state = dir.path + "/state";
  json before;
  {
    head h{config, {"--state-dir", state}};
    // The admin API adds an application.
    json put = {{"applications",
                 {{{"name", "flaky"},
                   {"route_prefix", "/flaky"},
                   {"import_path", "demo:flaky"}},
                  {{"name", "blocking"},
                   {"route_prefix", "/blocking"},
                   {"import_path", "demo:blocking"}}}}};
    auto r = test::http(h.admin, "PUT", "/api/serve/applications/", put.dump());
    INFO(r.body);
    REQUIRE(r.status == 200);
    // `deploy` adds another, and scales flaky through its config.
    auto next = dir.file("next.yaml", R"(applications:
  - name: flaky
    route_prefix: /flaky
    import_path: demo:flaky
    deployments:
      - {name: Flaky, num_replicas: 3}
  - name: blocking
    route_prefix: /blocking
    import_path: demo:blocking
  - name: pipeline
    route_prefix: /pipeline
    import_path: demo:pipeline
)");
    test::child deploy{{DEMO_BINARY, "deploy", next, "--admin-port",
                        std::to_string(h.admin)}};
    auto out = deploy.read_until("\x01");
    INFO(out);
    REQUIRE(deploy.wait_exit() == 0);
    // A PATCH changes flaky's user_config in place.
    r = test::http(h.admin, "PATCH",
                   "/api/serve/applications/flaky/deployments/Flaky",
                   R"({"user_config": {"greeting": "moin"}})");
    INFO(r.body);
    REQUIRE(r.status == 200);
    REQUIRE(wait_until([&] {
      return flaky_config(h.http) == json{{"greeting", "moin"}} &&
             shape_of(h.status())["flaky"][1] == "RUNNING";
    }));
    before = h.status();
    h.kill9();
  }
  head again{config, {"--state-dir", state}};
  auto shape = [&] { return shape_of(again.status()); };
  REQUIRE(wait_until([&] { return shape() == shape_of(before); }));
  CHECK(shape()["flaky"][2]["Flaky"][0] == 3);
  CHECK(flaky_config(again.http) == json{{"greeting", "moin"}});
  CHECK(test::http(again.http, "POST", "/pipeline", R"({"text": "Hi"})").status ==
        200);
  // The config `config` shows is the one the admin API took last.
  auto cfg = test::http(again.admin, "GET", "/api/serve/applications/");
  CHECK(json::parse(cfg.body)["state_store"]["healthy"] == true);
}

TEST_CASE("kill -9 at random points of a stream of PATCHes: every restart "
          "reads a state that an acknowledged change produced",
          "[process][store]") {
  temp_dir dir;
  auto config = dir.file("serve.yaml", flaky_only);
  auto state = dir.path + "/state";
  std::mt19937 rng{20261207}; // a fixed seed: the same kill points each run
  // The kill follows the k-th acknowledged change of the round, while the
  // next is on its way: it lands in that change's handling wherever the
  // head happens to be (taking it, applying it, writing it, answering).
  std::uniform_int_distribution<size_t> acks_before_kill{0, 8};
  std::set<int> acked{-1}; // -1: flaky's own config, before any change
  int next = 0;
  for (int round = 0; round < 20; ++round) {
    head h{config, {"--state-dir", state}};
    // What it came back with: the greeting of an acknowledged change, or
    // of the one in flight when the process was killed.
    auto seen = flaky_config(h.http);
    int n = seen.contains("n") ? seen["n"].get<int>() : -1;
    INFO("round " << round << ": restarted with " << seen.dump());
    CHECK((acked.count(n) > 0 || n == next - 1));
    CHECK(n >= *acked.rbegin()); // nothing acknowledged was lost
    acked.insert(n);
    // A stream of changes from another thread; the kill lands anywhere.
    // The client stops at the first change that fails: the one in flight.
    std::atomic<bool> stop{false};
    std::mutex mtx;
    std::condition_variable acked_cv;
    std::set<int> done;
    std::thread client{[&, admin = h.admin] {
      for (int k = next; !stop.load(); ++k) {
        auto body = json{{"user_config", {{"n", k}}}}.dump();
        {
          std::lock_guard<std::mutex> guard{mtx};
          next = k + 1;
        }
        auto r = test::http(admin, "PATCH",
                            "/api/serve/applications/flaky/deployments/Flaky",
                            body);
        if (r.status != 200)
          break; // killed: `k` was in flight
        {
          std::lock_guard<std::mutex> guard{mtx};
          done.insert(k);
        }
        acked_cv.notify_all();
      }
    }};
    {
      auto k = acks_before_kill(rng);
      std::unique_lock<std::mutex> guard{mtx};
      REQUIRE(acked_cv.wait_for(guard, std::chrono::seconds(15),
                                [&] { return done.size() >= k; }));
    }
    h.kill9();
    stop = true;
    client.join();
    acked.insert(done.begin(), done.end());
  }
}
