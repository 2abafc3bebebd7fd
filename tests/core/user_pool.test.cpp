// The user pool's decision (user_pool_plan.hpp): when work waits behind a
// lane whose user code has held it for a tick, wake a parked lane or add
// one; otherwise leave the lanes alone.
#include <vector>

#include <catch2/catch.hpp>

#include "policy/user_pool_plan.hpp"

using actorserve::detail::lane_sample;
using actorserve::detail::plan_pool;
using actorserve::detail::pool_step;
using actorserve::detail::starved_between;

namespace {

lane_sample idle_parked() {
  lane_sample s;
  s.parked = true;
  return s;
}

lane_sample polling() {
  return lane_sample{};
}

lane_sample busy(size_t queued = 0) {
  lane_sample s;
  s.busy = true;
  s.queued = queued;
  return s;
}

lane_sample stalled(size_t queued = 0) {
  auto s = busy(queued);
  s.stalled = true;
  return s;
}

lane_sample starved(size_t queued = 0) {
  auto s = stalled(queued);
  s.starved = true;
  return s;
}

} // namespace

TEST_CASE("an idle or merely busy pool is left alone", "[user_pool]") {
  CHECK(plan_pool({idle_parked(), idle_parked()}, 8) == pool_step::none);
  CHECK(plan_pool({}, 8) == pool_step::none);
  // Every lane computes and work waits, but no lane is stalled: the busy
  // lanes take it when their jobs end (more threads would not add cores).
  CHECK(plan_pool({busy(3), busy(1)}, 8) == pool_step::none);
  // A stalled lane with nothing behind it holds back no one.
  CHECK(plan_pool({stalled(0), idle_parked()}, 8) == pool_step::none);
  CHECK(plan_pool({stalled(0)}, 8) == pool_step::none);
}

TEST_CASE("work behind a stalled lane wakes a parked lane first",
          "[user_pool]") {
  CHECK(plan_pool({stalled(1), idle_parked()}, 8) == pool_step::wake);
  CHECK(plan_pool({stalled(1), busy(), idle_parked()}, 8) == pool_step::wake);
  // A backlog behind a busy lane (not stalled) wakes a parked lane when it
  // is queued (user_pool::push); the monitor leaves it.
  CHECK(plan_pool({stalled(0), busy(2), idle_parked()}, 8) == pool_step::none);
}

TEST_CASE("a polling lane steals by itself", "[user_pool]") {
  CHECK(plan_pool({stalled(1), polling()}, 8) == pool_step::none);
}

TEST_CASE("with every lane busy and one stalled, the pool grows up to its "
          "cap",
          "[user_pool]") {
  CHECK(plan_pool({stalled(1)}, 8) == pool_step::grow);
  CHECK(plan_pool({stalled(1), busy()}, 8) == pool_step::grow);
  // Work waits on a busy lane while the only other lane is stalled.
  CHECK(plan_pool({stalled(0), busy(1)}, 8) == pool_step::grow);
  CHECK(plan_pool({stalled(1), stalled(2)}, 3) == pool_step::grow);
  CHECK(plan_pool({stalled(1), stalled(2), stalled(1)}, 3) == pool_step::none);
}

TEST_CASE("a lane that only waits for a core is not helped by another",
          "[user_pool]") {
  // Preempted on a busy machine: another thread would wait for a core too.
  CHECK(plan_pool({starved(3)}, 8) == pool_step::none);
  CHECK(plan_pool({starved(3), idle_parked()}, 8) == pool_step::none);
  CHECK(plan_pool({starved(2), busy(1)}, 8) == pool_step::none);
  // The same lane blocked or computing gets help.
  CHECK(plan_pool({stalled(3)}, 8) == pool_step::grow);
  // Another lane that is really stalled still counts.
  CHECK(plan_pool({starved(1), stalled(1), idle_parked()}, 8) ==
        pool_step::wake);
}

TEST_CASE("a lane is starved when it waited for a core longer than it ran",
          "[user_pool]") {
  CHECK(starved_between(100'000, 900'000));
  CHECK_FALSE(starved_between(900'000, 100'000)); // computing at length
  CHECK_FALSE(starved_between(0, 0));             // blocked all along
  CHECK_FALSE(starved_between(500'000, 500'000));
}
