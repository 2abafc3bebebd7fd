// The controller and its state store: the pure decisions (adoption, record
// encoding), and the protocol on CAF's test coordinator with a real SQLite
// store: what a change writes, and what a controller started from it
// applies again.
#include <catch2/catch.hpp>

#include <limits>
#include <string>

#include "control/controller_store.hpp"
#include "control_fixture.hpp"
#include "store/state_store.hpp"
#include "temp_dir.hpp"

using namespace actorserve;
using namespace actorserve::detail;
using namespace test::control;

namespace {

hosted_replica_report offer(uint64_t id, std::string version) {
  hosted_replica_report r;
  r.id = id;
  r.app = "app";
  r.deployment = "Held";
  r.version = std::move(version);
  return r;
}

/// A fresh directory for a SQLite store.
struct store_dir : test::temp_dir {
  store_ptr open() const {
    auto s = open_state_store(path, "", "", std::chrono::seconds(1));
    REQUIRE(s);
    return *s;
  }
};

/// What the store at `dir` holds, decoded.
std::shared_ptr<store_setup> read_back(const store_dir& dir) {
  auto kv = dir.open()->load();
  REQUIRE(kv);
  auto setup = std::make_shared<store_setup>();
  std::string why;
  REQUIRE(decode_state(*kv, *setup, why));
  return setup;
}

/// Asks `ctrl` to write, and waits until the writer did.
void flush(test::fixture& f, const controller_actor& ctrl,
           const writer_ptr& w) {
  auto a = test::request<uint64_t>(f, ctrl, persist_atom::value);
  REQUIRE(*a.done);
  auto seq = a.out->value().get_as<uint64_t>(0);
  REQUIRE(seq > 0);
  REQUIRE(w->wait_written(seq, std::chrono::seconds(5)));
}

} // namespace

TEST_CASE("adoption takes the stored replicas of the wanted version up to "
          "the target, and stops every other offer",
          "[store][adoption]") {
  std::vector<hosted_replica_report> offers{offer(1, "v1"), offer(2, "v1"),
                                            offer(3, "v0"), offer(9, "v1"),
                                            offer(4, "v1")};
  auto plan = plan_adoption(offers, {1, 2, 3, 4}, "v1", 2, 0);
  CHECK(plan.adopt == std::vector<uint64_t>{1, 2});
  // 3: another version; 9: not in the stored table; 4: past the target.
  CHECK(plan.stop == std::vector<uint64_t>{3, 9, 4});
  // Replicas already live count towards the target.
  plan = plan_adoption(offers, {1, 2, 3, 4}, "v1", 2, 1);
  CHECK(plan.adopt == std::vector<uint64_t>{1});
  // The same id offered twice is taken once.
  plan = plan_adoption({offer(1, "v1"), offer(1, "v1")}, {1}, "v1", 5, 0);
  CHECK(plan.adopt == std::vector<uint64_t>{1});
  CHECK(plan.stop == std::vector<uint64_t>{1});
  // Nothing stored: nothing adopted.
  plan = plan_adoption(offers, {}, "v1", 5, 0);
  CHECK(plan.adopt.empty());
  CHECK(plan.stop.size() == offers.size());
}

