#include "replica/user_plane.hpp"

#include "ops/logging.hpp"
#include "actorserve/batching.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <iostream>
#include <stdexcept>

#include <caf/atom.hpp>
#include <caf/make_actor.hpp>
#include <caf/make_message.hpp>
#include <caf/response_promise.hpp>
#include <caf/ref_counted.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "actorserve/handle.hpp"
#include "actorserve/metrics.hpp"
#include "calls/call_host.hpp"
#include "actorserve/stream_core.hpp"
#include "calls/reply_guard.hpp"
#include "runtime/serve_config.hpp"
#include "replica/user_pool.hpp"

namespace actorserve::detail {

// -- user_plane ---------------------------------------------------------------

user_plane::user_plane(caf::actor_system& sys,
                       std::shared_ptr<const replica_context> ctx,
                       bool isolated)
    // Replicas make their contexts mutable (replica.cpp); a reconfigure
    // changes `user_config` in place.
    : activity_(ctx->activity.get()), life_(std::make_shared<plane_life>()),
      ctx_(std::const_pointer_cast<replica_context>(std::move(ctx))),
      pool_(std::make_unique<blocking_pool>(
          ctx_->max_ongoing_requests, sys, ctx_->deployment + "~b",
          std::chrono::milliseconds{}, ctx_->activity)),
      completions_(std::make_shared<completion_box>()) {
  life_->app = ctx_->app;
  life_->deployment = ctx_->deployment;
  life_->replica = ctx_->replica_id;
  if (auto reg = metrics_of(sys)) {
    auto labels = replica_labels(ctx_->deployment, ctx_->replica_id, ctx_->app);
    life_->requests = reg->make_counter(
        "ray_serve_deployment_request_counter_total",
        "Requests a replica finished (answered), errors included", labels);
    life_->errors =
        reg->make_counter("ray_serve_deployment_error_counter_total",
                          "Requests a replica answered with an error", labels);
    life_->latency_ms = reg->make_histogram(
        "ray_serve_deployment_processing_latency_ms",
        "Time from a request's start on a replica to its answer, in ms",
        default_latency_buckets_ms(), std::move(labels));
  }
  if (isolated) {
    member_ = user_pool::attach(sys);
    lanes_ = member_->shared_from_this();
    lanes_->add_member();
  }
}

user_plane::~user_plane() {
  callers_.reset();
  leave_lanes();
}

void user_plane::leave_lanes() {
  if (!member_)
    return;
  lanes_->remove_member();
  member_.reset();
}

caf::execution_unit*
user_plane::waking_unit(caf::execution_unit* eu) const noexcept {
  return lanes_ ? lanes_->waking_unit() : eu;
}

bool user_plane::on_own_unit() const noexcept {
  return lanes_ && self_ && lanes_->runs_here(self_->context());
}

void user_plane::bind_actor(caf::local_actor* self, caf::resumable*) {
  self_ = self;
}

void user_plane::route(const endpoint_ptr& ep, caf::message_id mid,
                       request_meta meta, caf::message args,
                       caf::response_promise rp) {
  if (!callers_)
    callers_ = std::make_unique<call_host>(self_, ctx_->replica_id * 7919 +
                                                      self_->id());
  callers_->route(ep, mid, std::move(meta), std::move(args), std::move(rp),
                  context_);
}

void user_plane::on_cancel(std::function<void()> f) {
  if (context_ == nullptr)
    return;
  auto g = static_cast<reply_guard*>(context_);
  if (g->cancelled()) {
    f(); // cancelled already: at once
    return;
  }
  // Forget hooks of requests that are over: their guards are gone. (An
  // answered request is not over while its stream runs: the stream holds
  // the guard.)
  // Scans are spaced out as the table grows: amortized O(1) per hook.
  if (cancel_hooks_.size() >= hooks_scan_at_) {
    for (auto i = cancel_hooks_.begin(); i != cancel_hooks_.end();) {
      if (i->second.guard.lock() == nullptr)
        i = cancel_hooks_.erase(i);
      else
        ++i;
    }
    hooks_scan_at_ = std::max<size_t>(64, 2 * cancel_hooks_.size());
  }
  auto& entry = cancel_hooks_[context_];
  // The key is an address: a guard that is gone may have left an entry
  // that a new guard at the same address must not inherit (its hooks
  // would run for the wrong request, or be swept away with the old one).
  if (entry.guard.lock().get() != context_->ctrl()) {
    entry.guard = caf::actor_cast<caf::weak_actor_ptr>(context_->ctrl());
    entry.hooks.clear();
  }
  entry.hooks.push_back(std::move(f));
}

} // namespace actorserve::detail

