// Blocking user code never delays the system plane: with every user thread
// of one deployment blocked, another deployment's requests and controller
// status probes stay fast.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "actorserve/actorserve.hpp"
#include "demo_server.hpp"

using namespace std::chrono;
using namespace actorserve;

namespace {

/// Blocks every call until the test opens it.
struct gate {
  std::mutex mtx;
  std::condition_variable cv;
  bool open = false;
  std::atomic<int> entered{0};

  void pass() {
    ++entered;
    std::unique_lock<std::mutex> guard{mtx};
    cv.wait(guard, [this] { return open; });
  }

  void release() {
    {
      std::lock_guard<std::mutex> guard{mtx};
      open = true;
    }
    cv.notify_all();
  }
};

http_ingress::behavior_type gated(http_ingress::pointer self,
                                  std::shared_ptr<gate> g) {
  return {[=](http_request&) -> reply {
    return run_blocking(self, [g] {
      g->pass();
      return json_response({{"passed", true}});
    });
  }};
}

microseconds p99(std::vector<microseconds> xs) {
  std::sort(xs.begin(), xs.end());
  return xs[xs.size() * 99 / 100];
}

} // namespace

TEST_CASE("blocked user threads delay neither routing nor status probes",
          "[isolation]") {
  test::demo_server s;
  auto g = std::make_shared<gate>();
  auto app = s.serve.deployment("Gate", gated).max_ongoing_requests(4).bind(g);
  REQUIRE(s.serve.run(app, {"gate", "/gate"}));
  // Occupy all four blocking threads of the Gate replica.
  std::vector<std::future<test::http_result>> blocked;
  for (int i = 0; i < 4; ++i)
    blocked.push_back(std::async(std::launch::async, [&] {
      return test::http(s.port, "POST", "/gate", "{}");
    }));
  for (int i = 0; i < 30'000 && g->entered.load() < 4; ++i)
    std::this_thread::yield(); // waits for the event "all four entered"
  REQUIRE(g->entered.load() == 4);

  std::vector<microseconds> http_lat;
  std::vector<microseconds> probe_lat;
  test::http_connection conn{s.port};
  for (int i = 0; i < 300; ++i) {
    auto r = conn.request("POST", "/classify", R"({"text":"I love this"})");
    REQUIRE(r.status == 200);
    http_lat.push_back(r.elapsed);
    auto start = steady_clock::now();
    auto st = s.serve.status();
    probe_lat.push_back(
        duration_cast<microseconds>(steady_clock::now() - start));
    REQUIRE(st);
  }
  // Still blocked while we measured.
  CHECK(g->entered.load() == 4);
  CHECK(blocked[0].wait_for(seconds(0)) == std::future_status::timeout);
  g->release();
  for (auto& b : blocked)
    CHECK(b.get().status == 200);
  INFO("HTTP p99 " << p99(http_lat).count() << " us, status probe p99 "
                   << p99(probe_lat).count() << " us");
  CHECK(p99(http_lat) < milliseconds(10));
  CHECK(p99(probe_lat) < milliseconds(10));
}
