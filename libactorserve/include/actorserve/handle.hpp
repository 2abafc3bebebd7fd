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

namespace actorserve {

/// Per-call options of a handle.
struct call_options {
  /// Fails the call with `deadline_exceeded` when no answer came in time.
  /// Zero means no timeout. Inside a handler, the request's own deadline
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

class user_plane;

/// The context of the request `self` handles now, or null (not a replica,
/// or no request).
const request_meta* current_context(caf::local_actor* self) noexcept;

/// Keeps the current context alive for a continuation; null when none.
caf::strong_actor_ptr context_token(caf::local_actor* self);

/// Answers the request behind `token` with `msg` (a value, or an error)
/// unless it was answered; nothing when `token` is null.
void answer_context(const caf::strong_actor_ptr& token, caf::message msg);

/// What the current thread is to actorserve: a thread that runs actors (a
/// system-plane worker, a replica's thread), a replica's blocking thread
/// (`run_blocking`), or any other.
enum class thread_role : uint8_t { other, actor, blocking };

thread_role current_thread_role() noexcept;

void set_thread_role(thread_role role) noexcept;

/// Throws `std::logic_error` when called on a blocking thread: a handle
/// call from inside `run_blocking` would touch the actor from a foreign
/// thread.
void check_not_blocking_thread(const char* what);

/// An error continuation that answers the request `self` serves now.
inline auto error_forwarder(caf::local_actor* self) {
  return [token = context_token(self)](caf::error& err) {
    answer_context(token, caf::make_message(std::move(err)));
  };
}

/// Makes `token`'s context current in `self` while it lives: a continuation
/// runs in the context of the request it serves.
class restore_context {
public:
  restore_context(caf::local_actor* self, const caf::strong_actor_ptr& token);
  ~restore_context();
  restore_context(const restore_context&) = delete;
  restore_context& operator=(const restore_context&) = delete;

private:
  user_plane* up_;
  caf::abstract_actor* prev_ = nullptr;
  const caf::strong_actor_ptr& token_;
  int uncaught_;
};

} // namespace detail

/// The pending answer to a call made from inside an actor.
template <class Self, class Outputs>
class response;

template <class Self, class... Out>
class response<Self, caf::detail::type_list<Out...>> {
public:
  response(caf::message_id id, Self* self) : id_(id), self_(self) {}

  /// Continues with `on_value(Out...)` or `on_error(caf::error&)` when the
  /// answer arrives; the actor handles other messages meanwhile. The
  /// continuations run in the context of the request the call was made for.
  template <class F, class G>
  void then(F on_value, G on_error) const {
    static_assert(std::is_invocable<F, Out&...>::value,
                  "the continuation must accept the deployment's reply types");
    self_->add_multiplexed_response_handler(
        id_, wrap(std::move(on_value), std::move(on_error)));
  }

  /// Continues with `on_value(Out...)`; an error answers the request the
  /// call was made for, with that error (in a replica's handler or its
  /// continuations; elsewhere, pass `on_error`).
  template <class F>
  void then(F on_value) const {
    then(std::move(on_value), forward_error());
  }

  /// Like `then(on_value)`, but the actor handles nothing else meanwhile.
  template <class F>
  void await(F on_value) const {
    await(std::move(on_value), forward_error());
  }

  /// Like `then`, but the actor handles no other message until the answer
  /// arrives (it still holds no thread while it waits).
  template <class F, class G>
  void await(F on_value, G on_error) const {
    static_assert(std::is_invocable<F, Out&...>::value,
                  "the continuation must accept the deployment's reply types");
    self_->add_awaited_response_handler(
        id_, wrap(std::move(on_value), std::move(on_error)));
  }

  caf::message_id id() const noexcept { return id_; }

  Self* self() const noexcept { return self_; }

private:
  auto forward_error() const { return detail::error_forwarder(self_); }

  template <class F, class G>
  caf::behavior wrap(F on_value, G on_error) const {
    auto token = detail::context_token(self_);
    if (!token)
      return caf::behavior{std::move(on_value), std::move(on_error)};
    auto self = self_;
    return caf::behavior{
        [self, token, f = std::move(on_value)](Out&... xs) mutable {
          detail::restore_context scope{self, token};
          return f(xs...);
        },
        [self, token, g = std::move(on_error)](caf::error& err) mutable {
          detail::restore_context scope{self, token};
          return g(err);
        }};
  }

