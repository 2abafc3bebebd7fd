// The controller with worker nodes that come and go: random joins of
// in-process agents (one that starts replicas, one that answers nothing),
// agents that die or hang later, heartbeats missed in virtual
// time, and deploys, scales and deletes in between. Throughout, no replica
// is listed on a DEAD node and the DEAD list stays bounded; afterwards
// every request has its answer, the controller lives and no app is stuck
// deploying.
#include <catch2/catch.hpp>

#include <random>
#include <set>
#include <unordered_map>

#include <caf/send.hpp>

#include "actorserve/admission.hpp"
#include "actorserve/cluster.hpp"
#include "replica/replica.hpp"
#include "controller_fuzz.hpp"
#include "cluster/node_agent.hpp"

using namespace actorserve;
using namespace test::fuzz;

namespace {

enum class agent_kind { good, hung };

/// What one fake worker node does; shared with the test, which changes it.
struct fake_node {
  agent_kind kind = agent_kind::good;
  /// Hangs from now on: answers nothing (a SIGSTOP'd process).
  bool hung = false;
  std::shared_ptr<ctor_box> box = std::make_shared<ctor_box>();
  std::unordered_map<uint64_t, caf::actor> hosted;
  std::vector<caf::typed_response_promise<caf::actor>> held;
};

/// A worker's agent in this process: it starts replicas of the mortal
/// deployment with the head's config, or hangs (answers nothing). When it
/// dies its replicas die too, as a process's actors do.
caf::behavior fake_agent(caf::event_based_actor* self,
                         std::shared_ptr<fake_node> node) {
  self->attach_functor([node] {
    for (auto& [id, r] : node->hosted)
      caf::anon_send_exit(r, caf::exit_reason::kill);
    node->hosted.clear();
    node->held.clear();
  });
  return {
      [=](node_ping_atom) -> caf::result<node_load> {
        if (node->hung || node->kind == agent_kind::hung)
          return self->make_response_promise<node_load>(); // never answered
        node_load load;
        for (auto& [id, r] : node->hosted) {
          load.replicas.push_back(id);
          load.running.push_back(0);
        }
        return load;
      },
      [=](detail::start_replica_atom, uint64_t id, const std::string& app,
          const std::string&, deployment_config& cfg,
          caf::actor& controller) -> caf::result<caf::actor> {
        if (node->hung || node->kind == agent_kind::hung) {
          auto rp = self->make_response_promise<caf::actor>();
          node->held.push_back(rp);
          return rp;
        }
        auto spec = std::make_shared<detail::deployment_spec>(
            *mortal_spec(node->box, 1));
        spec->config = std::move(cfg);
        replica_args args;
        args.id = id;
        args.app = app;
        args.spec = std::move(spec);
        args.controller = std::move(controller);
        args.gate = std::make_shared<detail::admission_gate>(
            args.spec->config.max_ongoing_requests);
        auto handle = spawn_replica(self->home_system(), std::move(args));
        node->hosted.emplace(id, handle);
        return handle;
      },
      [](replicas_atom, const std::string&, const std::string&,
         const std::vector<replica_ref>&, bool, uint32_t, int64_t) {},
      [](routes_atom, const std::vector<route_name>&) {},
      // In one process every agent shares the head's CAF node id, so each
      // hears every node's death; the head stops a dead node's replicas
      // itself.
      [](node_dead_atom, const caf::node_id&) {},
  };
}

/// Checks what must hold at any time: no replica on a DEAD node, at most
/// `max_dead_nodes` DEAD nodes kept.
void check_nodes(const serve_status& st) {
  std::set<uint64_t> dead;
  for (auto& n : st.nodes)
    if (n.state == node_state::dead) {
      dead.insert(n.id);
      CHECK(n.replicas.empty());
    }
  CHECK(dead.size() <= max_dead_nodes);
  for (auto& app : st.applications)
    for (auto& dep : app.deployments)
      for (auto& r : dep.replicas) {
        INFO("replica " << r.id << " of " << app.name);
        CHECK(dead.count(r.node_id) == 0);
      }
}

/// The nodes and every replica, for a failing check.
std::string describe(const serve_status& st) {
  std::string out;
  for (auto& n : st.nodes)
    out += "node " + std::to_string(n.id) + " " + to_string(n.state) + "\n";
  for (auto& app : st.applications)
    for (auto& dep : app.deployments) {
      out += app.name + "/" + dep.name + " target " +
             std::to_string(dep.target_replicas) + " (" + dep.message + "):";
      for (auto& r : dep.replicas)
        out += " " + std::to_string(r.id) + "@" + std::to_string(r.node_id) +
               ":" + to_string(r.state);
      out += "\n";
    }
  return out;
}

struct joined_node {
  uint64_t id = 0;
  std::shared_ptr<fake_node> node;
  caf::actor agent;
};

} // namespace

