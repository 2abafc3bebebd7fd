// The controller never dies and never loops: random deploys, deletes,
// scales, status queries, shutdowns, replica deaths and failing
// constructors, in random orders, on CAF's test coordinator with virtual
// time. Afterwards every request has its answer, no app is stuck deploying,
// and the controller still deploys and serves.
#include <catch2/catch.hpp>

#include <random>

#include "controller_fuzz.hpp"

using namespace actorserve;
using namespace test::fuzz;

TEST_CASE("constructor retries back off exponentially up to a limit",
          "[controller]") {
  using detail::after_constructor_failure;
  using ms = std::chrono::milliseconds;
  // One replica: Ray's per-replica limit of 3 applies.
  CHECK_FALSE(after_constructor_failure(1, 1, 20).give_up);
  CHECK(after_constructor_failure(1, 1, 20).delay == ms{100});
  CHECK(after_constructor_failure(2, 1, 20).delay == ms{200});
  CHECK_FALSE(after_constructor_failure(2, 1, 20).give_up);
  CHECK(after_constructor_failure(3, 1, 20).give_up);
  // Ten replicas: max_constructor_retry_count is the smaller limit.
  CHECK_FALSE(after_constructor_failure(19, 10, 20).give_up);
  CHECK(after_constructor_failure(20, 10, 20).give_up);
  // The delay is capped.
  CHECK(after_constructor_failure(19, 10, 20).delay == ms{10'000});
}

TEST_CASE("a constructor that fails once is retried and the app runs",
          "[controller]") {
  test::fixture f;
  auto box = std::make_shared<ctor_box>();
  box->fail_every = 2; // the second construction fails, the third works
  auto ctrl = f.own(spawn_controller(f.sys));
  auto t = std::make_shared<tally>();
  deploy(f, ctrl, t, app_spec{"app", "", mortal_spec(box, 2)});
  settle(f);
  CHECK(t->answered == 1);
  auto st = status(f, ctrl);
  REQUIRE(st.applications.size() == 1);
  CHECK(st.applications[0].state == application_state::running);
  CHECK(box->constructions == 3);
}

TEST_CASE("a replica that dies while its app deploys is replaced",
          "[controller]") {
  test::fixture f;
  auto box = std::make_shared<ctor_box>();
  auto ctrl = f.own(spawn_controller(f.sys));
  auto t = std::make_shared<tally>();
  deploy(f, ctrl, t, app_spec{"app", "", mortal_spec(box, 2)});
  // The first replica is ready; the second one's constructor failed and
  // waits for its backoff (virtual time stands still), so the app is
  // still DEPLOYING. Then the ready replica dies.
  box->fail_every = 2;
  f.run();
  auto before = status(f, ctrl);
  REQUIRE(before.applications.size() == 1);
  REQUIRE(before.applications[0].state == application_state::deploying);
  auto gw = gateway_of(f, ctrl, "app");
  REQUIRE(gw);
  f.call(gw, -1);
  settle(f);
  CHECK(t->answered == 1); // serve.run gets its answer
  auto st = status(f, ctrl);
  REQUIRE(st.applications.size() == 1);
  CHECK(st.applications[0].state == application_state::running);
  CHECK(st.applications[0].deployments[0].replicas.size() == 2);
}

TEST_CASE("scale during a delete fails cleanly and the controller lives",
          "[controller]") {
  test::fixture f;
  auto box = std::make_shared<ctor_box>();
  auto ctrl = f.own(spawn_controller(f.sys));
  auto t = std::make_shared<tally>();
  deploy(f, ctrl, t, app_spec{"app", "", mortal_spec(box, 1)});
  settle(f);
  fire<bool>(f, ctrl, t, delete_atom::value, std::string{"app"});
  fire<deployment_status>(f, ctrl, t, scale_atom::value, std::string{"app"},
                          std::string{"M"}, uint32_t{3});
  settle(f);
  CHECK(t->answered == 3);
  CHECK(status(f, ctrl).applications.empty());
}

// Longer than 80 lines: one random walk, whose steps read best as one
// switch beside the checks that follow it.
TEST_CASE("no order of messages stops the controller or leaves a request "
          "unanswered",
          "[controller][fuzz]") {
  auto seed = GENERATE(range(1, 41));
  CAPTURE(seed);
  std::mt19937 rng{static_cast<uint32_t>(seed)};
  auto pick = [&](int n) {
    return std::uniform_int_distribution<int>{0, n - 1}(rng);
  };
  test::fixture f;
  auto ctrl = f.own(spawn_controller(f.sys));
  auto t = std::make_shared<tally>();
  const char* names[] = {"a", "b", "c"};
  bool shut = false;
  for (int step = 0; step < 120; ++step) {
    std::string app = names[pick(3)];
    switch (pick(10)) {
    case 0:
    case 1: {
      auto box = std::make_shared<ctor_box>();
      int modes[] = {0, 0, 2, 3, 1};
      box->fail_every = modes[pick(5)];
      auto prefix = pick(2) == 0 ? std::string{} : "/" + app;
      auto n = static_cast<uint32_t>(1 + pick(3));
      // Isolated replicas run on virtual units under the coordinator.
      auto mode = pick(2) == 0 ? execution::inline_ : execution::isolated;
      deploy(f, ctrl, t, app_spec{app, prefix, mortal_spec(box, n, mode)});
      break;
    }
    case 2:
      fire<bool>(f, ctrl, t, delete_atom::value, app);
      break;
    case 3:
      fire<deployment_status>(f, ctrl, t, scale_atom::value, app,
                              std::string{"M"}, static_cast<uint32_t>(pick(4)));
      break;
    case 4:
      fire<serve_status>(f, ctrl, t, status_atom::value);
      break;
    case 5:
      if (pick(10) == 0) {
        fire<bool>(f, ctrl, t, shutdown_atom::value);
        shut = true;
      }
      break;
    case 8: {
      // A change while it serves (no autoscaling here: its ticks never
      // settle).
      deployment_patch p;
      switch (pick(4)) {
      case 0:
        p.version = std::to_string(pick(3));
        break;
      case 1:
        p.user_config = "{\"x\": " + std::to_string(pick(3)) + "}";
        break;
      case 2:
        p.num_replicas = static_cast<uint32_t>(pick(4)); // 0 is refused
        break;
      default:
        p.max_ongoing_requests = static_cast<uint32_t>(1 + pick(3));
        p.max_queued_requests = pick(2) == 0 ? -1 : 4;
        break;
      }
      fire<deployment_status>(f, ctrl, t, update_atom::value, app,
                              std::string{"M"}, p, pick(2) == 0);
      break;
    }
    case 6:
    case 7:
      if (auto gw = gateway_of(f, ctrl, app))
        f.call(gw, pick(2) == 0 ? -1 : 1); // kill a replica, or a call
      break;
    default:
      f.sched.trigger_timeouts();
      break;
    }
    // Sometimes let messages pile up, sometimes run them.
    if (pick(3) == 0)
      f.run();
  }
  check_settled(f, ctrl, t);
  if (shut) {
    // After a shutdown the controller refuses new apps and has none left.
    CHECK(status(f, ctrl).applications.empty());
    return;
  }
  // Still in charge: a new app deploys and serves.
  auto box = std::make_shared<ctor_box>();
  fire<bool>(f, ctrl, t, delete_atom::value, std::string{"z"});
  deploy(f, ctrl, t, app_spec{"z", "", mortal_spec(box, 1)});
  settle(f);
  CHECK(t->answered == t->sent);
  auto gw = gateway_of(f, ctrl, "z");
  REQUIRE(gw);
  auto before = f.log->results.size();
  f.call(gw, 5);
  settle(f);
  REQUIRE(f.log->results.size() == before + 1);
  REQUIRE(f.log->results.back());
  CHECK(*f.log->results.back() == 5);
}
