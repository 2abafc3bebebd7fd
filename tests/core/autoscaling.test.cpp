// The autoscaling policy and the update rules as pure functions of plain
// data: no actors, no clocks but the ones the tests make up.
#include <catch2/catch.hpp>

#include "actorserve/autoscaling.hpp"
#include "policy/rollout.hpp"
#include "demo_scaling.hpp"

using namespace actorserve;
using namespace std::chrono_literals;

namespace {

autoscaling_clock::time_point t0() {
  return autoscaling_clock::time_point{} + 1000s;
}

} // namespace

TEST_CASE("the autoscaling config has Ray Serve's defaults", "[autoscaling]") {
  autoscaling_config cfg;
  CHECK(cfg.min_replicas == 1);
  CHECK(cfg.max_replicas == 1);
  CHECK_FALSE(cfg.initial_replicas.has_value());
  CHECK(cfg.target_ongoing_requests == 2.0);
  CHECK(cfg.upscale_delay == 30s);
  CHECK(cfg.downscale_delay == 600s);
  CHECK(cfg.upscaling_factor == 1.0);
  CHECK(cfg.downscaling_factor == 1.0);
  CHECK(cfg.look_back_period == 30s);
  CHECK(cfg.aggregation_function == aggregation::mean);
  CHECK(initial_target(cfg) == 1);
  cfg.min_replicas = 0;
  CHECK(initial_target(cfg) == 1); // something to check the deployment with
  cfg.initial_replicas = 3;
  CHECK(initial_target(cfg) == 3);
}

TEST_CASE("desired replicas: ceil(total / target), factors, bounds",
          "[autoscaling]") {
  auto cfg = test::demo_scaling();
  CHECK(desired_replicas(cfg, 0, 1) == 1);   // min bound
  CHECK(desired_replicas(cfg, 4, 1) == 2);   // 4 / 2
  CHECK(desired_replicas(cfg, 5, 2) == 3);   // ceil(2.5)
  CHECK(desired_replicas(cfg, 6, 3) == 3);   // exact: no extra replica
  CHECK(desired_replicas(cfg, 100, 2) == 4); // max bound
  CHECK(desired_replicas(cfg, 3, 0) == 2);   // from zero: no factor
  cfg.min_replicas = 0;
  CHECK(desired_replicas(cfg, 0, 2) == 0);
  // A factor scales the step from where the deployment is.
  cfg.min_replicas = 1;
  cfg.max_replicas = 100;
  cfg.upscaling_factor = 0.5;
  CHECK(desired_replicas(cfg, 16, 2) == 5); // 2 * (1 + (4 - 1) * 0.5)
  cfg.downscaling_factor = 0.5;
  CHECK(desired_replicas(cfg, 2, 8) == 5); // 8 * (1 + (0.125 - 1) * 0.5)
}

TEST_CASE("the look-back window aggregates by mean, max or min",
          "[autoscaling]") {
  load_window w;
  auto look = 2s;
  record_sample(w, {t0(), 4}, look);
  record_sample(w, {t0() + 1s, 0}, look);
  auto now = t0() + 2s;
  // 4 for one second, 0 for one: a time-weighted mean of 2.
  CHECK(aggregate_window(w, now, look, aggregation::mean) == Approx(2.0));
  CHECK(aggregate_window(w, now, look, aggregation::max) == 4);
  CHECK(aggregate_window(w, now, look, aggregation::min) == 0);
  // Later, the old sample falls out of the window.
  record_sample(w, {t0() + 4s, 6}, look);
  now = t0() + 5s;
  CHECK(w.size() == 2); // the 0 still covers the window's start
  CHECK(aggregate_window(w, now, look, aggregation::mean) == Approx(3.0));
  CHECK(aggregate_window(w, now, look, aggregation::max) == 6);
  CHECK(aggregate_window(w, now, look, aggregation::min) == 0);
  CHECK(aggregate_window(load_window{}, now, look, aggregation::mean) == 0);
}

TEST_CASE("a scale-up waits for the upscale delay, a scale-down for the "
          "downscale delay",
          "[autoscaling]") {
  auto cfg = test::demo_scaling();
  autoscaling_state st;
  // Load 8 wants 4 replicas; the wish must last a second.
  CHECK(autoscale(cfg, st, 8, 1, 1, t0()) == 1);
  CHECK(autoscale(cfg, st, 8, 1, 1, t0() + 900ms) == 1);
  CHECK(autoscale(cfg, st, 8, 1, 1, t0() + 1s) == 4);
  // A dip resets the wait.
  CHECK(autoscale(cfg, st, 8, 1, 1, t0() + 2s) == 1);
  CHECK(autoscale(cfg, st, 2, 1, 1, t0() + 2500ms) == 1);
  CHECK(autoscale(cfg, st, 8, 1, 1, t0() + 3s) == 1);
  CHECK(autoscale(cfg, st, 8, 1, 1, t0() + 3900ms) == 1);
  CHECK(autoscale(cfg, st, 8, 1, 1, t0() + 4s) == 4);
  // Down needs three seconds of low load.
  autoscaling_state down;
  CHECK(autoscale(cfg, down, 0, 4, 4, t0()) == 4);
  CHECK(autoscale(cfg, down, 0, 4, 4, t0() + 2999ms) == 4);
  CHECK(autoscale(cfg, down, 0, 4, 4, t0() + 3s) == 1);
}

