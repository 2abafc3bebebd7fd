/// @file
/// Typed references to deployments.
///
/// A `handle<Interface>` points at a deployment's endpoint. Called from a
/// replica, it routes for itself (power of two choices over that replica's
/// own view, straight to the chosen replica); called from anywhere else, it
/// goes through the deployment's gateway (gateway.hpp). Its calls are
/// checked against `Interface` (a `caf::typed_actor`) at compile time: a call
/// with argument types the interface does not accept does not compile.
///
/// Inside an actor (a deployment, or any CAF actor):
/// ```cpp
/// tok.call(self, text).then(
///   [=](std::vector<int> tokens) mutable { rp.deliver(classify(tokens)); },
///   [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
/// return tok.delegate(self, text);      // pass the response on unchanged
/// ```
/// From `main()` or any thread that is not an actor:
/// ```cpp
/// caf::expected<std::vector<int>> v = tok.call(std::string{"a b"}).get(2s);
/// ```
/// Multi-method interfaces pick the method with an atom, CAF style:
/// `model.call(self, predict_atom::value, text)`.
#pragma once

#include <chrono>
#include <condition_variable>
#include <array>
#include <memory>
#include <mutex>
#include <optional>
#include <tuple>
#include <string>
#include <type_traits>
#include <utility>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/expected.hpp>
#include <caf/is_typed_actor.hpp>
#include <caf/local_actor.hpp>
#include <caf/make_message.hpp>
#include <caf/response_type.hpp>
#include <caf/scheduled_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/unit.hpp>

#include "actorserve/call_args.hpp"
#include "actorserve/endpoint.hpp"
#include "actorserve/error.hpp"
#include "actorserve/messages.hpp"
#include "actorserve/response.hpp"

namespace actorserve {

/// Per-call options of a handle.
struct call_options {
  /// Fails the call with `deadline_exceeded` when no answer came in time,
  /// and cancels it: a queued call never runs, a running one's handler sees
  /// the cancellation (as when an HTTP client goes away). Zero means no
  /// timeout. Inside a handler, the request's own deadline
  /// also applies (whichever is earlier).
  std::chrono::milliseconds timeout{0};
  /// Request id to carry. Inside a handler the request's own id is carried
  /// when this is empty; elsewhere the gateway's callers have none.
  std::string request_id;
  /// The model a multiplexed deployment should serve the call with (Ray's
  /// `handle.options(multiplexed_model_id=...)`).
  std::string multiplexed_model_id;
};

namespace detail {

template <class Outputs>
struct single_output;

template <>
struct single_output<caf::detail::type_list<>> {
  using type = caf::unit_t;
};

template <>
struct single_output<caf::detail::type_list<void>> {
  using type = caf::unit_t;
};

template <class T>
struct single_output<caf::detail::type_list<T>> {
  using type = T;
};

} // namespace detail

namespace detail {

/// Routes a call with request id `mid` from `self` to the deployment behind
/// `ep`. A replica routes it itself (routing.hpp); any other actor sends it
/// to the deployment's gateway. The answer arrives as the response to `mid`.
void route_call(caf::local_actor* self, const endpoint_ptr& ep,
                caf::message_id mid, request_meta meta, caf::message args);

/// Like `route_call`, but the answer goes to whoever sent `self` the
/// message it is handling.
void route_delegate(caf::local_actor* self, const endpoint_ptr& ep,
                    request_meta meta, caf::message args);

} // namespace detail

/// A typed reference to a deployment.
template <class Interface>
class handle {
public:
  static_assert(caf::is_typed_actor<Interface>::value,
                "a deployment interface must be a caf::typed_actor");

  using interface_type = Interface;

  /// The inputs a call with argument types `Ts` sends (call_args.hpp).
  template <class... Ts>
  using inputs = detail::call_inputs_t<typename Interface::signatures, Ts...>;

  template <class... Ts>
  using reply =
      detail::call_reply<typename Interface::signatures, inputs<Ts...>>;

  handle() = default;

  explicit handle(endpoint_ptr ep) : ep_(std::move(ep)) {}

  /// Returns a copy whose calls use `opts`.
  handle options(call_options opts) const {
    auto result = *this;
    result.opts_ = std::move(opts);
    return result;
  }

  /// The deployment's name (empty for a default-constructed handle).
  const std::string& deployment() const noexcept {
    static const std::string none;
    return ep_ ? ep_->deployment() : none;
  }

  /// Where the deployment's replicas are published.
  const endpoint_ptr& target() const noexcept { return ep_; }

  explicit operator bool() const noexcept { return static_cast<bool>(ep_); }

