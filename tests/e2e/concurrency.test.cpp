// Many callers on many threads, each routing for itself: everyone is
// served, and no replica ever runs more than max_ongoing_requests at once.
#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "actorserve/actorserve.hpp"
#include "http_client.hpp"

using namespace std::chrono;
using namespace actorserve;

namespace {

/// Concurrency seen by each replica of the counted deployment.
struct meter {
  std::mutex mtx;
  std::map<uint64_t, int> running;
  std::map<uint64_t, int> peak;
  int calls = 0;

  void enter(uint64_t replica) {
    std::lock_guard<std::mutex> guard{mtx};
    auto now = ++running[replica];
    peak[replica] = std::max(peak[replica], now);
    ++calls;
  }

  void leave(uint64_t replica) {
    std::lock_guard<std::mutex> guard{mtx};
    --running[replica];
  }

  int max_peak() {
    std::lock_guard<std::mutex> guard{mtx};
    int result = 0;
    for (auto& kvp : peak)
      result = std::max(result, kvp.second);
    return result;
  }
};

using meter_ptr = std::shared_ptr<meter>;

using work_actor = caf::typed_actor<caf::replies_to<int32_t>::with<int32_t>>;

/// Counts a call as running from the moment the replica hands it to user
/// code until its blocking work (busy work, so that calls overlap) is done,
/// and records how many run at once on this replica.
work_actor::behavior_type counted(work_actor::pointer self, meter_ptr m) {
  return {[=](int32_t x) {
    auto id = replica_context_of(self).replica_id;
    m->enter(id);
    return run_blocking(self, [=] {
      auto until = steady_clock::now() + microseconds(500);
      while (steady_clock::now() < until)
        std::this_thread::yield();
      m->leave(id);
      return x;
    });
  }};
}

/// Each replica is a caller of its own: it calls the counted deployment
/// twice per request, in parallel, and adds the answers.
work_actor::behavior_type fanout(work_actor::pointer self,
                                 handle<work_actor> target) {
  return {[=](int32_t x) -> caf::result<int32_t> {
    auto rp = self->make_response_promise<int32_t>();
    auto sum = std::make_shared<int32_t>(0);
    auto left = std::make_shared<int>(2);
    for (int i = 0; i < 2; ++i)
      target.call(self, x).then(
          [=](int32_t y) mutable {
            *sum += y;
            if (--*left == 0)
              rp.deliver(*sum);
          },
          [=](caf::error& err) mutable { rp.deliver(err); });
    return rp;
  }};
}

http_ingress::behavior_type front(http_ingress::pointer self,
                                  handle<work_actor> target) {
  return {[=](http_request& req) -> reply {
    auto x = json_field<int32_t>(parse_json(req), "x");
    auto rp = self->make_response_promise<http_response>();
    target.call(self, x).then(
        [=](int32_t y) mutable {
          rp.deliver(json_response({{"y", y}}));
        },
        [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
    return rp;
  }};
}

serve_options options(size_t http_threads) {
  serve_options opts;
  opts.admin.port = 0; // a free port: tests run side by side
  opts.http.port = 0;
  opts.http.threads = http_threads;
  opts.system_threads = 2;
  return opts;
}

} // namespace

TEST_CASE("many HTTP callers on four I/O threads are all served within "
          "max_ongoing_requests",
          "[concurrency]") {
  auto m = std::make_shared<meter>();
  serve s{options(4)};
  auto work = s.deployment("Counted", counted)
                  .num_replicas(2)
                  .max_ongoing_requests(2)
                  .bind(m);
  auto app = s.deployment("Front", front)
                 .num_replicas(4)
                 .max_ongoing_requests(100)
                 .bind(work);
  REQUIRE(s.run(app, {"front", "/front"}));
  constexpr int clients = 12;
  constexpr int per_client = 40;
  std::atomic<int> ok{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      test::http_connection conn{s.http_port()};
      for (int i = 0; i < per_client; ++i) {
        auto x = c * 1000 + i;
        auto r =
            conn.request("POST", "/front", nlohmann::json{{"x", x}}.dump());
        auto body = nlohmann::json::parse(r.body, nullptr, false);
        if (r.status == 200 && body.value("y", -1) == x)
          ++ok;
        else
          ++wrong;
      }
    });
  for (auto& t : threads)
    t.join();
  CHECK(wrong == 0);
  CHECK(ok == clients * per_client);
  CHECK(m->calls == clients * per_client);
  // Each I/O thread and each Front replica routes on its own view; the
  // replicas' admission keeps the bound, and rejections are routed again
  // rather than surfaced.
  CHECK(m->max_peak() <= 2);
  CHECK(m->max_peak() >= 1);
}

TEST_CASE("replicas calling another deployment in parallel are all served "
          "within max_ongoing_requests",
          "[concurrency]") {
  auto m = std::make_shared<meter>();
  serve s{options(1)};
  auto work = s.deployment("Counted", counted)
                  .num_replicas(2)
                  .max_ongoing_requests(2)
                  .bind(m);
  auto app = s.deployment("Fanout", fanout)
                 .num_replicas(4)
                 .max_ongoing_requests(8)
                 .bind(work);
  auto h = s.run(app, {"fanout", ""});
  REQUIRE(h);
  // Callers from main() on many threads; each Fanout replica then makes two
  // calls per request as a caller of its own.
  constexpr int threads_n = 8;
  constexpr int per_thread = 25;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < threads_n; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        auto x = t * 100 + i;
        auto r = h->call(x).get(seconds(30));
        if (r && *r == 2 * x)
          ++ok;
      }
    });
  for (auto& t : threads)
    t.join();
  CHECK(ok == threads_n * per_thread);
  CHECK(m->calls == 2 * threads_n * per_thread);
  CHECK(m->max_peak() <= 2);
}
