// Streams over handles (main() and between deployments, async and blocking
// producers) and over HTTP (the demo's Server-Sent Events), with real
// actors, threads and sockets.
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

#include "actorserve/actorserve.hpp"
#include "demo_server.hpp"
#include "sse_client.hpp"

using namespace std::chrono;
using namespace actorserve;

namespace {

/// numbers(n, delay_ms, fail_at): 1..n, one every delay_ms; throws at
/// chunk fail_at (when >= 0).
using numbers_actor = caf::typed_actor<
    caf::replies_to<int32_t, int32_t, int32_t>::with<stream<int32_t>>>;

numbers_actor::behavior_type numbers(numbers_actor::pointer self) {
  return {[=](int32_t n, int32_t delay_ms, int32_t fail_at) {
    return make_stream<int32_t>(
        self, [=, i = int32_t{0}](stream_out<int32_t>& out) mutable {
          if (i == fail_at)
            throw std::runtime_error("numbers failed at " + std::to_string(i));
          if (i == n)
            return out.close();
          out.push(++i);
          if (delay_ms > 0)
            out.pause(milliseconds(delay_ms));
        });
  }};
}

/// What the blocking producer did, seen from the test.
struct blocking_log {
  std::atomic<int> pushed{0};
  std::atomic<int> stopped_early{0};
  std::mutex mtx;
  std::condition_variable cv;
  int returned = 0;

  void on_return() {
    {
      std::lock_guard<std::mutex> guard{mtx};
      ++returned;
    }
    cv.notify_all();
  }

  bool wait_returned(int n) {
    std::unique_lock<std::mutex> guard{mtx};
    return cv.wait_for(guard, seconds(10), [&] { return returned >= n; });
  }
};

using blocking_numbers_actor =
    caf::typed_actor<caf::replies_to<int32_t>::with<stream<int32_t>>>;

// A sync generator: runs on the replica's blocking threads.
blocking_numbers_actor::behavior_type
blocking_numbers(blocking_numbers_actor::pointer self,
                 std::shared_ptr<blocking_log> log) {
  return {[=](int32_t n) {
    return make_blocking_stream<int32_t>(self,
                                         [n, log](stream_sink<int32_t>& out) {
                                           for (int32_t i = 1; i <= n; ++i) {
                                             if (!out.push(i)) {
                                               ++log->stopped_early;
                                               break;
                                             }
                                             ++log->pushed;
                                           }
                                           log->on_return();
                                         });
  }};
}

/// Sums a numbers stream it consumes chunk by chunk (a stream between two
/// deployments).
using summer_actor = caf::typed_actor<caf::replies_to<int32_t>::with<int64_t>>;

summer_actor::behavior_type summer(summer_actor::pointer self,
                                   handle<numbers_actor> nums) {
  return {[=](int32_t n) -> caf::result<int64_t> {
    auto rp = self->make_response_promise<int64_t>();
    nums.call(self, n, 0, -1).then([=](stream<int32_t>& s) mutable {
      auto sum = std::make_shared<int64_t>(0);
      consume(
          self, s, [sum](int32_t& x) { *sum += x; },
          [=](const caf::error& err) mutable {
            if (err)
              rp.deliver(err);
            else
              rp.deliver(*sum);
          },
          4);
    });
    return rp;
  }};
}

serve_options no_http() {
  serve_options opts;
  opts.admin.port = 0; // a free port: tests run side by side
  opts.http.enabled = false;
  return opts;
}

template <class T>
std::vector<T> read_all(stream_reader<T>& r, caf::error& err) {
  std::vector<T> xs;
  for (;;) {
    auto x = r.next(seconds(10));
    if (!x) {
      err = x.error();
      return xs;
    }
    if (!*x)
      return xs;
    xs.push_back(**x);
  }
}

} // namespace