  caf::message_id id_;
  Self* self_;
};

/// Several calls in flight at once (`when_all`), continued when every one
/// has answered, or failed on the first error.
template <class Self, class... Out>
class all_response {
public:
  all_response(Self* self, std::array<caf::message_id, sizeof...(Out)> ids)
      : self_(self), ids_(ids) {}

  /// `on_values(Out&...)` gets each call's answer, in the order the calls
  /// were given; `on_error(caf::error&)` the first error, once. The actor
  /// handles other messages meanwhile.
  template <class F, class G>
  void then(F on_values, G on_error) const {
    static_assert(std::is_invocable<F, Out&...>::value,
                  "when_all: the continuation must take each call's reply "
                  "type, in the order of the calls");
    struct state {
      std::tuple<std::optional<Out>...> values;
      size_t pending = sizeof...(Out);
      bool failed = false;
      F f;
      G g;
      state(F f, G g) : f(std::move(f)), g(std::move(g)) {}
    };
    auto st =
        std::make_shared<state>(std::move(on_values), std::move(on_error));
    register_all(st, std::index_sequence_for<Out...>{});
  }

  /// Like `then(on_values, on_error)`; the first error answers the request
  /// the calls were made for.
  template <class F>
  void then(F on_values) const {
    then(std::move(on_values), detail::error_forwarder(self_));
  }

private:
  template <class State, size_t... Is>
  void register_all(const std::shared_ptr<State>& st,
                    std::index_sequence<Is...>) const {
    (register_one<Is>(st), ...);
  }

  template <size_t I, class State>
  void register_one(const std::shared_ptr<State>& st) const {
    using value_type = std::tuple_element_t<I, std::tuple<Out...>>;
    response<Self, caf::detail::type_list<value_type>>{ids_[I], self_}.then(
        [st](value_type& x) {
          std::get<I>(st->values) = std::move(x);
          if (--st->pending == 0 && !st->failed)
            std::apply([&](auto&... v) { st->f(*v...); }, st->values);
        },
        [st](caf::error& err) {
          if (st->failed)
            return;
          st->failed = true;
          st->g(err);
        });
  }

  Self* self_;
  std::array<caf::message_id, sizeof...(Out)> ids_;
};

/// Gathers calls made from the same actor: `when_all(a.call(self, x),
/// b.call(self, x)).then(f, on_error)` runs `f(ya, yb)` once both answered,
/// or `on_error` on the first error. Each call must answer one value.
template <class Self, class... Out>
all_response<Self, Out...>
when_all(response<Self, caf::detail::type_list<Out>>... calls) {
  static_assert(sizeof...(Out) >= 1, "when_all needs at least one call");
  Self* self = nullptr;
  ((self = calls.self()), ...);
  return {self, {calls.id()...}};
}

/// The pending answer to a call made from outside any actor.
template <class T>
class future {
public:
  struct state {
    std::mutex mtx;
    std::condition_variable cv;
    bool done = false;
    caf::expected<T> value{caf::error{}};
  };

  explicit future(std::shared_ptr<state> st) : st_(std::move(st)) {}

  /// Waits up to `timeout` for the answer. Returns the value, the call's
  /// error, or `deadline_exceeded` when the wait timed out. On a thread that
  /// runs actors it does not wait (that would stall the thread, or
  /// deadlock): it fails with `internal`; use `.then` or `.await` there.
  template <class Rep, class Period>
  caf::expected<T> get(std::chrono::duration<Rep, Period> timeout) const {
    if (detail::current_thread_role() == detail::thread_role::actor)
      return make_error(errc::internal,
                        "future::get() called on a thread that runs actors; "
                        "inside an actor use .then or .await");
    std::unique_lock<std::mutex> guard{st_->mtx};
    if (!st_->cv.wait_for(guard, timeout, [&] { return st_->done; }))
      return make_error(errc::deadline_exceeded,
                        "no answer within the wait timeout");
    return st_->value;
  }

private:
  std::shared_ptr<state> st_;
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
    // UBSan).
    gateway->home_system().spawn(
        [=](caf::event_based_actor* self, caf::actor gw) {
          auto rh = self->request(gw, t, call_atom::value, m, msg);
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
