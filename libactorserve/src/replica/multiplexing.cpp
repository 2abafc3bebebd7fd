// The replica side of multiplexing: the model metrics of a replica.
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

} // namespace actorserve
