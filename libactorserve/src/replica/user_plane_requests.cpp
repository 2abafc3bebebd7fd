// The user plane's side of "every request answered exactly once": each
// request a user actor takes gets a reply guard, the context its handler
// and continuations run in, and an answer when its promise is dropped.
#include <exception>
#include <string>

#include <caf/atom.hpp>
#include <caf/mailbox_element.hpp>

#include "actorserve/error.hpp"
#include "actorserve/handle.hpp"
#include "replica/user_plane.hpp"
#include "calls/call_host.hpp"
#include "calls/reply_guard.hpp"

namespace actorserve::detail {

// -- exactly one answer per request -------------------------------------------

namespace {

thread_local user_plane* running_plane_ = nullptr;

} // namespace

user_plane* user_plane::running_here() noexcept {
  return running_plane_;
}

user_plane::running_scope::running_scope(user_plane* up) noexcept
    : prev_(running_plane_) {
  running_plane_ = up;
}

user_plane::running_scope::~running_scope() {
  running_plane_ = prev_;
}

user_plane* running_plane() noexcept {
  return running_plane_;
}

user_plane* find_user_plane(caf::local_actor* self) noexcept {
  // Comparing with the plane running here costs a load; the cross-cast
  // through the actor's class hierarchy (plane_of_host) costs thousands of
  // instructions.
  if (auto up = running_plane_; up != nullptr && up->self() == self)
    return up;
  return plane_of_host(self);
}

void user_plane::defer_unanswered(caf::strong_actor_ptr caller,
                                  caf::message_id mid) {
  unanswered_.emplace_back(std::move(caller), mid);
}

void user_plane::mark_exiting() noexcept {
  life_->exiting.store(true, std::memory_order_release);
}

namespace {

/// Messages the framework sends a user actor carry an atom named "as_...".
bool is_framework_message(const caf::type_erased_tuple& msg) {
  if (msg.empty() || !msg.match_element<caf::atom_value>(0))
    return false;
  return caf::to_string(msg.get_as<caf::atom_value>(0)).rfind("as_", 0) == 0;
}

} // namespace

void user_plane::guard_request(caf::mailbox_element& x) {
  if (!x.mid.is_request() || x.mid.is_answered() || !x.sender)
    return;
  request_meta meta;
  if (auto g = dynamic_cast<reply_guard*>(x.sender->get()); g != nullptr) {
    // Made by the caller, with the request's context (or a skipped
    // message, handled again).
    if (g->adopt(this, life_)) {
      g->count(); // a routed call
      current_guard_ = x.sender;
      return;
    }
    meta = g->meta(); // delegated on by another replica: keep its context
  }
  auto guard =
      reply_guard::make(self_, std::move(x.sender), x.mid, std::move(meta));
  auto g = static_cast<reply_guard*>(guard->get());
  g->adopt(this, life_);
  if (!is_framework_message(x.content()))
    g->count(); // a call relayed by the replica actor (from another node)
  x.sender = guard;
  current_guard_ = std::move(guard);
}

const request_meta* user_plane::current_context() const noexcept {
  return context_ != nullptr ? &static_cast<reply_guard*>(context_)->meta()
                             : nullptr;
}

caf::strong_actor_ptr user_plane::context_token() const {
  return context_ != nullptr ? caf::strong_actor_ptr{context_->ctrl()}
                             : caf::strong_actor_ptr{};
}

const request_meta* current_context(caf::local_actor* self) noexcept {
  auto up = find_user_plane(self);
  return up != nullptr ? up->current_context() : nullptr;
}

caf::strong_actor_ptr context_token(caf::local_actor* self) {
  auto up = find_user_plane(self);
  return up != nullptr ? up->context_token() : caf::strong_actor_ptr{};
}

restore_context::restore_context(caf::local_actor* self,
                                 const caf::strong_actor_ptr& token)
    : up_(find_user_plane(self)), token_(token),
      uncaught_(std::uncaught_exceptions()) {
  if (up_ != nullptr) {
    prev_ = up_->context_;
    up_->context_ = token ? token->get() : nullptr;
  }
}

restore_context::~restore_context() {
  if (up_ == nullptr)
    return;
  up_->context_ = prev_;
  // The continuation is throwing: the message's catch answers this
  // request with the exception (message_scope::fail).
  if (std::uncaught_exceptions() > uncaught_ && !up_->failing_context_)
    up_->failing_context_ = token_;
}

user_plane::message_scope::message_scope(user_plane& up,
                                         caf::mailbox_element& x)
    : up_(up), prev_(running_plane_), prev_context_(up.context_) {
  running_plane_ = &up;
  up.guard_request(x);
  // A request's context is its own; a response's is set by the
  // continuation that handles it (context_scope).
  up.context_ = up.current_guard_ ? up.current_guard_->get() : nullptr;
  if (!up.current_guard_)
    return;
  // A request cancelled or expired before it started is answered, and
  // never runs.
  auto g = static_cast<reply_guard*>(up.current_guard_->get());
  if (g->cancelled()) {
    g->answer(make_error(errc::cancelled, "cancelled before it started"),
              up.self_->context());
    refused_ = true;
  } else if (g->meta().deadline.time_since_epoch().count() != 0 &&
             expired(g->meta(), caf::make_timestamp())) {
    g->answer(make_error(errc::deadline_exceeded,
                         "the request's deadline passed before it started"),
              up.self_->context());
    refused_ = true;
  }
}

void user_plane::message_scope::fail(caf::error err) {
  if (auto& g = up_.current_guard_)
    static_cast<reply_guard*>(g->get())->answer(err, up_.self_->context());
  // A continuation threw: it served this request.
  if (auto& g = up_.failing_context_)
    static_cast<reply_guard*>(g->get())->answer(err, up_.self_->context());
  err_ = std::move(err);
}

user_plane::message_scope::~message_scope() {
  // Dropping our reference may end the guard (its promise is gone): it then
  // lands in `unanswered_`, as do guards dropped during the message.
  up_.context_ = prev_context_;
  up_.failing_context_.reset();
  up_.current_guard_.reset();
  if (!up_.unanswered_.empty()) {
    auto list = std::move(up_.unanswered_);
    up_.unanswered_.clear();
    for (auto& [caller, mid] : list)
      answer_request(caller, mid, err_ ? err_ : dropped_promise_error(),
                     up_.self_->context());
  }
  running_plane_ = prev_;
}

} // namespace actorserve::detail