  /// Calls the deployment from inside the actor `self`.
  template <
      class Self, class... Ts,
      class = std::enable_if_t<std::is_base_of<caf::local_actor, Self>::value>>
  auto call(Self* self, Ts&&... xs) const
      -> response<Self, typename reply<Ts...>::type> {
    static_assert(reply<Ts...>::valid,
                  "the deployment's interface accepts no message with these "
                  "argument types");
    detail::check_not_blocking_thread("handle::call");
    auto mid = self->new_request_id(caf::message_priority::normal);
    if (opts_.timeout.count() != 0)
      self->request_response_timeout(timeout(), mid);
    detail::route_call(
        self, ep_, mid, meta(self),
        detail::make_call_message(inputs<Ts...>{}, std::forward<Ts>(xs)...));
    return {mid.response_id(), self};
  }

  /// Calls the deployment and hands its answer straight to whoever asked
  /// `self` ("passing the response on"); `self` never sees the answer.
  template <
      class Self, class... Ts,
      class = std::enable_if_t<std::is_base_of<caf::local_actor, Self>::value>>
  auto delegate(Self* self, Ts&&... xs) const ->
      typename reply<Ts...>::delegated_type {
    static_assert(reply<Ts...>::valid,
                  "the deployment's interface accepts no message with these "
                  "argument types");
    detail::check_not_blocking_thread("handle::delegate");
    detail::route_delegate(
        self, ep_, meta(self),
        detail::make_call_message(inputs<Ts...>{}, std::forward<Ts>(xs)...));
    return {};
  }

  /// Calls the deployment from a thread that is not an actor (e.g. main).
  template <class... Ts,
            class First = caf::detail::tl_head_t<
                caf::detail::type_list<std::decay_t<Ts>...>>,
            class = std::enable_if_t<
                !std::is_pointer<First>::value ||
                std::is_same<detail::friendly_t<First>, std::string>::value>>
  auto call(Ts&&... xs) const -> future<
      typename detail::single_output<typename reply<Ts...>::type>::type> {
    static_assert(reply<Ts...>::valid,
                  "the deployment's interface accepts no message with these "
                  "argument types");
    using value_type =
        typename detail::single_output<typename reply<Ts...>::type>::type;
    using state = typename future<value_type>::state;
    auto st = std::make_shared<state>();
    auto finish = [st](caf::expected<value_type> x) {
      std::lock_guard<std::mutex> guard{st->mtx};
      st->value = std::move(x);
      st->done = true;
      st->cv.notify_all();
    };
    auto msg =
        detail::make_call_message(inputs<Ts...>{}, std::forward<Ts>(xs)...);
    auto t = timeout();
    auto m = meta(nullptr);
    auto gateway = ep_->gateway();
    if (!gateway) {
      finish(make_error(errc::unavailable,
                        "deployment '" + deployment() + "' was deleted"));
      return future<value_type>{st};
    }
    // The gateway goes in as a spawn argument: CAF 0.17 spawns functors
    // without arguments through a null pointer (undefined behavior under
    // UBSan). The arguments move along, so that the request holds the only
    // reference to them: a handler that takes one by mutable reference
    // then gets the caller's value, never a copy made because a reference
    // here was still alive.
    gateway->home_system().spawn(
        [t, finish, m = std::move(m), msg = std::move(msg)](
            caf::event_based_actor* self, caf::actor gw) mutable {
          auto rh = self->request(gw, t, call_atom::value, std::move(m),
                                  std::move(msg));
          auto on_error = [=](caf::error& err) {
            finish(std::move(err));
            self->quit();
          };
          if constexpr (std::is_same<value_type, caf::unit_t>::value)
            rh.then(
                [=] {
                  finish(caf::unit);
                  self->quit();
                },
                on_error);
          else
            rh.then(
                [=](value_type& x) {
                  finish(std::move(x));
                  self->quit();
                },
                on_error);
        },
        gateway);
    return future<value_type>{st};
  }

private:
  caf::duration timeout() const {
    if (opts_.timeout.count() == 0)
      return caf::infinite;
    return caf::duration{opts_.timeout};
  }

  /// The call's context: the request `self` handles (its id and
  /// deadline), then this handle's options.
  request_meta meta(caf::local_actor* self) const {
    request_meta m;
    if (self != nullptr)
      if (auto ctx = detail::current_context(self)) {
        m.request_id = ctx->request_id;
        m.deadline = ctx->deadline;
      }
    if (!opts_.request_id.empty())
      m.request_id = opts_.request_id;
    m.multiplexed_model_id = opts_.multiplexed_model_id;
    if (opts_.timeout.count() != 0) {
      auto d = caf::make_timestamp() + opts_.timeout;
      if (m.deadline.time_since_epoch().count() == 0 || d < m.deadline)
        m.deadline = d;
    }
    return m;
  }

  endpoint_ptr ep_;
  call_options opts_;
};

} // namespace actorserve
