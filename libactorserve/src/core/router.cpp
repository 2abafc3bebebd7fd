#include "actorserve/router.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <memory>
#include <random>

#include <caf/actor_system.hpp>
#include <caf/behavior.hpp>
#include <caf/response_promise.hpp>
#include <caf/sec.hpp>
#include <caf/system_messages.hpp>

#include "actorserve/error.hpp"
#include "relay_actor.hpp"

namespace actorserve {

namespace {

/// How long the router waits before probing again when calls are queued,
/// every replica looked full, and nothing of its own is in flight (so no
/// answer would wake it). Ray Serve's initial routing backoff.
constexpr auto retry_backoff = std::chrono::milliseconds(25);

struct slot {
  replica_ref ref;
  /// Calls this router has in flight at the replica.
  uint32_t in_flight = 0;
  /// Load the router cannot see (other callers): set to "full" when the
  /// replica rejects; cleared when it answers a call or the retry timer
  /// fires.
  uint32_t others = 0;

  uint32_t load() const { return in_flight + others; }
};

struct pending_call {
  caf::response_promise rp;
  request_meta meta;
  caf::message args;
  /// Replicas that rejected this call in the current round.
  std::vector<uint64_t> tried;
};

using call_ptr = std::shared_ptr<pending_call>;

struct router_state {
  router_config cfg;
  std::vector<slot> replicas;
  std::deque<call_ptr> queue;
  std::mt19937_64 rng;
  uint32_t in_flight = 0;
  bool retry_scheduled = false;
};

class router_actor : public detail::relay_actor {
public:
  router_actor(caf::actor_config& cfg, router_config rc)
      : detail::relay_actor(cfg) {
    state.cfg = std::move(rc);
    state.rng.seed(state.cfg.seed);
  }

  const char* name() const override { return "actorserve.router"; }

  caf::behavior make_behavior() override;

  /// Answers every queued call (`unavailable`) and drops the rest of the
  /// state, whose promises would otherwise keep this actor alive.
  void on_exit() override;

