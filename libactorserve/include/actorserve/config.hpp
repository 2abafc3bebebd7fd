/// @file
/// Per-deployment configuration and its validation.
///
/// Defaults follow Ray Serve: `max_ongoing_requests` 5, unlimited queue,
/// health checks every 10 s with a 30 s timeout, 20 s graceful shutdown.
/// `validate` rejects bad values at start-up with a message naming the field.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <caf/error.hpp>

namespace actorserve {

/// Where a replica's user code runs.
enum class execution : uint8_t {
  /// The user actor runs on a thread of its own (the replica thread), apart
  /// from
  /// the system plane. Blocking user code can never delay routing or health
  /// checks. The default.
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
  /// Number of replicas to run. Must be at least 1.
  uint32_t num_replicas = 1;
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
  /// How many times in a row a replica's constructor may fail before the
  /// deployment gives up (Ray Serve's limit: the smaller of this and 3 per
  /// replica). Retries back off exponentially. >= 1.
  uint32_t max_constructor_retry_count = 20;
  /// Where user code runs.
  execution mode = execution::isolated;
};

/// Checks every field. Returns `errc::invalid_config` with a message naming
/// the offending field, e.g.
/// "deployment 'Tokenizer': max_ongoing_requests must be >= 1 (got 0)".
caf::error validate(const deployment_config& cfg);

/// Serializes the config for CAF (used when configs cross nodes).
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, deployment_config& x) {
  return f(x.name, x.num_replicas, x.max_ongoing_requests,
           x.max_queued_requests, x.user_config, x.health_check_period,
           x.health_check_timeout, x.graceful_shutdown_timeout,
           x.max_constructor_retry_count, x.mode);
}

} // namespace actorserve
