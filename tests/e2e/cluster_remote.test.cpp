// Replicas on a worker node, served through the head over real CAF
// networking on loopback: the head offers replicas no room, so every
// replica runs on the worker and every request crosses nodes. In-place
// updates, the request's context, load reports and cancellation reach
// them as they reach replicas in the head's own process.
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "actorserve/actorserve.hpp"
#include "cluster_fixture.hpp"
#include "demo_server.hpp"

using namespace actorserve;
using namespace test::cluster;
using namespace std::chrono;

namespace {

/// A head with no room for replicas (each reserves 64 KiB of its node's
/// memory budget) and fast heartbeats, so that load reports are fresh.
serve_options roomless_head() {
  auto opts = head_options();
  opts.node.memory_bytes = 1024;
  opts.cluster.heartbeat.period = milliseconds(100);
  opts.cluster.heartbeat.timeout = milliseconds(2000);
  opts.http.request_timeout = seconds(20);
  return opts;
}

/// Every replica in the head's status.
std::vector<replica_status> all_replicas(serve& s) {
  std::vector<replica_status> out;
  auto st = s.status();
  REQUIRE(st);
  for (auto& a : st->applications)
    for (auto& d : a.deployments)
      out.insert(out.end(), d.replicas.begin(), d.replicas.end());
  return out;
}

/// A roomless head and one worker that both `run` the same applications:
/// the head's deploy waits until the worker took every replica.
struct remote_cluster {
  serve head{roomless_head()};
  std::unique_ptr<serve> worker;

  template <class Run>
  explicit remote_cluster(Run run) {
    auto deployed = std::async(std::launch::async, [&] { return run(head); });
    try {
      worker = std::make_unique<serve>(worker_options(head.cluster_port()));
      REQUIRE_FALSE(run(*worker));
      REQUIRE(deployed.wait_for(seconds(30)) == std::future_status::ready);
    } catch (...) {
      head.shutdown(); // the head's `run` returns
      throw;
    }
    auto err = deployed.get();
    INFO(message_of(err));
    REQUIRE_FALSE(err);
    for (auto& r : all_replicas(head))
      REQUIRE(r.node_id == worker->node_id());
  }

  uint16_t port() const { return head.http_port(); }
};

caf::error run_demo(serve& s) {
  return demo::run_all(s);
}

/// What the holder saw, shared with the test thread.
struct board {
  std::mutex mtx;
  std::condition_variable cv;
  std::multiset<std::string> started;
  std::multiset<std::string> cancelled;

  template <class Pred>
  bool wait(Pred pred, milliseconds limit = seconds(10)) {
    std::unique_lock<std::mutex> guard{mtx};
    return cv.wait_for(guard, limit, [&] { return pred(*this); });
  }

  template <class F>
  void update(F f) {
    {
      std::lock_guard<std::mutex> guard{mtx};
      f(*this);
    }
    cv.notify_all();
  }
};

using board_ptr = std::shared_ptr<board>;

/// POST /: holds the request until it is cancelled, then answers.
http_ingress::behavior_type holder(http_ingress::pointer self, board_ptr b) {
  return {[=](http_request& req) -> reply {
    auto text = req.body;
    auto rp = self->make_response_promise<http_response>();
    on_cancel(self, [=]() mutable {
      if (is_cancelled(self))
        b->update([&](board& x) { x.cancelled.insert(text); });
      rp.deliver(json_response({{"stopped", text}}));
    });
    b->update([&](board& x) { x.started.insert(text); });
    return rp;
  }};
}

} // namespace

TEST_CASE("replicas on a worker take a new user_config and "
          "max_ongoing_requests in place, and the head stays up",
          "[cluster][remote]") {
  remote_cluster c{run_demo};
  auto before = test::ready_ids(c.head, "flaky", "Flaky");
  REQUIRE(before.size() == 2);
  deployment_patch patch;
  patch.user_config = R"({"greeting": "moin"})";
  auto st = c.head.update("flaky", "Flaky", patch, seconds(20));
  INFO((st ? "" : message_of(st.error())));
  REQUIRE(st);
  CHECK(st->state == deployment_state::healthy);
  // Both replicas on the worker answer with the new config; same ids.
  std::set<uint64_t> seen;
  REQUIRE(test::wait_until([&] {
    auto r = test::http(c.port(), "POST", "/flaky", "");
    auto body = test::body_of(r);
    if (r.status != 200 || body["user_config"]["greeting"] != "moin")
      return false;
    seen.insert(body["replica"].get<uint64_t>());
    return seen == before;
  }));
  deployment_patch limits;
  limits.max_ongoing_requests = 3;
  st = c.head.update("flaky", "Flaky", limits, seconds(20));
  INFO((st ? "" : message_of(st.error())));
  REQUIRE(st);
  CHECK(st->state == deployment_state::healthy);
  CHECK(test::ready_ids(c.head, "flaky", "Flaky") == before);
  CHECK(test::http(c.port(), "POST", "/flaky", "").status == 200);
  CHECK(test::http(c.head.admin_port(), "GET", "/-/healthz").status == 200);
}