// Longer than 80 lines: one random walk, whose steps read best as one
// switch beside the checks that follow it.
TEST_CASE("no order of node joins, losses and app changes stops the "
          "controller, leaves a request unanswered or a replica on a DEAD "
          "node",
          "[controller][fuzz][cluster]") {
  auto seed = GENERATE(range(1, 31));
  CAPTURE(seed);
  std::mt19937 rng{static_cast<uint32_t>(seed)};
  auto pick = [&](int n) {
    return std::uniform_int_distribution<int>{0, n - 1}(rng);
  };
  test::fixture f;
  heartbeat_options hb{std::chrono::milliseconds(100),
                       std::chrono::milliseconds(300)};
  // The head holds two replicas: the rest must go to nodes.
  auto ctrl = f.own(spawn_controller(f.sys, resource_set{2, {}}, hb));
  auto t = std::make_shared<tally>();
  const char* names[] = {"a", "b", "c"};
  std::vector<std::string> registered = {"a/M", "b/M", "c/M"};
  std::vector<joined_node> nodes;
  auto join = [&](agent_kind kind, double accel, double cpus = 4) {
    joined_node j;
    j.node = std::make_shared<fake_node>();
    j.node->kind = kind;
    j.agent = f.own(f.sys.spawn(fake_agent, j.node));
    node_hello hello;
    hello.host = "fake";
    hello.resources = resource_set{cpus, {{"accel", accel}}};
    hello.agent = j.agent;
    auto joined = test::request<uint64_t>(f, ctrl, node_join_atom::value,
                                          hello, std::string{"peer"});
    REQUIRE(*joined.done);
    j.id = joined.out->value().get_as<uint64_t>(0);
    fire<bool>(f, ctrl, t, node_deployments_atom::value, j.id, registered);
    nodes.push_back(std::move(j));
  };
  for (int step = 0; step < 150; ++step) {
    std::string app = names[pick(3)];
    switch (pick(12)) {
    case 0:
    case 1: {
      auto box = std::make_shared<ctor_box>();
      auto spec = mortal_spec(box, static_cast<uint32_t>(1 + pick(3)));
      spec->config.num_cpus = 1;
      if (pick(2) == 0) // only nodes offer it
        spec->config.resources = {{"accel", 1}};
      deploy(f, ctrl, t, app_spec{app, "", spec});
      break;
    }
    case 2:
      fire<bool>(f, ctrl, t, delete_atom::value, app);
      break;
    case 3:
      fire<deployment_status>(f, ctrl, t, scale_atom::value, app,
                              std::string{"M"},
                              static_cast<uint32_t>(1 + pick(4)));
      break;
    case 4:
    case 5: {
      agent_kind kinds[] = {agent_kind::good, agent_kind::good,
                            agent_kind::hung};
      join(kinds[pick(3)], 1 + pick(3));
      break;
    }
    case 6: // a node's process dies
      if (!nodes.empty())
        caf::anon_send_exit(nodes[pick(static_cast<int>(nodes.size()))].agent,
                            caf::exit_reason::kill);
      break;
    case 7: // a node hangs
      if (!nodes.empty())
        nodes[pick(static_cast<int>(nodes.size()))].node->hung = true;
      break;
    case 8: // a replica dies
      if (auto gw = gateway_of(f, ctrl, app))
        f.call(gw, -1);
      break;
    default: // virtual time passes: heartbeats, timeouts, backoffs
      for (int i = 0, n = 1 + pick(5); i < n; ++i) {
        f.sched.advance_time(hb.period);
        f.run();
      }
      break;
    }
    if (pick(3) == 0)
      f.run();
    if (pick(4) == 0)
      check_nodes(status(f, ctrl));
  }
  // A node with room for everything joins; a minute of virtual time
  // passes (heartbeats keep ticking, so `settle` would never end).
  join(agent_kind::good, 100, 100);
  for (int i = 0; i < 600; ++i) {
    f.sched.advance_time(hb.period);
    f.run();
  }
  INFO(t->pending());
  CHECK(t->answered == t->sent);
  auto st = status(f, ctrl);
  check_nodes(st);
  for (auto& app : st.applications) {
    INFO(app.name << ": " << app.message << "\n" << describe(st));
    CHECK(app.state != application_state::deploying);
  }
  // Still in charge: a new app deploys and serves.
  auto box = std::make_shared<ctor_box>();
  deploy(f, ctrl, t, app_spec{"z", "", mortal_spec(box, 1)});
  for (int i = 0; i < 50; ++i) {
    f.sched.advance_time(hb.period);
    f.run();
  }
  CHECK(t->answered == t->sent);
  auto gw = gateway_of(f, ctrl, "z");
  REQUIRE(gw);
  auto before = f.log->results.size();
  f.call(gw, 5);
  f.run();
  REQUIRE(f.log->results.size() == before + 1);
  REQUIRE(f.log->results.back());
  CHECK(*f.log->results.back() == 5);
  for (auto& n : nodes)
    caf::anon_send_exit(n.agent, caf::exit_reason::kill);
  f.run();
}