TEST_CASE("stored records round-trip, and unreadable ones are skipped and "
          "named",
          "[store]") {
  stored_deployment dep;
  dep.base.name = "Held";
  dep.current = dep.base;
  dep.current.user_config = R"({"k": 1})";
  dep.current.autoscaling = autoscaling_config{};
  dep.target = 3;
  dep.replicas.push_back(stored_replica{7, 2, "v1", 1234, "addr"});
  std::map<std::string, std::string> kv{
      {deployment_key("app", "Held"), encode_record(dep)},
      {meta_key, encode_record(stored_meta{42, 5})},
      {app_key("broken"), std::string{"\x01\x02", 2}},
      {"v1/serve/deployed_config", "null"}};
  store_setup out;
  std::string why;
  CHECK_FALSE(decode_state(kv, out, why));
  CHECK(why == app_key("broken"));
  REQUIRE(out.deployments.count("app/Held") == 1);
  auto& back = out.deployments.at("app/Held");
  CHECK(same_config(back.current, dep.current));
  CHECK_FALSE(same_config(back.current, back.base));
  CHECK(back.target == 3);
  REQUIRE(back.replicas.size() == 1);
  CHECK(back.replicas[0].id == 7);
  CHECK(back.replicas[0].started_at_ms == 1234);
  CHECK(out.meta.next_replica_id == 42);
  CHECK(out.found);
  CHECK(out.apps.empty());
  // A number that is not finite is never encoded (CAF 0.17.6 would never
  // finish writing it), and two such configs are not "the same".
  auto odd = dep.base;
  odd.num_cpus = std::numeric_limits<double>::infinity();
  CHECK(encode_record(odd).empty());
  CHECK_FALSE(same_config(odd, odd));
  // A nodes record that fails halfway leaves no node behind.
  auto nodes = encode_record(std::vector<stored_node>{stored_node{2, "h", 1, {}}});
  store_setup partial;
  why.clear();
  CHECK_FALSE(decode_state({{nodes_key, nodes.substr(0, nodes.size() - 1)}},
                           partial, why));
  CHECK(partial.nodes.empty());
}

TEST_CASE("a controller writes its deployments to the store, and one started "
          "from the store applies their changes to a deployment deployed "
          "alike, but not to one deployed otherwise",
          "[store][recovery]") {
  store_dir dir;
  deployment_status patched;
  {
    test::fixture f;
    auto box = f.make_box();
    auto setup = std::make_shared<store_setup>();
    setup->writer = start_state_writer(dir.open());
    auto ctrl = f.own(spawn_controller(f.sys, unbounded_cpus(), {}, setup));
    deploy(f, ctrl, test::held_spec(box));
    deployment_patch p;
    p.user_config = R"({"greeting": "moin"})";
    p.num_replicas = 3;
    auto a = patch(f, ctrl, "Held", p, false);
    REQUIRE(*a.done);
    f.run();
    flush(f, ctrl, setup->writer);
    patched = find_dep(f, ctrl, "app", "Held");
    setup->writer->stop(std::chrono::seconds(1));
  }
  auto stored = read_back(dir);
  REQUIRE(stored->deployments.count("app/Held") == 1);
  auto& rec = stored->deployments.at("app/Held");
  CHECK(rec.target == 3);
  CHECK(rec.current.user_config == R"({"greeting": "moin"})");
  CHECK(rec.replicas.size() == 3);
  CHECK(stored->apps.count("app") == 1);
  SECTION("deployed alike: the stored config and target come back") {
    test::fixture f;
    auto box = f.make_box();
    stored->writer = start_state_writer(dir.open());
    auto ctrl = f.own(spawn_controller(f.sys, unbounded_cpus(), {}, stored));
    deploy(f, ctrl, test::held_spec(box));
    auto st = find_dep(f, ctrl, "app", "Held");
    CHECK(st.target_replicas == 3);
    // New replicas here (none ran on a worker): ids past the stored ones.
    for (auto& r : st.replicas)
      CHECK(r.id > rec.replicas.back().id);
    stored->writer->stop(std::chrono::seconds(1));
  }
  SECTION("deployed otherwise: the new config wins") {
    test::fixture f;
    auto box = f.make_box();
    stored->writer = start_state_writer(dir.open());
    auto ctrl = f.own(spawn_controller(f.sys, unbounded_cpus(), {}, stored));
    deploy(f, ctrl, test::held_spec(box, 7)); // another max_ongoing_requests
    CHECK(find_dep(f, ctrl, "app", "Held").target_replicas == 1);
    stored->writer->stop(std::chrono::seconds(1));
  }
}
