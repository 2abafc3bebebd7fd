// Runtime options: flag parsing, and the system plane's scheduler with and
// without its idle spin, in-process with real actors.
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

TEST_CASE("the scheduler runs work whether its workers spin or sleep",
          "[options]") {
  // Spin 0 parks at once. A 1 us spin runs out between two calls from this
  // thread, so workers and the replica thread spin, then park, then must be
  // woken for the next call. A 2 ms spin keeps them polling throughout.
  for (auto spin : {microseconds{0}, microseconds{1}, microseconds{2000}}) {
    for (auto mode : {execution::inline_, execution::isolated}) {
      serve_options opts;
      opts.http.enabled = false;
      opts.system_threads = 2;
      opts.idle_spin = spin;
      serve s{opts};
      auto h =
          s.run(s.deployment("Twice", twice).mode(mode).bind(), {"twice", ""});
      REQUIRE(h);
      for (int32_t i = 0; i < 100; ++i) {
        auto r = h->call(i).get(seconds(5));
        REQUIRE(r);
        CHECK(*r == 2 * i);
      }
    }
  }
}
