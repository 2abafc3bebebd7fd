#include "policy/rollout.hpp"

#include <algorithm>
#include <cmath>

namespace actorserve {

const char* to_string(update_kind x) noexcept {
  switch (x) {
  case update_kind::none:
    return "none";
  case update_kind::lightweight:
    return "lightweight";
  case update_kind::reconfigure:
    return "reconfigure";
  case update_kind::heavyweight:
    return "heavyweight";
  }
  return "none";
}

update_kind classify_update(const deployment_config& old_cfg,
                            const deployment_config& new_cfg,
                            bool new_code) noexcept {
  auto same_version =
      !new_cfg.version.empty() && new_cfg.version == old_cfg.version;
  // Like Ray's ray_actor_options and max_replicas_per_node: where a
  // replica may run changes only with new replicas.
  if (new_cfg.version != old_cfg.version || (new_code && !same_version) ||
      new_cfg.mode != old_cfg.mode || new_cfg.num_cpus != old_cfg.num_cpus ||
      new_cfg.resources != old_cfg.resources ||
      new_cfg.max_replicas_per_node != old_cfg.max_replicas_per_node)
    return update_kind::heavyweight;
  if (new_cfg.user_config != old_cfg.user_config ||
      new_cfg.max_ongoing_requests != old_cfg.max_ongoing_requests ||
      new_cfg.autoscaling != old_cfg.autoscaling)
    return update_kind::reconfigure;
  if (new_cfg.num_replicas != old_cfg.num_replicas ||
      new_cfg.max_queued_requests != old_cfg.max_queued_requests ||
      new_cfg.health_check_period != old_cfg.health_check_period ||
      new_cfg.health_check_timeout != old_cfg.health_check_timeout ||
      new_cfg.graceful_shutdown_timeout != old_cfg.graceful_shutdown_timeout ||
      new_cfg.startup_timeout != old_cfg.startup_timeout ||
      new_cfg.reconfigure_timeout != old_cfg.reconfigure_timeout ||
      new_cfg.max_constructor_retry_count !=
          old_cfg.max_constructor_retry_count)
    return update_kind::lightweight;
  return update_kind::none;
}

uint32_t rollout_batch(uint32_t target) noexcept {
  auto n = static_cast<uint32_t>(std::floor(target * rolling_update_fraction));
  return std::max<uint32_t>(n, 1);
}

rollout_step plan_rollout(const rollout_view& v) noexcept {
  rollout_step step;
  step.stop_old_starting = v.old_starting;
  // Drain old replicas only where ready ones exceed the target.
  auto ready = v.old_ready + v.new_ready;
  if (ready > v.target)
    step.stop_old_ready = std::min(v.old_ready, ready - v.target);
  auto old_left = v.old_ready - step.stop_old_ready;
  auto have_new = v.new_ready + v.new_starting;
  if (have_new >= v.target)
    return step;
  auto needed = v.target - have_new;
  // Below target capacity, the missing replicas start regardless.
  auto capacity = old_left + v.new_ready;
  auto deficit = capacity < v.target ? v.target - capacity : 0;
  auto allowed = std::max(rollout_batch(v.target), deficit);
  if (allowed > v.new_starting)
    step.start_new = std::min(needed, allowed - v.new_starting);
  return step;
}

} // namespace actorserve
