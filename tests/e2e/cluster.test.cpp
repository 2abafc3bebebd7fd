// The head's cluster port over real CAF networking on loopback: joins with
// and without the token, and peers that send what they should not.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <future>
#include <string>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "actorserve/actorserve.hpp"
#include "demo_server.hpp"
#include "sse_client.hpp"

using namespace actorserve;

namespace {

constexpr const char* token = "a-cluster-token-for-tests";

serve_options head_options() {
  auto opts = test::demo_options();
  opts.cluster.listen = true;
  opts.cluster.token = token;
  return opts;
}

/// A bare CAF actor system with the io middleman: a peer of the head that
/// is not an actorserve node.
struct peer_system {
  struct config : caf::actor_system_config {
    config() {
      load<caf::io::middleman>();
      register_types(*this);
      set("logger.console-verbosity", caf::atom("quiet"));
    }
  };
  config cfg;
  caf::actor_system sys{cfg};

  cluster_gate_actor gate(uint16_t port) {
    auto g =
        sys.middleman().remote_actor<cluster_gate_actor>("127.0.0.1", port);
    REQUIRE(g);
    return *g;
  }

  /// Joins with `presented` as the token: the node id, or the error.
  caf::expected<uint64_t> join(cluster_gate_actor gate, std::string presented) {
    node_hello hello;
    hello.token = std::move(presented);
    hello.host = "test-peer";
    hello.pid = 42;
    caf::scoped_actor self{sys};
    caf::expected<uint64_t> result{uint64_t{0}};
    self->request(gate, std::chrono::seconds(10), join_atom::value, hello)
        .receive([&](uint64_t id) { result = id; },
                 [&](caf::error& err) { result = std::move(err); });
    return result;
  }
};

using where_actor =
    caf::typed_actor<caf::replies_to<http_request>::with<http_response>>;

where_actor::behavior_type accel_model(where_actor::pointer) {
  return {[](const http_request& req) {
    return json_response({{"served", true}, {"body", req.body}});
  }};
}

/// An application whose one replica needs an accelerator.
caf::error deploy_accel(serve& s) {
  auto h =
      s.run(s.deployment("Accel", accel_model).resources({{"accel", 1}}).bind(),
            {"accel", "/accel"});
  return h ? caf::error{} : h.error();
}

serve_options worker_options(uint16_t head_port) {
  auto opts = test::demo_options();
  opts.cluster.join = "127.0.0.1:" + std::to_string(head_port);
  opts.cluster.token = token;
  return opts;
}

/// Stops a head before the futures of a test end: should a check fail, a
/// `run` still waiting on the head then returns.
struct stop_first {
  serve& s;
  ~stop_first() { s.shutdown(); }
};

const node_status* find_node(const serve_status& st, uint64_t id) {
  auto i = std::find_if(st.nodes.begin(), st.nodes.end(),
                        [id](const node_status& n) { return n.id == id; });
  return i == st.nodes.end() ? nullptr : &*i;
}

} // namespace

TEST_CASE("the cluster port refuses a wrong or missing token and admits the "
          "right one",
          "[cluster]") {
  serve head{head_options()};
  REQUIRE(head.cluster_port() != 0);
  peer_system peer;
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

namespace {

/// A CA and a certificate it signs, made with the openssl tool in a fresh
/// directory.
struct test_pki {
  std::string dir;

  test_pki() {
    char tmpl[] = "/tmp/actorserve-pki-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    for (auto ca : {"ca", "rogue"}) {
      sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
         "-nodes -days 2 -subj /CN=" +
         std::string{ca} + " -keyout " + path(ca, "key") + " -out " +
         path(ca, "pem"));
      auto node = std::string{ca} + "-node";
      sh("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
         "-subj /CN=node -keyout " +
         path(node, "key") + " -out " + path(node, "csr"));
      sh("openssl x509 -req -days 2 -in " + path(node, "csr") + " -CA " +
         path(ca, "pem") + " -CAkey " + path(ca, "key") +
         " -CAcreateserial -out " + path(node, "pem"));
    }
  }

  ~test_pki() { std::system(("rm -rf " + dir).c_str()); }

  std::string path(const std::string& name, const std::string& ext) const {
    return dir + "/" + name + "." + ext;
  }

  static void sh(const std::string& cmd) {
    INFO(cmd);
    REQUIRE(std::system((cmd + " >/dev/null 2>&1").c_str()) == 0);
  }

  /// TLS options of a node whose certificate `issuer` signed, trusting
  /// `trust`.
  void apply(cluster_options& opts, const std::string& issuer,
             const std::string& trust = "ca") const {
    opts.tls_cert = path(issuer + "-node", "pem");
    opts.tls_key = path(issuer + "-node", "key");
    opts.tls_ca = path(trust, "pem");
  }
};

} // namespace

