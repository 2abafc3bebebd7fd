// The head on the shared state store (Redis) with real processes: a Redis
// that goes away under load stops no request, changes get 503 while it is
// away, and once it is back (empty: it keeps nothing on disk here) changes
// succeed and the store catches up with everything the head holds.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "child.hpp"
#include "http_client.hpp"
#include "redis_server.hpp"
#include "state_head.hpp"

namespace {

using json = nlohmann::json;

const char* patch_path = "/api/serve/applications/flaky/deployments/Flaky";

/// Requests through the HTTP port from a thread of its own, counting the
/// ones that did not answer 200.
struct steady_load {
  std::atomic<bool> stop{false};
  std::atomic<int> sent{0};
  std::atomic<int> failed{0};
  std::thread thread;
  explicit steady_load(uint16_t port) {
    thread = std::thread{[this, port] {
      while (!stop.load()) {
        auto r = test::http(port, "POST", "/flaky", "");
        ++sent;
        if (r.status != 200)
          ++failed;
      }
    }};
  }
  ~steady_load() { finish(); }
  void finish() {
    stop = true;
    if (thread.joinable())
      thread.join();
  }
};

} // namespace

TEST_CASE("a Redis store that goes away under load stops no request, "
          "changes get 503 until it is back, and then it catches up",
          "[process][store][redis]") {
  test::temp_dir dir;
  auto config = dir.file("serve.yaml", test::flaky_only);
  auto rport = test::free_port();
  auto url = "redis://127.0.0.1:" + std::to_string(rport) + "/ha";
  auto redis = std::make_unique<test::redis_server>(rport);
  json expected;
  {
    test::head h{config, {"--state-store", url}, {"--lease-ttl-ms", "600"}};
    steady_load load{h.http};
    redis.reset(); // Redis is gone
    // The lease's renewal notices within a third of its TTL (status says
    // so); from then on changes are refused with 503 and a JSON body that
    // says why, before they are made.
    REQUIRE(test::wait_until(
        [&] { return h.status()["state_store"]["healthy"] == false; }));
    test::http_result r;
    REQUIRE(test::wait_until([&] {
      r = test::http(h.admin, "PATCH", patch_path,
                     R"({"user_config": {"greeting": "during"}})");
      return r.status == 503;
    }));
    CHECK(json::parse(r.body)["error"].get<std::string>().find(
              "state store") != std::string::npos);
    // Nothing changed: the refused PATCH did not reach the replicas.
    CHECK(test::flaky_config(h.http) == json{{"greeting", "hello"}});
    // Redis is back, empty: a change succeeds, and the store catches up.
    redis = std::make_unique<test::redis_server>(rport);
    REQUIRE(test::wait_until([&] {
      r = test::http(h.admin, "PATCH", patch_path,
                     R"({"user_config": {"greeting": "after"}})");
      return r.status == 200;
    }));
    load.finish();
    INFO(load.sent.load() << " requests during the outage");
    CHECK(load.sent.load() > 0);
    CHECK(load.failed.load() == 0);
    CHECK(test::wait_until(
        [&] { return h.status()["state_store"]["healthy"] == true; }));
    expected = test::shape_of(h.status());
    h.kill9();
  }
  // A new head on the same store comes back with all of it: the store
  // holds the application, not only the last change.
  test::head again{config, {"--state-store", url}};
  CHECK(test::wait_until(
      [&] { return test::shape_of(again.status()) == expected; }));
  CHECK(test::flaky_config(again.http) == json{{"greeting", "after"}});
}
