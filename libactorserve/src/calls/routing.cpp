// The caller's router (routing.hpp): per caller, power of two choices
// among the replicas with room, a queue while none has any, and retries.
#include "calls/routing.hpp"

#include <algorithm>

#include <caf/sec.hpp>

#include "actorserve/error.hpp"
#include "calls/relay_actor.hpp" // is_receiver_down

namespace actorserve {

// -- caller_router ------------------------------------------------------------

caller_router::caller_router(endpoint_ptr ep, call_sink& sink, uint64_t seed,
                             std::shared_ptr<queue_budget> budget)
    : ep_(std::move(ep)), sink_(sink),
      budget_(budget ? std::move(budget) : std::make_shared<queue_budget>(0)),
      rng_(seed) {}

caller_router::~caller_router() {
  for (auto& call : queue_)
    if (call->waited)
      give_slot();
}

caller_router::slot* caller_router::find(uint64_t id) noexcept {
  for (auto& s : slots_)
    if (s.ref.id == id)
      return &s;
  return nullptr;
}

bool caller_router::refresh() {
  auto v = ep_->version();
  if (v != version_) {
    version_ = v;
    set_ = ep_->snapshot();
    std::vector<slot> next;
    next.reserve(set_->replicas.size());
    for (auto& ref : set_->replicas) {
      slot s{ref};
      if (auto old = find(ref.id); old != nullptr) {
        s.in_flight = old->in_flight;
        s.others = old->others;
      }
      next.push_back(std::move(s));
    }
    slots_ = std::move(next);
  }
  return !slots_.empty();
}

caf::error caller_router::no_replicas() const {
  if (set_ && set_->removed)
    return make_error(errc::unavailable,
                      "deployment '" + ep_->deployment() + "' was deleted");
  return make_error(errc::unavailable,
                    "deployment '" + ep_->deployment() + "' has no replicas");
}

uint32_t caller_router::slot::load() const noexcept {
  // A gate counts every caller's calls, as they are now; without one, this
  // caller knows its own and what the replica reported when it last
  // rejected.
  if (!ref.gate)
    return in_flight + others;
  if (!ref.gate->is_open())
    return ref.gate->max_ongoing();
  return ref.gate->running();
}

bool caller_router::try_dispatch(call_ptr& call) {
  // Candidates: replicas with room that did not just reject this call.
  // Small sets (a deployment's replicas); no allocation past the first call.
  thread_local std::vector<size_t> candidates;
  thread_local std::vector<uint32_t> loads;
  candidates.clear();
  loads.clear();
  auto limit = ep_->max_ongoing_requests();
  for (size_t i = 0; i < slots_.size(); ++i) {
    auto& s = slots_[i];
    auto load = s.load();
    if (load < limit && std::find(call->tried.begin(), call->tried.end(),
                                  s.ref.id) == call->tried.end()) {
      candidates.push_back(i);
      loads.push_back(load);
    } else if (load >= limit && s.ref.gate && s.ref.gate->is_open()) {
      s.ref.gate->turned_away(); // its health probes see the demand
    }
  }
  // A multiplexed call tries the replicas that hold its model first, else
  // those holding the fewest models (so a model spreads when its holders
  // are full), then the rest.
  auto& model = call->meta.multiplexed_model_id;
  if (!model.empty() && candidates.size() > 1) {
    thread_local std::vector<size_t> rest;
    thread_local std::vector<uint32_t> rest_loads;
    detail::prefer_model(
        model, candidates, loads, rest, rest_loads,
        [this](size_t i) -> std::shared_ptr<const std::vector<std::string>> {
          auto& ref = slots_[i].ref;
          if (ref.gate)
            return ref.gate->models();
          return ref.models ? ref.models->get() : nullptr;
        });
    if (dispatch_nearest(call, candidates, loads))
      return true;
    candidates.swap(rest);
    loads.swap(rest_loads);
  }
  return dispatch_nearest(call, candidates, loads);
}

bool caller_router::dispatch_nearest(call_ptr& call,
                                     std::vector<size_t>& candidates,
                                     std::vector<uint32_t>& loads) {
  // Replicas in this process (those with a gate here) while they have
  // room, then those on other nodes: Ray's locality-aware routing.
  thread_local std::vector<size_t> remote;
  thread_local std::vector<uint32_t> remote_loads;
  remote.clear();
  remote_loads.clear();
  size_t near = 0;
  for (size_t j = 0; j < candidates.size(); ++j) {
    if (slots_[candidates[j]].ref.gate) {
      candidates[near] = candidates[j];
      loads[near] = loads[j];
      ++near;
    } else {
      remote.push_back(candidates[j]);
      remote_loads.push_back(loads[j]);
    }
  }
  candidates.resize(near);
  loads.resize(near);
  if (near > 0 && dispatch_among(call, candidates, loads))
    return true;
  return dispatch_among(call, remote, remote_loads);
}

bool caller_router::dispatch_among(call_ptr& call,
                                   std::vector<size_t>& candidates,
                                   std::vector<uint32_t>& loads) {
  auto draw = [this](size_t n) {
    return std::uniform_int_distribution<size_t>{0, n - 1}(rng_);
  };
  while (!candidates.empty()) {
    auto k = detail::pick_two(loads, draw);
    auto& chosen = slots_[candidates[k]];
    if (auto& gate = chosen.ref.gate) {
      uint32_t running = 0;
      if (!gate->try_enter(running)) {
        // Filled up (or closed) since we looked: try the others.
        candidates.erase(candidates.begin() + static_cast<ptrdiff_t>(k));
        loads.erase(loads.begin() + static_cast<ptrdiff_t>(k));
        continue;
      }
      call->gate = gate;
    }
    ++chosen.in_flight;
    ++in_flight_;
    call->replica = chosen.ref.id;
    sink_.dispatch(std::move(call), chosen.ref);
    return true;
  }
  return false;
}

bool caller_router::take_slot(bool force) {
  if (!detail::take_queue_slot(*budget_, ep_->max_queued_requests(), force))
    return false;
  ep_->add_queued(1);
  return true;
}

void caller_router::give_slot() {
  budget_->fetch_sub(1, std::memory_order_relaxed);
  ep_->add_queued(-1);
}

bool caller_router::cold() const noexcept {
  return set_ && set_->scales_from_zero && !set_->removed;
}

void caller_router::expire_waiting() {
  auto now = caf::make_timestamp();
  for (auto i = queue_.begin(); i != queue_.end();) {
    if (!expired((*i)->meta, now)) {
      ++i;
      continue;
    }
    auto call = std::move(*i);
    i = queue_.erase(i);
    give_slot();
    sink_.fail(std::move(call),
               make_error(errc::deadline_exceeded,
                          "the request expired while queued for " +
                              ep_->deployment()));
  }
}

void caller_router::wait(call_ptr call, bool front) {
  // A call that waited before keeps its place even if the queue filled up
  // meanwhile; a new one needs a free slot.
  if (!take_slot(call->waited)) {
    auto n = budget_->load(std::memory_order_relaxed);
    sink_.fail(std::move(call),
               make_error(errc::overloaded,
                          "deployment '" + ep_->deployment() + "' has " +
                              std::to_string(n) +
                              " requests queued (max_queued_requests)"));
    return;
  }
  call->waited = true;
  call->tried.clear();
  if (front)
    queue_.push_front(std::move(call));
  else
    queue_.push_back(std::move(call));
  arm();
}

void caller_router::submit(call_ptr call) {
  if (!refresh()) {
    // Scaling from zero: wait for the replica the controller starts.
    if (cold())
      wait(std::move(call), false);
    else
      sink_.fail(std::move(call), no_replicas());
    return;
  }
  // FIFO: a new call never overtakes waiting ones.
  if (queue_.empty() && try_dispatch(call))
    return;
  wait(std::move(call), false);
}

void caller_router::answered(uint64_t replica) {
  if (in_flight_ > 0)
    --in_flight_;
  if (auto s = find(replica); s != nullptr) {
    if (s->in_flight > 0)
      --s->in_flight;
    s->others = 0; // an answer means it has room again
  }
  if (!queue_.empty())
    pump();
}

void caller_router::rejected(call_ptr call, uint32_t reported) {
  if (in_flight_ > 0)
    --in_flight_;
  if (auto s = find(call->replica); s != nullptr) {
    if (s->in_flight > 0)
      --s->in_flight;
    // "Full now", whatever the count says (other callers, or a stricter
    // limit at the replica).
    s->others = std::max(reported, ep_->max_ongoing_requests());
  }
  call->tried.push_back(call->replica);
  // A call in flight holds no queue slot (pump gave it back when it sent
  // the call); wait() takes one if the call has to wait again.
  if (!refresh()) {
    if (cold()) {
      wait(std::move(call), true);
      return;
    }
    sink_.fail(std::move(call), no_replicas());
    fail_waiting(no_replicas());
    return;
  }
  if (try_dispatch(call))
    return;
  // It was first in line when it was sent: it goes back to the front.
  wait(std::move(call), true);
}

void caller_router::on_retry() {
  retry_armed_ = false;
  // Reported loads may be stale: probe again.
  for (auto& s : slots_)
    s.others = 0;
  pump();
}

void caller_router::update() {
  if (!queue_.empty())
    pump();
}

void caller_router::fail_waiting(const caf::error& err) {
  while (!queue_.empty()) {
    auto call = std::move(queue_.front());
    queue_.pop_front();
    give_slot();
    sink_.fail(std::move(call), err);
  }
}

void caller_router::pump() {
  if (!refresh()) {
    if (!cold()) {
      fail_waiting(no_replicas());
      return;
    }
    // No replica yet: only deadlines move.
    expire_waiting();
    arm();
    return;
  }
  expire_waiting();
  while (!queue_.empty()) {
    auto& front = queue_.front();
    // Release the slot before dispatching: a rejection takes it again.
    give_slot();
    if (!try_dispatch(front)) {
      take_slot(true);
      break;
    }
    queue_.pop_front();
  }
  arm();
}

void caller_router::arm() {
  // While calls wait, probe periodically: full replicas may have room
  // through other callers' answers, and the replica set may grow.
  if (queue_.empty() || retry_armed_)
    return;
  retry_armed_ = true;
  sink_.arm_retry(std::chrono::duration_cast<caf::timespan>(retry_backoff));
}

} // namespace actorserve