TEST_CASE("with certificates, nodes talk TLS: a node of the same CA joins "
          "and serves, a plain one and one of another CA cannot join",
          "[cluster][tls]") {
  // Every build tools/test makes has CAF's OpenSSL module, the TSan one
  // included.
  REQUIRE(tls_available());
  test_pki pki;
  auto head_opts = head_options();
  pki.apply(head_opts.cluster, "ca");
  serve head{head_opts};
  auto deployed =
      std::async(std::launch::async, [&] { return deploy_accel(head); });
  stop_first stop{head};
  {
    // Plain TCP to a TLS port: no join.
    auto opts = worker_options(head.cluster_port());
    opts.cluster.join_timeout = std::chrono::milliseconds(1500);
    CHECK_THROWS_AS(serve{opts}, error_exception);
  }
  {
    // A certificate the head's CA did not sign.
    auto opts = worker_options(head.cluster_port());
    opts.cluster.join_timeout = std::chrono::milliseconds(1500);
    pki.apply(opts.cluster, "rogue", "ca");
    CHECK_THROWS_AS(serve{opts}, error_exception);
  }
  auto st = head.status();
  REQUIRE(st);
  CHECK(st->nodes.size() == 1);
  auto opts = worker_options(head.cluster_port());
  pki.apply(opts.cluster, "ca");
  opts.node.resources = {{"accel", 1}};
  serve worker{opts};
  REQUIRE_FALSE(deploy_accel(worker));
  REQUIRE(deployed.wait_for(std::chrono::seconds(10)) ==
          std::future_status::ready);
  REQUIRE_FALSE(deployed.get());
  auto r = test::http(head.http_port(), "POST", "/accel", "over tls");
  CHECK(r.status == 200);
  CHECK(test::body_of(r)["body"] == "over tls");
}

TEST_CASE("TLS flags come as a set, naming the one missing", "[cluster][tls]") {
  cluster_options opts;
  opts.listen = true;
  opts.token = "t";
  opts.tls_cert = "/etc/hostname";
  CHECK_THAT(message_of(validate(opts)), Catch::Contains("--cluster-tls-key"));
  opts.tls_key = "/etc/hostname";
  CHECK_THAT(message_of(validate(opts)), Catch::Contains("--cluster-tls-ca"));
  opts.tls_ca = "/nonexistent/ca.pem";
  CHECK_THAT(message_of(validate(opts)),
             Catch::Contains("--cluster-tls-ca: cannot read"));
}

TEST_CASE("a worker with --proxy serves the head's routes over HTTP, and its "
          "status is the head's",
          "[cluster]") {
  serve head{head_options()};
  REQUIRE_FALSE(demo::run_all(head));
  auto opts = worker_options(head.cluster_port());
  opts.cluster.proxy = true;
  serve worker{opts};
  REQUIRE(worker.http_port() != 0);
  REQUIRE_FALSE(demo::run_all(worker));
  // The routes arrive by name once the worker announced its deployments.
  REQUIRE(test::wait_until([&] {
    return test::http(worker.http_port(), "POST", "/classify",
                      R"({"text": "I love this"})")
               .status == 200;
  }));
  auto r = test::http(worker.http_port(), "POST", "/classify",
                      R"({"text": "I love this"})");
  CHECK(test::body_of(r)["label"] == "positive");
  CHECK(test::http(worker.http_port(), "GET", "/-/healthz").status == 200);
  auto st = test::http(worker.http_port(), "GET", "/-/status");
  REQUIRE(st.status == 200);
  auto nodes = test::body_of(st)["nodes"];
  REQUIRE(nodes.size() == 2);
  CHECK(nodes[1]["node_id"] == 2);
  // A route the head does not have is 404 here too.
  CHECK(test::http(worker.http_port(), "GET", "/nowhere").status == 404);
}

TEST_CASE("only worker nodes take --proxy", "[cluster][options]") {
  cluster_options opts;
  opts.proxy = true;
  CHECK_THAT(message_of(validate(opts)), Catch::Contains("--proxy"));
}

namespace {

using counter_actor =
    caf::typed_actor<caf::replies_to<int32_t>::with<stream<std::string>>>;

/// Streams "0".."n-1", one chunk at a time (its window paces it).
counter_actor::behavior_type counter(counter_actor::pointer self) {
  return {[=](int32_t n) {
    return make_stream<std::string>(
        self, [i = int32_t{0}, n](stream_out<std::string>& out) mutable {
          if (i == n)
            return out.close();
          out.push(std::to_string(i++));
        });
  }};
}

http_ingress::behavior_type count_ingress(http_ingress::pointer self,
                                          handle<counter_actor> counter) {
  return {[=](http_request& req) -> reply {
    auto rp = self->make_response_promise<http_response>();
    counter.call(self, std::stoi(req.body))
        .then([=](stream<std::string>& chunks) mutable {
          rp.deliver(sse_response(chunks));
        });
    return rp;
  }};
}

caf::error deploy_counting(serve& s) {
  auto c = s.deployment("Counter", counter).resources({{"accel", 1}}).bind();
  auto h =
      s.run(s.deployment("Count", count_ingress).bind(c), {"count", "/count"});
  return h ? caf::error{} : h.error();
}

} // namespace

TEST_CASE("a stream whose producer runs on a worker node reaches an HTTP "
          "client of the head, every chunk in order",
          "[cluster][streams]") {
  serve head{head_options()};
  auto deployed =
      std::async(std::launch::async, [&] { return deploy_counting(head); });
  stop_first stop{head};
  auto opts = worker_options(head.cluster_port());
  opts.node.resources = {{"accel", 1}};
  serve worker{opts};
  REQUIRE_FALSE(deploy_counting(worker));
  REQUIRE(deployed.wait_for(std::chrono::seconds(10)) ==
          std::future_status::ready);
  REQUIRE_FALSE(deployed.get());
  CHECK(test::deployment_of(head, "count", "Counter").replicas.at(0).node_id ==
        2);
  // More chunks than a window: credit has to cross the nodes too.
  test::sse_client c{head.http_port(), "/count", "500"};
  REQUIRE(c.status() == 200);
  int expected = 0;
  while (auto ev = c.next(std::chrono::seconds(10))) {
    if (ev->event != "message")
      break;
    REQUIRE(ev->data == std::to_string(expected));
    ++expected;
  }
  CHECK(expected == 500);
}
