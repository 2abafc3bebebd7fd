/// @file
/// Metrics in the Prometheus text format, with Ray Serve's names and labels.
///
/// Each `serve` owns one `metrics_registry` (unless `--no-metrics`), which
/// the admin API renders at `GET /-/metrics`. The framework counts HTTP
/// requests per ingress thread and calls per replica; user code adds its
/// own counters, gauges and histograms, tagged with its deployment, replica
/// and application:
///
/// ```cpp
/// model_actor::behavior_type model(model_actor::pointer self) {
///   auto hits = actorserve::make_counter(self, "model_cache_hits_total",
///                                        "Cache hits of the model");
///   return {[=](const std::string& text) { hits.inc(); ... }};
/// }
/// ```
///
/// Counting costs the hot path no lock and no shared cache line: every
/// writer (an I/O thread, a replica) owns its cells, which are plain
/// atomics; cells with the same name and labels are summed when the
/// registry is rendered. Creating a cell takes the registry's mutex, once.
///
/// Thread safety: every member of every type here may be called from any
/// thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <caf/fwd.hpp>

namespace actorserve {

/// Label names and values, in the order they are rendered.
using metric_labels = std::vector<std::pair<std::string, std::string>>;

/// Buckets of the latency histograms, in milliseconds: from 0.1 ms (the
/// framework's own overhead is microseconds) to 60 s.
const std::vector<double>& default_latency_buckets_ms();

namespace detail {

/// Adds `x` to `a` (a CAS loop: C++17 has no fetch_add for doubles).
inline void atomic_add(std::atomic<double>& a, double x) noexcept {
  auto cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + x, std::memory_order_relaxed))
    ; // cur was reloaded
}

/// One writer's share of a counter or gauge; a cache line of its own.
struct alignas(64) value_cell {
  std::atomic<double> value{0};
};

/// One writer's share of a histogram: per-bucket counts (not cumulative;
/// the last one is +Inf) and the sum of observations.
struct alignas(64) histogram_cell {
  explicit histogram_cell(std::shared_ptr<const std::vector<double>> b);
  std::shared_ptr<const std::vector<double>> bounds;
  std::unique_ptr<std::atomic<uint64_t>[]> counts;
  std::atomic<double> sum{0};

  void observe(double x) noexcept;
};

} // namespace detail

/// A monotonic counter. Default-constructed (metrics off): does nothing.
class counter {
public:
  counter() = default;
  explicit counter(std::shared_ptr<detail::value_cell> c)
      : cell_(std::move(c)) {}
  void inc(double x = 1) const noexcept {
    if (cell_ && x > 0)
      detail::atomic_add(cell_->value, x);
  }
  explicit operator bool() const noexcept { return cell_ != nullptr; }

private:
  std::shared_ptr<detail::value_cell> cell_;
};

/// A value that goes up and down.
class gauge {
public:
  gauge() = default;
  explicit gauge(std::shared_ptr<detail::value_cell> c) : cell_(std::move(c)) {}
  void set(double x) const noexcept {
    if (cell_)
      cell_->value.store(x, std::memory_order_relaxed);
  }
  void add(double x) const noexcept {
    if (cell_)
      detail::atomic_add(cell_->value, x);
  }
  explicit operator bool() const noexcept { return cell_ != nullptr; }

private:
  std::shared_ptr<detail::value_cell> cell_;
};

/// A distribution over fixed buckets.
class histogram {
public:
  histogram() = default;
  explicit histogram(std::shared_ptr<detail::histogram_cell> c)
      : cell_(std::move(c)) {}
  void observe(double x) const noexcept {
    if (cell_)
      cell_->observe(x);
  }
  explicit operator bool() const noexcept { return cell_ != nullptr; }

private:
  std::shared_ptr<detail::histogram_cell> cell_;
};

class metrics_registry {
public:
  metrics_registry();
  ~metrics_registry();
  metrics_registry(const metrics_registry&) = delete;
  metrics_registry& operator=(const metrics_registry&) = delete;

  /// A new cell of counter `name` (a name ending in `_total`, as Prometheus
  /// wants). Cells with equal labels are summed when rendered; the
  /// registry keeps a counter's cells after their owners are gone, so
  /// totals never go down, except a replica's (labels with `replica`, as
  /// `detail::replica_labels` makes them): replica ids are never reused, so
  /// once no handle holds such a cell its series leaves, as a Ray Serve
  /// replica's does with its process, and autoscaling's churn does not grow
  /// the registry. Histograms follow the same rule. Throws
  /// `std::invalid_argument` on a bad name or label, or a name registered
  /// as another kind.
  counter make_counter(const std::string& name, const std::string& help,
                       metric_labels labels);

  /// A new cell of gauge `name`; rendered while the returned handle (or a
  /// copy) lives. Equal labels are summed.
  gauge make_gauge(const std::string& name, const std::string& help,
                   metric_labels labels);

  /// A new cell of histogram `name` with `bounds` (ascending upper bounds;
  /// +Inf is implied). Every cell of a name must use the same bounds.
  histogram make_histogram(const std::string& name, const std::string& help,
                           std::vector<double> bounds, metric_labels labels);

  /// A gauge computed when the registry is rendered, while `owner` lives:
  /// framework state that already exists (a replica's ongoing requests).
  void add_gauge_fn(const std::string& name, const std::string& help,
                    metric_labels labels, std::weak_ptr<const void> owner,
                    std::function<double()> read);

  /// Every metric, in the Prometheus text exposition format 0.0.4.
  std::string render() const;

private:
  struct state;
  std::unique_ptr<state> st_;
};

using metrics_ptr = std::shared_ptr<metrics_registry>;

/// The registry of the `serve` that runs `sys`; null with metrics off.
metrics_ptr metrics_of(caf::actor_system& sys);

namespace detail {

/// Makes `reg` the registry of `sys` (null removes it); `serve` calls it.
void set_metrics_of(caf::actor_system& sys, metrics_ptr reg);

/// The labels of a replica's own metrics.
metric_labels replica_labels(const std::string& deployment, uint64_t replica,
                             const std::string& app);

} // namespace detail

} // namespace actorserve
