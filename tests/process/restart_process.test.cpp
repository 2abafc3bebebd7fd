// A head that stops and starts again binds the same ports at once, while
// the connections of its last life sit in TIME_WAIT: real processes, a
// worker joined over CAF networking, HTTP and admin requests on loopback.
#include <catch2/catch.hpp>

#include <csignal>
#include <string>
#include <vector>

#include "child.hpp"
#include "http_client.hpp"

namespace {

const std::string token_env = "ACTORSERVE_CLUSTER_TOKEN=process-test-token";

/// The head's command line on fixed ports.
std::vector<std::string> head_args(uint16_t port, uint16_t aport,
                                   uint16_t cport) {
  return {DEMO_BINARY,     "--port",         std::to_string(port),
          "--admin-port",  std::to_string(aport), "--cluster-port",
          std::to_string(cport), "--expect-nodes", "1"};
}

/// Starts a head, joins a worker, and uses every port, so that each has
/// connections the head closes when it stops.
void serve_once(uint16_t port, uint16_t aport, uint16_t cport) {
  test::child head{head_args(port, aport, cport), {token_env}};
  test::child worker{{DEMO_BINARY, "--join",
                      "127.0.0.1:" + std::to_string(cport)},
                     {token_env}};
  // "serving on" comes once the expected worker joined.
  auto banner = head.read_until("serving on");
  REQUIRE_THAT(banner, Catch::Contains("serving on"));
  CHECK(test::http(port, "POST", "/classify", R"({"text": "I love this"})")
            .status == 200);
  CHECK(test::http(aport, "GET", "/-/status").status == 200);
  // The head closes its connections first: theirs wait in TIME_WAIT on
  // its ports.
  REQUIRE(::kill(head.pid, SIGTERM) == 0);
  CHECK(head.wait_exit() == 0);
}

} // namespace

TEST_CASE("a restarted head listens on the same HTTP, admin and cluster "
          "ports at once",
          "[process][cluster]") {
  auto port = test::free_port();
  auto aport = test::free_port();
  auto cport = test::free_port();
  serve_once(port, aport, cport);
  // Again on the same ports, at once: every listener binds (SO_REUSEADDR),
  // a worker joins, and requests are served.
  serve_once(port, aport, cport);
}
