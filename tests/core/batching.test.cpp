// Dynamic batching: batch formation in a replica on CAF's test coordinator
// with virtual time (the plan itself: batch_plan.test.cpp).
#include <catch2/catch.hpp>

#include <thread>

#include <caf/detail/test_actor_clock.hpp>

#include "actorserve/batching.hpp"
#include "actorserve/controller.hpp"
#include "coordinator_fixture.hpp"

using namespace actorserve;
using namespace std::chrono_literals;

namespace {

/// Batches of 4, or what waited 10 ms.
batch_options four() {
  batch_options o;
  o.max_batch_size = 4;
  o.batch_wait_timeout = 10ms;
  return o;
}

/// (x, priority): answers x * 10 from a batch.
using batched_actor =
    caf::typed_actor<caf::replies_to<int32_t, int32_t>::with<int32_t>>;

struct batch_box {
  /// The inputs of every batch that started.
  std::vector<std::vector<int32_t>> batches;
  /// Answers of batches still running (async flavour).
  std::vector<std::pair<std::vector<int32_t>, batch_done<int32_t>>> running;
  batch_options opts;
};

batched_actor::behavior_type async_batched(batched_actor::pointer self,
                                           std::shared_ptr<batch_box> box) {
  auto batch = make_async_batch<int32_t, int32_t>(
      self, box->opts,
      [box](std::vector<int32_t> xs, batch_done<int32_t> done) {
        box->batches.push_back(xs);
        box->running.emplace_back(std::move(xs), std::move(done));
      });
  return {[batch](int32_t x, int32_t priority) {
    return batch(x, batch_call_options{priority, {}});
  }};
}

/// Inline: -1 fails its item; 99 makes the handler return one result too
/// few.
batched_actor::behavior_type inline_batched(batched_actor::pointer self,
                                            std::shared_ptr<batch_box> box) {
  auto batch = make_batch<int32_t, int32_t>(
      self, box->opts, [box](std::vector<int32_t> xs) {
        box->batches.push_back(xs);
        std::vector<caf::expected<int32_t>> out;
        for (auto x : xs)
          if (x < 0)
            out.emplace_back(make_error(errc::bad_request, "negative input"));
          else
            out.emplace_back(x * 10);
        if (std::find(xs.begin(), xs.end(), 99) != xs.end())
          out.pop_back();
        return out;
      });
  return {[batch](int32_t x, int32_t priority) {
    return batch(x, batch_call_options{priority, {}});
  }};
}

/// One result per input: ten times the input.
std::vector<caf::expected<int32_t>> times_ten(const std::vector<int32_t>& xs) {
  std::vector<caf::expected<int32_t>> out;
  for (auto x : xs)
    out.emplace_back(x * 10);
  return out;
}

/// Async: answers through `done`, then throws (a handler that broke its
/// contract); its batches are recorded in `box->batches`.
batched_actor::behavior_type done_then_throw(batched_actor::pointer self,
                                             std::shared_ptr<batch_box> box) {
  auto batch = make_async_batch<int32_t, int32_t>(
      self, box->opts, [box](std::vector<int32_t> xs, batch_done<int32_t> done) {
        box->batches.push_back(xs);
        done(times_ten(xs));
        throw std::runtime_error("failed after answering");
      });
  return {[batch](int32_t x, int32_t priority) {
    return batch(x, batch_call_options{priority, {}});
  }};
}

struct batch_world : test::fixture {
  std::shared_ptr<batch_box> box = std::make_shared<batch_box>();
  caf::actor gw;

  template <class F>
  void deploy(F fun) {
    auto b = deployment("Batched", fun);
    b.max_ongoing_requests(100);
    auto ctrl = own(spawn_controller(sys));
    auto a = test::request<application_status>(
        *this, ctrl, deploy_atom::value,
        app_spec{"app", "", b.bind(box).spec()});
    REQUIRE(*a.done);
    REQUIRE(a.out->engaged());
    gw = test::find_dep(*this, ctrl, "app", "Batched").gateway;
  }

  /// Sends (x, priority) through the gateway; the answer lands in `log`.
  void send(int32_t x, int32_t priority = 0, request_meta meta = {}) {
    auto lg = log;
    auto dest = gw;
    sys.spawn(
        [=](caf::event_based_actor* self, int32_t arg, int32_t prio) {
          self->request(dest, caf::infinite, call_atom::value, meta,
                        caf::make_message(arg, prio))
              .then([lg](int32_t y) { lg->results.emplace_back(y); },
                    [lg](caf::error& err) { lg->results.emplace_back(err); });
        },
        x, priority);
  }

