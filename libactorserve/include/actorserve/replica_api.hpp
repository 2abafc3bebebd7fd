/// @file
/// What a deployment's code asks of its replica from inside a handler or
/// its constructor: the replica's and the request's context, cancellation,
/// health checks, reconfigure hooks, and blocking work (`run_blocking`, the
/// analogue of Ray Serve's sync-handler threadpool). The machinery behind
/// it is the user plane (user_plane.hpp).
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/local_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actorserve/error.hpp"
#include "actorserve/user_plane.hpp"

namespace actorserve {

/// Returns the context of the replica that `self` belongs to.
template <class Self>
const replica_context& replica_context_of(Self* self) {
  return detail::plane_context(self);
}

/// Returns the context of the request `self` is handling: in a handler, or
/// in a continuation of a call the handler made (Ray Serve's request
/// context). Empty outside of one.
template <class Self>
request_context request_context_of(Self* self) {
  auto ctx = detail::plane_request(self);
  return ctx != nullptr ? *ctx : request_context{};
}

/// Whether the request `self` is handling (in a handler, or a continuation
/// of a call made for it) was cancelled: its client disconnected or timed
/// out, or its caller cancelled the call. A cancelled request's answer
/// reaches no one; stop early. Calls made for it are cancelled already.
template <class Self>
bool is_cancelled(Self* self) {
  return detail::plane_cancelled(self);
}

/// Runs `f()` on `self` when the request it is handling is cancelled (at
/// once if it is already), for handlers that wait on something other than
/// handle calls (timers, streams of their own). Handle calls made for the
/// request are cancelled without a hook.
template <class Self, class F>
void on_cancel(Self* self, F f) {
  detail::plane_on_cancel(self, std::function<void()>{std::move(f)});
}

/// Registers the replica's health check (Ray Serve's `check_health`), in the
/// deployment's constructor: `check()` runs on one of the replica's
/// blocking threads every `health_check_period`; throwing, or taking longer
/// than `health_check_timeout`, is a failed check, and three in a row
/// replace the replica. Without one, the replica's system side answers the
/// probes, so a replica whose user code is merely busy stays healthy.
template <class Self, class F>
void on_health_check(Self* self, F check) {
  detail::plane_set_health_check(self,
                                 std::function<void()>{std::move(check)});
}

/// Registers the replica's reconfigure hook (Ray Serve's `reconfigure`), in
/// the deployment's constructor: `hook(user_config_json)` runs now when the
/// deployment has a `user_config`, and again on the actor's thread whenever
/// the config changes while the replica lives (an update of `user_config`:
/// the replica keeps its id and state). A hook that throws fails the
/// update for that replica, which is then replaced by one built with the
/// new config. `replica_context_of(self).user_config` always holds the
/// current config.
template <class Self, class F>
void on_reconfigure(Self* self, F hook) {
  detail::plane_set_reconfigure(
      self, std::function<void(const std::string&)>{std::move(hook)});
}

/// A request's cancellation as a value blocking code can poll from any
/// thread (`run_blocking`): `cancellation_of(self)` in the handler, then
/// `token.cancelled()` in the loop.
class cancellation_token {
public:
  cancellation_token() = default;
  explicit cancellation_token(caf::weak_actor_ptr guard)
      : guard_(std::move(guard)) {}

  bool cancelled() const noexcept;

private:
  caf::weak_actor_ptr guard_;
};

/// The cancellation of the request `self` is handling.
template <class Self>
cancellation_token cancellation_of(Self* self) {
  return cancellation_token{
      caf::actor_cast<caf::weak_actor_ptr>(detail::context_token(self))};
}

/// Runs `f()` on one of the replica's blocking threads and answers the
/// current request with its result. The actor stays free to handle other
/// messages meanwhile; at most `max_ongoing_requests` blocking calls of one
/// replica run at once. If `f` throws anything, the request fails with
/// `user_error` (or the code of an `error_exception`).
template <class Self, class F>
auto run_blocking(Self* self, F f) {
  using value_type = std::decay_t<decltype(f())>;
  auto rp = self->template make_response_promise<value_type>();
  using slot_type = detail::promise_slot<decltype(rp)>;
  // In a continuation there is no request to make a promise for: the
  // result answers the request the continuation serves.
  auto slot = std::make_shared<slot_type>(
      rp, rp.pending() ? caf::strong_actor_ptr{} : detail::context_token(self));
  // The blocking thread never touches the promise: the completions it
  // returns deliver through the slot, on the actor's thread.
  detail::offload(
      self, slot, [f = std::move(f), slot]() mutable -> std::function<void()> {
        try {
          if constexpr (std::is_void<value_type>::value) {
            f();
            return [slot] { slot->deliver(caf::unit); };
          } else {
            auto value = f();
            return [slot, value = std::move(value)]() mutable {
              slot->deliver(std::move(value));
            };
          }
        } catch (const error_exception& e) {
          auto err = make_error(e.code(), e.what());
          return [slot, err] { slot->deliver(err); };
        } catch (const std::exception& e) {
          auto err = make_error(errc::user_error, e.what());
          return [slot, err] { slot->deliver(err); };
        } catch (...) {
          auto err = make_error(errc::user_error, "unknown exception");
          return [slot, err] { slot->deliver(err); };
        }
      });
  return rp;
}

} // namespace actorserve