TEST_CASE("main reads a stream through a handle, in order, to its end",
          "[stream]") {
  auto mode = GENERATE(execution::isolated, execution::inline_);
  serve s{no_http()};
  auto h =
      s.run(s.deployment("Numbers", numbers).mode(mode).bind(), {"nums", ""});
  REQUIRE(h);
  auto st = h->call(int32_t{50}, int32_t{0}, int32_t{-1}).get(seconds(5));
  REQUIRE(st);
  auto reader = read_stream(*st, 4);
  caf::error err;
  auto xs = read_all(reader, err);
  CHECK_FALSE(err);
  REQUIRE(xs.size() == 50);
  for (int32_t i = 0; i < 50; ++i)
    CHECK(xs[static_cast<size_t>(i)] == i + 1);
}

TEST_CASE("an error in the middle of a stream reaches the consumer after "
          "the chunks before it",
          "[stream]") {
  serve s{no_http()};
  auto h = s.run(s.deployment("Numbers", numbers).bind(), {"nums", ""});
  REQUIRE(h);
  auto st = h->call(int32_t{10}, int32_t{0}, int32_t{3}).get(seconds(5));
  REQUIRE(st);
  auto reader = read_stream(*st);
  caf::error err;
  auto xs = read_all(reader, err);
  CHECK(xs == std::vector<int32_t>{1, 2, 3});
  CHECK(code_of(err) == errc::user_error);
  CHECK_THAT(message_of(err), Catch::Contains("numbers failed at 3"));
  // The replica lives on.
  auto again = h->call(int32_t{2}, int32_t{0}, int32_t{-1}).get(seconds(5));
  REQUIRE(again);
  auto r2 = read_stream(*again);
  CHECK(read_all(r2, err) == std::vector<int32_t>{1, 2});
}

TEST_CASE("a reader waits for each chunk with a timeout of its own",
          "[stream]") {
  serve s{no_http()};
  auto h = s.run(s.deployment("Numbers", numbers).bind(), {"nums", ""});
  REQUIRE(h);
  // One chunk, then a pause of a minute.
  auto st = h->call(int32_t{5}, int32_t{60'000}, int32_t{-1}).get(seconds(5));
  REQUIRE(st);
  auto reader = read_stream(*st);
  auto first = reader.next(seconds(10));
  REQUIRE(first);
  CHECK(**first == 1);
  auto second = reader.next(milliseconds(50));
  REQUIRE_FALSE(second);
  CHECK(code_of(second.error()) == errc::deadline_exceeded);
}

TEST_CASE("a deployment consumes another's stream chunk by chunk", "[stream]") {
  auto mode = GENERATE(execution::isolated, execution::inline_);
  serve s{no_http()};
  auto nums = s.deployment("Numbers", numbers).mode(mode).bind();
  auto h =
      s.run(s.deployment("Summer", summer).mode(mode).bind(nums), {"sum", ""});
  REQUIRE(h);
  auto r = h->call(int32_t{1000}).get(seconds(10));
  REQUIRE(r);
  CHECK(*r == 500500);
}

TEST_CASE("a blocking producer runs on user threads and stops when its "
          "reader goes away",
          "[stream]") {
  auto log = std::make_shared<blocking_log>();
  serve s{no_http()};
  auto h = s.run(s.deployment("Blocking", blocking_numbers).bind(log),
                 {"blocking", ""});
  REQUIRE(h);
  {
    auto st = h->call(int32_t{20}).get(seconds(5));
    REQUIRE(st);
    auto reader = read_stream(*st, 2);
    caf::error err;
    auto xs = read_all(reader, err);
    CHECK_FALSE(err);
    CHECK(xs.size() == 20);
  }
  {
    // An endless producer: the reader takes three chunks and goes.
    auto st = h->call(int32_t{1'000'000'000}).get(seconds(5));
    REQUIRE(st);
    auto reader = read_stream(*st, 2);
    for (int i = 0; i < 3; ++i)
      REQUIRE(reader.next(seconds(10)));
  }
  // The producer's push returns false at its next chunk after the cancel.
  REQUIRE(log->wait_returned(2));
  CHECK(log->stopped_early == 1);
  CHECK(log->pushed < 20 + 3 + 2 + 2); // at most one window ahead
}
