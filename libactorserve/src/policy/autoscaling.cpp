#include "actorserve/autoscaling.hpp"

#include <algorithm>
#include <cmath>

namespace actorserve {

const char* to_string(aggregation x) noexcept {
  switch (x) {
  case aggregation::mean:
    return "mean";
  case aggregation::max:
    return "max";
  case aggregation::min:
    return "min";
  }
  return "mean";
}

uint32_t initial_target(const autoscaling_config& cfg) noexcept {
  auto n = cfg.initial_replicas.value_or(cfg.min_replicas);
  return std::max<uint32_t>(n, 1);
}

void record_sample(load_window& w, load_sample s,
                   std::chrono::milliseconds look_back) {
  w.push_back(s);
  auto start = s.at - look_back;
  // A sample holds until the next one: keep the last one that began before
  // the window, since it still covers its start.
  while (w.size() > 1 && w[1].at <= start)
    w.pop_front();
}

double aggregate_window(const load_window& w, autoscaling_clock::time_point now,
                        std::chrono::milliseconds look_back, aggregation fn) {
  if (w.empty())
    return 0;
  auto start = now - look_back;
  double weighted = 0;
  double lo = 0;
  double hi = 0;
  bool any = false;
  autoscaling_clock::duration covered{0};
  for (size_t i = 0; i < w.size(); ++i) {
    auto from = std::max(w[i].at, start);
    auto to = i + 1 < w.size() ? w[i + 1].at : now;
    if (to < from || (to == from && i + 1 < w.size()))
      continue; // outside the window, or replaced at once
    auto span = to - from;
    weighted += w[i].total * std::chrono::duration<double>(span).count();
    covered += span;
    lo = any ? std::min(lo, w[i].total) : w[i].total;
    hi = any ? std::max(hi, w[i].total) : w[i].total;
    any = true;
  }
  if (!any)
    return 0;
  switch (fn) {
  case aggregation::max:
    return hi;
  case aggregation::min:
    return lo;
  case aggregation::mean:
    break;
  }
  auto secs = std::chrono::duration<double>(covered).count();
  // A single sample taken just now covers no time: it is the mean.
  return secs > 0 ? weighted / secs : w.back().total;
}

uint32_t desired_replicas(const autoscaling_config& cfg, double total,
                          uint32_t running) noexcept {
  double want = 0;
  if (running == 0) {
    want = total / cfg.target_ongoing_requests;
  } else {
    auto ratio = total / (cfg.target_ongoing_requests * running);
    auto factor = ratio >= 1 ? cfg.upscaling_factor : cfg.downscaling_factor;
    want = running * (1 + (ratio - 1) * factor);
  }
  // Rounding noise (2.0000000001) must not add a replica.
  auto n = want <= 0 ? 0.0 : std::ceil(want - 1e-9);
  n = std::clamp(n, static_cast<double>(cfg.min_replicas),
                 static_cast<double>(cfg.max_replicas));
  return static_cast<uint32_t>(n);
}

uint32_t autoscale(const autoscaling_config& cfg, autoscaling_state& st,
                   double total, uint32_t current, uint32_t running,
                   autoscaling_clock::time_point now) noexcept {
  auto desired = desired_replicas(cfg, total, running);
  if (current == 0) {
    st = {};
    // The cold start does not wait: a request is waiting for a replica.
    return total > 0 ? std::max<uint32_t>(desired, 1) : desired;
  }
  if (desired > current) {
    st.down_since.reset();
    if (!st.up_since)
      st.up_since = now;
    if (now - *st.up_since < cfg.upscale_delay)
      return current;
    st = {};
    return desired;
  }
  if (desired < current) {
    st.up_since.reset();
    if (!st.down_since)
      st.down_since = now;
    if (now - *st.down_since < cfg.downscale_delay)
      return current;
    st = {};
    // To zero in two steps: n -> 1, then 1 -> 0 after another delay.
    return desired == 0 && current > 1 ? 1 : desired;
  }
  st = {};
  return current;
}

} // namespace actorserve
