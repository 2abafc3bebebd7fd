// Health checks with real threads and real time (short periods): a replica
// that fails its check three times in a row is replaced; a replica whose
// user code is busy stays healthy unless its own check says otherwise.
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "actorserve/actorserve.hpp"
#include "demo_server.hpp"
#include "sse_client.hpp"

using namespace std::chrono;
using namespace actorserve;

namespace {

/// Shared by the test and its replicas: which replicas' checks fail, how
/// many checks ran, and a gate that holds calls until the test opens it.
struct board {
  std::mutex mtx;
  std::condition_variable cv;
  std::set<uint64_t> sick;
  int checks = 0;
  int inside = 0;
  bool open = false;

  bool has(uint64_t id) {
    std::lock_guard<std::mutex> guard{mtx};
    return sick.count(id) > 0;
  }

  void checked() {
    {
      std::lock_guard<std::mutex> guard{mtx};
      ++checks;
    }
    cv.notify_all();
  }

  /// Blocks the calling replica until the test opens the gate.
  void hold() {
    std::unique_lock<std::mutex> guard{mtx};
    ++inside;
    cv.notify_all();
    cv.wait(guard, [this] { return open; });
  }

  void release() {
    {
      std::lock_guard<std::mutex> guard{mtx};
      open = true;
    }
    cv.notify_all();
  }

  /// Waits for `n` more checks than ran so far; false after ten seconds.
  bool more_checks(int n) {
    std::unique_lock<std::mutex> guard{mtx};
    auto target = checks + n;
    return cv.wait_for(guard, seconds(10), [&] { return checks >= target; });
  }

  /// Waits for `pred()` under the lock; false after ten seconds.
  template <class Pred>
  bool wait(Pred pred) {
    std::unique_lock<std::mutex> guard{mtx};
    return cv.wait_for(guard, seconds(10), pred);
  }
};

using sick_ptr = std::shared_ptr<board>;

/// Opens the board when the test ends, however it ends: blocked user code
/// must return before the server can stop.
struct release_at_end {
  sick_ptr b;
  ~release_at_end() { b->release(); }
};

/// (hold): answers its id; with hold != 0, only once the test opens the
/// gate (user code that blocks its replica's thread).
using worker_actor = caf::typed_actor<caf::replies_to<int32_t>::with<uint64_t>>;

worker_actor::behavior_type checked_worker(worker_actor::pointer self,
                                           sick_ptr b) {
  auto id = replica_context_of(self).replica_id;
  on_health_check(self, [b, id] {
    b->checked();
    if (b->has(id))
      throw std::runtime_error("replica " + std::to_string(id) + " is sick");
  });
  return {[b, id](int32_t hold) {
    if (hold != 0)
      b->hold();
    return id;
  }};
}

worker_actor::behavior_type plain_worker(worker_actor::pointer self,
                                         sick_ptr b) {
  auto id = replica_context_of(self).replica_id;
  return {[b, id](int32_t hold) {
    if (hold != 0)
      b->hold();
    return id;
  }};
}

/// (hold): like plain_worker, but holds one of its blocking threads, not
/// its actor.
worker_actor::behavior_type blocking_worker(worker_actor::pointer self,
                                            sick_ptr b) {
  auto id = replica_context_of(self).replica_id;
  return {[self, b, id](int32_t hold) -> caf::result<uint64_t> {
    return run_blocking(self, [b, id, hold] {
      if (hold != 0)
        b->hold();
      return id;
    });
  }};
}

/// Deployment "Worker" of `fn`, probed every 50 ms with a 200 ms timeout.
template <class F>
auto probed_worker(serve& s, F fn) {
  return s.deployment("Worker", fn).health_check(milliseconds(50),
                                                 milliseconds(200));
}

/// The deployment message of `name` in status, and on the admin port.
std::pair<std::string, std::string> messages(serve& s,
                                             const std::string& name) {
  std::pair<std::string, std::string> out;
  auto st = s.status();
  REQUIRE(st);
  for (auto& app : st->applications)
    for (auto& dep : app.deployments)
      if (dep.name == name)
        out.first = dep.message;
  out.second = test::http(s.admin_port(), "GET", "/-/status").body;
  return out;
}

/// GET / streams "open", holds its blocking thread until the test opens
/// the board, then streams "done"; a health check of its own counts probes.
http_ingress::behavior_type streamer(http_ingress::pointer self, sick_ptr b) {
  on_health_check(self, [b] { b->checked(); });
  http_routes routes;
  routes.get("/", [=](http_request&) -> reply {
    return chunked_response(make_blocking_stream<std::string>(
        self, [b](stream_sink<std::string>& out) {
          out.push("open\n");
          b->hold();
          out.push("done\n");
        }));
  });
  return {routes.handler()};
}

serve_options no_http() {
  serve_options opts;
  opts.http.enabled = false;
  return opts;
}

/// Options with the admin API on a free port and no HTTP ingress.
serve_options admin_only() {
  auto opts = no_http();
  opts.admin.port = 0;
  return opts;
}

/// The ids of the READY replicas of deployment `name`.
std::set<uint64_t> ready_ids(serve& s, const std::string& name = "Worker") {
  std::set<uint64_t> ids;
  auto st = s.status();
  REQUIRE(st);
  for (auto& app : st->applications)
    for (auto& dep : app.deployments)
      if (dep.name == name)
        for (auto& r : dep.replicas)
          if (r.state == replica_state::ready)
            ids.insert(r.id);
  return ids;
}

/// Waits until the one READY replica of Worker is no longer one of
/// `before` (it was replaced); then the deployment's message, in status and
/// on the admin port.
std::pair<std::string, std::string>
replaced_because(serve& s, const std::set<uint64_t>& before);

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

std::pair<std::string, std::string>
replaced_because(serve& s, const std::set<uint64_t>& before) {
  REQUIRE(wait_for_ids(s, [&](const std::set<uint64_t>& ids) {
    return ids.size() == 1 && ids != before;
  }));
  return messages(s, "Worker");
}

} // namespace

