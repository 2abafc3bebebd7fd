#include "actorserve/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <stdexcept>

namespace actorserve {

const std::vector<double>& default_latency_buckets_ms() {
  static const std::vector<double> buckets{
      0.1, 0.25, 0.5, 1,    2.5,  5,    10,    25,    50,
      100, 250,  500, 1000, 2500, 5000, 10000, 30000, 60000};
  return buckets;
}

namespace detail {

histogram_cell::histogram_cell(std::shared_ptr<const std::vector<double>> b)
    : bounds(std::move(b)),
      counts(new std::atomic<uint64_t>[bounds->size() + 1]) {
  for (size_t i = 0; i <= bounds->size(); ++i)
    counts[i].store(0, std::memory_order_relaxed);
}

void histogram_cell::observe(double x) noexcept {
  auto& b = *bounds;
  auto i =
      static_cast<size_t>(std::lower_bound(b.begin(), b.end(), x) - b.begin());
  counts[i].fetch_add(1, std::memory_order_relaxed);
  atomic_add(sum, x);
}

} // namespace detail

namespace {

enum class kind { counter, gauge, histogram };

const char* kind_name(kind k) {
  switch (k) {
  case kind::counter:
    return "counter";
  case kind::gauge:
    return "gauge";
  default:
    return "histogram";
  }
}

bool valid_name(const std::string& s, bool colon) {
  if (s.empty())
    return false;
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok)
      return false;
  }
  return true;
}

void escape_into(std::string& out, const std::string& s, bool quote) {
  for (auto c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (quote && c == '"')
      out += "\\\"";
    else
      out += c;
  }
}

std::string format_number(double x) {
  if (std::isnan(x))
    return "NaN";
  if (std::isinf(x))
    return x > 0 ? "+Inf" : "-Inf";
  char buf[32];
  if (x == std::floor(x) && std::fabs(x) < 1e15)
    std::snprintf(buf, sizeof(buf), "%.0f", x);
  else
    std::snprintf(buf, sizeof(buf), "%.17g", x);
  return buf;
}

/// `{a="1",b="2"}` with `extra` (le="...") last; empty for no labels.
std::string label_text(const metric_labels& labels,
                       const std::string& extra = {}) {
  if (labels.empty() && extra.empty())
    return {};
  std::string out = "{";
  for (auto& [k, v] : labels) {
    if (out.size() > 1)
      out += ',';
    out += k;
    out += "=\"";
    escape_into(out, v, true);
    out += '"';
  }
  if (!extra.empty()) {
    if (out.size() > 1)
      out += ',';
    out += extra;
  }
  out += '}';
  return out;
}

} // namespace

struct metrics_registry::state {
  struct family {
    std::string name;
    std::string help;
    kind k;
    std::shared_ptr<const std::vector<double>> bounds;
  };
  struct value_entry {
    size_t family;
    metric_labels labels;
    std::shared_ptr<detail::value_cell> strong; // counters
    std::weak_ptr<detail::value_cell> weak;     // gauges
  };
  struct histogram_entry {
    size_t family;
    metric_labels labels;
    std::shared_ptr<detail::histogram_cell> cell;
  };
  struct fn_entry {
    size_t family;
    metric_labels labels;
    std::weak_ptr<const void> owner;
    std::function<double()> read;
  };

  mutable std::mutex mtx;
  std::vector<family> families;
  std::map<std::string, size_t> by_name;
  mutable std::vector<value_entry> values;
  mutable std::vector<histogram_entry> histograms;
  mutable std::vector<fn_entry> fns;
  /// `values.size()` and `histograms.size()` after their last prune in
  /// `make_*`.
  size_t values_pruned_at = 64;
  size_t histograms_pruned_at = 64;

  /// Whether `labels` name a replica. Replica ids are never reused, so once
  /// no handle holds a replica's cell its series can never move again.
  static bool names_replica(const metric_labels& labels) {
    for (auto& kv : labels)
      if (kv.first == "replica")
        return true;
    return false;
  }

  /// Whether the registry holds the last reference to a replica's cell.
  template <class Cell>
  static bool replica_gone(const std::shared_ptr<Cell>& cell,
                           const metric_labels& labels) {
    return cell.use_count() == 1 && names_replica(labels);
  }

  /// Drops gauges whose handles are gone, and counters of replicas that
  /// are gone. Under `mtx`.
  void prune_values() const {
    values.erase(std::remove_if(values.begin(), values.end(),
                                [](const value_entry& e) {
                                  return e.strong
                                             ? replica_gone(e.strong, e.labels)
                                             : e.weak.expired();
                                }),
                 values.end());
  }

