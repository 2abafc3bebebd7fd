/// @file
/// The answers to handle calls (handle.hpp): `response` (a call made inside
/// an actor, continued with `then`), `when_all` over several calls, and
/// `future` (a call made from a thread that is not an actor, waited for
/// with `get`). Also the request context a continuation runs in, and the
/// role of the calling thread.
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
#include <caf/local_actor.hpp>
#include <caf/make_message.hpp>
#include <caf/scheduled_actor.hpp>
#include <caf/unit.hpp>

#include "actorserve/error.hpp"
#include "actorserve/messages.hpp"

namespace actorserve {

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

} // namespace actorserve