  void pass(std::chrono::milliseconds d) {
    auto& clock = dynamic_cast<caf::detail::test_actor_clock&>(sys.clock());
    for (auto t = 0ms; t < d; t += 1ms) {
      clock.advance_time(1ms);
      run();
    }
  }

  /// Answers the oldest running async batch.
  void finish_one() {
    auto [xs, done] = std::move(box->running.front());
    box->running.erase(box->running.begin());
    done(times_ten(xs));
    run();
  }

  /// Sends from..to (priority 0) and runs until all is quiet.
  void send_all(int32_t from, int32_t to) {
    for (int32_t i = from; i <= to; ++i)
      send(i);
    run();
  }
};

} // namespace

TEST_CASE("a full batch runs at once, a partial one at its timeout",
          "[batching]") {
  batch_world w;
  w.box->opts = four();
  w.deploy(async_batched);
  for (int32_t i = 1; i <= 4; ++i)
    w.send(i);
  w.run();
  REQUIRE(w.box->batches.size() == 1);
  CHECK(w.box->batches[0] == std::vector<int32_t>{1, 2, 3, 4});
  w.finish_one();
  CHECK(w.log->ok() == 4);
  w.send(5);
  w.send(6);
  w.run();
  w.pass(9ms);
  CHECK(w.box->batches.size() == 1);
  w.pass(1ms);
  REQUIRE(w.box->batches.size() == 2);
  CHECK(w.box->batches[1] == std::vector<int32_t>{5, 6});
  w.finish_one();
  CHECK(w.log->ok() == 6);
  CHECK(w.log->results.back() == 60);
}

TEST_CASE("max_concurrent_batches holds further batches, and priorities go "
          "first",
          "[batching]") {
  batch_world w;
  w.box->opts = four();
  w.deploy(async_batched);
  for (int32_t i = 1; i <= 4; ++i)
    w.send(i);
  w.run();
  REQUIRE(w.box->running.size() == 1);
  // While one batch runs, two low and two high priority calls wait.
  w.send(10, 0);
  w.send(11, 0);
  w.send(20, 7);
  w.send(21, 7);
  w.send(12, 0);
  w.run();
  w.pass(50ms);
  CHECK(w.box->running.size() == 1); // the limit holds
  w.finish_one();
  REQUIRE(w.box->batches.size() == 2);
  CHECK(w.box->batches[1] == std::vector<int32_t>{20, 21, 10, 11});
  w.finish_one();
  w.pass(10ms);
  REQUIRE(w.box->batches.size() == 3);
  CHECK(w.box->batches[2] == std::vector<int32_t>{12});
  w.finish_one();
  CHECK(w.log->ok() == 9);
}

TEST_CASE("a call past its queue timeout is rejected, not run late",
          "[batching]") {
  batch_world w;
  w.box->opts = four();
  w.box->opts.queue_timeout = 30ms;
  w.deploy(async_batched);
  for (int32_t i = 1; i <= 4; ++i)
    w.send(i);
  w.run();
  w.send(5);
  w.run();
  w.pass(29ms);
  CHECK(w.log->results.empty());
  w.pass(1ms);
  REQUIRE(w.log->results.size() == 1);
  REQUIRE_FALSE(w.log->results[0]);
  CHECK(code_of(w.log->results[0].error()) == errc::overloaded);
  CHECK_THAT(message_of(w.log->results[0].error()),
             Catch::Contains("queue timeout"));
  w.finish_one();
  CHECK(w.box->batches.size() == 1); // 5 never ran
}

TEST_CASE("a per-item error fails its item, a length mismatch fails the "
          "batch",
          "[batching]") {
  batch_world w;
  w.box->opts = four();
  w.deploy(inline_batched);
  w.send(1);
  w.send(-1);
  w.send(3);
  w.send(4);
  w.run();
  REQUIRE(w.log->results.size() == 4);
  CHECK(w.log->ok() == 3);
  for (auto& r : w.log->results)
    if (!r)
      CHECK(code_of(r.error()) == errc::bad_request);
  w.log->results.clear();
  w.send(1);
  w.send(99);
  w.run();
  w.pass(10ms);
  REQUIRE(w.log->results.size() == 2);
  for (auto& r : w.log->results) {
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == errc::internal);
    CHECK_THAT(message_of(r.error()),
               Catch::Contains("returned 1 results for 2 inputs"));
  }
}