TEST_CASE("a replica that fails its health check three times in a row is "
          "replaced",
          "[health]") {
  auto sick = std::make_shared<board>();
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
    sick->sick.insert(victim);
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

TEST_CASE("a replica whose user code is busy stays healthy, its own check "
          "sees the block",
          "[health]") {
  auto b = std::make_shared<board>();
  SECTION("without a check of its own") {
    serve s{no_http()};
    auto h = s.run(s.deployment("Worker", plain_worker)
                       .health_check(milliseconds(50), milliseconds(50))
                       .bind(b),
                   {"w", ""});
    REQUIRE(h);
    // A witness with a check of its own, probed by the same controller at
    // the same period: its checks count the probe rounds.
    REQUIRE(s.run(s.deployment("Witness", checked_worker)
                      .health_check(milliseconds(50), milliseconds(50))
                      .bind(b),
                  {"witness", ""}));
    auto before = ready_ids(s);
    REQUIRE(before.size() == 1);
    auto pending = h->call(int32_t{1});
    REQUIRE(b->wait([&] { return b->inside == 1; }));
    // The worker's thread is blocked through six probe rounds; its system
    // side answers them, so it stays.
    REQUIRE(b->more_checks(6));
    CHECK(ready_ids(s) == before);
    b->release();
    auto r = pending.get(seconds(10));
    REQUIRE(r);
    CHECK(*r == *before.begin());
  }
  SECTION("with a check of its own") {
    serve s{no_http()};
    auto h = s.run(s.deployment("Worker", checked_worker)
                       .health_check(milliseconds(50), milliseconds(50))
                       .bind(b),
                   {"w", ""});
    REQUIRE(h);
    auto before = ready_ids(s);
    REQUIRE(before.size() == 1);
    // The check must run on the replica's actor, which is blocked: three
    // timeouts, and it is replaced while the call is still running.
    auto pending = h->call(int32_t{1});
    REQUIRE(b->wait([&] { return b->inside == 1; }));
    REQUIRE(wait_for_ids(s, [&](const std::set<uint64_t>& ids) {
      return ids.size() == 1 && ids != before;
    }));
    // The call that held it finishes where it ran.
    b->release();
    auto r = pending.get(seconds(10));
    REQUIRE(r);
    CHECK(*r == *before.begin());
  }
}

TEST_CASE("a replica whose every slot holds a blocking stream passes its "
          "health checks",
          "[health]") {
  auto b = std::make_shared<board>();
  serve_options opts;
  opts.admin.port = 0;
  opts.http.port = 0;
  serve s{opts};
  release_at_end guard{b}; // before the server stops
  REQUIRE(s.run(s.deployment("Streamer", streamer)
                    .max_ongoing_requests(2)
                    .health_check(milliseconds(50), milliseconds(200))
                    .bind(b),
                {"streams", "/streams"}));
  auto before = ready_ids(s, "Streamer");
  REQUIRE(before.size() == 1);
  // Two streams hold both slots and both of the replica's blocking threads
  // for as long as they live.
  test::sse_client one{s.http_port(), "GET", "/streams", ""};
  test::sse_client two{s.http_port(), "GET", "/streams", ""};
  REQUIRE(one.status() == 200);
  REQUIRE(two.status() == 200);
  CHECK(one.line(seconds(10)) == std::optional<std::string>{"open"});
  CHECK(two.line(seconds(10)) == std::optional<std::string>{"open"});
  REQUIRE(b->wait([&] { return b->inside == 2; }));
  // Its checks keep running and passing, through more rounds than three
  // strikes take: it stays, and so do its streams.
  REQUIRE(b->more_checks(8));
  CHECK(ready_ids(s, "Streamer") == before);
  b->release();
  CHECK(one.line(seconds(10)) == std::optional<std::string>{"done"});
  CHECK(two.line(seconds(10)) == std::optional<std::string>{"done"});
}

TEST_CASE("a replica whose handler blocks its actor for good, with calls "
          "waiting behind it, is replaced and status says why",
          "[health]") {
  auto b = std::make_shared<board>();
  serve s{admin_only()};
  release_at_end guard{b}; // before the server stops
  // No check of its own: only the replica's system side can tell.
  auto h = s.run(probed_worker(s, plain_worker).bind(b), {"w", ""});
  REQUIRE(h);
  auto before = ready_ids(s);
  REQUIRE(before.size() == 1);
  auto first = h->call(int32_t{1});
  REQUIRE(b->wait([&] { return b->inside == 1; }));
  // Two more calls queue behind the blocked one, in its actor's mailbox.
  auto second = h->call(int32_t{0});
  auto third = h->call(int32_t{0});
  auto [message, admin] = replaced_because(s, before);
  CHECK_THAT(message, Catch::Contains("failed 3 health checks in a row") &&
                          Catch::Contains("wedged") &&
                          Catch::Contains("in one message"));
  CHECK_THAT(admin, Catch::Contains("wedged"));
  b->release();
  CHECK(first.get(seconds(10)));
  CHECK(second.get(seconds(10)));
  CHECK(third.get(seconds(10)));
}

TEST_CASE("a replica whose blocking calls never return, with callers "
          "turned away, is replaced and status says why",
          "[health]") {
  auto b = std::make_shared<board>();
  serve s{admin_only()};
  release_at_end guard{b}; // before the server stops
  auto h = s.run(
      probed_worker(s, blocking_worker).max_ongoing_requests(2).bind(b),
      {"w", ""});
  REQUIRE(h);
  auto before = ready_ids(s);
  REQUIRE(before.size() == 1);
  auto one = h->call(int32_t{1});
  auto two = h->call(int32_t{1});
  REQUIRE(b->wait([&] { return b->inside == 2; }));
  // A third call waits in its caller, which keeps knocking at the full
  // gate; nothing in the replica moves.
  auto three = h->call(int32_t{0});
  auto [message, admin] = replaced_because(s, before);
  CHECK_THAT(message, Catch::Contains("wedged: all 2 slots held"));
  CHECK_THAT(admin, Catch::Contains("wedged"));
  // The waiting call is answered: by the new replica, or `unavailable`
  // when it found the set empty between the two.
  auto r = three.get(seconds(10));
  if (r)
    CHECK(before.count(*r) == 0);
  else
    CHECK(code_of(r.error()) == errc::unavailable);
  b->release();
  CHECK(one.get(seconds(10)));
  CHECK(two.get(seconds(10)));
}
