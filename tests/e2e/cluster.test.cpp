// The head's cluster port over real CAF networking on loopback: joins with
// and without the token, and peers that send what they should not.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <future>
#include <string>
#include <vector>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "actorserve/actorserve.hpp"
#include "cluster_fixture.hpp"
#include "demo_server.hpp"
#include "sse_client.hpp"

using namespace actorserve;

using namespace test::cluster;

TEST_CASE("the cluster port refuses a wrong or missing token and admits the "
          "right one",
          "[cluster]") {
  serve head{head_options()};
  REQUIRE(head.cluster_port() != 0);
  peer_system peer;
  // CAF's own connect, which knows no token, gets no gate: the front
  // closes it before CAF's handshake.
  auto plain = peer.sys.middleman().remote_actor<cluster_gate_actor>(
      "127.0.0.1", head.cluster_port());
  CHECK_FALSE(plain);
  // Through the front, with the token, the gate still checks each join.
  auto gate = peer.gate(head.cluster_port());
  auto wrong = peer.join(gate, "not-the-token");
  REQUIRE_FALSE(wrong);
  CHECK(code_of(wrong.error()) == errc::unauthenticated);
  CHECK_THAT(message_of(wrong.error()), Catch::Contains("wrong cluster token"));
  auto missing = peer.join(gate, "");
  REQUIRE_FALSE(missing);
  CHECK(code_of(missing.error()) == errc::unauthenticated);
  CHECK_THAT(message_of(missing.error()),
             Catch::Contains("missing cluster token"));
  // Refused peers are not nodes.
  auto st = head.status();
  REQUIRE(st);
  REQUIRE(st->nodes.size() == 1);
  CHECK(st->nodes[0].role == "head");
  auto admitted = peer.join(gate, token);
  REQUIRE(admitted);
  CHECK(*admitted == 2);
  st = head.status();
  REQUIRE(st);
  auto node = find_node(*st, 2);
  REQUIRE(node != nullptr);
  CHECK(node->role == "worker");
  CHECK(node->pid == 42);
  // The peer joined without an agent to watch: it is listed, and the
  // secret is nowhere in status.
  CHECK(to_json(*st).find(token) == std::string::npos);
}

