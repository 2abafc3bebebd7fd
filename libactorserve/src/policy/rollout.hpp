/// @file
/// Updates of a running deployment, as pure functions of plain data: how a
/// config change is applied (Ray Serve's update classification) and the
/// steps of a rolling update. The controller wires them to replicas; tests
/// drive them with plain values.
#pragma once

#include <cstdint>

#include "actorserve/config.hpp"

namespace actorserve {

/// What a config change costs the running replicas (Ray Serve's row 27).
enum class update_kind : uint8_t {
  /// Nothing changed.
  none,
  /// Callers and the controller only (`num_replicas`, `max_queued_requests`,
  /// the health-check fields, `graceful_shutdown_timeout`, the retry
  /// count): no replica is touched.
  lightweight,
  /// Live replicas are told in place (`user_config` through the
  /// `reconfigure` hook, `max_ongoing_requests` at their gates,
  /// `autoscaling_config` at the controller); ids stay the same.
  reconfigure,
  /// New replicas replace the old ones by a rolling update (`version`, or
  /// new code).
  heavyweight,
};

const char* to_string(update_kind x) noexcept;

/// Classifies the change from `old_cfg` to `new_cfg`. `new_code` says the
/// deployment was bound anew (new code, unless both configs name the same
/// non-empty `version`).
update_kind classify_update(const deployment_config& old_cfg,
                            const deployment_config& new_cfg,
                            bool new_code) noexcept;

/// The share of the target replaced at a time (Ray Serve's 20 %).
constexpr double rolling_update_fraction = 0.2;

/// How many new replicas may start at once: 20 % of `target`, at least 1.
uint32_t rollout_batch(uint32_t target) noexcept;

/// A deployment's replicas during a rolling update, by code version.
struct rollout_view {
  uint32_t target = 0;
  uint32_t old_ready = 0;
  uint32_t old_starting = 0;
  uint32_t new_ready = 0;
  uint32_t new_starting = 0;
};

/// What to do next.
struct rollout_step {
  /// New replicas to start.
  uint32_t start_new = 0;
  /// Old replicas still starting: they serve nothing, stop them.
  uint32_t stop_old_starting = 0;
  /// Old ready replicas to drain (after their callers stop sending).
  uint32_t stop_old_ready = 0;
};

/// The next step: an old replica drains only once a new one is ready in its
/// place (ready replicas never drop below `target`, or below what there
/// was), and at most `rollout_batch(target)` new replicas start at once
/// (more only while the deployment is below target capacity anyway).
rollout_step plan_rollout(const rollout_view& v) noexcept;

} // namespace actorserve
