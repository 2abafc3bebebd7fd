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
/// load. The replica publishes the ids it holds or is loading at its
/// admission gate, and callers' routers prefer replicas that hold a
/// request's model, else those holding the fewest (routing.hpp,
/// `prefer_model`).
///
/// Metrics (Ray's names, labelled with the replica's `deployment`,
/// `replica` and `application`):
/// `ray_serve_multiplexed_model_load_latency_ms` and
/// `ray_serve_multiplexed_model_unload_latency_ms` (histograms),
/// `ray_serve_multiplexed_models_load_counter_total`,
/// `ray_serve_multiplexed_models_unload_counter_total`,
/// `ray_serve_multiplexed_get_model_requests_counter_total`, the gauge
/// `ray_serve_num_multiplexed_models`, and
/// `ray_serve_registered_multiplexed_model_id` (1 per `model_id` held).
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
#include "actorserve/batching.hpp"
#include "actorserve/error.hpp"
#include "actorserve/handle.hpp"
#include "actorserve/metrics.hpp"
#include "actorserve/model_cache.hpp"
#include "actorserve/replica_api.hpp"

namespace actorserve {

/// The model the request `self` is handling asks for (empty: none).
template <class Self>
std::string multiplexed_model_id(Self* self) {
  return request_context_of(self).multiplexed_model_id;
}

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

/// Declares the replica's model cache, in the deployment's constructor.
/// The loader is either blocking, `load(id)` returning a
/// `std::shared_ptr<Model>` on one of the replica's blocking threads, or
/// async, `load(id, model_promise<Model> p)` running on the actor's thread
/// and delivering `p` later from anywhere (a handle's continuation, an I/O
/// thread of the user's). `unload(id, model)` runs on a blocking thread
/// when the model is evicted. Bad options throw `error_exception`
/// (`invalid_config`).
template <class Model, class Self, class Load, class Unload>
multiplexed<Model> make_multiplexed(Self* self, multiplex_options opts,
                                    Load load, Unload unload) {
  if (auto err = validate(opts))
    throw error_exception(code_of(err), message_of(err));
  using cache_type = detail::model_cache<Model>;
  constexpr bool async =
      std::is_invocable<Load&, const std::string&, model_promise<Model>>::value;
  static_assert(async || std::is_invocable_r<std::shared_ptr<Model>, Load&,
                                             const std::string&>::value,
                "the loader takes (id) and returns std::shared_ptr<Model>, "
                "or takes (id, model_promise<Model>)");
  using loader_type =
      std::conditional_t<async, typename cache_type::async_loader,
                         typename cache_type::loader>;
  auto cache = std::make_shared<cache_type>(
      self, opts, loader_type{std::move(load)},
      typename cache_type::unloader{std::move(unload)});
  return multiplexed<Model>{std::move(cache), self};
}

} // namespace actorserve
