// Batch planning: which waiting calls form the next batch, and when to
// look again (a pure function of the queue and the options).
#include "actorserve/batch_plan.hpp"
#include "actorserve/error.hpp"

#include <algorithm>
#include <numeric>

namespace actorserve {

caf::error validate(const batch_options& opts) {
  auto bad = [](const char* field, const std::string& what) {
    return make_error(errc::invalid_config,
                      std::string{"batch option "} + field + " " + what);
  };
  if (opts.max_batch_size < 1)
    return bad("max_batch_size", "must be >= 1");
  if (opts.batch_wait_timeout.count() < 0)
    return bad("batch_wait_timeout", "must be >= 0");
  if (opts.max_concurrent_batches < 1)
    return bad("max_concurrent_batches", "must be >= 1");
  if (opts.queue_timeout.count() < 0)
    return bad("queue_timeout", "must be >= 0");
  if (opts.batch_timeout.count() < 0)
    return bad("batch_timeout", "must be >= 0");
  return {};
}

batch_plan plan_batch(const std::vector<waiting_call>& queue,
                      const batch_options& opts, uint32_t running,
                      batch_clock::time_point now) {
  batch_plan plan;
  std::vector<size_t> live;
  auto soonest = batch_clock::time_point::max();
  for (size_t i = 0; i < queue.size(); ++i) {
    auto& c = queue[i];
    if (c.cancelled) {
      plan.cancelled.push_back(i);
    } else if (c.expires <= now) {
      plan.expired.push_back(i);
    } else {
      live.push_back(i);
      soonest = std::min(soonest, c.expires);
    }
  }
  if (live.empty())
    return plan;
  // Highest priority first; among equals, the oldest.
  std::stable_sort(live.begin(), live.end(), [&](size_t x, size_t y) {
    if (queue[x].priority != queue[y].priority)
      return queue[x].priority > queue[y].priority;
    return queue[x].arrived < queue[y].arrived;
  });
  auto oldest = batch_clock::time_point::max();
  for (auto i : live)
    oldest = std::min(oldest, queue[i].arrived);
  auto due = oldest + opts.batch_wait_timeout;
  auto full = live.size() >= opts.max_batch_size;
  if (running < opts.max_concurrent_batches && (full || now >= due)) {
    auto n = std::min<size_t>(live.size(), opts.max_batch_size);
    plan.batch.assign(live.begin(), live.begin() + static_cast<ptrdiff_t>(n));
    return plan;
  }
  // Nothing to run yet: look again when the wait ends (if a batch could
  // start) or when the first call expires.
  auto wake = soonest;
  if (running < opts.max_concurrent_batches)
    wake = std::min(wake, due);
  if (wake != batch_clock::time_point::max())
    plan.wake_at = wake;
  return plan;
}

} // namespace actorserve