TEST_CASE("garbage bytes and unexpected messages on the cluster port crash "
          "nothing, and the head keeps serving",
          "[cluster]") {
  serve head{head_options()};
  auto port = head.cluster_port();
  REQUIRE(port != 0);
  {
    // Bytes that are not CAF's protocol, then a header-sized blob that
    // claims a huge payload.
    test::http_connection raw{port};
    REQUIRE(raw.connected());
    std::string junk(4096, '\0');
    for (size_t i = 0; i < junk.size(); ++i)
      junk[i] = static_cast<char>((i * 131 + 7) & 0xFF);
    raw.send(junk);
  }
  {
    test::http_connection raw{port};
    REQUIRE(raw.connected());
    raw.send(std::string(8, '\xFF') + std::string(64, '\x7F'));
  }
  {
    test::http_connection raw{port};
    REQUIRE(raw.connected());
    raw.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  // A real CAF peer sends the gate messages it does not take.
  peer_system peer;
  auto gate = caf::actor_cast<caf::actor>(peer.gate(port));
  caf::scoped_actor self{peer.sys};
  bool refused = false;
  self->request(gate, std::chrono::seconds(10), status_atom::value)
      .receive([](const serve_status&) {},
               [&](caf::error&) { refused = true; });
  CHECK(refused);
  refused = false;
  self->request(gate, std::chrono::seconds(10), std::string{"hello"}, 42)
      .receive([](const caf::message&) {},
               [&](caf::error&) { refused = true; });
  CHECK(refused);
  // The head still answers, on its cluster port and over HTTP.
  auto admitted = peer.join(caf::actor_cast<cluster_gate_actor>(gate), token);
  CHECK(admitted);
  auto healthz = test::http(head.http_port(), "GET", "/-/healthz");
  CHECK(healthz.status == 200);
}

TEST_CASE("a worker node joins, lists what its binary registers, and is DEAD "
          "once it stops",
          "[cluster]") {
  serve head{head_options()};
  {
    auto opts = test::demo_options();
    opts.cluster.join = "127.0.0.1:" + std::to_string(head.cluster_port());
    opts.cluster.token = token;
    serve worker{opts};
    CHECK(worker.node_id() == 2);
    REQUIRE_FALSE(demo::run_all(worker));
    // A worker has no controller of its own.
    auto own = worker.status();
    REQUIRE_FALSE(own);
    CHECK(code_of(own.error()) == errc::unavailable);
    auto st = head.status();
    REQUIRE(st);
    auto node = find_node(*st, 2);
    REQUIRE(node != nullptr);
    CHECK(node->state == node_state::alive);
    CHECK(node->resources.num_cpus > 0);
    auto& deps = node->deployments;
    CHECK(std::find(deps.begin(), deps.end(), "classify/Tokenizer") !=
          deps.end());
  }
  // The worker is gone: its connection dropped.
  CHECK(test::wait_until([&] {
    auto st = head.status();
    auto node = st ? find_node(*st, 2) : nullptr;
    return node != nullptr && node->state == node_state::dead;
  }));
}

TEST_CASE("a worker with the wrong token fails to start, saying so",
          "[cluster]") {
  serve head{head_options()};
  auto opts = test::demo_options();
  opts.cluster.join = "127.0.0.1:" + std::to_string(head.cluster_port());
  opts.cluster.token = "wrong";
  try {
    serve worker{opts};
    FAIL("the worker started");
  } catch (const error_exception& e) {
    CHECK(e.code() == errc::unauthenticated);
    CHECK_THAT(std::string{e.what()}, Catch::Contains("wrong cluster token"));
  }
  auto st = head.status();
  REQUIRE(st);
  CHECK(st->nodes.size() == 1);
}

TEST_CASE("cluster options: a port needs a token, a worker opens none, and "
          "--join takes HOST:PORT",
          "[cluster][options]") {
  cluster_options opts;
  opts.listen = true;
  auto err = validate(opts);
  REQUIRE(err);
  CHECK_THAT(message_of(err), Catch::Contains("--cluster-port"));
  opts.host = "0.0.0.0";
  CHECK_THAT(message_of(validate(opts)), Catch::Contains("beyond loopback"));
  opts.token = "t";
  CHECK_FALSE(validate(opts));
  opts.join = "127.0.0.1:7000";
  CHECK_THAT(message_of(validate(opts)), Catch::Contains("--join"));
  cluster_options worker;
  for (auto bad :
       {"nohost", ":7000", "host:", "host:0", "host:70000", "host:12ab"}) {
    worker.join = bad;
    INFO(bad);
    CHECK_THAT(message_of(validate(worker)), Catch::Contains("--join"));
  }
  worker.join = "localhost:7000";
  CHECK_FALSE(validate(worker)); // the head refuses it without a token
  CHECK(same_token("abc", "abc"));
  CHECK_FALSE(same_token("abc", "abd"));
  CHECK_FALSE(same_token("abc", "abcd"));
  CHECK_FALSE(same_token("", "a"));
}

TEST_CASE("a replica that needs what only a worker offers waits pending, "
          "names a worker whose binary lacks it, and serves through the head "
          "once a worker that has both joins",
          "[cluster]") {
  serve head{head_options()};
  // serve.run waits for the replica, which fits nowhere yet.
  auto deployed =
      std::async(std::launch::async, [&] { return deploy_accel(head); });
  stop_first stop{head};
  auto reason = [&] {
    return test::deployment_of(head, "accel", "Accel").message;
  };
  REQUIRE(test::wait_until(
      [&] { return reason().find("pending") != std::string::npos; }));
  CHECK_THAT(reason(), Catch::Contains("needs accel=1"));
  // A worker with the accelerator whose binary has other applications only.
  auto lacking_opts = worker_options(head.cluster_port());
  lacking_opts.node.resources = {{"accel", 1}};
  serve lacking{lacking_opts};
  REQUIRE_FALSE(demo::run_all(lacking));
  REQUIRE(test::wait_until([&] {
    return reason().find("do not register 'Accel'") != std::string::npos;
  }));
  CHECK_THAT(reason(), Catch::Contains("node(s) 2 have room"));
  CHECK(deployed.wait_for(std::chrono::milliseconds(0)) !=
        std::future_status::ready);
  // A worker that has both takes the replica.
  auto opts = worker_options(head.cluster_port());
  opts.node.resources = {{"accel", 1}};
  serve worker{opts};
  REQUIRE(worker.node_id() == 3);
  REQUIRE_FALSE(deploy_accel(worker));
  REQUIRE(deployed.wait_for(std::chrono::seconds(10)) ==
          std::future_status::ready);
  auto err = deployed.get();
  INFO(message_of(err));
  REQUIRE_FALSE(err);
  auto dep = test::deployment_of(head, "accel", "Accel");
  REQUIRE(dep.replicas.size() == 1);
  CHECK(dep.replicas[0].node_id == 3);
  CHECK(dep.message.empty());
  // The head's ingress reaches it over the cluster connection.
  auto r = test::http(head.http_port(), "POST", "/accel", "ping");
  CHECK(r.status == 200);
  CHECK(test::body_of(r) ==
        nlohmann::json({{"served", true}, {"body", "ping"}}));
  auto st = head.status();
  REQUIRE(st);
  auto node = find_node(*st, 3);
  REQUIRE(node != nullptr);
  CHECK(node->replicas == std::vector<uint64_t>{dep.replicas[0].id});
}

TEST_CASE("the head keeps the most recent DEAD nodes only, however many come "
          "and go",
          "[cluster]") {
  auto opts = head_options();
  opts.cluster.heartbeat.period = std::chrono::milliseconds(20);
  serve head{opts};
  peer_system peer;
  auto gate = peer.gate(head.cluster_port());
  // Peers without an agent answer no heartbeat: each is DEAD at once.
  std::vector<uint64_t> ids;
  for (int i = 0; i < 20; ++i) {
    auto id = peer.join(gate, token);
    REQUIRE(id);
    ids.push_back(*id);
  }
  auto dead_ids = [&] {
    std::vector<uint64_t> out;
    auto st = head.status();
    REQUIRE(st);
    for (auto& n : st->nodes)
      if (n.state == node_state::dead)
        out.push_back(n.id);
    return out;
  };
  REQUIRE(test::wait_until([&] {
    auto st = head.status();
    return st && st->nodes.back().id == ids.back() &&
           st->nodes.back().state == node_state::dead;
  }));
  auto dead = dead_ids();
  CHECK(dead.size() == max_dead_nodes);
  CHECK(dead == std::vector<uint64_t>(ids.end() - max_dead_nodes, ids.end()));
}
