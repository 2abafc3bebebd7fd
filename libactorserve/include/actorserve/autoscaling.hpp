/// @file
/// Autoscaling: the config (Ray Serve's `autoscaling_config`, with its
/// defaults) and the policy, a pure function of plain data.
///
/// The controller samples each autoscaled deployment every
/// `autoscaling_tick` (Ray's 0.1 s control loop): the requests running at
/// its replicas plus the requests its callers hold queued. It keeps the
/// samples of the last `look_back_period`, aggregates them
/// (`aggregate_window`) and asks `autoscale` for the next target. Tests
/// drive both with plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>

namespace actorserve {

/// How the look-back window is reduced to one number.
enum class aggregation : uint8_t {
  /// Time-weighted mean (each sample counts for as long as it held).
  mean,
  max,
  min,
};

const char* to_string(aggregation x) noexcept;

/// Ray Serve's `autoscaling_config`, with Ray's defaults.
struct autoscaling_config {
  /// Lower bound; 0 lets the deployment scale to zero.
  uint32_t min_replicas = 1;
  /// Replicas at deploy time; unset means `min_replicas` (but at least 1
  /// when `min_replicas` is 0, so that the deployment can be checked).
  std::optional<uint32_t> initial_replicas;
  /// Upper bound; >= min_replicas and >= 1.
  uint32_t max_replicas = 1;
  /// Requests (running plus queued) each replica should hold on average.
  double target_ongoing_requests = 2.0;
  /// How long the wish to scale up must last before it happens.
  std::chrono::milliseconds upscale_delay{30'000};
  /// How long the wish to scale down must last before it happens (also the
  /// step from 1 to 0).
  std::chrono::milliseconds downscale_delay{600'000};
  /// Gain applied to each step up, and each step down; > 0.
  double upscaling_factor = 1.0;
  double downscaling_factor = 1.0;
  /// The window of samples a decision looks at.
  std::chrono::milliseconds look_back_period{30'000};
  aggregation aggregation_function = aggregation::mean;
};

/// The replicas an autoscaled deployment starts with.
uint32_t initial_target(const autoscaling_config& cfg) noexcept;

using autoscaling_clock = std::chrono::steady_clock;

/// One observation: requests running at the replicas plus queued at callers.
struct load_sample {
  autoscaling_clock::time_point at;
  double total = 0;
};

/// Samples, oldest first.
using load_window = std::deque<load_sample>;

/// Adds `s` and drops samples that no longer touch the last `look_back`.
void record_sample(load_window& w, load_sample s,
                   std::chrono::milliseconds look_back);

/// The window over `[now - look_back, now]` reduced by `fn`; 0 when empty.
double aggregate_window(const load_window& w, autoscaling_clock::time_point now,
                        std::chrono::milliseconds look_back, aggregation fn);

/// The replica count `total` requests call for with `running` replicas:
/// `ceil(total / target)`, as a step from `running` scaled by the up or down
/// factor, clamped to the bounds.
uint32_t desired_replicas(const autoscaling_config& cfg, double total,
                          uint32_t running) noexcept;

/// Since when the policy has wanted to go up or down (unset: it has not).
struct autoscaling_state {
  std::optional<autoscaling_clock::time_point> up_since;
  std::optional<autoscaling_clock::time_point> down_since;
};

/// The next target of a deployment now at `current` (its target) with
/// `running` ready replicas and `total` requests (aggregated). A change
/// waits for its delay; a deployment at zero with requests waiting goes to
/// at least one at once (the cold start); a step down to zero passes
/// through one.
uint32_t autoscale(const autoscaling_config& cfg, autoscaling_state& st,
                   double total, uint32_t current, uint32_t running,
                   autoscaling_clock::time_point now) noexcept;

} // namespace actorserve
