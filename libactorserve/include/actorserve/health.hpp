/// @file
/// The health verdict of one replica: a pure function of its probe results
/// (Ray Serve's rule: three failed checks in a row and the replica is
/// replaced). The controller probes each ready replica every
/// `health_check_period` and feeds the outcome here; tests drive it with
/// plain values.
#pragma once

#include <chrono>
#include <cstdint>

namespace actorserve {

/// How one probe of a replica went.
enum class probe_result : uint8_t {
  /// The replica answered, and its user's check (if any) passed.
  ok,
  /// The replica answered with an error: the user's check threw.
  failed,
  /// No answer within `health_check_timeout`.
  timed_out,
};

/// What the controller does about a replica after a probe.
enum class health_verdict : uint8_t {
  /// Healthy: nothing.
  healthy,
  /// One or two strikes in a row: keep it, keep probing.
  suspect,
  /// Three strikes in a row: replace it.
  replace,
};

/// Consecutive failed probes that make a replica unhealthy.
constexpr uint32_t health_strike_limit = 3;

/// A replica's probe history, as the controller keeps it.
struct health_record {
  /// Failed or timed-out probes in a row.
  uint32_t strikes = 0;
};

/// Records `p` in `r` and returns the verdict. A passing probe clears the
/// strikes; the verdict stays `replace` for every further failure.
constexpr health_verdict record_probe(health_record& r,
                                      probe_result p) noexcept {
  if (p == probe_result::ok) {
    r.strikes = 0;
    return health_verdict::healthy;
  }
  ++r.strikes;
  return r.strikes >= health_strike_limit ? health_verdict::replace
                                          : health_verdict::suspect;
}

/// Most probes one health tick sends: a deployment with more replicas is
/// probed in slices spread over its period, so that no tick of the
/// controller grows with the replica count.
constexpr uint32_t health_probes_per_tick = 256;

/// How a deployment's probes are spread over one `health_check_period`.
struct health_schedule {
  /// Ticks per period.
  uint32_t slices = 1;
  /// The time between two ticks.
  std::chrono::milliseconds interval{0};
};

/// Spreads the probes of `replicas` replicas over `period`: one tick per
/// period up to `health_probes_per_tick` replicas, more (each probing a
/// slice, every replica once per period) above. Never shorter than 1 ms.
constexpr health_schedule
schedule_probes(uint32_t replicas, std::chrono::milliseconds period) noexcept {
  health_schedule s;
  s.slices =
      replicas <= health_probes_per_tick
          ? 1
          : (replicas + health_probes_per_tick - 1) / health_probes_per_tick;
  auto interval = period / s.slices;
  if (interval < std::chrono::milliseconds{1}) {
    interval = std::chrono::milliseconds{1};
    s.slices = static_cast<uint32_t>(period.count() > 0 ? period.count() : 1);
  }
  s.interval = interval;
  return s;
}

} // namespace actorserve
