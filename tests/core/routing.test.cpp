// Deterministic tests of the replica's admission and of routing through the
// gateway (the caller for code outside replicas and the ingress, built on
// the same caller_router): choice, queue, rejection and replica-set
// changes, on CAF's test coordinator.
#include <catch2/catch.hpp>

#include <random>

#include "actorserve/error.hpp"
#include "replica/replica.hpp"
#include "calls/gateway.hpp"
#include "calls/routing.hpp"
#include "coordinator_fixture.hpp"

using namespace actorserve;

namespace {

/// A replica as the controller publishes it. `gated`: with its admission
/// gate, so callers admit calls themselves and send them straight to the
/// user actor (the path every caller in a process takes); otherwise calls
/// go through the replica actor (the path for callers without the gate).
replica_ref make_replica(test::fixture& f, uint64_t id,
                         const detail::spec_ptr& spec, bool gated) {
  auto gate = std::make_shared<detail::admission_gate>(
      spec->config.max_ongoing_requests);
  auto handle = f.own(spawn_replica(
      f.sys, replica_args{id, "app", spec, {}, caf::actor{}, gate}));
  return replica_ref{id, handle, gated ? gate : nullptr};
}

/// A deployment's endpoint and its gateway, the caller these tests drive.
struct gateway_world {
  endpoint_ptr ep;
  caf::actor gw;
};

gateway_world make_gateway(test::fixture& f, uint32_t max_ongoing,
                           int64_t max_queued, uint64_t seed) {
  auto ep = std::make_shared<endpoint>("app", "Held", max_ongoing, max_queued);
  auto gw = f.own(spawn_gateway(f.sys, ep, seed));
  return {ep, gw};
}

/// Publishes a replica set as the controller does: into the endpoint, then
/// a nudge to the gateway.
void set_replicas(test::fixture& f, const gateway_world& w,
                  std::vector<replica_ref> refs) {
  w.ep->publish(std::move(refs));
  caf::anon_send(w.gw, replicas_atom::value);
  f.run();
}

struct two_replicas {
  replica_ref a;
  replica_ref b;
  gateway_world gw;
};

/// Replicas A and B (one slot each) and a gateway that sends to A only.
two_replicas two_replicas_one_serving(test::fixture& f, test::box_ptr box,
                                      bool gated, execution mode) {
  auto spec = test::held_spec(std::move(box), 1, mode);
  two_replicas w{make_replica(f, 1, spec, gated),
                 make_replica(f, 2, spec, gated), make_gateway(f, 1, -1, 1)};
  f.run();
  set_replicas(f, w.gw, {w.a});
  return w;
}

} // namespace

