/// @file
/// Per-deployment configuration and its validation.
///
/// Defaults follow Ray Serve: `max_ongoing_requests` 5, unlimited queue,
/// health checks every 10 s with a 30 s timeout, 20 s graceful shutdown.
/// `validate` rejects bad values at start-up with a message naming the field.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include <caf/detail/scope_guard.hpp>
#include <caf/error.hpp>

#include "actorserve/autoscaling.hpp"

namespace actorserve {

/// Where a replica's user code runs.
enum class execution : uint8_t {
  /// The user actor runs on the user plane's thread pool, apart from the
  /// system plane. Blocking user code can never delay routing or health
  /// checks, and the pool adds a thread while one is blocked, so other
  /// replicas go on. The default.
  isolated,
  /// The user actor runs on the system plane's scheduler, one hop cheaper.
  /// Only for handlers that never block; the analogue of Ray Serve's
  /// `RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD=0`. Also what deterministic
  /// tests use, so that everything runs under CAF's test coordinator.
  inline_,
};

const char* to_string(execution x) noexcept;

/// The configuration of one deployment.
struct deployment_config {
  /// Unique within an application. Must be non-empty and use only
  /// `[A-Za-z0-9_-]`.
  std::string name;
  /// Number of replicas to run. Must be at least 1. Ignored when
  /// `autoscaling` is set.
  uint32_t num_replicas = 1;
  /// Set: the controller scales the deployment between the bounds by its
  /// load (autoscaling.hpp).
  std::optional<autoscaling_config> autoscaling;
  /// The code's version. Replicas of another version are replaced by a
  /// rolling update; a redeploy that names the same non-empty version keeps
  /// the replicas (only config changes apply). Empty: every new `bind`
  /// counts as new code.
  std::string version;
  /// Most requests a replica runs at once; the replica rejects more. >= 1.
  uint32_t max_ongoing_requests = 5;
  /// Most requests the deployment's router queues while every replica is
  /// full; -1 means unlimited. Past the limit calls fail with `overloaded`.
  int64_t max_queued_requests = -1;
  /// JSON text delivered to each replica at start (see `user_config(self)`).
  /// Empty means null.
  std::string user_config;
  /// How often the controller probes each replica. > 0.
  std::chrono::milliseconds health_check_period{10'000};
  /// How long a probe may take before it counts as failed. > 0.
  std::chrono::milliseconds health_check_timeout{30'000};
  /// How long a stopping replica may take to finish in-flight work. >= 0.
  std::chrono::milliseconds graceful_shutdown_timeout{20'000};
  /// How long a replica's constructor may take. One that has not finished
  /// by then counts as a failed constructor: the replica is stopped and
  /// another started after the backoff (`max_constructor_retry_count`), so
  /// a constructor that hangs never holds a deploy forever. > 0.
  std::chrono::milliseconds startup_timeout{120'000};
  /// How long a replica's `reconfigure` hook (a new `user_config` applied
  /// in place) may take. One that has not returned by then is replaced: a
  /// new replica starts with the new config and the stuck one drains, so a
  /// hook that hangs never leaves the deployment UPDATING. > 0.
  std::chrono::milliseconds reconfigure_timeout{120'000};
  /// How many times in a row a replica's constructor may fail before the
  /// deployment gives up (Ray Serve's limit: the smaller of this and 3 per
  /// replica). Retries back off exponentially. >= 1.
  uint32_t max_constructor_retry_count = 20;
  /// Where user code runs.
  execution mode = execution::isolated;
  /// CPUs and custom resources each replica reserves on its node (Ray's
  /// `ray_actor_options` `num_cpus` and `resources`). A replica is an
  /// actor, not a process, so by default it reserves nothing; placement
  /// never exceeds a node's resources (placement.hpp). >= 0 each.
  double num_cpus = 0;
  std::map<std::string, double> resources;
  /// Most replicas of this deployment on one node, 1..100; 0: no cap.
  uint32_t max_replicas_per_node = 0;
};

/// Checks every field. Returns `errc::invalid_config` with a message naming
/// the offending field, e.g.
/// "deployment 'Tokenizer': max_ongoing_requests must be >= 1 (got 0)".
caf::error validate(const deployment_config& cfg);

/// Serializes the config for CAF (used when configs cross nodes).
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, autoscaling_config& x) {
  auto initial = static_cast<int64_t>(x.initial_replicas.value_or(0)) -
                 (x.initial_replicas ? 0 : 1);
  auto guard = caf::detail::make_scope_guard([&] {
    if (initial < 0)
      x.initial_replicas.reset();
    else
      x.initial_replicas = static_cast<uint32_t>(initial);
  });
  return f(x.min_replicas, initial, x.max_replicas, x.target_ongoing_requests,
           x.upscale_delay, x.downscale_delay, x.upscaling_factor,
           x.downscaling_factor, x.look_back_period, x.aggregation_function);
}

bool operator==(const autoscaling_config& x,
                const autoscaling_config& y) noexcept;

inline bool operator!=(const autoscaling_config& x,
                       const autoscaling_config& y) noexcept {
  return !(x == y);
}

/// Checks every field of `cfg`, as the field of deployment `name`.
caf::error validate(const std::string& name, const autoscaling_config& cfg);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, deployment_config& x) {
  bool autoscaled = x.autoscaling.has_value();
  auto scaling = x.autoscaling.value_or(autoscaling_config{});
  auto guard = caf::detail::make_scope_guard([&] {
    if (autoscaled)
      x.autoscaling = scaling;
    else
      x.autoscaling.reset();
  });
  return f(x.name, x.num_replicas, autoscaled, scaling, x.version,
           x.max_ongoing_requests, x.max_queued_requests, x.user_config,
           x.health_check_period, x.health_check_timeout,
           x.graceful_shutdown_timeout, x.max_constructor_retry_count, x.mode,
           x.num_cpus, x.resources, x.max_replicas_per_node,
           x.startup_timeout, x.reconfigure_timeout);
}

} // namespace actorserve
