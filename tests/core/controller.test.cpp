// Deterministic tests of the controller: deploy, reconcile, delete, status,
// config validation.
#include <catch2/catch.hpp>

#include "actorserve/controller.hpp"
#include "actorserve/error.hpp"
#include "coordinator_fixture.hpp"

using namespace actorserve;

using test::find_dep;
using test::ready_replicas;
using test::request;

TEST_CASE("the controller reconciles replica counts up and down",
          "[controller]") {
  auto mode = GENERATE(execution::inline_, execution::isolated);
  test::fixture f;
  auto box = f.make_box();
  auto spec = test::held_spec(box, 5, mode);
  spec->config.num_replicas = 2;
  auto ctrl = f.own(spawn_controller(f.sys));
  auto deployed = request<application_status>(f, ctrl, deploy_atom::value,
                                              app_spec{"app", "", spec});
  REQUIRE(*deployed.done);
  REQUIRE(deployed.out->engaged());
  auto app = deployed.out->value().get_as<application_status>(0);
  CHECK(app.state == application_state::running);
  CHECK(ready_replicas(find_dep(f, ctrl, "app", "Held")) == 2);

  auto up =
      request<deployment_status>(f, ctrl, scale_atom::value, std::string{"app"},
                                 std::string{"Held"}, uint32_t{4});
  REQUIRE(*up.done);
  auto st = up.out->value().get_as<deployment_status>(0);
  CHECK(st.state == deployment_state::healthy);
  CHECK(ready_replicas(st) == 4);

  auto down =
      request<deployment_status>(f, ctrl, scale_atom::value, std::string{"app"},
                                 std::string{"Held"}, uint32_t{1});
  REQUIRE(*down.done);
  CHECK(ready_replicas(down.out->value().get_as<deployment_status>(0)) == 1);
  CHECK(find_dep(f, ctrl, "app", "Held").replicas.size() == 1);

  // The one left still serves calls through the gateway.
  auto router = find_dep(f, ctrl, "app", "Held").gateway;
  f.call(router, 5);
  f.run();
  REQUIRE(box->held.size() == 1);
  box->release_one();
  f.run();
  CHECK(f.log->ok() == 1);
}

TEST_CASE("deleting an application drains it and removes it from status",
          "[controller]") {
  auto mode = GENERATE(execution::inline_, execution::isolated);
  test::fixture f;
  auto box = f.make_box();
  auto ctrl = f.own(spawn_controller(f.sys));
  auto deployed = request<application_status>(
      f, ctrl, deploy_atom::value,
      app_spec{"app", "", test::held_spec(box, 5, mode)});
  REQUIRE(deployed.out->engaged());
  auto router = find_dep(f, ctrl, "app", "Held").gateway;
  f.call(router, 1);
  f.run();
  REQUIRE(box->held.size() == 1);
  auto deleted = request<bool>(f, ctrl, delete_atom::value, std::string{"app"});
  // Not done while the call is still running: the replica drains first.
  CHECK_FALSE(*deleted.done);
  box->release_one();
  f.run();
  CHECK(*deleted.done);
  CHECK(f.log->ok() == 1);
  auto st = request<serve_status>(f, ctrl, status_atom::value);
  CHECK(st.out->value().get_as<serve_status>(0).applications.empty());
}

TEST_CASE("an invalid config fails at deploy time naming the field",
          "[controller][config]") {
  test::fixture f;
  auto box = f.make_box();
  auto ctrl = f.own(spawn_controller(f.sys));
  auto spec = test::held_spec(box);
  spec->config.max_ongoing_requests = 0;
  auto a = request<application_status>(f, ctrl, deploy_atom::value,
                                       app_spec{"app", "", spec});
  REQUIRE(*a.done);
  REQUIRE_FALSE(a.out->engaged());
  CHECK(code_of(a.out->error()) == errc::invalid_config);
  CHECK_THAT(message_of(a.out->error()),
             Catch::Contains("max_ongoing_requests"));

  auto spec2 = test::held_spec(box);
  auto b = request<application_status>(f, ctrl, deploy_atom::value,
                                       app_spec{"app", "no-slash", spec2});
  REQUIRE_FALSE(b.out->engaged());
  CHECK_THAT(message_of(b.out->error()), Catch::Contains("route_prefix"));

  // The held deployment takes no http_request, so it cannot be an HTTP app.
  auto c = request<application_status>(f, ctrl, deploy_atom::value,
                                       app_spec{"app", "/x", spec2});
  REQUIRE_FALSE(c.out->engaged());
  CHECK_THAT(message_of(c.out->error()), Catch::Contains("http_request"));
}

