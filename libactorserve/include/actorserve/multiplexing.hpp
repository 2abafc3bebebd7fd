/// @file
/// Model multiplexing, the analogue of Ray Serve's `@serve.multiplexed`: a
/// replica holds up to `max_num_models_per_replica` models, loads the one a
/// request names on first use, and unloads the least recently used one
/// beyond the limit.
///
/// ```cpp
/// model_actor::behavior_type multi(model_actor::pointer self) {
///   auto models = make_multiplexed<Model>(
///       self, multiplex_options{},                    // 3 models
///       [](const std::string& id) { return load_weights(id); },  // blocking
///       [](const std::string& id, std::shared_ptr<Model> m) {}); // unload
///   return {[=](http_request& req) -> reply {
///     return models.with<http_response>(
///         multiplexed_model_id(self),
///         [](Model& m, bool loaded_now) { return predict(m); });
///   }};
/// }
/// ```
///
/// The model id comes with the request: the HTTP header
/// `serve_multiplexed_model_id`, or `call_options::multiplexed_model_id` on
/// a handle. Loads and unloads run on the replica's blocking threads;
/// concurrent requests for a model that is still loading wait for that one
/// load. The replica publishes the ids it holds at its admission gate, and
/// callers' routers prefer replicas that hold a request's model, else those
/// holding the fewest (routing.hpp, `prefer_model`).
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/expected.hpp>
#include <caf/typed_response_promise.hpp>

#include "actorserve/admission.hpp"
#include "actorserve/batching.hpp"
#include "actorserve/error.hpp"
#include "actorserve/handle.hpp"
#include "actorserve/user_plane.hpp"

namespace actorserve {

struct multiplex_options {
  /// Most models one replica holds; -1 means no limit, else >= 1.
  int32_t max_num_models_per_replica = 3;
};

/// Checks the options; `invalid_config` naming the field.
caf::error validate(const multiplex_options& opts);

/// The model the request `self` is handling asks for (empty: none).
template <class Self>
std::string multiplexed_model_id(Self* self) {
  return request_context_of(self).multiplexed_model_id;
}

/// Which models to unload: `recent_first` lists the loaded ids, most
/// recently used first; returns those beyond `capacity` (-1: none), least
/// recently used last.
std::vector<std::string>
models_to_evict(const std::vector<std::string>& recent_first, int32_t capacity);

namespace detail {

/// One replica's models (lives in its user actor; touched on its thread).
template <class Model>
class model_cache : public std::enable_shared_from_this<model_cache<Model>> {
public:
  using model_ptr = std::shared_ptr<Model>;
  /// Gets the model (or the load's error) and whether this call loaded it.
  using waiter = std::function<void(caf::expected<model_ptr>, bool)>;
  using loader = std::function<model_ptr(const std::string&)>;
  using unloader = std::function<void(const std::string&, model_ptr)>;

  model_cache(caf::local_actor* self, multiplex_options opts, loader load,
              unloader unload)
      : self_(self), opts_(opts), load_(std::move(load)),
        unload_(std::move(unload)) {}

  void get(const std::string& id, waiter w) {
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
    ++loads_;
    auto weak = this->weak_from_this();
    auto slot = std::make_shared<batch_slot>();
    auto out = std::make_shared<caf::expected<model_ptr>>(caf::error{});
    slot->answer = [weak, id, out] {
      if (auto cache = weak.lock())
        cache->loaded(id, std::move(*out));
    };
    auto load = load_;
    user_plane_of(self_).offload(
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
  };

  void loaded(const std::string& id, caf::expected<model_ptr> m) {
    auto i = entries_.find(id);
    if (i == entries_.end())
      return;
    auto waiters = std::move(i->second.waiters);
    if (!m) {
      entries_.erase(i);
      for (auto& w : waiters)
        w(m.error(), false);
      return;
    }
    i->second.model = *m;
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
    auto unload = unload_;
    if (!unload)
      return;
    // On a blocking thread: unloading may take a while.
    user_plane_of(self_).offload(
        self_, std::make_shared<batch_slot>(),
        [unload, id, model]() mutable -> std::function<void()> {
          try {
            unload(id, std::move(model));
          } catch (...) {
            // An unload that fails leaves nothing to answer.
          }
          return [] {};
        });
  }

  void publish() {
    if (auto gate = replica_context_of(self_).gate.lock())
      gate->set_models(loaded());
  }

  caf::local_actor* self_;
  multiplex_options opts_;
  loader load_;
  unloader unload_;
  std::unordered_map<std::string, entry> entries_;
  std::list<std::string> recent_;
  uint64_t loads_ = 0;
  uint64_t unloads_ = 0;
};

} // namespace detail

/// A replica's multiplexed models.
template <class Model>
class multiplexed {
public:
  explicit multiplexed(std::shared_ptr<detail::model_cache<Model>> c,
                       caf::local_actor* self)
      : cache_(std::move(c)), self_(self) {}

  /// Answers the current request with `f(model, loaded_now)` once model
  /// `id` is loaded (at once when it is); `loaded_now` is true only for the
  /// request whose call loaded it. A failed load, or `f` throwing, answers
  /// with the error.
  template <class Out, class F>
  caf::typed_response_promise<Out> with(const std::string& id, F f) const {
    auto rp = self_->make_response_promise<Out>();
    using slot_type = detail::promise_slot<caf::typed_response_promise<Out>>;
    auto slot = std::make_shared<slot_type>(
        rp,
        rp.pending() ? caf::strong_actor_ptr{} : detail::context_token(self_));
    if (id.empty()) {
      slot->deliver(make_error(errc::bad_request,
                               "the request names no model (header "
                               "serve_multiplexed_model_id)"));
      return rp;
    }
    cache_->get(id, [slot, f](caf::expected<std::shared_ptr<Model>> m,
                              bool loaded_now) mutable {
      if (!m) {
        slot->deliver(std::move(m.error()));
        return;
      }
      try {
        slot->deliver(f(**m, loaded_now));
      } catch (...) {
        slot->deliver(detail::error_of(std::current_exception()));
      }
    });
    return rp;
  }

  /// The ids loaded now, most recently used first.
  std::vector<std::string> loaded() const { return cache_->loaded(); }

  /// Loads started and models unloaded so far.
  uint64_t loads() const noexcept { return cache_->loads(); }
  uint64_t unloads() const noexcept { return cache_->unloads(); }

private:
  std::shared_ptr<detail::model_cache<Model>> cache_;
  caf::local_actor* self_;
};

/// Declares the replica's model cache, in the deployment's constructor:
/// `load(id)` returns a `std::shared_ptr<Model>` (on a blocking thread);
/// `unload(id, model)` runs on one when the model is evicted. Bad options
/// throw `error_exception` (`invalid_config`).
template <class Model, class Self, class Load, class Unload>
multiplexed<Model> make_multiplexed(Self* self, multiplex_options opts,
                                    Load load, Unload unload) {
  if (auto err = validate(opts))
    throw error_exception(code_of(err), message_of(err));
  auto cache = std::make_shared<detail::model_cache<Model>>(
      self, opts, std::move(load), std::move(unload));
  return multiplexed<Model>{std::move(cache), self};
}

} // namespace actorserve
