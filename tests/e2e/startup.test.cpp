// A replica's start-up is bounded: a constructor that hangs counts as failed
// after the deployment's startup_timeout, is retried with backoff, and
// never holds serve.run, the admin API or health checks forever.
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <vector>

#include "actorserve/actorserve.hpp"
#include "http_client.hpp"

using namespace actorserve;
using namespace std::chrono;

namespace {

using square_actor = caf::typed_actor<caf::replies_to<int32_t>::with<int32_t>>;

/// Holds every constructor until the test opens it.
struct latch {
  std::mutex mtx;
  std::condition_variable cv;
  bool open = false;
  int entered = 0;
  /// When each constructor began.
  std::vector<steady_clock::time_point> starts;

  void release() {
    {
      std::lock_guard<std::mutex> guard{mtx};
      open = true;
    }
    cv.notify_all();
  }
};

square_actor::behavior_type hangs(square_actor::pointer,
                                  std::shared_ptr<latch> l) {
  std::unique_lock<std::mutex> guard{l->mtx};
  ++l->entered;
  l->starts.push_back(steady_clock::now());
  l->cv.notify_all();
  l->cv.wait(guard, [&] { return l->open; });
  return {[](int32_t x) { return x * x; }};
}

} // namespace

TEST_CASE("a constructor that hangs fails run() after its retries, naming "
          "startup_timeout",
          "[startup]") {
  serve_options opts;
  opts.admin.port = 0;
  opts.http.port = 0;
  auto l = std::make_shared<latch>();
  serve s{opts};
  auto start = steady_clock::now();
  auto h = s.run(s.deployment("Hangs", hangs)
                     .startup_timeout(milliseconds(200))
                     .max_constructor_retry_count(2)
                     .bind(l),
                 {"hangs", ""});
  REQUIRE_FALSE(h);
  CHECK_THAT(message_of(h.error()), Catch::Contains("startup_timeout"));
  CHECK(steady_clock::now() - start < seconds(30));
  {
    std::lock_guard<std::mutex> guard{l->mtx};
    CHECK(l->entered >= 2); // tried again after the first timed out
  }
  // The server kept answering meanwhile, and still does.
  CHECK(test::http(s.http_port(), "GET", "/-/healthz").status == 200);
  CHECK(test::http(s.admin_port(), "GET", "/-/status").status == 200);
  l->release(); // the stuck constructors end; their replicas are gone
}

TEST_CASE("a constructor that hangs is stopped at startup_timeout and "
          "retried after a backoff, and status says why while it retries",
          "[startup]") {
  serve_options opts;
  opts.admin.port = 0;
  opts.http.port = 0;
  auto l = std::make_shared<latch>();
  serve s{opts};
  struct open_at_end {
    std::shared_ptr<latch> l;
    ~open_at_end() { l->release(); } // the stuck constructors end
  } guard{l};
  auto run = std::async(std::launch::async, [&] {
    return s.run(s.deployment("Hangs", hangs)
                     .startup_timeout(milliseconds(200))
                     .max_constructor_retry_count(3)
                     .bind(l),
                 {"hangs", ""});
  });
  // The second attempt is under way: the first was stopped, and status
  // says why while the deployment still retries.
  {
    std::unique_lock<std::mutex> lock{l->mtx};
    REQUIRE(l->cv.wait_for(lock, seconds(10), [&] { return l->entered >= 2; }));
  }
  auto st = s.status();
  REQUIRE(st);
  REQUIRE(st->applications.size() == 1);
  auto& app = st->applications.front();
  CHECK(app.state == application_state::deploying);
  REQUIRE(app.deployments.size() == 1);
  CHECK_THAT(app.deployments.front().message,
             Catch::Contains("did not finish within 200 ms (startup_timeout)"));
  CHECK_THAT(test::http(s.admin_port(), "GET", "/-/status").body,
             Catch::Contains("startup_timeout"));
  // Three attempts, then run() fails; each start came the timeout plus the
  // first backoff step (100 ms) after the one before: at least 250 ms apart
  // as the constructors saw it (each may enter a little after its spawn,
  // where the timer starts).
  auto h = run.get();
  REQUIRE_FALSE(h);
  std::lock_guard<std::mutex> lock{l->mtx};
  REQUIRE(l->starts.size() == 3);
  for (size_t i = 1; i < l->starts.size(); ++i)
    CHECK(l->starts[i] - l->starts[i - 1] >= milliseconds(250));
}
