// Nodes that serve together over real CAF networking on loopback: TLS
// between nodes, a worker that proxies HTTP, and a stream across nodes.
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
#include "cluster_fixture.hpp"
#include "demo_server.hpp"
#include "sse_client.hpp"

using namespace actorserve;
using namespace test::cluster;

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
  // Status is internal: the worker's port shows it to a client on its own
  // host only (no admin API runs there), and it is the head's.
  auto st = test::http(head.admin_port(), "GET", "/-/status");
  REQUIRE(st.status == 200);
  auto nodes = test::body_of(st)["nodes"];
  REQUIRE(nodes.size() == 2);
  CHECK(nodes[1]["node_id"] == 2);
  auto here = test::http(worker.http_port(), "GET", "/-/status");
  REQUIRE(here.status == 200);
  CHECK(test::body_of(here)["nodes"] == nodes);
  CHECK_FALSE(test::body_of(here).contains("head_unreachable_since_ms"));
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
