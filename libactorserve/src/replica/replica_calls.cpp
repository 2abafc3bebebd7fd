#include "replica/replica_actor.hpp"

#include <string>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/mailbox_element.hpp>

#include "actorserve/error.hpp"
#include "calls/call_host.hpp"
#include "calls/reply_guard.hpp"

namespace actorserve {

namespace {

caf::error rejection(uint32_t running, const char* why) {
  return caf::error{static_cast<uint8_t>(errc::rejected), error_category,
                    caf::make_message(std::string{why}, running)};
}

} // namespace

// -- calls ------------------------------------------------------------------

caf::result<caf::message> replica_actor::on_call(request_meta& meta,
                                                 caf::message& args) {
  auto& gate = *state.args.gate;
  uint32_t running = 0;
  if (!gate.try_enter(running))
    return rejection(running, state.state != replica_state::ready
                                  ? "replica is not ready"
                                  : "replica is at max_ongoing_requests");
  if (expired(meta, caf::make_timestamp())) {
    gate.leave();
    return make_error(errc::deadline_exceeded,
                      "the request expired before it started");
  }
  // The caller and its request id name the call for a cancel (taken before
  // the response promise takes the sender over).
  auto key = call_key{caf::actor_cast<caf::actor_addr>(current_sender()),
                      current_message_id().integer_value()};
  auto rp = make_response_promise();
  // The call's context (request id, deadline, multiplexed model id) reaches
  // the handler in a reply guard, as a caller in this process sends it; the
  // guard stands for this actor, so the answer comes back here.
  caf::weak_actor_ptr guard;
  auto make_guard = [&](caf::message_id mid) {
    auto g = detail::reply_guard::make(this, ctrl(), mid, std::move(meta));
    guard = caf::actor_cast<caf::weak_actor_ptr>(g);
    return g;
  };
  relay_as(
      state.user, std::move(args),
      [this, rp, key](caf::message& reply) mutable {
        on_relayed_reply(rp, key, reply);
      },
      make_guard);
  state.relayed.emplace(std::move(key), std::move(guard));
  return rp;
}

void replica_actor::on_relayed_reply(caf::response_promise& rp,
                                     const call_key& key, caf::message& reply) {
  state.relayed.erase(key);
  caf::error err;
  if (!detail::is_error_reply(reply, err))
    rp.deliver(std::move(reply));
  else if (detail::is_receiver_down(err))
    rp.deliver(
        make_error(errc::unavailable, "the replica's user code stopped"));
  else
    rp.deliver(std::move(err));
  // A draining replica hears through gate_empty_atom.
  state.args.gate->leave();
}

/// A caller on another node cancelled its call: as a caller here would
/// (call_host::cancel_in_flight), flag the guard, then tell the user actor,
/// whose handler sees the cancellation.
void replica_actor::on_cancel(uint64_t request) {
  auto i = state.relayed.find(
      call_key{caf::actor_cast<caf::actor_addr>(current_sender()), request});
  if (i == state.relayed.end() || !state.user)
    return;
  auto guard = i->second.lock();
  if (!guard)
    return;
  static_cast<detail::reply_guard*>(guard->get())->cancel();
  state.user->enqueue(
      caf::make_mailbox_element(std::move(guard), caf::make_message_id(), {},
                                caf::make_message(detail::cancel_atom::value)),
      context());
}

} // namespace actorserve
