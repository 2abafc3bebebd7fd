// The demo binary as a real process: start-up, signals, drain, bad flags.
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <future>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

#include "child.hpp"
#include "http_client.hpp"

namespace {

/// Sends a request that blocks for `ms` and waits until the server has it
/// in flight.
std::future<test::http_result> start_blocking_request(uint16_t port, int ms) {
  auto stuck = std::async(std::launch::async, [port, ms] {
    return test::http(port, "GET", "/blocking?ms=" + std::to_string(ms));
  });
  bool in_flight = false;
  for (int i = 0; i < 10'000 && !in_flight; ++i) {
    auto h = test::http(port, "GET", "/-/healthz");
    REQUIRE(h.status == 200);
    in_flight = h.body.find("\"in_flight\":1") != std::string::npos;
  }
  REQUIRE(in_flight);
  return stuck;
}

} // namespace

TEST_CASE("SIGTERM drains in-flight requests and exits 0", "[process]") {
  auto port = test::free_port();
  test::child demo{
      {DEMO_BINARY, "--admin-port", "0", "--port", std::to_string(port)}};
  auto banner = demo.read_until("serving on");
  REQUIRE_THAT(banner, Catch::Contains("serving on http://127.0.0.1:"));
  auto slow = start_blocking_request(port, 1500);
  REQUIRE(::kill(demo.pid, SIGTERM) == 0);
  auto r = slow.get();
  CHECK(r.status == 200);
  CHECK(r.body == R"({"slept_ms":1500})");
  CHECK(demo.wait_exit() == 0);
}

TEST_CASE("SIGTERM with a request stuck in user code stops within the drain "
          "timeout, answers the request 503 and says what it left behind",
          "[process]") {
  auto port = test::free_port();
  test::child demo{{DEMO_BINARY, "--admin-port", "0", "--port",
                    std::to_string(port), "--drain-timeout-ms", "500",
                    "--request-timeout-ms", "0"}};
  REQUIRE_THAT(demo.read_until("serving on"), Catch::Contains("serving on"));
  auto stuck = start_blocking_request(port, 60000);
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(::kill(demo.pid, SIGTERM) == 0);
  auto r = stuck.get();
  CHECK(r.status == 503);
  auto log = demo.read_until("still in user code");
  CHECK_THAT(log, Catch::Contains("1 blocking thread(s) still in user code"));
  CHECK(demo.wait_exit() == 0);
  // The handler sleeps 60 s; the drain timeout is 0.5 s.
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(15));
}

TEST_CASE("a second signal stops the server at once", "[process]") {
  auto port = test::free_port();
  test::child demo{{DEMO_BINARY, "--admin-port", "0", "--port",
                    std::to_string(port), "--drain-timeout-ms", "60000",
                    "--request-timeout-ms", "0"}};
  REQUIRE_THAT(demo.read_until("serving on"), Catch::Contains("serving on"));
  auto stuck = start_blocking_request(port, 60000);
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(::kill(demo.pid, SIGINT) == 0);
  REQUIRE_THAT(demo.read_until("draining"), Catch::Contains("draining"));
  REQUIRE(::kill(demo.pid, SIGINT) == 0);
  CHECK(demo.wait_exit() == 128 + SIGINT);
  // Both the handler and the drain timeout are a minute long.
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(15));
  stuck.wait();
}

TEST_CASE("SIGINT stops an idle server with status 0", "[process]") {
  auto port = test::free_port();
  test::child demo{
      {DEMO_BINARY, "--admin-port", "0", "--port", std::to_string(port)}};
  REQUIRE_THAT(demo.read_until("serving on"), Catch::Contains("serving on"));
  REQUIRE(::kill(demo.pid, SIGINT) == 0);
  CHECK(demo.wait_exit() == 0);
}

TEST_CASE("the demo's --help lists the flags and exits 0", "[process]") {
  test::child demo{{DEMO_BINARY, "--help"}};
  auto text = demo.read_until("--help");
  CHECK_THAT(text, Catch::Contains("--port"));
  CHECK_THAT(text, Catch::Contains("--drain-timeout-ms"));
  CHECK(demo.wait_exit() == 0);
}

TEST_CASE("a bad flag fails at start-up naming the flag", "[process]") {
  test::child demo{{DEMO_BINARY, "--admin-port", "0", "--port", "eighty"}};
  auto text = demo.read_until("\n");
  CHECK_THAT(text, Catch::Contains("--port"));
  CHECK(demo.wait_exit() == 2);
  test::child other{{DEMO_BINARY, "--frobnicate", "1"}};
  CHECK_THAT(other.read_until("\n"), Catch::Contains("unknown flag"));
  CHECK(other.wait_exit() == 2);
}

TEST_CASE("a port that is taken fails at start-up with a clear message",
          "[process]") {
  auto port = test::free_port();
  test::child first{
      {DEMO_BINARY, "--admin-port", "0", "--port", std::to_string(port)}};
  REQUIRE_THAT(first.read_until("serving on"), Catch::Contains("serving on"));
  test::child second{
      {DEMO_BINARY, "--admin-port", "0", "--port", std::to_string(port)}};
  CHECK_THAT(second.read_until("\n"), Catch::Contains("cannot listen"));
  CHECK(second.wait_exit() == 1);
}

TEST_CASE("a fatal signal leaves a line and the stack in the log, and the "
          "process dies of it",
          "[process]") {
  auto port = test::free_port();
  test::child demo{
      {DEMO_BINARY, "--admin-port", "0", "--port", std::to_string(port)}};
  REQUIRE_THAT(demo.read_until("serving on"), Catch::Contains("serving on"));
  REQUIRE(::kill(demo.pid, SIGSEGV) == 0);
#if defined(__SANITIZE_ADDRESS__)
  // The sanitizer keeps its own handler, and reports with its own words.
  const std::string said = "AddressSanitizer:DEADLYSIGNAL";
#else
  const std::string said = "fatal signal SIGSEGV";
#endif
  auto log = demo.read_until(said);
  REQUIRE_THAT(log, Catch::Contains(said));
  // The stack follows: frames of the demo binary or its libraries.
  auto rest = demo.read_until("\n");
  rest += demo.read_until("\n");
  CHECK_THAT(rest, Catch::Contains("(") || Catch::Contains("#"));
  auto status = demo.wait_status();
#if defined(__SANITIZE_ADDRESS__)
  // It ends the process its own way (abort_on_error: SIGABRT).
  CHECK((WIFSIGNALED(status) || WEXITSTATUS(status) != 0));
#else
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGSEGV);
#endif
}
