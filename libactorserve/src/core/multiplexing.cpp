#include "actorserve/multiplexing.hpp"

namespace actorserve {

namespace detail {

gauge multiplex_metrics::registered(const std::string& id) const {
  if (!reg)
    return {};
  auto l = labels;
  l.emplace_back("model_id", id);
  auto g = reg->make_gauge("ray_serve_registered_multiplexed_model_id",
                           "1 for each model id a replica holds", std::move(l));
  g.set(1);
  return g;
}

multiplex_metrics make_multiplex_metrics(caf::local_actor* self) {
  multiplex_metrics m;
  m.reg = metrics_of(self->home_system());
  if (!m.reg)
    return m;
  auto& ctx = replica_context_of(self);
  m.labels = replica_labels(ctx.deployment, ctx.replica_id, ctx.app);
  auto& reg = *m.reg;
  const auto& ms = default_latency_buckets_ms();
  m.load_ms =
      reg.make_histogram("ray_serve_multiplexed_model_load_latency_ms",
                         "Time to load a model, in milliseconds", ms, m.labels);
  m.unload_ms = reg.make_histogram(
      "ray_serve_multiplexed_model_unload_latency_ms",
      "Time to unload a model, in milliseconds", ms, m.labels);
  m.loads = reg.make_counter("ray_serve_multiplexed_models_load_counter_total",
                             "Models loaded", m.labels);
  m.unloads =
      reg.make_counter("ray_serve_multiplexed_models_unload_counter_total",
                       "Models unloaded", m.labels);
  m.get_requests =
      reg.make_counter("ray_serve_multiplexed_get_model_requests_counter_total",
                       "Requests that asked the replica for a model", m.labels);
  m.num_models = reg.make_gauge("ray_serve_num_multiplexed_models",
                                "Models the replica holds", m.labels);
  return m;
}

} // namespace detail

caf::error validate(const multiplex_options& opts) {
  if (opts.max_num_models_per_replica == 0 ||
      opts.max_num_models_per_replica < -1)
    return make_error(errc::invalid_config,
                      "multiplex option max_num_models_per_replica must be "
                      "-1 (no limit) or >= 1 (got " +
                          std::to_string(opts.max_num_models_per_replica) +
                          ")");
  return {};
}

std::vector<std::string>
models_to_evict(const std::vector<std::string>& recent_first,
                int32_t capacity) {
  if (capacity < 0 || recent_first.size() <= static_cast<size_t>(capacity))
    return {};
  return {recent_first.begin() + capacity, recent_first.end()};
}

} // namespace actorserve
