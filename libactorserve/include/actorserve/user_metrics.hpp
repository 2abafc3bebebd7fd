/// @file
/// Metrics that user code defines (Ray Serve's `ray.serve.metrics`
/// Counter, Gauge and Histogram): made in a deployment's constructor, tagged
/// with its `deployment`, `replica` and `application` automatically, and
/// rendered with the framework's at `GET /-/metrics` on the admin API.
///
/// ```cpp
/// auto hits = make_counter(self, "model_cache_hits_total", "Cache hits",
///                          {{"model", "resnet"}});
/// auto lat = make_histogram(self, "model_infer_ms", "Inference time, ms");
/// ...
/// hits.inc();
/// lat.observe(3.2);
/// ```
///
/// With metrics off (`--no-metrics`) they are no-ops. A bad name, a bad
/// label or a name already used by another kind throws
/// `std::invalid_argument` (in a constructor: the replica fails to start,
/// with that message in status).
#pragma once

#include <string>
#include <vector>

#include "actorserve/metrics.hpp"
#include "actorserve/replica_api.hpp"

namespace actorserve {

namespace detail {

template <class Self>
metric_labels user_labels(Self* self, metric_labels extra) {
  auto& ctx = replica_context_of(self);
  auto labels = replica_labels(ctx.deployment, ctx.replica_id, ctx.app);
  labels.insert(labels.end(), extra.begin(), extra.end());
  return labels;
}

} // namespace detail

/// A counter of this replica (`name` should end in `_total`).
template <class Self>
counter make_counter(Self* self, const std::string& name,
                     const std::string& help, metric_labels extra = {}) {
  auto reg = metrics_of(self->home_system());
  if (!reg)
    return {};
  return reg->make_counter(name, help,
                           detail::user_labels(self, std::move(extra)));
}

/// A gauge of this replica; rendered while the returned handle lives.
template <class Self>
gauge make_gauge(Self* self, const std::string& name, const std::string& help,
                 metric_labels extra = {}) {
  auto reg = metrics_of(self->home_system());
  if (!reg)
    return {};
  return reg->make_gauge(name, help,
                         detail::user_labels(self, std::move(extra)));
}

/// A histogram of this replica over `bounds` (the latency buckets, in
/// ms, by default).
template <class Self>
histogram
make_histogram(Self* self, const std::string& name, const std::string& help,
               std::vector<double> bounds = default_latency_buckets_ms(),
               metric_labels extra = {}) {
  auto reg = metrics_of(self->home_system());
  if (!reg)
    return {};
  return reg->make_histogram(name, help, std::move(bounds),
                             detail::user_labels(self, std::move(extra)));
}

} // namespace actorserve
