// Batch planning as a pure function (policy/batch_plan.cpp): which waiting
// calls form the next batch and when to look again; and the options' checks.
#include <catch2/catch.hpp>

#include "actorserve/batching.hpp"

using namespace actorserve;
using namespace std::chrono_literals;

namespace {

batch_clock::time_point t0() {
  return batch_clock::time_point{} + 1000s;
}

waiting_call at(batch_clock::duration d, int priority = 0) {
  waiting_call c;
  c.arrived = t0() + d;
  c.priority = priority;
  return c;
}

batch_options four() {
  batch_options o;
  o.max_batch_size = 4;
  o.batch_wait_timeout = 10ms;
  return o;
}

} // namespace

TEST_CASE("batch options have Ray Serve's defaults and are checked",
          "[batching]") {
  batch_options o;
  CHECK(o.max_batch_size == 10);
  CHECK(o.batch_wait_timeout == 10ms);
  CHECK(o.max_concurrent_batches == 1);
  CHECK_FALSE(validate(o));
  o.max_batch_size = 0;
  CHECK_THAT(message_of(validate(o)), Catch::Contains("max_batch_size"));
  o = {};
  o.max_concurrent_batches = 0;
  CHECK_THAT(message_of(validate(o)),
             Catch::Contains("max_concurrent_batches"));
}

TEST_CASE("plan_batch: a full batch goes at once, a partial one at the "
          "timeout",
          "[batching]") {
  std::vector<waiting_call> q{at(0ms), at(1ms), at(2ms)};
  auto p = plan_batch(q, four(), 0, t0() + 2ms);
  CHECK(p.batch.empty());
  REQUIRE(p.wake_at);
  CHECK(*p.wake_at == t0() + 10ms); // the oldest's wait ends
  q.push_back(at(3ms));
  p = plan_batch(q, four(), 0, t0() + 3ms);
  CHECK(p.batch == std::vector<size_t>{0, 1, 2, 3});
  q.pop_back();
  p = plan_batch(q, four(), 0, t0() + 10ms);
  CHECK(p.batch == std::vector<size_t>{0, 1, 2});
  // More than fit: the first four.
  std::vector<waiting_call> many(6, at(0ms));
  CHECK(plan_batch(many, four(), 0, t0()).batch.size() == 4);
}

TEST_CASE("plan_batch: concurrency, priorities, expiry and cancellation",
          "[batching]") {
  std::vector<waiting_call> q{at(0ms), at(1ms), at(2ms), at(3ms)};
  // One batch runs and one may: nothing until it ends.
  auto p = plan_batch(q, four(), 1, t0() + 20ms);
  CHECK(p.batch.empty());
  CHECK_FALSE(p.wake_at); // nothing expires: the batch's end wakes us
  auto two = four();
  two.max_concurrent_batches = 2;
  CHECK(plan_batch(q, two, 1, t0() + 20ms).batch.size() == 4);
  // Higher priorities first, then the oldest.
  std::vector<waiting_call> pr{at(0ms, 0), at(1ms, 5), at(2ms, 0), at(3ms, 5),
                               at(4ms, 1)};
  auto o = four();
  o.max_batch_size = 3;
  p = plan_batch(pr, o, 0, t0() + 5ms);
  CHECK(p.batch == std::vector<size_t>{1, 3, 4});
  // Expired calls are rejected, cancelled ones dropped.
  q[1].expires = t0() + 5ms;
  q[2].cancelled = true;
  p = plan_batch(q, four(), 1, t0() + 6ms);
  CHECK(p.expired == std::vector<size_t>{1});
  CHECK(p.cancelled == std::vector<size_t>{2});
  q[3].expires = t0() + 50ms;
  p = plan_batch(q, four(), 1, t0() + 4ms);
  CHECK(p.expired.empty());
  REQUIRE(p.wake_at);
  CHECK(*p.wake_at == t0() + 5ms); // the first expiry, to reject in time
}

// -- in a replica
// --------------------------------------------------------------
