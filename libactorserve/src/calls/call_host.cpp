#include "calls/call_host.hpp"

#include <caf/actor_cast.hpp>
#include <caf/local_actor.hpp>
#include <caf/make_message.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/send.hpp>

#include "actorserve/error.hpp"
#include "actorserve/user_plane.hpp"
#include "calls/reply_guard.hpp"

namespace actorserve::detail {

namespace {

/// Whether a response is CAF's timeout of the request (the caller's own,
/// armed by `request_response_timeout`).
bool is_timeout(const caf::type_erased_tuple& content) {
  if (!content.match_elements<caf::error>())
    return false;
  auto& err = content.get_as<caf::error>(0);
  return err == caf::sec::request_timeout;
}

} // namespace

class call_host::entry : public call_sink {
public:
  entry(call_host& host, endpoint_ptr ep, uint64_t seed,
        std::shared_ptr<queue_budget> budget)
      : host_(host), router(std::move(ep), *this, seed, std::move(budget)) {}

  void dispatch(call_ptr call, const replica_ref& replica) override {
    auto self = host_.self_;
    auto mid = caf::message_id{call->token};
    auto key = mid.response_id().integer_value();
    // Registered first: the answer may arrive (on another thread, for the
    // ingress) before enqueue returns, but it is handled on this one.
    auto& slot = host_.in_flight_[key];
    slot.second = this;
    if (call->gate) {
      // Admitted at the gate: straight to the user actor, with a reply
      // guard as the sender that carries the request's context. The
      // arguments go along; the guard keeps a reference only until the user
      // actor takes the call (reply_guard.hpp).
      host_.watch(replica);
      auto guard =
          reply_guard::make(self, self->ctrl(), mid, call->meta, call->args);
      call->guard = caf::actor_cast<caf::weak_actor_ptr>(guard);
      call->args_lent = !call->args.empty();
      call->gate->user()->enqueue(
          caf::make_mailbox_element(std::move(guard), mid, {},
                                    std::move(call->args)),
          self->context());
    } else {
      // A replica on another node cannot answer for itself when its node
      // is lost: watch it, so calls there fail at once instead of hanging.
      if (replica.handle->node() != self->node()) {
        call->remote = replica.handle;
        host_.watch(replica);
      }
      replica.handle->enqueue(
          caf::make_mailbox_element(
              self->ctrl(), mid, {},
              caf::make_message(call_atom::value, call->meta, call->args)),
          self->context());
    }
    slot.first = std::move(call);
  }

  void fail(call_ptr call, caf::error err) override {
    host_.answer(std::move(call), std::move(err));
  }

  void arm_retry(caf::timespan delay) override {
    armed = true;
    if (host_.timer_pending_)
      return;
    host_.timer_pending_ = true;
    caf::delayed_anon_send(caf::actor_cast<caf::actor>(host_.self_), delay,
                           route_retry_atom::value);
  }

