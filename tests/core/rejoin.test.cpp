// How a worker that lost its head paces its tries to join again, and what
// it publishes, reports and answers without one (node_agent.hpp): pure
// decisions, no actors.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "cluster/node_agent.hpp"

using actorserve::detail::after_rejoin_failure;
using ms = std::chrono::milliseconds;

TEST_CASE("rejoin tries back off from 100 ms to 2 s, the last at the "
          "deadline, then give up",
          "[cluster][rejoin]") {
  auto step = after_rejoin_failure(ms{100}, ms{60'000});
  CHECK_FALSE(step.give_up);
  CHECK(step.wait == ms{100});
  CHECK(step.next_backoff == ms{200});
  // Doubling stops at 2 s.
  step = after_rejoin_failure(ms{1600}, ms{60'000});
  CHECK(step.wait == ms{1600});
  CHECK(step.next_backoff == ms{2000});
  step = after_rejoin_failure(ms{2000}, ms{60'000});
  CHECK(step.next_backoff == ms{2000});
  // The last try waits only until the deadline.
  step = after_rejoin_failure(ms{2000}, ms{300});
  CHECK_FALSE(step.give_up);
  CHECK(step.wait == ms{300});
  // At or past the deadline: no more tries.
  CHECK(after_rejoin_failure(ms{100}, ms{0}).give_up);
  CHECK(after_rejoin_failure(ms{100}, ms{-5}).give_up);
}

TEST_CASE("rejoin tries without a deadline go on forever at 2 s",
          "[cluster][rejoin]") {
  auto step = after_rejoin_failure(ms{2000}, ms::max());
  CHECK_FALSE(step.give_up);
  CHECK(step.wait == ms{2000});
  CHECK(step.next_backoff == ms{2000});
}

namespace {

std::vector<actorserve::replica_ref> refs_of(std::vector<uint64_t> ids) {
  std::vector<actorserve::replica_ref> out;
  for (auto id : ids)
    out.push_back(actorserve::replica_ref{id, {}, nullptr});
  return out;
}

std::vector<uint64_t> ids_of(const std::vector<actorserve::replica_ref>& xs) {
  std::vector<uint64_t> out;
  for (auto& x : xs)
    out.push_back(x.id);
  return out;
}

} // namespace

TEST_CASE("a worker without its head publishes only the replicas it hosts, "
          "unless it hosts none of a deployment's",
          "[cluster][rejoin][headless]") {
  using actorserve::detail::reachable_without_head;
  // Replicas 1 and 2 here, 3 on the head, 4 on another worker.
  std::set<uint64_t> here{1, 2};
  CHECK(ids_of(reachable_without_head(refs_of({1, 3, 2, 4}), here)) ==
        std::vector<uint64_t>{1, 2});
  CHECK(ids_of(reachable_without_head(refs_of({4, 2}), here)) ==
        std::vector<uint64_t>{2});
  // None here: the set stays as the head pushed it.
  CHECK(ids_of(reachable_without_head(refs_of({3, 4}), here)) ==
        std::vector<uint64_t>{3, 4});
  CHECK(reachable_without_head({}, here).empty());
  CHECK(ids_of(reachable_without_head(refs_of({3}), {})) ==
        std::vector<uint64_t>{3});
}

TEST_CASE("a worker without its head answers status with its own node, the "
          "replicas it runs and since when it has no head",
          "[cluster][rejoin][headless]") {
  using namespace actorserve;
  detail::hosted_map hosted;
  auto kept = [](std::string app, std::string dep, int64_t at) {
    detail::hosted_replica r;
    r.app = std::move(app);
    r.deployment = std::move(dep);
    r.version = "v1";
    r.user_config = R"({"k": 1})";
    r.started_at_ms = at;
    r.gate = std::make_shared<detail::admission_gate>(7);
    return r;
  };
  hosted.emplace(9, kept("classify", "Tokenizer", 100));
  hosted.emplace(4, kept("classify", "Tokenizer", 200));
  hosted.emplace(5, kept("classify", "Sentiment", 300));
  node_status me;
  me.id = 3;
  me.role = "worker";
  auto st = detail::status_without_head(hosted, me, 12345);
  CHECK(st.head_unreachable_since_ms == 12345);
  REQUIRE(st.nodes.size() == 1);
  CHECK(st.nodes[0].id == 3);
  CHECK(st.nodes[0].replicas == std::vector<uint64_t>{4, 5, 9});
  REQUIRE(st.applications.size() == 1);
  auto& deps = st.applications[0].deployments;
  REQUIRE(deps.size() == 2);
  CHECK(deps[0].name == "Sentiment");
  REQUIRE(deps[1].replicas.size() == 2);
  CHECK(deps[1].replicas[0].id == 4);
  CHECK(deps[1].replicas[0].node_id == 3);
  CHECK(deps[1].replicas[0].started_at_ms == 200);
  auto json = nlohmann::json::parse(to_json(st));
  CHECK(json["head_unreachable_since_ms"] == 12345);
  // A head's status does not carry the field.
  CHECK_FALSE(nlohmann::json::parse(to_json(serve_status{}))
                  .contains("head_unreachable_since_ms"));
  // What a rejoin reports: the start config, the gate's limit now.
  hosted.at(9).gate->set_max_ongoing(2);
  auto report = detail::report_of(9, hosted.at(9));
  CHECK(report.id == 9);
  CHECK(report.app == "classify");
  CHECK(report.deployment == "Tokenizer");
  CHECK(report.version == "v1");
  CHECK(report.user_config == R"({"k": 1})");
  CHECK(report.max_ongoing == 2);
  CHECK(report.started_at_ms == 100);
}