  /// Drops histograms of replicas that are gone. Under `mtx`.
  void prune_histograms() const {
    histograms.erase(std::remove_if(histograms.begin(), histograms.end(),
                                    [](const histogram_entry& e) {
                                      return replica_gone(e.cell, e.labels);
                                    }),
                     histograms.end());
  }

  /// Prunes a list whenever it has doubled since its last prune, so that
  /// cells come and go without a scrape (a gauge per model a replica holds,
  /// a replica's counters and histograms). Under `mtx`.
  void prune_if_grown() {
    if (values.size() >= 2 * values_pruned_at) {
      prune_values();
      values_pruned_at = std::max<size_t>(64, values.size());
    }
    if (histograms.size() >= 2 * histograms_pruned_at) {
      prune_histograms();
      histograms_pruned_at = std::max<size_t>(64, histograms.size());
    }
  }

  /// The family `name` of kind `k`, registered on first use. Under `mtx`.
  size_t family_of(const std::string& name, const std::string& help, kind k,
                   const metric_labels& labels,
                   std::shared_ptr<const std::vector<double>> bounds = {}) {
    if (!valid_name(name, true))
      throw std::invalid_argument("metric name '" + name +
                                  "' is not a valid Prometheus name");
    for (auto& [key, value] : labels) {
      if (!valid_name(key, false) || key.rfind("__", 0) == 0 || key == "le")
        throw std::invalid_argument("metric " + name + ": label name '" + key +
                                    "' is not valid");
      (void)value;
    }
    auto i = by_name.find(name);
    if (i != by_name.end()) {
      auto& f = families[i->second];
      if (f.k != k)
        throw std::invalid_argument("metric " + name + " is a " +
                                    kind_name(f.k) + ", not a " + kind_name(k));
      if (bounds && f.bounds && *bounds != *f.bounds)
        throw std::invalid_argument("histogram " + name +
                                    " already has other buckets");
      return i->second;
    }
    families.push_back(family{name, help, k, std::move(bounds)});
    by_name.emplace(name, families.size() - 1);
    return families.size() - 1;
  }
};

metrics_registry::metrics_registry() : st_(std::make_unique<state>()) {}

metrics_registry::~metrics_registry() = default;

counter metrics_registry::make_counter(const std::string& name,
                                       const std::string& help,
                                       metric_labels labels) {
  auto cell = std::make_shared<detail::value_cell>();
  std::lock_guard<std::mutex> guard{st_->mtx};
  auto f = st_->family_of(name, help, kind::counter, labels);
  st_->prune_if_grown();
  st_->values.push_back({f, std::move(labels), cell, {}});
  return counter{std::move(cell)};
}

gauge metrics_registry::make_gauge(const std::string& name,
                                   const std::string& help,
                                   metric_labels labels) {
  auto cell = std::make_shared<detail::value_cell>();
  std::lock_guard<std::mutex> guard{st_->mtx};
  auto f = st_->family_of(name, help, kind::gauge, labels);
  st_->prune_if_grown();
  st_->values.push_back({f, std::move(labels), nullptr, cell});
  return gauge{std::move(cell)};
}

histogram metrics_registry::make_histogram(const std::string& name,
                                           const std::string& help,
                                           std::vector<double> bounds,
                                           metric_labels labels) {
  if (!std::is_sorted(bounds.begin(), bounds.end()) ||
      std::adjacent_find(bounds.begin(), bounds.end()) != bounds.end())
    throw std::invalid_argument("histogram " + name +
                                ": bounds must be strictly ascending");
  auto b = std::make_shared<const std::vector<double>>(std::move(bounds));
  std::lock_guard<std::mutex> guard{st_->mtx};
  auto f = st_->family_of(name, help, kind::histogram, labels, b);
  auto cell = std::make_shared<detail::histogram_cell>(st_->families[f].bounds);
  st_->prune_if_grown();
  st_->histograms.push_back({f, std::move(labels), cell});
  return histogram{std::move(cell)};
}

void metrics_registry::add_gauge_fn(const std::string& name,
                                    const std::string& help,
                                    metric_labels labels,
                                    std::weak_ptr<const void> owner,
                                    std::function<double()> read) {
  std::lock_guard<std::mutex> guard{st_->mtx};
  auto f = st_->family_of(name, help, kind::gauge, labels);
  st_->fns.push_back({f, std::move(labels), std::move(owner), std::move(read)});
}