namespace actorserve {

bool cancellation_token::cancelled() const noexcept {
  auto ptr = guard_.lock();
  return ptr && static_cast<detail::reply_guard*>(ptr->get())->cancelled();
}

} // namespace actorserve

namespace actorserve::detail {

void user_plane::set_reconfigure(std::function<void(const std::string&)> hook) {
  reconfigure_ = std::move(hook);
  if (reconfigure_ && ctx_->user_config != "null")
    reconfigure_(ctx_->user_config);
}

void user_plane::reconfigure(caf::local_actor* self, caf::mailbox_element& x) {
  auto& content = x.content();
  ctx_->user_config = content.get_as<std::string>(1);
  // The replica set the gate's new limit before it asked: the blocking
  // pool follows it.
  if (auto gate = ctx_->gate.lock()) {
    ctx_->max_ongoing_requests = gate->max_ongoing();
    pool_->set_max_threads(ctx_->max_ongoing_requests);
  }
  caf::message answer;
  try {
    if (reconfigure_)
      reconfigure_(ctx_->user_config);
    answer = caf::make_message(true);
  } catch (...) {
    answer = caf::make_message(error_of(std::current_exception()));
  }
  reply(self, x, std::move(answer));
}

void user_plane::set_health_check(std::function<void()> check) {
  health_check_ = std::move(check);
  ctx_->user_health_check->store(static_cast<bool>(health_check_));
}

namespace {

/// A health check answers its probe itself: there is no promise to keep.
struct probe_slot final : promise_slot_base {
  void drop() override {}
};

} // namespace

void user_plane::run_health_check(caf::local_actor* self,
                                  caf::mailbox_element& x) {
  auto to = x.sender;
  auto mid = x.mid.response_id();
  auto answer = [self, to, mid](caf::message msg) {
    if (to)
      to->enqueue(
          caf::make_mailbox_element(self->ctrl(), mid, {}, std::move(msg)),
          self->context());
  };
  if (!health_check_) {
    answer(caf::make_message(true));
    return;
  }
  if (!probes_)
    probes_ = probe_pool(self->home_system());
  // One check at a time: a check that has not returned by the next probe
  // fails that probe, and holds one probe thread, not more.
  if (checking_->exchange(true)) {
    answer(caf::make_message(make_error(
        errc::unavailable, "its previous health check has not returned")));
    return;
  }
  // On the probe pool: a check may block, user code never runs on the
  // system plane, and the replica's own blocking threads may all be taken.
  offload_to(*probes_, self, std::make_shared<probe_slot>(),
             [check = health_check_, answer,
              busy = checking_]() -> std::function<void()> {
               caf::message msg;
               try {
                 check();
                 msg = caf::make_message(true);
               } catch (...) {
                 msg = caf::make_message(error_of(std::current_exception()));
               }
               busy->store(false);
               return [answer, msg]() mutable { answer(std::move(msg)); };
             });
}

bool user_plane::cancelled() const noexcept {
  return context_ != nullptr &&
         static_cast<reply_guard*>(context_)->cancelled();
}

void user_plane::cancel_request(caf::abstract_actor* guard) {
  // The request's own calls first: their replicas stop early too.
  if (callers_)
    callers_->cancel_children(guard);
  auto i = cancel_hooks_.find(guard);
  if (i == cancel_hooks_.end())
    return;
  // An entry left by an earlier guard at this address is not this
  // request's.
  auto own = i->second.guard.lock().get() == guard->ctrl();
  auto hooks = std::move(i->second.hooks);
  cancel_hooks_.erase(i);
  if (!own)
    return;
  // The hooks run in the request's context: calls they make belong to it.
  auto prev = context_;
  context_ = guard;
  for (auto& f : hooks) {
    try {
      f();
    } catch (...) {
      // A hook that throws must not stop the others; the request is
      // answered `cancelled` by its guard.
    }
  }
  context_ = prev;
}

bool user_plane::intercept_response(caf::mailbox_element& x) {
  return callers_ && callers_->on_response(x);
}

bool user_plane::hand_over(caf::resumable* job, caf::execution_unit* eu) {
  if (!lanes_ || lanes_->runs_here(eu))
    return false;
  // The scheduler that resumed us drops its reference when we return;
  // the pool keeps one of its own.
  job->intrusive_ptr_add_ref_impl();
  lanes_->hand_over(job);
  return true;
}

bool user_plane::handle_framework_message(caf::local_actor* self,
                                          caf::mailbox_element& x) {
  auto& content = x.content();
  // Every framework message starts with an atom: a call whose first
  // argument is not one (an http_request, say) skips the checks below.
  if (content.empty() || !content.match_element<caf::atom_value>(0))
    return false;
  // Completions and timers run user code (a batch's `done`, say) that asks
  // whether it runs on this actor.
  running_scope here{this};
  if (content.match_elements<completions_atom>()) {
    std::vector<std::function<void()>> done;
    {
      std::lock_guard<std::mutex> guard{completions_->mtx};
      done.swap(completions_->done);
    }
    for (auto& f : done)
      f();
    return true;
  }
  if (content.match_elements<route_retry_atom>()) {
    if (callers_)
      callers_->on_retry();
    return true;
  }
  if (content.match_elements<replica_gone_atom, uint64_t>()) {
    if (callers_)
      callers_->on_replica_gone(content.get_as<uint64_t>(1));
    return true;
  }
  if (handle_stream_message(x))
    return true;
  if (content.match_elements<cancel_atom>()) {
    // The sender is the request's guard (call_host::cancel_in_flight).
    if (x.sender)
      if (auto g = dynamic_cast<reply_guard*>(x.sender->get());
          g != nullptr && g->owner() == this && !g->answered())
        cancel_request(g);
    return true;
  }
  if (content.match_elements<batch_tick_atom, uint64_t>()) {
    batch_tick(content.get_as<uint64_t>(1));
    return true;
  }
  if (content.match_elements<reconfigure_atom, std::string>()) {
    reconfigure(self, x);
    return true;
  }
  if (content.match_elements<check_health_atom>()) {
    run_health_check(self, x);
    return true;
  }
  if (content.match_elements<ping_atom>()) {
    // Reaching this point means the user's constructor has run.
    reply(self, x, caf::make_message(ping_atom::value));
    return true;
  }
  return false;
}

caf::error error_of(std::exception_ptr eptr) {
  try {
    std::rethrow_exception(eptr);
  } catch (const error_exception& e) {
    return make_error(e.code(), e.what());
  } catch (const std::exception& e) {
    return make_error(errc::user_error, e.what());
  } catch (...) {
    return make_error(errc::user_error, "unknown exception");
  }
}

void user_plane::reply(caf::local_actor* self, caf::mailbox_element& x,
                       caf::message msg) {
  if (!x.mid.is_request() || x.mid.is_answered() || !x.sender)
    return;
  x.sender->enqueue(caf::make_mailbox_element(self->ctrl(), x.mid.response_id(),
                                              {}, std::move(msg)),
                    self->context());
  x.mid.mark_as_answered();
}

void user_plane::stop_pool() {
  // The actor has terminated: it no longer keeps the user plane's pool
  // open, even while references keep it from being destroyed (the actor
  // system waits for the pool's threads when it shuts down).
  leave_lanes();
  close_streams();
  // Promises of jobs that will not complete here: their guards answer now.
  for (auto& w : blocking_)
    if (auto slot = w.lock())
      slot->drop();
  blocking_.clear();
  if (auto busy = pool_->stop(); busy > 0)
    detail::log_line{detail::log_level::warning}
        << "replica " << ctx_->deployment << "#" << ctx_->replica_id
        << " stopped with " << busy
        << " blocking thread(s) still in user code; they are left to "
           "finish on their own";
  if (callers_) {
    callers_->fail_all(
        make_error(errc::unavailable, "the calling replica stopped"));
    callers_.reset();
  }
}

} // namespace actorserve::detail
