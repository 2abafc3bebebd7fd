#include "actorserve/batching.hpp"

#include <algorithm>
#include <numeric>

namespace actorserve {

namespace detail {

batch_metrics make_batch_metrics(caf::local_actor* self,
                                 const std::string& name) {
  batch_metrics m;
  auto reg = metrics_of(self->home_system());
  if (!reg)
    return m;
  auto& ctx = replica_context_of(self);
  auto labels = replica_labels(ctx.deployment, ctx.replica_id, ctx.app);
  labels.emplace_back("function_name", name);
  const auto& ms = default_latency_buckets_ms();
  m.wait_ms = reg->make_histogram(
      "ray_serve_batch_wait_time_ms",
      "Time calls waited for their batch to start, in milliseconds", ms,
      labels);
  m.execution_ms =
      reg->make_histogram("ray_serve_batch_execution_time_ms",
                          "Time a batch ran, in milliseconds", ms, labels);
  m.size = reg->make_histogram(
      "ray_serve_actual_batch_size", "Calls in each batch run",
      {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}, labels);
  m.utilization =
      reg->make_histogram("ray_serve_batch_utilization_percent",
                          "Each batch's size as a percentage of max_batch_size",
                          {10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, labels);
  m.queue_length = reg->make_gauge("ray_serve_batch_queue_length",
                                   "Calls waiting for a batch", labels);
  return m;
}

} // namespace detail

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

namespace detail {

batcher_base::~batcher_base() = default;

caf::error batch_length_error(size_t inputs, size_t outputs) {
  return make_error(errc::internal,
                    "the batch handler returned " + std::to_string(outputs) +
                        " results for " + std::to_string(inputs) + " inputs");
}

uint64_t add_batcher(caf::local_actor* self, std::weak_ptr<batcher_base> b) {
  return user_plane_of(self).add_batcher(std::move(b));
}

uint64_t user_plane::add_batcher(std::weak_ptr<batcher_base> b) {
  auto id = next_batcher_++;
  batchers_.emplace(id, std::move(b));
  return id;
}

void user_plane::batch_tick(uint64_t id) {
  auto i = batchers_.find(id);
  if (i == batchers_.end())
    return;
  if (auto b = i->second.lock())
    b->tick();
  else
    batchers_.erase(i);
}

} // namespace detail

} // namespace actorserve
