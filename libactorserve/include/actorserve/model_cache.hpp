/// @file
/// The model cache behind model multiplexing (multiplexing.hpp): its
/// options, `model_promise` for loaders that finish elsewhere, and the
/// per-replica cache (load once, wait for a load in progress, unload the
/// least recently used beyond the limit), with its metrics.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/expected.hpp>
#include <caf/typed_response_promise.hpp>

#include "actorserve/admission.hpp"
#include "actorserve/error.hpp"
#include "actorserve/handle.hpp"
#include "actorserve/metrics.hpp"
#include "actorserve/replica_api.hpp"

namespace actorserve {

struct multiplex_options {
  /// Most models one replica holds; -1 means no limit, else >= 1.
  int32_t max_num_models_per_replica = 3;
};

/// Checks the options; `invalid_config` naming the field.
caf::error validate(const multiplex_options& opts);

/// Which models to unload: `recent_first` lists the loaded ids, most
/// recently used first; returns those beyond `capacity` (-1: none), least
/// recently used last.
std::vector<std::string>
models_to_evict(const std::vector<std::string>& recent_first, int32_t capacity);

/// Completes one load of an async model loader (`make_multiplexed` with a
/// loader taking `(id, model_promise<Model>)`): deliver the model, or an
/// error, once, from any thread. Copies share the one load; a load whose
/// every copy is dropped undelivered fails with `internal`.
template <class Model>
class model_promise {
public:
  using model_ptr = std::shared_ptr<Model>;

  /// The load succeeded (a null model fails it with `user_error`).
  void deliver(model_ptr m) const { st_->finish(std::move(m)); }

  /// The load failed with `err`.
  void deliver(caf::error err) const { st_->finish(std::move(err)); }

  /// Whether this load was delivered already.
  bool delivered() const noexcept { return st_->done.load(); }

  /// The model id being loaded.
  const std::string& id() const noexcept { return st_->id; }

  struct state {
    std::string id;
    detail::completion_poster back;
    /// Runs on the owning actor's thread with the outcome.
    std::function<void(caf::expected<model_ptr>)> on_done;
    std::atomic<bool> done{false};

    void finish(caf::expected<model_ptr> m) {
      if (done.exchange(true))
        return; // delivered already: a second answer is ignored
      if (m && !*m)
        m = make_error(errc::user_error,
                       "the loader returned no model for '" + id + "'");
      back.post([f = std::move(on_done), m = std::move(m)]() mutable {
        f(std::move(m));
      });
    }

    ~state() {
      if (!done.load())
        finish(make_error(errc::internal, "the async loader for '" + id +
                                              "' dropped its promise "
                                              "without delivering"));
    }
  };

  explicit model_promise(std::shared_ptr<state> st) : st_(std::move(st)) {}

private:
  std::shared_ptr<state> st_;
};

namespace detail {

/// The metrics of one replica's model cache (no-ops with metrics off).
struct multiplex_metrics {
  histogram load_ms;
  histogram unload_ms;
  counter loads;
  counter unloads;
  counter get_requests;
  gauge num_models;
  /// For the per-model gauges.
  metrics_ptr reg;
  metric_labels labels;

  /// A gauge at 1 saying that the replica holds model `id`, for as long as
  /// the returned handle lives.
  gauge registered(const std::string& id) const;
};

/// Makes the model-cache metrics of `self`'s replica.
multiplex_metrics make_multiplex_metrics(caf::local_actor* self);

/// Milliseconds since `t0`.
inline double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now() - t0)
      .count();
}

/// One replica's models (lives in its user actor; touched on its thread).
template <class Model>
class model_cache : public std::enable_shared_from_this<model_cache<Model>> {
public:
  using model_ptr = std::shared_ptr<Model>;
  /// Gets the model (or the load's error) and whether this call loaded it.
  using waiter = std::function<void(caf::expected<model_ptr>, bool)>;
  /// Blocking: runs on one of the replica's blocking threads.
  using loader = std::function<model_ptr(const std::string&)>;
  /// Async: runs on the actor's thread and delivers the promise later.
  using async_loader =
      std::function<void(const std::string&, model_promise<Model>)>;
  using unloader = std::function<void(const std::string&, model_ptr)>;

  model_cache(caf::local_actor* self, multiplex_options opts, loader load,
              unloader unload)
      : self_(self), opts_(opts), load_(std::move(load)),
        unload_(std::move(unload)), metrics_(make_multiplex_metrics(self)) {}

  model_cache(caf::local_actor* self, multiplex_options opts, async_loader load,
              unloader unload)
      : self_(self), opts_(opts), async_load_(std::move(load)),
        unload_(std::move(unload)), metrics_(make_multiplex_metrics(self)) {}