std::string metrics_registry::render() const {
  auto& st = *st_;
  // Per family: label text -> summed value (or histogram counts).
  struct hist_sum {
    std::vector<uint64_t> counts;
    double sum = 0;
  };
  std::vector<std::map<std::string, double>> values;
  std::vector<std::map<std::string, hist_sum>> hists;
  std::vector<std::map<std::string, metric_labels>> label_of;
  std::unique_lock<std::mutex> guard{st.mtx};
  values.resize(st.families.size());
  hists.resize(st.families.size());
  label_of.resize(st.families.size());
  // Gauges whose handles are gone, a gone replica's counters and
  // histograms, and functions whose owners are gone leave the registry.
  st.prune_values();
  st.prune_histograms();
  st.fns.erase(std::remove_if(
                   st.fns.begin(), st.fns.end(),
                   [](const state::fn_entry& e) { return e.owner.expired(); }),
               st.fns.end());
  for (auto& e : st.values) {
    auto cell = e.strong ? e.strong : e.weak.lock();
    if (!cell)
      continue;
    auto key = label_text(e.labels);
    label_of[e.family].emplace(key, e.labels);
    values[e.family][key] += cell->value.load(std::memory_order_relaxed);
  }
  auto fns = st.fns; // read outside the lock: they may take other locks
  for (auto& e : st.histograms) {
    auto key = label_text(e.labels);
    label_of[e.family].emplace(key, e.labels);
    auto& h = hists[e.family][key];
    auto n = e.cell->bounds->size() + 1;
    h.counts.resize(n, 0);
    for (size_t i = 0; i < n; ++i)
      h.counts[i] += e.cell->counts[i].load(std::memory_order_relaxed);
    h.sum += e.cell->sum.load(std::memory_order_relaxed);
  }
  auto families = st.families;
  guard.unlock();
  for (auto& e : fns) {
    auto owner = e.owner.lock();
    if (!owner)
      continue;
    auto key = label_text(e.labels);
    label_of[e.family].emplace(key, e.labels);
    values[e.family][key] += e.read();
  }
  std::string out;
  for (size_t f = 0; f < families.size(); ++f) {
    auto& fam = families[f];
    if (values[f].empty() && hists[f].empty())
      continue;
    out += "# HELP " + fam.name + ' ';
    escape_into(out, fam.help, false);
    out += "\n# TYPE " + fam.name + ' ' + kind_name(fam.k) + '\n';
    for (auto& [key, v] : values[f])
      out += fam.name + key + ' ' + format_number(v) + '\n';
    for (auto& [key, h] : hists[f]) {
      auto& labels = label_of[f][key];
      uint64_t cumulative = 0;
      for (size_t i = 0; i < h.counts.size(); ++i) {
        cumulative += h.counts[i];
        auto le = i < fam.bounds->size() ? format_number((*fam.bounds)[i])
                                         : std::string{"+Inf"};
        out += fam.name + "_bucket" + label_text(labels, "le=\"" + le + "\"") +
               ' ' + std::to_string(cumulative) + '\n';
      }
      out += fam.name + "_sum" + key + ' ' + format_number(h.sum) + '\n';
      out +=
          fam.name + "_count" + key + ' ' + std::to_string(cumulative) + '\n';
    }
  }
  return out;
}

// -- the registry of an actor system ------------------------------------------

namespace {

std::mutex systems_mtx;

std::vector<std::pair<caf::actor_system*, metrics_ptr>>& systems() {
  static std::vector<std::pair<caf::actor_system*, metrics_ptr>> xs;
  return xs;
}

} // namespace

metrics_ptr metrics_of(caf::actor_system& sys) {
  std::lock_guard<std::mutex> guard{systems_mtx};
  for (auto& [s, reg] : systems())
    if (s == &sys)
      return reg;
  return nullptr;
}

namespace detail {

void set_metrics_of(caf::actor_system& sys, metrics_ptr reg) {
  std::lock_guard<std::mutex> guard{systems_mtx};
  auto& xs = systems();
  xs.erase(std::remove_if(xs.begin(), xs.end(),
                          [&](const auto& x) { return x.first == &sys; }),
           xs.end());
  if (reg)
    xs.emplace_back(&sys, std::move(reg));
}

metric_labels replica_labels(const std::string& deployment, uint64_t replica,
                             const std::string& app) {
  return {{"deployment", deployment},
          {"replica", std::to_string(replica)},
          {"application", app}};
}

} // namespace detail

} // namespace actorserve