TEST_CASE("deployment configs are validated field by field", "[config]") {
  deployment_config cfg;
  cfg.name = "ok";
  CHECK_FALSE(validate(cfg));
  auto with = [&](auto mutate) {
    auto c = cfg;
    mutate(c);
    return message_of(validate(c));
  };
  CHECK_THAT(with([](auto& c) { c.name = "bad name"; }),
             Catch::Contains("deployment name"));
  CHECK_THAT(with([](auto& c) { c.num_replicas = 0; }),
             Catch::Contains("num_replicas"));
  CHECK_THAT(with([](auto& c) { c.max_queued_requests = 0; }),
             Catch::Contains("max_queued_requests"));
  CHECK_THAT(with([](auto& c) { c.user_config = "{oops"; }),
             Catch::Contains("user_config"));
  CHECK_THAT(with([](auto& c) { c.health_check_period = {}; }),
             Catch::Contains("health_check_period"));
  CHECK_THAT(with([](auto& c) {
               c.health_check_timeout = std::chrono::milliseconds{-1};
             }),
             Catch::Contains("health_check_timeout"));
}

namespace {

/// A `Held` spec renamed, reserving `needs` per replica.
detail::spec_ptr reserving(test::box_ptr box, const std::string& name,
                           uint32_t replicas, double cpus,
                           std::map<std::string, double> custom = {}) {
  auto spec = test::held_spec(box);
  spec->config.name = name;
  spec->config.num_replicas = replicas;
  spec->config.num_cpus = cpus;
  spec->config.resources = std::move(custom);
  return spec;
}

} // namespace

TEST_CASE("replicas that do not fit the node's resources wait, pending with "
          "the reason, until resources are released",
          "[controller][placement]") {
  test::fixture f;
  auto box = f.make_box();
  auto ctrl = f.own(spawn_controller(f.sys, resource_set{2, {{"accel", 1}}}));
  // The only accelerator goes to "hog".
  auto hog = request<application_status>(
      f, ctrl, deploy_atom::value,
      app_spec{"hog", "", reserving(box, "Hog", 1, 0, {{"accel", 1}})});
  REQUIRE(*hog.done);
  REQUIRE(hog.out->engaged());
  // Two replicas needing it: neither fits, and the deploy waits.
  auto gpu = request<application_status>(
      f, ctrl, deploy_atom::value,
      app_spec{"gpu", "", reserving(box, "Gpu", 2, 0.5, {{"accel", 0.5}})});
  CHECK_FALSE(*gpu.done);
  auto st = find_dep(f, ctrl, "gpu", "Gpu");
  CHECK(st.state == deployment_state::updating);
  CHECK(st.replicas.empty());
  CHECK(st.message == "2 replicas pending: no node has the resources free "
                      "(each replica needs num_cpus=0.5, accel=0.5, "
                      "memory=65536)");
  // CPU-only replicas still fit beside it: 2 CPUs, one each.
  auto cpu = request<application_status>(
      f, ctrl, deploy_atom::value,
      app_spec{"cpu", "", reserving(box, "Cpu", 2, 0.5)});
  REQUIRE(*cpu.done);
  CHECK(cpu.out->engaged());
  // Deleting "hog" releases the accelerator: both Gpu replicas start, and
  // the deploy is answered.
  auto del = request<bool>(f, ctrl, delete_atom::value, std::string{"hog"});
  f.run();
  CHECK(*del.done);
  CHECK(*gpu.done);
  st = find_dep(f, ctrl, "gpu", "Gpu");
  CHECK(ready_replicas(st) == 2);
  CHECK(st.message.empty());
  CHECK(st.state == deployment_state::healthy);
}

TEST_CASE("max_replicas_per_node caps a deployment on one node",
          "[controller][placement]") {
  test::fixture f;
  auto box = f.make_box();
  auto ctrl = f.own(spawn_controller(f.sys));
  auto spec = reserving(box, "Capped", 3, 0);
  spec->config.max_replicas_per_node = 2;
  auto a = request<application_status>(f, ctrl, deploy_atom::value,
                                       app_spec{"capped", "", spec});
  CHECK_FALSE(*a.done);
  auto st = find_dep(f, ctrl, "capped", "Capped");
  CHECK(ready_replicas(st) == 2);
  CHECK(st.message == "1 replica pending: every node already runs "
                      "max_replicas_per_node=2 replicas of 'Capped'");
  // Scaled down to what fits, it is healthy and the deploy is answered.
  auto down = request<deployment_status>(
      f, ctrl, scale_atom::value, std::string{"capped"},
      std::string{"Capped"}, uint32_t{2});
  f.run();
  CHECK(*down.done);
  CHECK(*a.done);
  CHECK(find_dep(f, ctrl, "capped", "Capped").message.empty());
}

TEST_CASE("resource fields are validated, naming the field", "[config]") {
  deployment_config cfg;
  cfg.name = "D";
  cfg.num_cpus = -1;
  CHECK(message_of(validate(cfg)) ==
        "deployment 'D': num_cpus must be a number >= 0");
  cfg.num_cpus = 1;
  cfg.resources = {{"accel", -2}};
  CHECK_THAT(message_of(validate(cfg)),
             Catch::Contains("resources must map names to numbers >= 0"));
  cfg.resources = {{"accel", 2}};
  cfg.max_replicas_per_node = 101;
  CHECK_THAT(message_of(validate(cfg)),
             Catch::Contains("max_replicas_per_node must be 1..100"));
  cfg.max_replicas_per_node = 100;
  CHECK_FALSE(validate(cfg));
}
