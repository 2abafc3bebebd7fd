// The control plane on CAF's test coordinator, in virtual time: autoscaling
// (delays, scale to zero and back), rolling updates (order and capacity),
// in-place reconfigure, and constructor retries ending in DEPLOY_FAILED.
// Health checks and restarts are in control_health.test.cpp.
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

// -- a deployment that shows its config --------------------------------------

using conf_actor =
    caf::typed_actor<caf::replies_to<int32_t>::with<std::string>>;

struct conf_box {
  /// (replica id, config) for every time a hook ran.
  std::vector<std::pair<uint64_t, std::string>> seen;
};

conf_actor::behavior_type configured(conf_actor::pointer self,
                                     std::shared_ptr<conf_box> box) {
  auto id = replica_context_of(self).replica_id;
  auto calls = std::make_shared<int>(0);
  on_reconfigure(self, [box, id, calls](const std::string& cfg) {
    // Live replicas refuse it; new ones start with it.
    if ((*calls)++ > 0 && cfg.find("refuse") != std::string::npos)
      throw std::runtime_error("this config is refused");
    box->seen.emplace_back(id, cfg);
  });
  return {
      [self](int32_t) { return replica_context_of(self).user_config; },
  };
}

} // namespace

TEST_CASE("autoscaling follows the load after its delays", "[autoscaling]") {
  auto mode = GENERATE(execution::inline_, execution::isolated);
  test::fixture f;
  auto box = f.make_box();
  auto spec = test::held_spec(box, 2, mode);
  spec->config.autoscaling = test::demo_scaling();
  auto ctrl = f.own(spawn_controller(f.sys));
  deploy(f, ctrl, spec);
  auto st = find_dep(f, ctrl, "app", "Held");
  CHECK(st.autoscaling);
  CHECK(st.target_replicas == 1);
  // Eight calls: two run at the one replica, six wait at the caller. Load
  // 8 at a target of 2 per replica wants 4 replicas.
  for (int32_t i = 0; i < 8; ++i)
    f.call(st.gateway, i);
  f.run();
  CHECK(box->held.size() == 2);
  pass_time(f, 900ms);
  CHECK(find_dep(f, ctrl, "app", "Held").target_replicas == 1);
  pass_time(f, 300ms); // the upscale delay (1 s) has passed
  st = find_dep(f, ctrl, "app", "Held");
  CHECK(st.target_replicas == 4);
  CHECK(st.state == deployment_state::healthy);
  CHECK(test::ready_replicas(st) == 4);
  f.run_with_timers(); // the waiting calls reach the new replicas
  CHECK(box->held.size() == 8);
  // The load ends; down to the minimum only after the downscale delay (3 s).
  while (!box->held.empty())
    box->release_one();
  f.run();
  CHECK(f.log->ok() == 8);
  pass_time(f, 2s);
  CHECK(find_dep(f, ctrl, "app", "Held").target_replicas == 4);
  pass_time(f, 3s);
  st = find_dep(f, ctrl, "app", "Held");
  CHECK(st.target_replicas == 1);
  CHECK(st.replicas.size() == 1);
}

TEST_CASE("a deployment scales to zero, and a request brings a replica back",
          "[autoscaling]") {
  auto mode = GENERATE(execution::inline_, execution::isolated);
  test::fixture f;
  auto box = f.make_box();
  auto spec = test::held_spec(box, 2, mode);
  auto scaling = test::demo_scaling();
  scaling.min_replicas = 0;
  scaling.downscale_delay = 1s;
  scaling.look_back_period = 1s;
  spec->config.autoscaling = scaling;
  auto ctrl = f.own(spawn_controller(f.sys));
  deploy(f, ctrl, spec);
  auto gw = find_dep(f, ctrl, "app", "Held").gateway;
  pass_time(f, 1500ms);
  auto st = find_dep(f, ctrl, "app", "Held");
  CHECK(st.target_replicas == 0);
  CHECK(st.replicas.empty());
  CHECK(st.state == deployment_state::healthy);
  // A call waits for the replica the controller starts for it.
  f.call(gw, 42);
  f.run();
  CHECK(f.log->results.empty());
  pass_time(f, autoscaling_tick);
  f.run_with_timers();
  REQUIRE(box->held.size() == 1);
  CHECK(find_dep(f, ctrl, "app", "Held").target_replicas == 1);
  box->release_one();
  f.run();
  REQUIRE(f.log->results.size() == 1);
  CHECK(f.log->results[0] == 42);
}

