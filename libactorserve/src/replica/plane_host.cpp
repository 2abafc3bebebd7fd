// The seam between the public templates (user_plane.hpp: `user_actor`,
// replica_api.hpp, batching, model caches) and the user plane: the
// `plane_host` base of every user actor, and the free functions the
// templates call. Each is one call into the plane; none allocates.
#include "replica/user_plane.hpp"

#include <stdexcept>

#include "calls/call_host.hpp"
#include "calls/reply_guard.hpp"

namespace actorserve::detail {

// -- plane_host ---------------------------------------------------------------

plane_host::plane_host(caf::actor_system& sys,
                       std::shared_ptr<const replica_context> ctx,
                       bool isolated)
    : plane_(new user_plane(sys, std::move(ctx), isolated)) {
  // Owned: deleted in the destructor.
}

plane_host::~plane_host() {
  delete plane_;
}

caf::invoke_message_result plane_host::consume_message(caf::local_actor* self,
                                                       caf::mailbox_element& x,
                                                       consume_fn next) {
  auto& up = *plane_;
  user_plane::activity_scope turn{*up.activity_};
  if (up.handle_framework_message(self, x))
    return caf::invoke_message_result::consumed;
  user_plane::message_scope scope{up, x};
  if (scope.refused())
    return caf::invoke_message_result::consumed;
  try {
    if (x.mid.is_response() && up.intercept_response(x))
      return caf::invoke_message_result::consumed;
    return next(self, x);
  } catch (const error_exception& e) {
    scope.fail(make_error(e.code(), e.what()));
  } catch (const std::exception& e) {
    scope.fail(make_error(errc::user_error, e.what()));
  } catch (...) {
    scope.fail(make_error(errc::user_error, "unknown exception"));
  }
  return caf::invoke_message_result::consumed;
}

caf::execution_unit*
plane_host::waking_unit(caf::execution_unit* eu) const noexcept {
  return plane_->waking_unit(eu);
}

bool plane_host::hand_over(caf::resumable* job, caf::execution_unit* eu) {
  return plane_->hand_over(job, eu);
}

void plane_host::bind_actor(caf::local_actor* self, caf::resumable* job) {
  plane_->bind_actor(self, job);
}

void plane_host::exit_plane() {
  plane_->mark_exiting();
  plane_->stop_pool();
}

// -- finding a plane ----------------------------------------------------------

user_plane* plane_of_host(caf::local_actor* self) noexcept {
  auto host = dynamic_cast<plane_host*>(self);
  return host != nullptr ? &host->plane() : nullptr;
}

user_plane& user_plane_of(caf::local_actor* self) {
  auto ptr = find_user_plane(self);
  if (ptr == nullptr)
    throw std::logic_error("this actor is not a deployment replica");
  return *ptr;
}

// -- what public templates ask of a plane --------------------------------------

const replica_context& plane_context(caf::local_actor* self) {
  return user_plane_of(self).context();
}

const request_meta* plane_request(caf::local_actor* self) {
  return user_plane_of(self).current_context();
}

bool plane_cancelled(caf::local_actor* self) {
  return user_plane_of(self).cancelled();
}

void plane_on_cancel(caf::local_actor* self, std::function<void()> f) {
  user_plane_of(self).on_cancel(std::move(f));
}

void plane_set_health_check(caf::local_actor* self, std::function<void()> f) {
  user_plane_of(self).set_health_check(std::move(f));
}

void plane_set_reconfigure(caf::local_actor* self,
                           std::function<void(const std::string&)> hook) {
  user_plane_of(self).set_reconfigure(std::move(hook));
}

void offload(caf::local_actor* self, std::shared_ptr<promise_slot_base> slot,
             std::function<std::function<void()>()> job) {
  user_plane_of(self).offload(self, std::move(slot), std::move(job));
}

completion_poster plane_poster(caf::local_actor* self) {
  return user_plane_of(self).poster(self);
}

completion_poster plane_poster(user_plane& up, caf::local_actor* self) {
  return up.poster(self);
}

// -- what the request path asks of a plane (calls/) ----------------------------

void defer_unanswered(user_plane& owner, caf::strong_actor_ptr caller,
                      caf::message_id mid) {
  owner.defer_unanswered(std::move(caller), mid);
}

void plane_route(user_plane& up, const endpoint_ptr& ep, caf::message_id mid,
                 request_meta&& meta, caf::message&& args,
                 caf::response_promise&& rp) {
  up.route(ep, mid, std::move(meta), std::move(args), std::move(rp));
}

} // namespace actorserve::detail
