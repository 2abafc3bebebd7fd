// Placement as a pure function: spreading, resources, the per-node cap,
// and the reasons a replica stays pending.
#include <catch2/catch.hpp>

#include <map>

#include "actorserve/error.hpp"
#include "actorserve/placement.hpp"

using namespace actorserve;

namespace {

node_view node(uint64_t id, double cpus,
               std::map<std::string, double> custom = {}) {
  node_view n;
  n.id = id;
  n.free = resource_set{cpus, std::move(custom)};
  return n;
}

/// Places `count` replicas one after the other; returns the nodes chosen
/// (0 for a replica left pending).
std::vector<uint64_t> place_all(const placement_request& req,
                                std::vector<node_view>& nodes, int count) {
  std::vector<uint64_t> out;
  for (int i = 0; i < count; ++i) {
    auto p = place(req, nodes);
    out.push_back(p.node.value_or(0));
    if (p.node)
      commit(req, *p.node, nodes);
  }
  return out;
}

} // namespace

TEST_CASE("replicas spread over the nodes that fit", "[placement]") {
  std::vector<node_view> nodes{node(1, 4), node(2, 4), node(3, 4)};
  placement_request req{"Tokenizer", {1, {}}, std::nullopt};
  auto chosen = place_all(req, nodes, 6);
  std::map<uint64_t, int> per_node;
  for (auto n : chosen)
    ++per_node[n];
  CHECK(per_node == std::map<uint64_t, int>{{1, 2}, {2, 2}, {3, 2}});
  CHECK(nodes[0].free.num_cpus == 2);
  // Ties go to the most free CPUs: a bigger node takes the next one.
  std::vector<node_view> uneven{node(1, 2), node(2, 8)};
  CHECK(place(req, uneven).node == 2u);
}

TEST_CASE("placement never exceeds a node's resources", "[placement]") {
  std::vector<node_view> nodes{node(1, 2), node(2, 1, {{"accel", 1}})};
  placement_request gpu{"Model", {1, {{"accel", 1}}}, std::nullopt};
  // Only node 2 has the accelerator, and only one.
  CHECK(place_all(gpu, nodes, 2) == std::vector<uint64_t>{2, 0});
  auto p = place(gpu, nodes);
  CHECK_FALSE(p.node);
  CHECK(p.reason == "no node has the resources free (each replica needs "
                    "num_cpus=1, accel=1)");
  // CPU-only replicas still fit on node 1, twice.
  placement_request cpu{"Pre", {1, {}}, std::nullopt};
  CHECK(place_all(cpu, nodes, 3) == std::vector<uint64_t>{1, 1, 0});
  // A replica that needs nothing fits anywhere.
  placement_request free_req{"Free", {}, std::nullopt};
  CHECK(place(free_req, nodes).node.has_value());
}

TEST_CASE("max_replicas_per_node caps each node", "[placement]") {
  std::vector<node_view> nodes{node(1, 16), node(2, 16)};
  placement_request req{"Echo", {0, {}}, 2u};
  CHECK(place_all(req, nodes, 5) == std::vector<uint64_t>{1, 2, 1, 2, 0});
  CHECK(place(req, nodes).reason ==
        "every node already runs max_replicas_per_node=2 replicas of 'Echo'");
}

TEST_CASE("dead nodes and binaries without the deployment take nothing",
          "[placement]") {
  std::vector<node_view> nodes{node(1, 4), node(2, 4)};
  nodes[0].alive = false;
  nodes[1].has_deployment = false;
  placement_request req{"Tokenizer", {1, {}}, std::nullopt};
  CHECK(place(req, nodes).reason ==
        "no alive node's binary registers deployment 'Tokenizer'");
  nodes[1].alive = false;
  CHECK(place(req, nodes).reason == "no node is alive");
  nodes[0].alive = true; // it rejoins
  CHECK(place(req, nodes).node == 1u);
}

TEST_CASE("resources parse from JSON, naming the field when bad",
          "[placement]") {
  std::map<std::string, double> out;
  CHECK_FALSE(
      parse_resources(R"({"accel": 1, "ssd": 0.5})", "--resources", out));
  CHECK(out == std::map<std::string, double>{{"accel", 1}, {"ssd", 0.5}});
  auto bad = parse_resources(R"({"accel": -1})", "--resources", out);
  REQUIRE(bad);
  CHECK(code_of(bad) == errc::invalid_config);
  CHECK(message_of(bad) ==
        "--resources: resource 'accel' must be a number >= 0");
  CHECK(parse_resources("[1]", "resources", out));
  CHECK(parse_resources(R"({"": 1})", "resources", out));
  CHECK(out.size() == 2); // unchanged by the failures
  CHECK(to_string(resource_set{}) == "nothing");
  CHECK(fits(resource_set{0.5, {}}, resource_set{0.25 + 0.25, {}}));
  CHECK(combine(resource_set{2, {{"a", 1}}}, resource_set{1, {{"a", 1}}}, -1) ==
        resource_set{1, {{"a", 0}}});
}

TEST_CASE("a node with room whose binary lacks the deployment is named in "
          "the reason",
          "[placement]") {
  std::vector<node_view> nodes{node(1, 4), node(2, 4, {{"accel", 1}}),
                               node(3, 4, {{"accel", 1}})};
  nodes[1].has_deployment = false;
  nodes[2].has_deployment = false;
  placement_request req{"app/Model", {0, {{"accel", 1}}}, std::nullopt};
  auto p = place(req, nodes);
  CHECK_FALSE(p.node);
  CHECK(p.reason == "no node has the resources free (each replica needs "
                    "accel=1); node(s) 2, 3 have room, but their binaries do "
                    "not register 'app/Model'");
  nodes[2].has_deployment = true; // that binary is redeployed with it
  CHECK(place(req, nodes).node == 3u);
}