TEST_CASE("power-of-two-choices picks the less loaded of two candidates",
          "[gateway]") {
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

TEST_CASE("the gateway sends calls to the replica with the shorter queue",
          "[gateway]") {
  auto gated = GENERATE(false, true);
  auto mode = GENERATE(execution::inline_, execution::isolated);
  test::fixture f;
  auto box = f.make_box();
  auto spec = test::held_spec(box, 5, mode);
  auto a = make_replica(f, 1, spec, gated);
  auto b = make_replica(f, 2, spec, gated);
  auto gw = make_gateway(f, 5, -1, 7);
  f.run();
  set_replicas(f, gw, {a});
  for (int i = 0; i < 3; ++i)
    f.call(gw.gw, i);
  f.run();
  REQUIRE(box->held_by(1) == 3);
  set_replicas(f, gw, {a, b});
  f.call(gw.gw, 10);
  f.run();
  f.call(gw.gw, 11);
  f.run();
  f.call(gw.gw, 12);
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
  auto gated = GENERATE(false, true);
  auto mode = GENERATE(execution::inline_, execution::isolated);
  test::fixture f;
  auto box = f.make_box();
  auto spec = test::held_spec(box, 2, mode);
  auto replica = make_replica(f, 1, spec, gated);
  f.run();
  // Straight to the replica: the third and fourth are rejected.
  for (int i = 0; i < 4; ++i)
    f.call(replica.handle, i);
  f.run();
  CHECK(box->held_by(1) == 2);
  // An isolated replica's user code ran on its own unit, never on the
  // scheduler's (the coordinator's) worker.
  for (auto& c : box->held)
    CHECK(c.own_unit == (mode == execution::isolated));
  REQUIRE(f.log->results.size() == 2);
  for (auto& r : f.log->results) {
    REQUIRE(!r);
    CHECK(code_of(r.error()) == errc::rejected);
  }
  // Through a gateway, ten calls: at most two run at once, all complete.
  auto gw = make_gateway(f, 2, -1, 1);
  f.run();
  set_replicas(f, gw, {replica});
  for (int i = 0; i < 10; ++i)
    f.call(gw.gw, i);
  f.run();
  // Two earlier calls still hold the replica: the gateway's calls are
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

TEST_CASE("past max_queued_requests calls fail as overloaded", "[gateway]") {
  auto gated = GENERATE(false, true);
  auto mode = GENERATE(execution::inline_, execution::isolated);
  test::fixture f;
  auto box = f.make_box();
  auto replica = make_replica(f, 1, test::held_spec(box, 1, mode), gated);
  auto gw = make_gateway(f, 1, 2, 1);
  f.run();
  set_replicas(f, gw, {replica});
  for (int i = 0; i < 4; ++i)
    f.call(gw.gw, i);
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
          "[gateway]") {
  auto gated = GENERATE(false, true);
  auto mode = GENERATE(execution::inline_, execution::isolated);
  test::fixture f;
  auto box = f.make_box();
  auto [a, b, gw] = two_replicas_one_serving(f, box, gated, mode);
  for (int i = 0; i < 4; ++i)
    f.call(gw.gw, i);
  f.run();
  REQUIRE(box->held_by(1) == 1); // three are queued
  // Replace A by B while A still runs a call and three wait.
  set_replicas(f, gw, {b});
  caf::anon_send(a.handle, drain_atom::value);
  f.run();
  CHECK(box->held_by(2) == 1);
  while (!box->held.empty()) {
    box->release_one();
    f.run();
  }
  REQUIRE(f.log->results.size() == 4);
  CHECK(f.log->ok() == 4);
}

TEST_CASE("queued calls are retried when a replica rejects them", "[gateway]") {
  auto gated = GENERATE(false, true);
  auto mode = GENERATE(execution::inline_, execution::isolated);
  test::fixture f;
  auto box = f.make_box();
  auto replica = make_replica(f, 1, test::held_spec(box, 1, mode), gated);
  // The gateway believes the replica takes 3; the replica admits only 1.
  auto gw = make_gateway(f, 3, -1, 1);
  f.run();
  set_replicas(f, gw, {replica});
  for (int i = 0; i < 3; ++i)
    f.call(gw.gw, i);
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

TEST_CASE("a gateway that stops answers the calls it holds, in flight or "
          "waiting",
          "[gateway]") {
  auto gated = GENERATE(false, true);
  auto mode = GENERATE(execution::inline_, execution::isolated);
  test::fixture f;
  auto box = f.make_box();
  auto replica = make_replica(f, 1, test::held_spec(box, 1, mode), gated);
  auto gw = make_gateway(f, 1, -1, 1);
  f.run();
  set_replicas(f, gw, {replica});
  f.call(gw.gw, 1); // runs at the replica
  f.call(gw.gw, 2); // waits at the gateway
  f.run();
  REQUIRE(box->held_by(1) == 1);
  REQUIRE(f.log->results.empty());
  caf::anon_send_exit(gw.gw, caf::exit_reason::user_shutdown);
  f.run();
  REQUIRE(f.log->results.size() == 2);
  for (auto& r : f.log->results) {
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == errc::unavailable);
  }
}

TEST_CASE("a call running on a replica that is stopped is answered "
          "unavailable and never run again",
          "[gateway]") {
  auto gated = GENERATE(false, true);
  auto mode = GENERATE(execution::inline_, execution::isolated);
  test::fixture f;
  auto box = f.make_box();
  auto [a, b, gw] = two_replicas_one_serving(f, box, gated, mode);
  f.call(gw.gw, 7);
  f.run();
  REQUIRE(box->held_by(1) == 1);
  // A leaves the set and drains; its call outlives graceful_shutdown_timeout
  // (virtual time), so the replica is stopped with the call running.
  set_replicas(f, gw, {b});
  caf::anon_send(a.handle, drain_atom::value);
  f.run_with_timers();
  REQUIRE(f.log->results.size() == 1);
  REQUIRE_FALSE(f.log->results[0]);
  CHECK(code_of(f.log->results[0].error()) == errc::unavailable);
  // It may have had effects at A: it is not sent to B.
  CHECK(box->held_by(2) == 0);
  // The gateway still routes: B takes the next call.
  f.call(gw.gw, 8);
  f.run();
  CHECK(box->held_by(2) == 1);
}

TEST_CASE("a call whose user actor is gone before it takes it is routed "
          "again, with its arguments",
          "[gateway]") {
  auto mode = GENERATE(execution::inline_, execution::isolated);
  test::fixture f;
  auto box = f.make_box();
  auto [a, b, gw] = two_replicas_one_serving(f, box, true, mode);
  // A's user actor dies; A's replica actor has not heard yet, so its gate
  // still admits calls.
  auto a_user = a.gate->user();
  auto a_replica = dynamic_cast<caf::resumable*>(
      caf::actor_cast<caf::abstract_actor*>(a.handle));
  caf::anon_send_exit(a_user, caf::exit_reason::kill);
  f.sched.run_jobs_filtered([&](caf::resumable* r) { return r != a_replica; });
  REQUIRE(a.gate->running() == 0);
  // The call passes A's gate and bounces off the closed mailbox: the
  // gateway keeps no copy of its arguments, so they come back with it.
  f.call(gw.gw, 42);
  f.sched.run_jobs_filtered([&](caf::resumable* r) { return r != a_replica; });
  CHECK(f.log->results.empty());
  CHECK(box->held_by(1) == 0);
  // B joins the set: the call runs there, with its argument.
  set_replicas(f, gw, {b});
  REQUIRE(box->held_by(2) == 1);
  CHECK(box->held.front().x == 42);
  box->release_one();
  f.run();
  REQUIRE(f.log->results.size() == 1);
  REQUIRE(f.log->results[0]);
  CHECK(*f.log->results[0] == 42);
}
