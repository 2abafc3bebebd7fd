// The demo binary as a real process under tools/httpfuzz: mutated requests
// (start lines, headers that are not UTF-8, odd lengths, chunked bodies,
// pipelining, cut-off requests) from a fixed seed must leave it running,
// answering /-/healthz, with nothing in flight and bounded memory.
#include <catch2/catch.hpp>

#include <string>

#include "child.hpp"
#include "http_client.hpp"

namespace {

// Runs httpfuzz against a fresh demo; returns its output and exit status.
std::pair<std::string, int> fuzz_demo(const std::string& seed,
                                      const std::string& count) {
  auto port = test::free_port();
  test::child demo{
      {DEMO_BINARY, "--admin-port", "0", "--port", std::to_string(port)}};
  auto banner = demo.read_until("serving on");
  REQUIRE_THAT(banner, Catch::Contains("serving on http://127.0.0.1:"));
  test::child fuzz{{HTTPFUZZ_BINARY, "--port", std::to_string(port), "--pid",
                    std::to_string(demo.pid), "--seed", seed, "--count", count,
                    "--batch", "50", "--max-rss-mb", "1024"}};
  auto out = fuzz.read_until("\n\n"); // everything, until it exits
  return {out, fuzz.wait_exit()};
}

} // namespace

TEST_CASE("the demo survives mutated requests and settles after each batch",
          "[process][fuzz]") {
  auto [out, status] = fuzz_demo("1", "300");
  INFO(out);
  CHECK(status == 0);
  CHECK_THAT(out, Catch::Contains("server alive and settled after every batch"));
}

TEST_CASE("httpfuzz fails when the server is not there", "[process][fuzz]") {
  // A server that is gone before the first batch: httpfuzz must fail,
  // not pass vacuously.
  auto port = test::free_port();
  test::child fuzz{{HTTPFUZZ_BINARY, "--port", std::to_string(port), "--pid",
                    "999999999", "--count", "10"}};
  auto out = fuzz.read_until("\n\n");
  INFO(out);
  CHECK(fuzz.wait_exit() == 1);
  CHECK_THAT(out, Catch::Contains("not ready"));
}
