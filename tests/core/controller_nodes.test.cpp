// The controller and a worker node's agent, deterministically: a fake agent
// on CAF's test coordinator (virtual time) answers what the test lets it.
#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <caf/send.hpp>

#include "actorserve/cluster.hpp"
#include "actorserve/controller.hpp"
#include "coordinator_fixture.hpp"
#include "cluster/node_agent.hpp"

using namespace actorserve;

namespace {

/// What the fake agent was asked; its start requests stay unanswered.
struct fake_node {
  std::vector<uint64_t> asked;
  std::vector<caf::typed_response_promise<caf::actor>> held;
};

/// Answers heartbeats, takes pushes, and never answers a start.
caf::behavior fake_agent(caf::event_based_actor* self,
                         std::shared_ptr<fake_node> node) {
  return {
      [](node_ping_atom) { return node_load{}; },
      [=](detail::start_replica_atom, uint64_t id, const std::string&,
          const std::string&, const deployment_config&,
          const caf::actor&) -> caf::result<caf::actor> {
        node->asked.push_back(id);
        auto rp = self->make_response_promise<caf::actor>();
        node->held.push_back(rp);
        return rp;
      },
      [](replicas_atom, const std::string&, const std::string&,
         const std::vector<replica_ref>&, bool, uint32_t, int64_t) {},
      [](routes_atom, const std::vector<route_name>&) {},
      [](node_dead_atom, const caf::node_id&) {},
  };
}

} // namespace

TEST_CASE("a replica whose start on a worker timed out, and was replaced, is "
          "stopped when it reports ready after all",
          "[controller][cluster]") {
  test::fixture f;
  auto box = f.make_box();
  heartbeat_options hb{std::chrono::milliseconds(100),
                       std::chrono::milliseconds(300)};
  auto ctrl = f.own(spawn_controller(f.sys, unbounded_cpus(), hb));
  auto node = std::make_shared<fake_node>();
  auto agent = f.own(f.sys.spawn(fake_agent, node));
  node_hello hello;
  hello.host = "fake";
  hello.resources = resource_set{1, {{"accel", 1}}};
  hello.agent = agent;
  auto joined = test::request<uint64_t>(f, ctrl, node_join_atom::value, hello,
                                        std::string{"peer"});
  REQUIRE(*joined.done);
  auto id = joined.out->value().get_as<uint64_t>(0);
  auto announced = test::request<bool>(f, ctrl, node_deployments_atom::value,
                                       id,
                                       std::vector<std::string>{"app/Held"});
  REQUIRE(*announced.done);
  // The one replica needs what only the node offers.
  auto spec = test::held_spec(box);
  spec->config.resources = {{"accel", 1}};
  caf::anon_send(ctrl, deploy_atom::value, app_spec{"app", "", spec});
  f.run();
  REQUIRE(node->asked.size() == 1);
  auto late_id = node->asked[0];
  // The start is not answered within twice the heartbeat timeout: the
  // controller gives up on it and, after its backoff, asks again.
  for (int i = 0; i < 100 && node->asked.size() < 2; ++i) {
    f.sched.advance_time(std::chrono::milliseconds(100));
    f.run();
  }
  REQUIRE(node->asked.size() == 2);
  // The first replica comes up after all and reports ready.
  auto stopped = std::make_shared<std::atomic<bool>>(false);
  // The id is a spawn argument: CAF 0.17 spawns functors without
  // arguments through a null pointer (undefined behavior under UBSan).
  auto late = f.sys.spawn(
      [=](caf::event_based_actor* self, uint64_t id) -> caf::behavior {
        self->attach_functor([=] { stopped->store(true); });
        self->send(ctrl, ready_atom::value, id, true, std::string{});
        return {[](int32_t) {}};
      },
      late_id);
  f.run();
  CHECK(stopped->load());
  if (!stopped->load())
    caf::anon_send_exit(late, caf::exit_reason::kill);
  node->held.clear();
}