  void get(const std::string& id, waiter w) {
    metrics_.get_requests.inc();
    auto i = entries_.find(id);
    if (i != entries_.end() && i->second.model) {
      recent_.remove(id);
      recent_.push_front(id);
      w(i->second.model, false);
      return;
    }
    if (i != entries_.end()) { // loading: wait for that load
      i->second.waiters.push_back(std::move(w));
      return;
    }
    auto& e = entries_[id];
    e.waiters.push_back(std::move(w));
    e.started = std::chrono::steady_clock::now();
    ++loads_;
    // Routers see a loading model as held, so that its next requests wait
    // here for this load rather than start another elsewhere.
    publish();
    if (async_load_)
      start_async(id);
    else
      start_blocking(id);
  }

  /// Loaded ids, most recently used first.
  std::vector<std::string> loaded() const {
    return {recent_.begin(), recent_.end()};
  }

  uint64_t loads() const noexcept { return loads_; }
  uint64_t unloads() const noexcept { return unloads_; }

private:
  struct entry {
    model_ptr model;
    std::vector<waiter> waiters;
    /// When its load started.
    std::chrono::steady_clock::time_point started;
    /// `ray_serve_registered_multiplexed_model_id` while it is held.
    gauge registered;
  };

  void start_async(const std::string& id) {
    using state = typename model_promise<Model>::state;
    auto st = std::make_shared<state>();
    st->id = id;
    st->back = plane_poster(self_);
    st->on_done = [weak = this->weak_from_this(),
                   id](caf::expected<model_ptr> m) {
      if (auto cache = weak.lock())
        cache->loaded(id, std::move(m));
    };
    model_promise<Model> promise{st};
    st.reset(); // the promise's copies own the load from here
    try {
      async_load_(id, promise);
    } catch (...) {
      promise.deliver(error_of(std::current_exception()));
    }
  }

  void start_blocking(const std::string& id) {
    auto weak = this->weak_from_this();
    auto slot = std::make_shared<batch_slot>();
    auto out = std::make_shared<caf::expected<model_ptr>>(caf::error{});
    slot->answer = [weak, id, out] {
      if (auto cache = weak.lock())
        cache->loaded(id, std::move(*out));
    };
    auto load = load_;
    offload(
        self_, slot, [load, id, out, slot]() -> std::function<void()> {
          try {
            auto m = load(id);
            if (m)
              *out = std::move(m);
            else
              *out =
                  make_error(errc::user_error,
                             "the loader returned no model for '" + id + "'");
          } catch (...) {
            *out = error_of(std::current_exception());
          }
          return [slot] {
            if (auto answer = std::move(slot->answer))
              answer();
          };
        });
  }

  void loaded(const std::string& id, caf::expected<model_ptr> m) {
    auto i = entries_.find(id);
    if (i == entries_.end())
      return;
    auto waiters = std::move(i->second.waiters);
    if (!m) {
      entries_.erase(i);
      publish();
      for (auto& w : waiters)
        w(m.error(), false);
      return;
    }
    i->second.model = *m;
    metrics_.load_ms.observe(ms_since(i->second.started));
    metrics_.loads.inc();
    i->second.registered = metrics_.registered(id);
    recent_.push_front(id);
    for (auto& victim :
         models_to_evict(loaded(), opts_.max_num_models_per_replica))
      evict(victim);
    publish();
    // The first waiter's request loaded it.
    for (size_t k = 0; k < waiters.size(); ++k)
      waiters[k](*m, k == 0);
  }

  void evict(const std::string& id) {
    auto i = entries_.find(id);
    if (i == entries_.end() || !i->second.model)
      return;
    auto model = std::move(i->second.model);
    entries_.erase(i);
    recent_.remove(id);
    ++unloads_;
    metrics_.unloads.inc();
    auto unload = unload_;
    auto unload_ms = metrics_.unload_ms;
    if (!unload) {
      unload_ms.observe(0);
      return;
    }
    // On a blocking thread: unloading may take a while.
    offload(
        self_, std::make_shared<batch_slot>(),
        [unload, unload_ms, id, model]() mutable -> std::function<void()> {
          auto t0 = std::chrono::steady_clock::now();
          try {
            unload(id, std::move(model));
          } catch (...) {
            // An unload that fails leaves nothing to answer.
          }
          unload_ms.observe(ms_since(t0));
          return [] {};
        });
  }

  /// Publishes the models held and being loaded at the replica's gate.
  void publish() {
    metrics_.num_models.set(static_cast<double>(recent_.size()));
    auto gate = replica_context_of(self_).gate.lock();
    if (!gate)
      return;
    auto ids = loaded();
    for (auto& [id, e] : entries_)
      if (!e.model)
        ids.push_back(id);
    gate->set_models(std::move(ids));
  }

  caf::local_actor* self_;
  multiplex_options opts_;
  loader load_;
  async_loader async_load_;
  unloader unload_;
  std::unordered_map<std::string, entry> entries_;
  std::list<std::string> recent_;
  uint64_t loads_ = 0;
  uint64_t unloads_ = 0;
  multiplex_metrics metrics_;
};

} // namespace detail

} // namespace actorserve
