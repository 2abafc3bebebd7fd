// Replica health on CAF's test coordinator, in virtual time: failed checks
// replace a replica, a large deployment's probes are spread over the
// period, and replicas that keep dying come back after a growing backoff.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include <caf/detail/test_actor_clock.hpp>

#include "actorserve/controller.hpp"
#include "actorserve/error.hpp"
#include "control_fixture.hpp"
#include "coordinator_fixture.hpp"
#include "demo_scaling.hpp"

using namespace actorserve;
using namespace std::chrono_literals;
using test::find_dep;
using test::request;

using namespace test::control;

namespace {

using probed_actor = caf::typed_actor<caf::replies_to<int32_t>::with<uint64_t>>;

/// Which replicas' checks fail, and how often each replica was checked.
struct check_box {
  std::set<uint64_t> sick;
  std::map<uint64_t, int> checks;
};

probed_actor::behavior_type checked(probed_actor::pointer self,
                                    std::shared_ptr<check_box> box) {
  auto id = replica_context_of(self).replica_id;
  on_health_check(self, [box, id] {
    ++box->checks[id];
    if (box->sick.count(id) > 0)
      throw std::runtime_error("replica " + std::to_string(id) + " is sick");
  });
  return {[id](int32_t) { return id; }};
}

} // namespace

TEST_CASE("three failed health checks in a row replace a replica", "[health]") {
  auto mode = GENERATE(execution::inline_, execution::isolated);
  test::fixture f;
  auto box = std::make_shared<check_box>();
  auto b = deployment("Checked", checked);
  b.num_replicas(2).mode(mode).health_check(1s, 500ms);
  auto ctrl = f.own(spawn_controller(f.sys));
  deploy(f, ctrl, b.bind(box).spec());
  auto ids = ids_of(find_dep(f, ctrl, "app", "Checked"));
  REQUIRE(ids.size() == 2);
  auto victim = *ids.begin();
  box->sick.insert(victim);
  pass_time(f, 2s); // two strikes: still there
  CHECK(box->checks[victim] == 2);
  CHECK(ids_of(find_dep(f, ctrl, "app", "Checked")).count(victim) == 1);
  pass_time(f, 1s); // the third
  auto st = find_dep(f, ctrl, "app", "Checked");
  CHECK(ids_of(st).count(victim) == 0);
  CHECK(st.replicas.size() == 2);
  CHECK(st.state == deployment_state::healthy);
  CHECK_THAT(st.message, Catch::Contains("failed 3 health checks in a row"));
  // A passing check clears the strikes: the other replica is still there.
  CHECK(ids_of(st).count(*ids.rbegin()) == 1);
}

TEST_CASE("a large deployment's probes are spread over the period, each "
          "replica once",
          "[health]") {
  test::fixture f;
  auto box = std::make_shared<check_box>();
  auto b = deployment("Checked", checked);
  b.num_replicas(600).health_check(1s, 500ms); // three slices of 200
  auto ctrl = f.own(spawn_controller(f.sys));
  deploy(f, ctrl, b.bind(box).spec());
  // Ticks every 333 ms (each re-armed when the last ran, in 100 ms steps
  // here: at 400, 800 and 1200 ms).
  pass_time(f, 400ms);
  CHECK(box->checks.size() == 200); // the first slice
  pass_time(f, 1100ms);
  REQUIRE(box->checks.size() == 600);
  for (auto& [id, n] : box->checks)
    CHECK(n == 1);
}

namespace {

using crash_actor = caf::typed_actor<caf::replies_to<int32_t>::with<int32_t>>;

/// Answers, or dies when asked for -1 (a fatal error in user code).
crash_actor::behavior_type crasher(crash_actor::pointer self) {
  return {[self](int32_t x) -> int32_t {
    if (x < 0)
      self->quit(make_error(errc::user_error, "crash requested"));
    return x;
  }};
}

} // namespace

