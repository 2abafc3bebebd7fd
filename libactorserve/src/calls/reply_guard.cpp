#include "calls/reply_guard.hpp"

#include <caf/actor_control_block.hpp>
#include <caf/attachable.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/make_actor.hpp>
#include <caf/make_message.hpp>

#include "actorserve/error.hpp"
#include "actorserve/user_plane.hpp"
#include "ops/logging.hpp"
#include "calls/relay_actor.hpp"

namespace actorserve::detail {

caf::error dropped_promise_error() {
  return make_error(errc::internal,
                    "the handler ended without answering the request (its "
                    "response promise was dropped undelivered)");
}

void answer_request(const caf::strong_actor_ptr& caller, caf::message_id mid,
                    caf::error err, caf::execution_unit* host) {
  if (!caller)
    return;
  caller->get()->enqueue(
      caf::make_mailbox_element(nullptr, mid.response_id(), {},
                                caf::make_message(std::move(err))),
      host);
}

reply_guard::reply_guard(caf::actor_config& cfg, caf::strong_actor_ptr caller,
                         caf::message_id mid, request_meta meta,
                         caf::message args)
    : caf::abstract_actor(cfg), caller_(std::move(caller)), mid_(mid),
      meta_(std::move(meta)), args_(std::move(args)) {}

caf::strong_actor_ptr reply_guard::make(caf::abstract_actor* host,
                                        caf::strong_actor_ptr caller,
                                        caf::message_id mid, request_meta meta,
                                        caf::message args) {
  caf::actor_config cfg;
  return caf::make_actor<reply_guard, caf::strong_actor_ptr>(
      host->id(), host->node(), &host->home_system(), cfg, std::move(caller),
      mid, std::move(meta), std::move(args));
}

bool reply_guard::adopt(user_plane* owner,
                        std::shared_ptr<const plane_life> life) {
  if (owner_ != nullptr)
    return owner_ == owner;
  // Taken: the call will not be routed again, and the handler should own
  // its arguments alone.
  args_ = caf::message{};
  owner_ = owner;
  life_ = std::move(life);
  return true;
}

void reply_guard::count() {
  if (!life_ || (!life_->requests && !access_log_on()))
    return;
  started_ = std::chrono::steady_clock::now();
  counted_.store(true, std::memory_order_release);
}

void reply_guard::finish(bool error) noexcept {
  if (!counted_.load(std::memory_order_acquire))
    return;
  std::chrono::duration<double, std::milli> ms =
      std::chrono::steady_clock::now() - started_;
  life_->requests.inc();
  if (error)
    life_->errors.inc();
  life_->latency_ms.observe(ms.count());
  if (access_log_on())
    log_replica_call(life_->app, life_->deployment, life_->replica,
                     meta_.request_id, !error, ms.count());
}

reply_guard::~reply_guard() {
  if (answered_.exchange(true, std::memory_order_acq_rel) || !caller_)
    return;
  finish(true); // every answer from here on is an error
  if (owner_ != nullptr && running_plane() == owner_) {
    // Inside the owner's current message: it decides the answer when the
    // message is done (the exception it threw, if any).
    defer_unanswered(*owner_, std::move(caller_), mid_);
    return;
  }
  if (cancelled())
    answer_request(caller_, mid_,
                   make_error(errc::cancelled, "the request was cancelled"),
                   nullptr);
  else if (life_ && life_->exiting.load(std::memory_order_acquire))
    answer_request(
        caller_, mid_,
        make_error(errc::unavailable, "the replica stopped before answering"),
        nullptr);
  else
    answer_request(caller_, mid_, dropped_promise_error(), nullptr);
}

void reply_guard::enqueue(caf::mailbox_element_ptr what,
                          caf::execution_unit* host) {
  if (!what || !caller_)
    return;
  if (what->mid.is_response()) {
    if (answered_.exchange(true, std::memory_order_acq_rel))
      return; // answered already: exactly once
    auto& content = what->content();
    auto is_error = content.match_elements<caf::error>();
    finish(is_error);
    if (is_error && !args_.empty() &&
        is_receiver_down(content.get_as<caf::error>(0))) {
      // Bounced before the user actor took the call: the caller routes it
      // again with these arguments.
      what = caf::make_mailbox_element(
          std::move(what->sender), what->mid, {},
          caf::make_message(content.get_as<caf::error>(0), std::move(args_)));
    }
  }
  caller_->get()->enqueue(std::move(what), host);
}

bool reply_guard::answer(caf::error err, caf::execution_unit* host) {
  return deliver(caf::make_message(std::move(err)), host);
}

bool reply_guard::deliver(caf::message msg, caf::execution_unit* host) {
  if (answered_.exchange(true, std::memory_order_acq_rel) || !caller_)
    return false;
  finish(msg.match_elements<caf::error>());
  caller_->get()->enqueue(caf::make_mailbox_element(nullptr, mid_.response_id(),
                                                    {}, std::move(msg)),
                          host);
  return true;
}

void answer_context(const caf::strong_actor_ptr& token, caf::message msg) {
  if (token)
    static_cast<reply_guard*>(token->get())->deliver(std::move(msg), nullptr);
}

void reply_guard::attach(caf::attachable_ptr) {
  // Never exits while referenced; nothing to tell.
}

size_t reply_guard::detach(const caf::attachable::token&) {
  return 0;
}

void reply_guard::add_link(caf::abstract_actor*) {}

void reply_guard::remove_link(caf::abstract_actor*) {}

bool reply_guard::add_backlink(caf::abstract_actor*) {
  return false;
}

bool reply_guard::remove_backlink(caf::abstract_actor*) {
  return false;
}

} // namespace actorserve::detail