TEST_CASE("a call whose deadline passes in the queue leaves it unrun",
          "[batching]") {
  batch_world w;
  w.box->opts = four();
  w.deploy(async_batched);
  for (int32_t i = 1; i <= 4; ++i)
    w.send(i);
  w.run();
  // A fifth call, due in 20 ms, waits behind the running batch.
  request_meta meta;
  meta.deadline = caf::make_timestamp() + std::chrono::milliseconds(20);
  w.send(5, 0, meta);
  w.run();
  w.pass(25ms);
  REQUIRE(w.log->results.size() == 1);
  REQUIRE_FALSE(w.log->results[0]);
  CHECK(code_of(w.log->results[0].error()) == errc::deadline_exceeded);
  w.finish_one();
  CHECK(w.box->batches.size() == 1);
}

// -- the async contract: done exactly once, and a deadline -------------------

TEST_CASE("an async batch that answers and then throws is answered once, "
          "and the next batch runs",
          "[batching]") {
  batch_world w;
  w.box->opts = four();
  w.deploy(done_then_throw);
  w.send_all(1, 4);
  REQUIRE(w.log->results.size() == 4);
  CHECK(w.log->ok() == 4); // the answers, not the exception
  // The batch's slot was given back once: the next batch runs.
  w.send_all(5, 8);
  CHECK(w.box->batches.size() == 2);
  CHECK(w.log->results.size() == 8);
  CHECK(w.log->ok() == 8);
}

TEST_CASE("done called twice, or from two threads at once, answers once",
          "[batching]") {
  batch_world w;
  w.box->opts = four();
  w.deploy(async_batched);
  w.send_all(1, 4);
  REQUIRE(w.box->running.size() == 1);
  auto [xs, done] = std::move(w.box->running.front());
  w.box->running.clear();
  // From threads other than the actor's: the answers go through it.
  std::thread a{[&, xs = xs, done = done] { done(times_ten(xs)); }};
  std::thread b{[&, xs = xs, done = done] { done(times_ten(xs)); }};
  a.join();
  b.join();
  w.run();
  done(times_ten(xs)); // and once more, late
  w.run();
  CHECK(w.log->results.size() == 4);
  CHECK(w.log->ok() == 4);
  w.send_all(5, 8);
  CHECK(w.box->batches.size() == 2); // one batch ended, one slot free
}

TEST_CASE("an async batch that never answers fails its calls at its "
          "batch_timeout, frees its slot, and a late done is ignored",
          "[batching]") {
  batch_options o;
  CHECK(o.batch_timeout == std::chrono::seconds(60));
  o.batch_timeout = -1ms;
  CHECK_THAT(message_of(validate(o)), Catch::Contains("batch_timeout"));
  batch_world w;
  w.box->opts = four();
  w.box->opts.batch_timeout = 50ms;
  w.deploy(async_batched);
  w.send_all(1, 4);
  REQUIRE(w.box->running.size() == 1);
  w.pass(49ms);
  CHECK(w.log->results.empty());
  w.pass(1ms);
  REQUIRE(w.log->results.size() == 4);
  for (auto& r : w.log->results) {
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == errc::deadline_exceeded);
    CHECK_THAT(message_of(r.error()), Catch::Contains("batch_timeout"));
  }
  // The slot is free: the next batch runs while the first never answered.
  w.send_all(5, 8);
  REQUIRE(w.box->running.size() == 2);
  // The first batch's done, late: ignored (no answer, no slot given back).
  auto [xs, done] = std::move(w.box->running.front());
  w.box->running.erase(w.box->running.begin());
  done(times_ten(xs));
  w.run();
  CHECK(w.log->results.size() == 4);
  w.send_all(9, 12);
  CHECK(w.box->batches.size() == 2); // the second batch still holds the slot
  w.finish_one();
  CHECK(w.log->ok() == 4);
  CHECK(w.box->batches.size() == 3);
  w.finish_one();
  CHECK(w.log->ok() == 8);
}
