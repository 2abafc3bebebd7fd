// The health verdict as a pure function of probe results.
#include <catch2/catch.hpp>

#include "actorserve/health.hpp"

using namespace actorserve;

TEST_CASE("three failed probes in a row replace a replica; a pass forgives",
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
