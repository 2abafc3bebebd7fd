// The replica side of @serve.batch: the batch metrics, and the user plane
// keeping its batchers for their timers.
#include "actorserve/batching.hpp"
#include "replica/user_plane.hpp"

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
