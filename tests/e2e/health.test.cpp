// Health checks with real threads and real time (short periods): a replica
// that fails its check three times in a row is replaced; a replica whose
// user code is busy stays healthy unless its own check says otherwise.
#include <mutex>
#include <set>
#include <thread>

#include "actorserve/actorserve.hpp"
#include "demo_server.hpp"

using namespace std::chrono;
using namespace actorserve;

namespace {

/// Replicas whose check should fail, by id.
struct sick_list {
  std::mutex mtx;
  std::set<uint64_t> ids;

  bool has(uint64_t id) {
    std::lock_guard<std::mutex> guard{mtx};
    return ids.count(id) > 0;
  }
};

using sick_ptr = std::shared_ptr<sick_list>;

/// (ms): works `ms` milliseconds on its own thread, then answers its id.
using worker_actor = caf::typed_actor<caf::replies_to<int32_t>::with<uint64_t>>;

worker_actor::behavior_type checked_worker(worker_actor::pointer self,
                                           sick_ptr sick) {
  auto id = replica_context_of(self).replica_id;
  on_health_check(self, [sick, id] {
    if (sick->has(id))
      throw std::runtime_error("replica " + std::to_string(id) + " is sick");
  });
  return {[id](int32_t ms) {
    std::this_thread::sleep_for(milliseconds(ms)); // the work itself
    return id;
  }};
}

worker_actor::behavior_type plain_worker(worker_actor::pointer self) {
  auto id = replica_context_of(self).replica_id;
  return {[id](int32_t ms) {
    std::this_thread::sleep_for(milliseconds(ms)); // the work itself
    return id;
  }};
}

serve_options no_http() {
  serve_options opts;
  opts.http.enabled = false;
  return opts;
}

/// The ids of the deployment's replicas that are READY.
std::set<uint64_t> ready_ids(serve& s) {
  std::set<uint64_t> ids;
  auto st = s.status();
  REQUIRE(st);
  for (auto& app : st->applications)
    for (auto& dep : app.deployments)
      for (auto& r : dep.replicas)
        if (r.state == replica_state::ready)
          ids.insert(r.id);
  return ids;
}

/// Waits until `pred(ready ids)` holds; false after ten seconds.
template <class Pred>
bool wait_for_ids(serve& s, Pred pred) {
  auto deadline = steady_clock::now() + seconds(10);
  while (steady_clock::now() < deadline) {
    if (pred(ready_ids(s)))
      return true;
    std::this_thread::yield();
  }
  return false;
}

} // namespace

TEST_CASE("a replica that fails its health check three times in a row is "
          "replaced",
          "[health]") {
  auto sick = std::make_shared<sick_list>();
  serve s{no_http()};
  auto h = s.run(s.deployment("Worker", checked_worker)
                     .num_replicas(2)
                     .health_check(milliseconds(50), milliseconds(200))
                     .bind(sick),
                 {"w", ""});
  REQUIRE(h);
  auto before = ready_ids(s);
  REQUIRE(before.size() == 2);
  auto victim = *before.begin();
  {
    std::lock_guard<std::mutex> guard{sick->mtx};
    sick->ids.insert(victim);
  }
  // Replaced: the victim is gone, and two replicas are ready again.
  REQUIRE(wait_for_ids(s, [&](const std::set<uint64_t>& ids) {
    return ids.count(victim) == 0 && ids.size() == 2;
  }));
  auto st = s.status();
  REQUIRE(st);
  auto& dep = st->applications.front().deployments.front();
  CHECK_THAT(dep.message, Catch::Contains("failed 3 health checks in a row"));
  // A replacement is not a failure: the deployment is healthy again.
  REQUIRE(wait_for_ids(s, [&](const std::set<uint64_t>&) {
    auto now = s.status();
    return now && now->applications.front().deployments.front().state ==
                      deployment_state::healthy;
  }));
  auto r = h->call(int32_t{0}).get(seconds(5));
  REQUIRE(r);
  CHECK(*r != victim);
}

TEST_CASE("a replica whose user code is busy stays healthy; its own check "
          "sees the block",
          "[health]") {
  SECTION("without a check of its own") {
    serve s{no_http()};
    auto h = s.run(s.deployment("Worker", plain_worker)
                       .health_check(milliseconds(50), milliseconds(50))
                       .bind(),
                   {"w", ""});
    REQUIRE(h);
    auto before = ready_ids(s);
    // The user thread sleeps through a dozen probes; the system side
    // answers them.
    auto r = h->call(int32_t{600}).get(seconds(10));
    REQUIRE(r);
    CHECK(ready_ids(s) == before);
  }
  SECTION("with a check of its own") {
    auto sick = std::make_shared<sick_list>();
    serve s{no_http()};
    auto h = s.run(s.deployment("Worker", checked_worker)
                       .health_check(milliseconds(50), milliseconds(50))
                       .bind(sick),
                   {"w", ""});
    REQUIRE(h);
    auto before = ready_ids(s);
    REQUIRE(before.size() == 1);
    // The check must run on the replica's actor, which is blocked: three
    // timeouts, and it is replaced while the call is still running.
    auto pending = h->call(int32_t{1500});
    REQUIRE(wait_for_ids(s, [&](const std::set<uint64_t>& ids) {
      return ids.size() == 1 && ids != before;
    }));
    // The call that held it finishes where it ran.
    auto r = pending.get(seconds(10));
    REQUIRE(r);
    CHECK(*r == *before.begin());
  }
}