TEST_CASE("replicas that served are replaced at once however often they "
          "die",
          "[health]") {
  test::fixture f;
  auto b = deployment("Crasher", crasher);
  b.num_replicas(2);
  auto ctrl = f.own(spawn_controller(f.sys));
  deploy(f, ctrl, b.bind().spec());
  auto gw = find_dep(f, ctrl, "app", "Crasher").gateway;
  // Deaths in a quick row: each replacement starts at once, with no time
  // passing, so the deployment never lacks a replica it could have.
  for (int i = 0; i < 12; ++i) {
    f.call(gw, -1);
    f.run();
    auto st = find_dep(f, ctrl, "app", "Crasher");
    CHECK(test::ready_replicas(st) == 2);
    CHECK(st.state == deployment_state::healthy);
  }
}

namespace {

/// A constructor that fails while `failing` holds, then works.
struct flaky_ctor {
  bool failing = false;
  int constructions = 0;
};

crash_actor::behavior_type fragile(crash_actor::pointer self,
                                   std::shared_ptr<flaky_ctor> box) {
  ++box->constructions;
  if (box->failing)
    throw std::runtime_error("constructor failed on purpose");
  return crasher(self);
}

} // namespace

TEST_CASE("a failing start backs off in its own slot while the others serve",
          "[health]") {
  using detail::after_constructor_failure;
  CHECK(after_constructor_failure(1, 3, 20).delay == 100ms);
  CHECK(after_constructor_failure(2, 3, 20).delay == 200ms);
  test::fixture f;
  auto box = std::make_shared<flaky_ctor>();
  auto b = deployment("Fragile", fragile);
  b.num_replicas(3);
  auto ctrl = f.own(spawn_controller(f.sys));
  deploy(f, ctrl, b.bind(box).spec());
  auto gw = find_dep(f, ctrl, "app", "Fragile").gateway;
  box->failing = true;
  f.call(gw, -1);
  f.run();
  // The replacement's constructor failed: its slot waits 100 ms; the other
  // two replicas serve, and no other start happened.
  auto st = find_dep(f, ctrl, "app", "Fragile");
  CHECK(test::ready_replicas(st) == 2);
  CHECK(box->constructions == 4);
  pass_time(f, 100ms); // the slot's second start fails: it waits 200 ms
  CHECK(box->constructions == 5);
  // A served replica dies meanwhile: its slot is refilled at once (and
  // fails, starting its own backoff), the waiting slot is not hurried.
  f.call(gw, -1);
  f.run();
  CHECK(box->constructions == 6);
  CHECK(test::ready_replicas(find_dep(f, ctrl, "app", "Fragile")) == 1);
  box->failing = false;
  pass_time(f, 200ms); // both slots' backoffs are over: both start and work
  st = find_dep(f, ctrl, "app", "Fragile");
  CHECK(box->constructions == 8);
  CHECK(test::ready_replicas(st) == 3);
  CHECK(st.state == deployment_state::healthy);
}

TEST_CASE("a deployment whose replicas are all gone retries at the first "
          "step",
          "[health]") {
  test::fixture f;
  auto box = std::make_shared<flaky_ctor>();
  auto b = deployment("Fragile", fragile);
  b.num_replicas(1).max_constructor_retry_count(20);
  auto ctrl = f.own(spawn_controller(f.sys));
  deploy(f, ctrl, b.bind(box).spec());
  auto gw = find_dep(f, ctrl, "app", "Fragile").gateway;
  box->failing = true;
  f.call(gw, -1);
  f.run();
  // The only replica died; its replacement failed.
  CHECK(box->constructions == 2);
  // With no replica left, the slot does not back off further: each retry
  // comes 100 ms after the last failure, not 200, 400, ...
  pass_time(f, 100ms);
  CHECK(box->constructions == 3);
  // (One replica may fail 3 times in a row: the next one must work.)
  box->failing = false;
  pass_time(f, 100ms);
  auto st = find_dep(f, ctrl, "app", "Fragile");
  CHECK(box->constructions == 4);
  CHECK(test::ready_replicas(st) == 1);
}
