// Deterministic tests of the replica's admission and the router's choice,
// queue and replica-set changes, on CAF's test coordinator.
#include <catch2/catch.hpp>

#include <random>

#include "actorserve/error.hpp"
#include "actorserve/replica.hpp"
#include "actorserve/router.hpp"
#include "coordinator_fixture.hpp"

using namespace actorserve;

namespace {

caf::actor make_replica(test::fixture& f, uint64_t id,
                        const detail::spec_ptr& spec) {
  return f.own(
      spawn_replica(f.sys, replica_args{id, "app", spec, {}, caf::actor{}}));
}

void set_replicas(test::fixture& f, const caf::actor& router,
                  std::vector<replica_ref> refs) {
  caf::anon_send(router, replicas_atom::value, std::move(refs));
  f.run();
}

} // namespace

TEST_CASE("power-of-two-choices picks the less loaded of two candidates",
          "[router]") {
  std::vector<uint32_t> loads{3, 0};
  // Whatever the draw, with two candidates both are compared.
  for (size_t first = 0; first < 2; ++first) {
    size_t n = 0;
    auto draw = [&](size_t) { return n++ == 0 ? first : size_t{0}; };
    CHECK(detail::pick_two(loads, draw) == 1);
  }
  // With more candidates, the most loaded one is never picked.
  std::vector<uint32_t> many{4, 1, 4, 4, 2};
  std::mt19937_64 rng{42};
  auto draw = [&](size_t n) {
    return std::uniform_int_distribution<size_t>{0, n - 1}(rng);
  };
  std::map<size_t, int> picks;
  for (int i = 0; i < 1000; ++i)
    ++picks[detail::pick_two(many, draw)];
  // Replica 1 (load 1) wins whenever it is drawn: about 2/5 of the time,
  // far above the uniform 1/5.
  CHECK(picks[1] > 300);
  CHECK(picks[1] > picks[0]);
}

TEST_CASE("the router sends calls to the replica with the shorter queue",
          "[router]") {
  test::fixture f;
  auto box = f.make_box();
  auto spec = test::held_spec(box);
  auto a = make_replica(f, 1, spec);
  auto b = make_replica(f, 2, spec);
  auto router = f.own(spawn_router(f.sys, router_config{"Held", 5, -1, 7}));
  f.run();
  set_replicas(f, router, {{1, a}});
  for (int i = 0; i < 3; ++i)
    f.call(router, i);
  f.run();
  REQUIRE(box->held_by(1) == 3);
  set_replicas(f, router, {{1, a}, {2, b}});
  f.call(router, 10);
  f.run();
  f.call(router, 11);
  f.run();
  f.call(router, 12);
  f.run();
  // Loads 3 vs 0, 3 vs 1, 3 vs 2: every new call goes to replica 2.
  CHECK(box->held_by(1) == 3);
  CHECK(box->held_by(2) == 3);
  while (!box->held.empty()) {
    box->release_one();
    f.run();
  }
  CHECK(f.log->ok() == 6);
}

TEST_CASE("a replica never runs more than max_ongoing_requests at once",
          "[replica]") {
  test::fixture f;
  auto box = f.make_box();
  auto spec = test::held_spec(box, 2);
  auto replica = make_replica(f, 1, spec);
  f.run();
  // Straight to the replica: the third and fourth are rejected.
  for (int i = 0; i < 4; ++i)
    f.call(replica, i);
  f.run();
  CHECK(box->held_by(1) == 2);
  REQUIRE(f.log->results.size() == 2);
  for (auto& r : f.log->results) {
    REQUIRE(!r);
    CHECK(code_of(r.error()) == errc::rejected);
  }
  // Through a router, ten calls: at most two run at once, all complete.
  auto router = f.own(spawn_router(f.sys, router_config{"Held", 2, -1, 1}));
  f.run();
  set_replicas(f, router, {{1, replica}});
  for (int i = 0; i < 10; ++i)
    f.call(router, i);
  f.run();
  // Two earlier calls still hold the replica: the router's calls are
  // rejected and retried after its backoff (virtual time) until they fit.
  // Fourteen answers in all: two rejections, the two direct calls, the ten
  // routed ones.
  for (int i = 0; i < 100 && f.log->results.size() < 14; ++i) {
    if (!box->held.empty()) {
      CHECK(box->running[1] <= 2);
      box->release_one();
    }
    f.run_with_timers();
  }
  CHECK(box->peak[1] == 2);
  CHECK(box->held.empty());
  CHECK(f.log->results.size() == 14);
  CHECK(f.log->ok() == 12);
}

TEST_CASE("past max_queued_requests calls fail as overloaded", "[router]") {
  test::fixture f;
  auto box = f.make_box();
  auto replica = make_replica(f, 1, test::held_spec(box, 1));
  auto router = f.own(spawn_router(f.sys, router_config{"Held", 1, 2, 1}));
  f.run();
  set_replicas(f, router, {{1, replica}});
  for (int i = 0; i < 4; ++i)
    f.call(router, i);
  f.run();
  // One runs, two wait, the fourth is refused at once.
  CHECK(box->held_by(1) == 1);
  REQUIRE(f.log->results.size() == 1);
  REQUIRE(!f.log->results[0]);
  CHECK(code_of(f.log->results[0].error()) == errc::overloaded);
  // The queued ones run in order as capacity frees up.
  std::vector<int32_t> order;
  while (!box->held.empty()) {
    order.push_back(box->held.front().x);
    box->release_one();
    f.run();
  }
  CHECK(order == std::vector<int32_t>{0, 1, 2});
  CHECK(f.log->ok() == 3);
}

TEST_CASE("a replica-set change loses no queued or running request",
          "[router]") {
  test::fixture f;
  auto box = f.make_box();
  auto spec = test::held_spec(box, 1);
  auto a = make_replica(f, 1, spec);
  auto b = make_replica(f, 2, spec);
  auto router = f.own(spawn_router(f.sys, router_config{"Held", 1, -1, 1}));
  f.run();
  set_replicas(f, router, {{1, a}});
  for (int i = 0; i < 4; ++i)
    f.call(router, i);
  f.run();
  REQUIRE(box->held_by(1) == 1); // three are queued
  // Replace A by B while A still runs a call and three wait.
  set_replicas(f, router, {{2, b}});
  caf::anon_send(a, drain_atom::value);
  f.run();
  CHECK(box->held_by(2) == 1);
  while (!box->held.empty()) {
    box->release_one();
    f.run();
  }
  REQUIRE(f.log->results.size() == 4);
  CHECK(f.log->ok() == 4);
}

TEST_CASE("queued calls are retried when a replica rejects them", "[router]") {
  test::fixture f;
  auto box = f.make_box();
  auto replica = make_replica(f, 1, test::held_spec(box, 1));
  // The router believes the replica takes 3; the replica admits only 1.
  auto router = f.own(spawn_router(f.sys, router_config{"Held", 3, -1, 1}));
  f.run();
  set_replicas(f, router, {{1, replica}});
  for (int i = 0; i < 3; ++i)
    f.call(router, i);
  f.run();
  CHECK(box->held_by(1) == 1);
  CHECK(f.log->results.empty()); // rejections were not passed to callers
  for (int i = 0; i < 100 && f.log->results.size() < 3; ++i) {
    if (!box->held.empty())
      box->release_one();
    f.run_with_timers(); // the retry backoff fires in virtual time
  }
  CHECK(f.log->ok() == 3);
}