TEST_CASE("scale to zero passes through one, and a request starts one at once",
          "[autoscaling]") {
  auto cfg = test::demo_scaling();
  cfg.min_replicas = 0;
  autoscaling_state st;
  CHECK(autoscale(cfg, st, 0, 3, 3, t0()) == 3);
  CHECK(autoscale(cfg, st, 0, 3, 3, t0() + 3s) == 1);
  CHECK(autoscale(cfg, st, 0, 1, 1, t0() + 4s) == 1);
  CHECK(autoscale(cfg, st, 0, 1, 1, t0() + 7s) == 0);
  CHECK(autoscale(cfg, st, 0, 0, 0, t0() + 8s) == 0);
  // A queued request at zero: no delay.
  CHECK(autoscale(cfg, st, 1, 0, 0, t0() + 9s) == 1);
  CHECK(autoscale(cfg, st, 7, 0, 0, t0() + 9s) == 4);
}

TEST_CASE("updates are classified as Ray Serve does", "[rollout]") {
  deployment_config a;
  a.name = "D";
  auto b = a;
  CHECK(classify_update(a, b, false) == update_kind::none);
  b.num_replicas = 3;
  CHECK(classify_update(a, b, false) == update_kind::lightweight);
  b = a;
  b.max_queued_requests = 10;
  CHECK(classify_update(a, b, false) == update_kind::lightweight);
  b = a;
  b.user_config = R"({"x": 1})";
  CHECK(classify_update(a, b, false) == update_kind::reconfigure);
  b = a;
  b.max_ongoing_requests = 9;
  CHECK(classify_update(a, b, false) == update_kind::reconfigure);
  b = a;
  b.autoscaling = autoscaling_config{};
  CHECK(classify_update(a, b, false) == update_kind::reconfigure);
  b = a;
  b.version = "2";
  CHECK(classify_update(a, b, false) == update_kind::heavyweight);
  // New code without a version is new; with the same version it is not.
  CHECK(classify_update(a, a, true) == update_kind::heavyweight);
  a.version = "1";
  b = a;
  CHECK(classify_update(a, b, true) == update_kind::none);
  b.user_config = "[1]";
  CHECK(classify_update(a, b, true) == update_kind::reconfigure);
}

TEST_CASE("a rolling update replaces at most 20 % at a time and never drops "
          "below the target",
          "[rollout]") {
  auto target = GENERATE(uint32_t{1}, uint32_t{2}, uint32_t{5}, uint32_t{10},
                         uint32_t{23});
  CAPTURE(target);
  auto batch = rollout_batch(target);
  CHECK(batch == std::max<uint32_t>(1, target / 5));
  rollout_view v;
  v.target = target;
  v.old_ready = target;
  // Simulate: each round, the new replicas that started become ready.
  for (int round = 0; round < 100 && (v.old_ready > 0 || v.new_starting > 0);
       ++round) {
    auto step = plan_rollout(v);
    CHECK(step.stop_old_starting == 0);
    v.old_ready -= step.stop_old_ready;
    v.new_starting += step.start_new;
    CHECK(v.old_ready + v.new_ready >= target); // capacity kept
    CHECK(v.new_starting <= batch);             // 20 % at a time
    CHECK(v.old_ready + v.new_ready + v.new_starting <= target + batch);
    v.new_ready += v.new_starting;
    v.new_starting = 0;
  }
  CHECK(v.old_ready == 0);
  CHECK(v.new_ready == target);
  // The last step drained the last old replicas.
  auto last = plan_rollout(v);
  CHECK(last.start_new == 0);
  CHECK(last.stop_old_ready == 0);
}

TEST_CASE("a rollout below capacity starts what is missing at once",
          "[rollout]") {
  rollout_view v;
  v.target = 10;
  v.old_ready = 4; // six died meanwhile
  v.old_starting = 1;
  auto step = plan_rollout(v);
  CHECK(step.stop_old_starting == 1);
  CHECK(step.stop_old_ready == 0);
  CHECK(step.start_new == 6);
}