  router_state state;
};

slot* find_slot(router_state& st, uint64_t id) {
  for (auto& s : st.replicas)
    if (s.ref.id == id)
      return &s;
  return nullptr;
}

bool tried(const pending_call& call, uint64_t id) {
  return std::find(call.tried.begin(), call.tried.end(), id) !=
         call.tried.end();
}

uint32_t reported_ongoing(const caf::error& err) {
  auto& ctx = err.context();
  if (ctx.size() == 2 && ctx.match_element<uint32_t>(1))
    return ctx.get_as<uint32_t>(1);
  return 0;
}

void pump(router_actor* self);

void schedule_retry(router_actor* self) {
  auto& st = self->state;
  if (st.queue.empty() || st.in_flight > 0 || st.retry_scheduled)
    return;
  st.retry_scheduled = true;
  self->delayed_send(self, retry_backoff, retry_atom::value);
}

void finish(router_actor* self, uint64_t replica) {
  auto& st = self->state;
  --st.in_flight;
  if (auto s = find_slot(st, replica); s != nullptr && s->in_flight > 0)
    --s->in_flight;
}

bool try_dispatch(router_actor* self, const call_ptr& call);

/// Puts a call that found no free replica back at the head of the queue (it
/// was first in line) and waits for capacity.
void requeue_front(router_actor* self, const call_ptr& call) {
  call->tried.clear();
  self->state.queue.push_front(call);
  schedule_retry(self);
}

void on_error(router_actor* self, uint64_t replica, const call_ptr& call,
              caf::error& err) {
  finish(self, replica);
  // Only a rejection (full, starting, draining) or a replica that is itself
  // gone means the call did not run; then it is routed again. Any other error
  // is the call's answer (retrying could run user code twice).
  auto replica_gone = detail::is_receiver_down(err);
  if (code_of(err) == errc::rejected || replica_gone) {
    // A rejection means "full now", whatever the count says (other callers,
    // or a stricter limit at the replica): skip it until it answers a call
    // or the retry timer fires.
    if (auto s = find_slot(self->state, replica); s != nullptr)
      s->others =
          std::max(reported_ongoing(err), self->state.cfg.max_ongoing_requests);
    call->tried.push_back(replica);
    if (!try_dispatch(self, call))
      requeue_front(self, call);
  } else {
    call->rp.deliver(std::move(err));
  }
  pump(self);
}

bool try_dispatch(router_actor* self, const call_ptr& call) {
  auto& st = self->state;
  std::vector<size_t> candidates;
  std::vector<uint32_t> loads;
  for (size_t i = 0; i < st.replicas.size(); ++i) {
    auto& s = st.replicas[i];
    if (s.load() < st.cfg.max_ongoing_requests && !tried(*call, s.ref.id)) {
      candidates.push_back(i);
      loads.push_back(s.load());
    }
  }
  if (candidates.empty())
    return false;
  auto draw = [&](size_t n) {
    return std::uniform_int_distribution<size_t>{0, n - 1}(st.rng);
  };
  auto& chosen = st.replicas[candidates[detail::pick_two(loads, draw)]];
  ++chosen.in_flight;
  ++st.in_flight;
  auto id = chosen.ref.id;
  self->relay(chosen.ref.handle,
              caf::make_message(call_atom::value, call->meta, call->args),
              [self, id, call](caf::message& reply) {
                caf::error err;
                if (detail::is_error_reply(reply, err)) {
                  on_error(self, id, call, err);
                  return;
                }
                finish(self, id);
                // An answer means the replica has room again.
                if (auto s = find_slot(self->state, id); s != nullptr)
                  s->others = 0;
                call->rp.deliver(std::move(reply));
                pump(self);
              });
  return true;
}

void pump(router_actor* self) {
  auto& st = self->state;
  auto now = caf::make_timestamp();
  while (!st.queue.empty()) {
    auto call = st.queue.front();
    if (expired(call->meta, now)) {
      st.queue.pop_front();
      call->rp.deliver(make_error(errc::deadline_exceeded,
                                  "the request expired while queued for " +
                                      st.cfg.deployment));
      continue;
    }
    if (!try_dispatch(self, call))
      break;
    st.queue.pop_front();
  }
  schedule_retry(self);
}

void fail_queue(router_actor* self, const caf::error& err) {
  auto& st = self->state;
  while (!st.queue.empty()) {
    st.queue.front()->rp.deliver(err);
    st.queue.pop_front();
  }
}

void router_actor::on_exit() {
  fail_queue(this, make_error(errc::unavailable, "the router stopped"));
  state.replicas.clear();
  detail::relay_actor::on_exit();
}

caf::behavior router_actor::make_behavior() {
  auto self = this;
  // A replica that dies with calls in flight: they did not finish; route
  // them again (the controller pushes the new set).
  set_down_handler([self](caf::down_msg& dm) {
    self->fail_relays_to(dm.source,
                         caf::make_error(caf::sec::request_receiver_down));
  });
  return {
      [self](call_atom, request_meta& meta,
             caf::message& args) -> caf::result<caf::message> {
        auto& st = self->state;
        auto rp = self->make_response_promise();
        if (st.replicas.empty()) {
          rp.deliver(make_error(errc::unavailable, "deployment '" +
                                                       st.cfg.deployment +
                                                       "' has no replicas"));
          return rp;
        }
        auto call = std::make_shared<pending_call>(
            pending_call{rp, std::move(meta), std::move(args), {}});
        // FIFO: a new call never overtakes queued ones.
        if (st.queue.empty() && try_dispatch(self, call))
          return rp;
        if (st.cfg.max_queued_requests >= 0 &&
            st.queue.size() >=
                static_cast<size_t>(st.cfg.max_queued_requests)) {
          rp.deliver(make_error(errc::overloaded,
                                "deployment '" + st.cfg.deployment + "' has " +
                                    std::to_string(st.queue.size()) +
                                    " requests queued (max_queued_requests)"));
          return rp;
        }
        st.queue.push_back(std::move(call));
        schedule_retry(self);
        return rp;
      },
      [self](replicas_atom, std::vector<replica_ref>& refs) {
        auto& st = self->state;
        std::vector<slot> next;
        next.reserve(refs.size());
        for (auto& ref : refs) {
          if (find_slot(st, ref.id) == nullptr)
            self->monitor(ref.handle);
          slot s{ref};
          if (auto old = find_slot(st, ref.id); old != nullptr) {
            s.in_flight = old->in_flight;
            s.others = old->others;
          }
          next.push_back(std::move(s));
        }
        st.replicas = std::move(next);
        if (st.replicas.empty())
          fail_queue(self, make_error(errc::unavailable,
                                      "deployment '" + st.cfg.deployment +
                                          "' has no replicas"));
        pump(self);
      },
      [self](retry_atom) {
        auto& st = self->state;
        st.retry_scheduled = false;
        // Reported loads may be stale: probe again.
        for (auto& s : st.replicas)
          s.others = 0;
        pump(self);
      },
      [self](status_atom) {
        auto& st = self->state;
        return caf::make_message(static_cast<uint32_t>(st.queue.size()),
                                 st.in_flight);
      },
  };
}

} // namespace

caf::actor spawn_router(caf::actor_system& sys, router_config cfg) {
  return sys.spawn<router_actor>(std::move(cfg));
}

} // namespace actorserve
