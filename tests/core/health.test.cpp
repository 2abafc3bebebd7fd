// The health verdict as a pure function of probe results.
#include <catch2/catch.hpp>

#include "actorserve/health.hpp"

using namespace actorserve;

TEST_CASE("three failed probes in a row replace a replica, a pass forgives",
          "[health]") {
  health_record r;
  CHECK(record_probe(r, probe_result::ok) == health_verdict::healthy);
  CHECK(record_probe(r, probe_result::failed) == health_verdict::suspect);
  CHECK(record_probe(r, probe_result::timed_out) == health_verdict::suspect);
  // A pass clears the strikes: two more failures are not enough.
  CHECK(record_probe(r, probe_result::ok) == health_verdict::healthy);
  CHECK(r.strikes == 0);
  CHECK(record_probe(r, probe_result::failed) == health_verdict::suspect);
  CHECK(record_probe(r, probe_result::failed) == health_verdict::suspect);
  CHECK(record_probe(r, probe_result::timed_out) == health_verdict::replace);
  CHECK(record_probe(r, probe_result::failed) == health_verdict::replace);
  static_assert(health_strike_limit == 3);
}

TEST_CASE("probes of many replicas are spread over the period in slices",
          "[health]") {
  using ms = std::chrono::milliseconds;
  auto s = schedule_probes(2, ms{10'000});
  CHECK(s.slices == 1);
  CHECK(s.interval == ms{10'000});
  s = schedule_probes(health_probes_per_tick, ms{10'000});
  CHECK(s.slices == 1);
  s = schedule_probes(10'000, ms{10'000});
  CHECK(s.slices == 40); // 250 probes a tick
  CHECK(s.interval == ms{250});
  CHECK(10'000 / s.slices <= health_probes_per_tick);
  s = schedule_probes(1'000'000, ms{100});
  CHECK(s.interval == ms{1});
  CHECK(s.slices == 100);
}