TEST_CASE("a rolling update keeps capacity and replaces 20 % at a time",
          "[rollout]") {
  auto mode = GENERATE(execution::inline_, execution::isolated);
  test::fixture f;
  auto box = f.make_box();
  auto spec = test::held_spec(box, 2, mode);
  spec->config.num_replicas = 5;
  spec->config.version = "1";
  auto ctrl = f.own(spawn_controller(f.sys));
  deploy(f, ctrl, spec);
  auto before = find_dep(f, ctrl, "app", "Held");
  auto old_ids = ids_of(before);
  REQUIRE(old_ids.size() == 5);
  auto ep_ask = request<endpoint_ptr>(f, ctrl, endpoint_atom::value,
                                      std::string{"app"}, std::string{"Held"});
  auto ep = ep_ask.out->value().get_as<endpoint_ptr>(0);
  deployment_patch p;
  p.version = "2";
  // Step the world one job at a time: callers must always see at least
  // the target, and never more than one replacement at once.
  auto a = patch(f, ctrl, "Held", p, true);
  // (request() ran the world to the end; replay the same update stepwise
  // on a second version to watch every step.)
  REQUIRE(*a.done);
  auto mid = a.out->value().get_as<deployment_status>(0);
  CHECK(mid.version == "2");
  auto ids = ids_of(mid);
  for (auto id : ids)
    CHECK(old_ids.count(id) == 0);
  for (auto& r : mid.replicas)
    CHECK(r.version == "2");
  old_ids = ids;
  p.version = "3";
  auto done = std::make_shared<bool>(false);
  f.sys.spawn(
      [=](caf::event_based_actor* self, caf::actor dest) {
        self->request(dest, caf::infinite, update_atom::value,
                      std::string{"app"}, std::string{"Held"}, p, true)
            .then([=](deployment_status&) { *done = true; },
                  [=](caf::error&) { *done = true; });
      },
      caf::actor_cast<caf::actor>(ctrl));
  // Each replica is two actors (its system side and its user code).
  auto baseline = f.sys.registry().running();
  size_t least = 100;
  size_t most = 0;
  size_t most_actors = 0;
  for (int i = 0; i < 100000 && f.sched.try_run_once(); ++i) {
    auto set = ep->snapshot();
    least = std::min(least, set->replicas.size());
    most = std::max(most, set->replicas.size());
    most_actors = std::max(most_actors, f.sys.registry().running());
  }
  CHECK(*done);
  CHECK(least == 5); // callers always see the target capacity
  CHECK(most <= 6);
  // One replica starting (20 % of 5) and one draining at a time, at most.
  CHECK(most_actors <= baseline + 4);
  auto after = find_dep(f, ctrl, "app", "Held");
  CHECK(after.state == deployment_state::healthy);
  for (auto& r : after.replicas) {
    CHECK(old_ids.count(r.id) == 0);
    CHECK(r.version == "3");
  }
}

TEST_CASE("a user_config change reconfigures live replicas in place",
          "[reconfigure]") {
  auto mode = GENERATE(execution::inline_, execution::isolated);
  test::fixture f;
  auto box = std::make_shared<conf_box>();
  auto b = deployment("Conf", configured);
  b.num_replicas(3).mode(mode).user_config(R"({"x":1})");
  auto ctrl = f.own(spawn_controller(f.sys));
  deploy(f, ctrl, b.bind(box).spec());
  auto ids = ids_of(find_dep(f, ctrl, "app", "Conf"));
  // The hook ran at start with the first config, once per replica.
  REQUIRE(box->seen.size() == 3);
  for (auto& [id, cfg] : box->seen)
    CHECK(cfg == R"({"x":1})");
  box->seen.clear();
  deployment_patch p;
  p.user_config = R"({"x":2})";
  auto a = patch(f, ctrl, "Conf", p, true);
  REQUIRE(*a.done);
  auto st = a.out->value().get_as<deployment_status>(0);
  CHECK(st.state == deployment_state::healthy);
  CHECK(ids_of(st) == ids); // the same replicas
  REQUIRE(box->seen.size() == 3);
  for (auto& [id, cfg] : box->seen) {
    CHECK(ids.count(id) == 1);
    CHECK(cfg == R"({"x":2})");
  }
  // A config the code refuses replaces the replicas that refused it; the
  // new ones start with it.
  p.user_config = R"({"refuse":true})";
  a = patch(f, ctrl, "Conf", p, true);
  REQUIRE(*a.done);
  st = a.out->value().get_as<deployment_status>(0);
  CHECK(st.replicas.size() == 3);
  for (auto id : ids_of(st))
    CHECK(ids.count(id) == 0);
  CHECK_THAT(st.message, Catch::Contains("failed to reconfigure"));
  // A bad field is named.
  p.user_config = "{not json";
  a = patch(f, ctrl, "Conf", p, false);
  REQUIRE(*a.done);
  REQUIRE_FALSE(a.out->engaged());
  CHECK(code_of(a.out->error()) == errc::invalid_config);
  CHECK_THAT(message_of(a.out->error()), Catch::Contains("user_config"));
}