TEST_CASE("a request's multiplexed model id reaches a replica on a worker, "
          "by header and by handle option",
          "[cluster][remote][multiplex]") {
  remote_cluster c{run_demo};
  auto r = test::http(c.port(), "POST", "/multi", "{}",
                      {{"serve_multiplexed_model_id", "m1"}});
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(test::body_of(r)["model_id"] == "m1");
  r = test::http(c.port(), "POST", "/models/alpha/predict", R"({"x": 2})");
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(test::body_of(r)["model_id"] == "alpha");
}

TEST_CASE("replicas on a worker report their multiplexed models: status "
          "lists them and the head's callers send a model's calls to its "
          "holder",
          "[cluster][remote][multiplex]") {
  remote_cluster c{run_demo};
  auto call = [&] {
    auto r = test::http(c.port(), "POST", "/multi", "{}",
                        {{"serve_multiplexed_model_id", "m1"}});
    INFO(r.body);
    REQUIRE(r.status == 200);
    return test::body_of(r);
  };
  auto holder = call()["replica"].get<uint64_t>();
  // The worker's next heartbeat answer carries the model to the head.
  auto holds = [&] {
    for (auto& r : test::deployment_of(c.head, "multi", "MultiModel").replicas)
      if (r.id == holder && r.node_id == c.worker->node_id())
        return r.multiplexed_model_ids == std::vector<std::string>{"m1"};
    return false;
  };
  CHECK(test::wait_until(holds, seconds(5)));
  // Two replicas on the worker, equally idle: every call of m1 goes to the
  // one that holds it (a blind choice would pick each half the time).
  for (int i = 0; i < 20; ++i) {
    auto body = call();
    CHECK(body["replica"].get<uint64_t>() == holder);
    CHECK(body["loaded"] == false);
  }
}

TEST_CASE("status shows the requests running at a busy replica on a worker, "
          "and autoscaling counts them",
          "[cluster][remote][autoscaling]") {
  remote_cluster c{run_demo};
  auto worker_dep = [&] {
    return test::deployment_of(c.head, "autoscale", "Worker");
  };
  REQUIRE(worker_dep().target_replicas == 1);
  // Six requests of 4 s each: three times the target of 2 per replica.
  std::vector<std::future<test::http_result>> load;
  for (int i = 0; i < 6; ++i)
    load.push_back(std::async(std::launch::async, [&] {
      return test::http(c.port(), "GET", "/autoscale?ms=4000");
    }));
  CHECK(test::wait_until(
      [&] {
        uint32_t ongoing = 0;
        for (auto& r : worker_dep().replicas)
          ongoing += r.ongoing;
        return ongoing >= 5; // max_ongoing_requests: one may queue
      },
      seconds(3)));
  // The remote load scales the deployment up (upscale_delay 1 s).
  CHECK(test::wait_until([&] { return worker_dep().target_replicas > 1; },
                         seconds(3)));
  for (auto& f : load)
    CHECK(f.get().status == 200);
}

TEST_CASE("a client that goes away cancels its call on a replica of another "
          "node: the replica's handler sees the cancellation",
          "[cluster][remote][cancel]") {
  auto b = std::make_shared<board>();
  remote_cluster c{[&](serve& s) {
    auto h = s.run(s.deployment("Holder", holder).bind(b), {"hold", "/hold"});
    return h ? caf::error{} : h.error();
  }};
  auto conn = std::make_unique<test::http_connection>(c.port());
  REQUIRE(conn->connected());
  REQUIRE(conn->send("POST /hold HTTP/1.1\r\nHost: x\r\nContent-Length: "
                     "5\r\n\r\nfirst"));
  REQUIRE(b->wait([](board& x) { return x.started.count("first") == 1; }));
  conn->close();
  REQUIRE(b->wait([](board& x) { return x.cancelled.count("first") == 1; }));
  // Its slot is free again.
  CHECK(test::replicas_idle(c.head));
}
