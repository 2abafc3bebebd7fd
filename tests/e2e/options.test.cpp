// Runtime options: flag parsing, and the system plane's scheduler with and
// without its idle spin, in-process with real actors.
#include <algorithm>
#include <string>
#include <vector>

#include "actorserve/actorserve.hpp"
#include <catch2/catch.hpp>

using namespace std::chrono;
using namespace actorserve;

namespace {

caf::expected<serve_options> parse(std::vector<const char*> args) {
  args.insert(args.begin(), "prog");
  return parse_options(static_cast<int>(args.size()), args.data());
}

using twice_actor = caf::typed_actor<caf::replies_to<int32_t>::with<int32_t>>;

twice_actor::behavior_type twice(twice_actor::pointer) {
  return {[](int32_t x) { return 2 * x; }};
}

} // namespace

TEST_CASE("the idle-spin flag sets the system plane's idle spin", "[options]") {
  auto defaults = parse({});
  REQUIRE(defaults);
  CHECK(defaults->idle_spin == microseconds{50});
  auto set = parse({"--idle-spin-us", "250"});
  REQUIRE(set);
  CHECK(set->idle_spin == microseconds{250});
  auto off = parse({"--idle-spin-us=0"});
  REQUIRE(off);
  CHECK(off->idle_spin == microseconds{0});
}

TEST_CASE("a bad --idle-spin-us fails naming the flag", "[options]") {
  for (auto bad : {"-1", "abc", "2000000"}) {
    auto r = parse({"--idle-spin-us", bad});
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == errc::invalid_config);
    CHECK_THAT(message_of(r.error()), Catch::Contains("--idle-spin-us"));
  }
}

TEST_CASE("thread counts default from the cores, user threads, spin threads "
          "and the scheduler are flags",
          "[options]") {
  auto defaults = parse({});
  REQUIRE(defaults);
  auto quarter = std::max<size_t>(1, available_cores() / 4);
  CHECK(defaults->system_threads == quarter);
  CHECK(defaults->http.threads == quarter);
  CHECK(defaults->user_threads == std::max<size_t>(1, available_cores() / 2));
  CHECK(defaults->spin_threads == 0);
  CHECK(defaults->scheduler_policy == "workers");
  auto set = parse({"--spin-threads", "3", "--scheduler", "sharing"});
  REQUIRE(set);
  CHECK(set->spin_threads == 3);
  CHECK(set->scheduler_policy == "sharing");
  auto bad = parse({"--scheduler", "fifo"});
  REQUIRE_FALSE(bad);
  CHECK_THAT(message_of(bad.error()), Catch::Contains("scheduler"));
  auto neg = parse({"--spin-threads", "-1"});
  REQUIRE_FALSE(neg);
  CHECK_THAT(message_of(neg.error()), Catch::Contains("--spin-threads"));
  auto users = parse({"--user-threads", "3"});
  REQUIRE(users);
  CHECK(users->user_threads == 3);
  auto none = parse({"--user-threads", "0"});
  REQUIRE_FALSE(none);
  CHECK_THAT(message_of(none.error()), Catch::Contains("--user-threads"));
}

TEST_CASE("every scheduler runs work whether its workers spin or sleep",
          "[options]") {
  // Spin 0 parks at once. A 1 us spin runs out between two calls from this
  // thread, so workers and the replica thread spin, then park, then must be
  // woken for the next call. A 2 ms spin keeps them polling throughout.
  for (auto spin : {microseconds{0}, microseconds{1}, microseconds{2000}}) {
    for (auto mode : {execution::inline_, execution::isolated}) {
      for (auto policy : {"workers", "sharing", "stealing"}) {
        serve_options opts;
        opts.admin.port = 0; // a free port: tests run side by side
        opts.http.enabled = false;
        opts.system_threads = 2;
        opts.idle_spin = spin;
        opts.scheduler_policy = policy;
        serve s{opts};
        auto h = s.run(s.deployment("Twice", twice).mode(mode).bind(),
                       {"twice", ""});
        REQUIRE(h);
        for (int32_t i = 0; i < 100; ++i) {
          auto r = h->call(i).get(seconds(5));
          REQUIRE(r);
          CHECK(*r == 2 * i);
        }
      }
    }
  }
}

TEST_CASE("an application's own flags pass through to it, in order",
          "[options]") {
  std::vector<const char*> args{"prog", "--model", "/m.bin",     "--port",
                                "9001", "-v",      "--threads=2"};
  std::vector<std::string> rest;
  auto opts =
      parse_options(static_cast<int>(args.size()), args.data(), {}, &rest);
  REQUIRE(opts);
  CHECK(opts->http.port == 9001);
  CHECK(opts->system_threads == 2);
  CHECK(rest == std::vector<std::string>{"--model", "/m.bin", "-v"});
  // Without a place for them, they are an error naming the first one.
  auto strict = parse_options(static_cast<int>(args.size()), args.data());
  REQUIRE_FALSE(strict);
  CHECK_THAT(message_of(strict.error()), Catch::Contains("--model"));
  // --help lists every server flag and the application's usage.
  serve_options d;
  d.usage = "  --model PATH   the model file";
  auto text = usage_text(d);
  for (auto* flag : {"--host", "--port", "--threads", "--drain-timeout-ms",
                     "--no-http", "--model PATH"})
    CHECK_THAT(text, Catch::Contains(flag));
}

TEST_CASE("the stream flags set the ingress's stream window and timeouts",
          "[options]") {
  auto set = parse({"--stream-window", "64", "--stream-first-chunk-timeout-ms",
                    "500", "--stream-idle-timeout-ms=0"});
  REQUIRE(set);
  CHECK(set->http.stream_window == 64);
  CHECK(set->http.stream_first_chunk_timeout == milliseconds{500});
  CHECK(set->http.stream_idle_timeout == milliseconds{0});
  auto bad = parse({"--stream-window", "0"});
  REQUIRE_FALSE(bad);
  CHECK_THAT(message_of(bad.error()), Catch::Contains("--stream-window"));
}

TEST_CASE("the node's resources come from --num-cpus and --resources",
          "[options][placement]") {
  auto defaults = parse({});
  REQUIRE(defaults);
  CHECK(defaults->node.num_cpus == static_cast<double>(available_cores()));
  CHECK(defaults->node.resources.empty());
  auto set = parse({"--num-cpus", "2.5", "--resources", R"({"accel": 2})"});
  REQUIRE(set);
  CHECK(set->node.num_cpus == 2.5);
  CHECK(set->node.resources == std::map<std::string, double>{{"accel", 2}});
  for (auto bad : {"-1", "many", "nan"}) {
    auto r = parse({"--num-cpus", bad});
    REQUIRE_FALSE(r);
    CHECK_THAT(message_of(r.error()), Catch::Contains("--num-cpus"));
  }
  for (auto bad : {"accel=1", R"({"accel": -1})", "[]"}) {
    auto r = parse({"--resources", bad});
    REQUIRE_FALSE(r);
    CHECK_THAT(message_of(r.error()), Catch::Contains("--resources"));
  }
}
