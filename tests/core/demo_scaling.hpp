/// @file
/// The autoscaling config the tests share: the demo's (`GET /autoscale`),
/// with delays short enough to step through in virtual time.
#pragma once

#include <chrono>

#include "actorserve/autoscaling.hpp"

namespace test {

inline actorserve::autoscaling_config demo_scaling() {
  using namespace std::chrono_literals;
  actorserve::autoscaling_config cfg;
  cfg.min_replicas = 1;
  cfg.max_replicas = 4;
  cfg.target_ongoing_requests = 2;
  cfg.upscale_delay = 1s;
  cfg.downscale_delay = 3s;
  cfg.look_back_period = 2s;
  return cfg;
}

} // namespace test