  bool armed = false;

private:
  call_host& host_;

public:
  caller_router router;
};

call_host::call_host(caf::local_actor* self, uint64_t seed, bool ingress)
    : self_(self), seed_(seed), ingress_(ingress) {}

call_host::~call_host() {
  // Slots at replica gates are the replicas' capacity: give them back even
  // though these calls' answers will reach no one.
  for (auto& kvp : in_flight_)
    if (auto& gate = kvp.second.first->gate)
      gate->leave();
}

void call_host::route(const endpoint_ptr& ep, caf::message_id mid,
                      request_meta meta, caf::message args,
                      caf::response_promise rp, const void* parent) {
  auto& e = routers_[ep.get()];
  if (!e)
    e = std::make_unique<entry>(*this, ep, seed_ + routers_.size(),
                                ingress_ ? ep->ingress_budget() : nullptr);
  auto call = std::make_unique<routed_call>();
  call->token = mid.integer_value();
  call->meta = std::move(meta);
  call->args = std::move(args);
  call->promise = std::move(rp);
  call->parent = parent;
  e->router.submit(std::move(call));
}

void call_host::cancel_in_flight(const routed_call& call) {
  if (call.remote) {
    // The replica on the other node finds the call by its sender and
    // request id, and cancels it there as below.
    call.remote->enqueue(
        caf::make_mailbox_element(self_->ctrl(), caf::make_message_id(), {},
                                  caf::make_message(call_cancel_atom::value,
                                                    call.token)),
        self_->context());
    return;
  }
  auto guard = call.guard.lock();
  if (!guard || !call.gate)
    return;
  static_cast<reply_guard*>(guard->get())->cancel();
  // The guard as sender names the request; the flag alone drops it if it
  // has not started yet.
  call.gate->user()->enqueue(
      caf::make_mailbox_element(std::move(guard), caf::make_message_id(), {},
                                caf::make_message(cancel_atom::value)),
      nullptr);
}

template <class Pred>
size_t call_host::cancel_waiting(Pred pred) {
  size_t n = 0;
  for (auto& [ep, e] : routers_)
    for (auto& call : e->router.take_waiting(pred)) {
      ++n;
      answer(std::move(call),
             make_error(errc::cancelled, "cancelled while queued"));
    }
  return n;
}

bool call_host::cancel(caf::message_id mid) {
  auto i = in_flight_.find(mid.response_id().integer_value());
  if (i != in_flight_.end()) {
    cancel_in_flight(*i->second.first);
    return true;
  }
  auto token = mid.integer_value();
  return cancel_waiting(
             [token](const routed_call& c) { return c.token == token; }) > 0;
}

void call_host::cancel_children(const void* parent) {
  for (auto& kvp : in_flight_)
    if (kvp.second.first->parent == parent)
      cancel_in_flight(*kvp.second.first);
  cancel_waiting([parent](const routed_call& c) { return c.parent == parent; });
}

void call_host::answer(call_ptr call, caf::error err) {
  if (call->promise.pending()) {
    call->promise.deliver(std::move(err));
    return;
  }
  // Answer the request id as a replica would have: the actor's response
  // handler (or timeout) for it takes the error in a later step.
  auto mid = caf::message_id{call->token};
  self_->enqueue(caf::make_mailbox_element(self_->ctrl(), mid.response_id(), {},
                                           caf::make_message(std::move(err))),
                 self_->context());
}

void call_host::watch(const replica_ref& replica) {
  if (!watched_.insert(replica.id).second)
    return;
  auto host = caf::actor_cast<caf::weak_actor_ptr>(self_->ctrl());
  replica.handle->attach_functor([host, id = replica.id](const caf::error&) {
    if (auto ptr = host.lock())
      ptr->enqueue(nullptr, caf::make_message_id(),
                   caf::make_message(replica_gone_atom::value, id), nullptr);
  });
}

void call_host::on_replica_gone(uint64_t replica) {
  watched_.erase(replica);
  std::vector<std::pair<call_ptr, entry*>> lost;
  for (auto i = in_flight_.begin(); i != in_flight_.end();) {
    auto& call = *i->second.first;
    if (call.replica == replica && (call.gate || call.remote)) {
      lost.push_back(std::move(i->second));
      i = in_flight_.erase(i);
    } else {
      ++i;
    }
  }
  for (auto& [call, e] : lost) {
    if (call->gate) {
      call->gate->leave();
      call->gate.reset();
    }
    e->router.answered(replica);
    answer(std::move(call),
           make_error(errc::unavailable,
                      "the replica stopped while running the call"));
  }
}

bool call_host::on_response(caf::mailbox_element& x) {
  auto i = in_flight_.find(x.mid.integer_value());
  // The caller's own timeout (`call_options::timeout`): nobody waits for
  // the call now, so it does not run on. A queued one leaves the queue; a
  // running one is told at its replica, whose late answer is dropped.
  auto timed_out = is_timeout(x.content());
  if (i == in_flight_.end()) {
    if (timed_out) {
      auto mask = caf::message_id::request_id_mask;
      auto key = x.mid.integer_value() & mask;
      cancel_waiting(
          [&](const routed_call& c) { return (c.token & mask) == key; });
    }
    return false;
  }
  if (timed_out)
    cancel_in_flight(*i->second.first);
  auto call = std::move(i->second.first);
  auto e = i->second.second;
  in_flight_.erase(i);
  if (call->gate) {
    call->gate->leave();
    call->gate.reset();
  }
  uint32_t reported = 0;
  caf::message returned;
  if (classify_reply(x.content(), reported, returned) == reply_kind::rejected) {
    if (call->args_lent) {
      call->args_lent = false;
      if (returned.empty()) {
        // The user actor took the call and never answered it (it skipped
        // it, say): it may have run, so it is not sent again.
        e->router.answered(call->replica);
        answer(std::move(call),
               make_error(errc::unavailable,
                          "the replica stopped before answering"));
        return true;
      }
      call->args = std::move(returned);
    }
    e->router.rejected(std::move(call), reported);
    return true;
  }
  e->router.answered(call->replica);
  if (!call->promise.pending())
    return false;
  call->promise.deliver(x.move_content_to_message());
  return true;
}

void call_host::on_retry() {
  timer_pending_ = false;
  for (auto& [ep, e] : routers_)
    if (e->armed) {
      e->armed = false;
      e->router.on_retry();
    }
}

void call_host::update() {
  for (auto& [ep, e] : routers_)
    e->router.update();
}

void call_host::fail_all(const caf::error& err) {
  for (auto& [ep, e] : routers_)
    e->router.fail_waiting(err);
  // Calls in flight whose answer goes to a promise (delegated calls, the
  // gateway's callers) would otherwise never be answered: the answer would
  // reach a dead actor.
  for (auto& kvp : in_flight_) {
    auto& call = kvp.second.first;
    if (call->gate)
      call->gate->leave();
    if (call->promise.pending())
      call->promise.deliver(err);
  }
  in_flight_.clear();
}

// -- calls from any actor: a replica routes itself, others via the gateway --

void route_call(caf::local_actor* self, const endpoint_ptr& ep,
                caf::message_id mid, request_meta meta, caf::message args) {
  if (auto up = find_user_plane(self); up != nullptr) {
    plane_route(*up, ep, mid, std::move(meta), std::move(args),
                caf::response_promise{});
    return;
  }
  // Not a replica: the deployment's gateway routes for us.
  caf::message msg;
  caf::actor dest = ep->gateway();
  if (dest) {
    msg = caf::make_message(call_atom::value, std::move(meta), std::move(args));
  } else {
    dest = caf::actor_cast<caf::actor>(self);
    mid = mid.response_id();
    msg = caf::make_message(
        make_error(errc::unavailable,
                   "deployment '" + ep->deployment() + "' was deleted"));
  }
  dest->enqueue(
      caf::make_mailbox_element(self->ctrl(), mid, {}, std::move(msg)),
      self->context());
}

void route_delegate(caf::local_actor* self, const endpoint_ptr& ep,
                    request_meta meta, caf::message args) {
  auto rp = self->make_response_promise();
  if (auto up = find_user_plane(self); up != nullptr) {
    plane_route(*up, ep, self->new_request_id(caf::message_priority::normal),
                std::move(meta), std::move(args), std::move(rp));
    return;
  }
  if (auto gw = ep->gateway())
    rp.delegate(gw, call_atom::value, std::move(meta), std::move(args));
  else
    rp.deliver(make_error(errc::unavailable,
                          "deployment '" + ep->deployment() + "' was deleted"));
}

} // namespace actorserve::detail
