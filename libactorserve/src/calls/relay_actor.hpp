/// @file
/// A base for actors that relay calls whose reply type they do not know
/// (routers and replicas).
///
/// CAF 0.17 matches responses against typed handlers and has no catch-all for
/// event-based actors. A relay instead sends requests with its own ids and
/// takes the matching responses in `consume`, before CAF's response
/// handling: the reply message is moved, never copied, and no behavior is
/// allocated per call.
#pragma once

#include <functional>
#include <unordered_map>
#include <utility>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>
#include <caf/message_id.hpp>
#include <caf/sec.hpp>

namespace actorserve::detail {

class relay_actor : public caf::event_based_actor {
public:
  /// Receives the reply: a value message, or a message holding one
  /// `caf::error`.
  using continuation = std::function<void(caf::message&)>;

  explicit relay_actor(caf::actor_config& cfg) : caf::event_based_actor(cfg) {}

  /// Sends `msg` as a request to `dest`; `k` gets the reply.
  void relay(const caf::actor& dest, caf::message msg, continuation k) {
    relay_as(dest, std::move(msg), std::move(k),
             [this](caf::message_id) { return ctrl(); });
  }

  /// As `relay`, with `make_sender(mid)` as the request's sender: one that
  /// stands for this actor (a reply guard), so the answer to `mid` still
  /// comes back here.
  template <class MakeSender>
  void relay_as(const caf::actor& dest, caf::message msg, continuation k,
                MakeSender make_sender) {
    auto mid = new_request_id(caf::message_priority::normal);
    pending_.emplace(mid.response_id().integer_value(),
                     entry{dest.address(), std::move(k)});
    dest->enqueue(
        caf::make_mailbox_element(make_sender(mid), mid, {}, std::move(msg)),
        context());
  }

  /// Fails every pending relay to `dest` with `err` (the receiver died
  /// holding them).
  void fail_relays_to(const caf::actor_addr& dest, const caf::error& err) {
    std::vector<continuation> ks;
    for (auto i = pending_.begin(); i != pending_.end();) {
      if (i->second.dest == dest) {
        ks.push_back(std::move(i->second.k));
        i = pending_.erase(i);
      } else {
        ++i;
      }
    }
    for (auto& k : ks) {
      auto msg = caf::make_message(err);
      k(msg);
    }
  }

  /// Fails every pending relay with `err` (the actor is ending: without an
  /// answer, its callers would wait forever).
  void fail_all_relays(const caf::error& err) {
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& kvp : pending) {
      auto msg = caf::make_message(err);
      kvp.second.k(msg);
    }
  }

  caf::invoke_message_result consume(caf::mailbox_element& x) override {
    if (x.mid.is_response()) {
      auto i = pending_.find(x.mid.integer_value());
      if (i != pending_.end()) {
        auto k = std::move(i->second.k);
        pending_.erase(i);
        auto msg = x.move_content_to_message();
        k(msg);
        return caf::invoke_message_result::consumed;
      }
    }
    return caf::event_based_actor::consume(x);
  }

private:
  struct entry {
    caf::actor_addr dest;
    continuation k;
  };

  std::unordered_map<uint64_t, entry> pending_;
};

/// Returns whether `msg` is an error reply, and if so moves the error into
/// `err` (leaving `msg` hollow: forward `err`, not `msg`). An empty error
/// counts as an unknown failure.
inline bool is_error_reply(caf::message& msg, caf::error& err) {
  if (msg.match_elements<caf::error>()) {
    err = std::move(msg.get_mutable_as<caf::error>(0));
    if (!err)
      err = caf::make_error(caf::sec::runtime_error);
    return true;
  }
  return false;
}

/// Returns whether `err` says the receiver of a request was gone.
inline bool is_receiver_down(const caf::error& err) {
  return err.category() == caf::atom("system") &&
         err.code() == static_cast<uint8_t>(caf::sec::request_receiver_down);
}

} // namespace actorserve::detail
