// A deployment's endpoint (the replica set its callers read), how a
// reply is classified, and the queue budget callers share.
#include "calls/routing.hpp"

#include <algorithm>

#include <caf/sec.hpp>

#include "actorserve/error.hpp"
#include "calls/relay_actor.hpp" // is_receiver_down

namespace actorserve {

// -- endpoint -----------------------------------------------------------------

endpoint::endpoint(std::string app, std::string deployment,
                   uint32_t max_ongoing_requests, int64_t max_queued_requests)
    : app_(std::move(app)), deployment_(std::move(deployment)),
      max_ongoing_(max_ongoing_requests), max_queued_(max_queued_requests),
      ingress_budget_(std::make_shared<std::atomic<int64_t>>(0)),
      set_(std::make_shared<replica_set>()) {}

void endpoint::publish(std::vector<replica_ref> replicas,
                       bool scales_from_zero) {
  auto next = std::make_shared<replica_set>();
  next->replicas = std::move(replicas);
  next->scales_from_zero = scales_from_zero;
  std::lock_guard<std::mutex> guard{mtx_};
  if (!removed_)
    set_.set(std::move(next));
}

void endpoint::set_limits(uint32_t max_ongoing_requests,
                          int64_t max_queued_requests) {
  max_ongoing_.store(max_ongoing_requests, std::memory_order_relaxed);
  max_queued_.store(max_queued_requests, std::memory_order_relaxed);
}

void endpoint::remove() {
  auto next = std::make_shared<replica_set>();
  next->removed = true;
  caf::actor gateway;
  std::lock_guard<std::mutex> guard{mtx_};
  removed_ = true;
  set_.set(std::move(next));
  gateway.swap(gateway_);
}

void endpoint::set_gateway(caf::actor gateway) {
  std::lock_guard<std::mutex> guard{mtx_};
  gateway_ = std::move(gateway);
}

caf::actor endpoint::gateway() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return gateway_;
}

// -- replies ------------------------------------------------------------------

call_sink::~call_sink() = default;

reply_kind classify_reply(const caf::type_erased_tuple& reply,
                          uint32_t& reported, caf::message& returned) {
  reported = 0;
  returned = caf::message{};
  if (reply.match_elements<caf::error, caf::message>() &&
      detail::is_receiver_down(reply.get_as<caf::error>(0))) {
    returned = reply.get_as<caf::message>(1);
    return reply_kind::rejected; // bounced, and its arguments with it
  }
  if (!reply.match_elements<caf::error>())
    return reply_kind::answer;
  auto& err = reply.get_as<caf::error>(0);
  if (err.category() == caf::atom("system") &&
      err.code() == static_cast<uint8_t>(caf::sec::request_receiver_down))
    return reply_kind::rejected; // gone before it took the call
  if (code_of(err) != errc::rejected)
    return reply_kind::answer;
  auto& ctx = err.context();
  if (ctx.size() == 2 && ctx.match_element<uint32_t>(1))
    reported = ctx.get_as<uint32_t>(1);
  return reply_kind::rejected;
}

namespace detail {

bool take_queue_slot(queue_budget& budget, int64_t limit, bool force) noexcept {
  if (force || limit < 0) {
    budget.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  auto cur = budget.load(std::memory_order_relaxed);
  while (cur < limit)
    if (budget.compare_exchange_weak(cur, cur + 1, std::memory_order_relaxed))
      return true;
  return false;
}

} // namespace detail

} // namespace actorserve