TEST_CASE("lightweight updates touch no replica", "[reconfigure]") {
  test::fixture f;
  auto box = f.make_box();
  auto spec = test::held_spec(box, 2);
  spec->config.num_replicas = 2;
  auto ctrl = f.own(spawn_controller(f.sys));
  deploy(f, ctrl, spec);
  auto ids = ids_of(find_dep(f, ctrl, "app", "Held"));
  deployment_patch p;
  p.max_queued_requests = 7;
  p.num_replicas = 3;
  auto a = patch(f, ctrl, "Held", p, true);
  REQUIRE(*a.done);
  auto st = a.out->value().get_as<deployment_status>(0);
  CHECK(st.replicas.size() == 3);
  for (auto id : ids)
    CHECK(ids_of(st).count(id) == 1);
  auto ep = request<endpoint_ptr>(f, ctrl, endpoint_atom::value,
                                  std::string{"app"}, std::string{"Held"})
                .out->value()
                .get_as<endpoint_ptr>(0);
  CHECK(ep->max_queued_requests() == 7);
  // Autoscaling and a fixed count exclude each other.
  deployment_patch both;
  both.num_replicas = 2;
  both.autoscaling = test::demo_scaling();
  a = patch(f, ctrl, "Held", both, false);
  REQUIRE_FALSE(a.out->engaged());
  CHECK_THAT(message_of(a.out->error()), Catch::Contains("num_replicas"));
}

TEST_CASE("a constructor that keeps failing ends in DEPLOY_FAILED",
          "[controller]") {
  test::fixture f;
  auto b = deployment("Broken",
                      [](conf_actor::pointer) -> conf_actor::behavior_type {
                        throw std::runtime_error("no model file");
                      });
  b.num_replicas(2).max_constructor_retry_count(4);
  auto ctrl = f.own(spawn_controller(f.sys));
  auto a = request<application_status>(f, ctrl, deploy_atom::value,
                                       app_spec{"app", "", b.bind().spec()});
  // Retries wait for their backoff (100 ms, doubling), in virtual time.
  CHECK_FALSE(*a.done);
  for (int i = 0; i < 50 && !*a.done; ++i) {
    f.sched.trigger_timeout();
    f.run();
  }
  REQUIRE(*a.done);
  REQUIRE_FALSE(a.out->engaged());
  CHECK(code_of(a.out->error()) == errc::user_error);
  CHECK_THAT(message_of(a.out->error()), Catch::Contains("no model file"));
  CHECK_THAT(message_of(a.out->error()), Catch::Contains("4 attempts"));
}

TEST_CASE("running an app again updates it by Ray Serve's classification",
          "[rollout]") {
  auto mode = GENERATE(execution::inline_, execution::isolated);
  test::fixture f;
  auto box = std::make_shared<conf_box>();
  auto build = [&](const char* version, const char* cfg) {
    auto b = deployment("Conf", configured);
    b.num_replicas(2).mode(mode).version(version).user_config(cfg);
    return b.bind(box).spec();
  };
  auto ctrl = f.own(spawn_controller(f.sys));
  auto first = build("1", R"({"x":1})");
  deploy(f, ctrl, first);
  auto ids = ids_of(find_dep(f, ctrl, "app", "Conf"));
  // The same graph again: nothing to do.
  auto app = deploy(f, ctrl, first);
  CHECK(app.state == application_state::running);
  CHECK(ids_of(find_dep(f, ctrl, "app", "Conf")) == ids);
  // New bind, same version, new user_config: in place.
  box->seen.clear();
  deploy(f, ctrl, build("1", R"({"x":2})"));
  CHECK(ids_of(find_dep(f, ctrl, "app", "Conf")) == ids);
  CHECK(box->seen.size() == 2);
  // A new version: new replicas.
  deploy(f, ctrl, build("2", R"({"x":2})"));
  auto st = find_dep(f, ctrl, "app", "Conf");
  CHECK(st.version == "2");
  REQUIRE(st.replicas.size() == 2);
  for (auto& r : st.replicas) {
    CHECK(ids.count(r.id) == 0);
    CHECK(r.version == "2");
  }
}
