// A replica's start-up is bounded: a constructor that hangs counts as failed
// after the deployment's startup_timeout, is retried with backoff, and
// never holds serve.run, the admin API or health checks forever.
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

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
