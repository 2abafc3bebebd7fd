#include "replica/replica.hpp"

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/behavior.hpp>
#include <caf/exit_reason.hpp>
#include <caf/response_promise.hpp>
#include <caf/sec.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include "actorserve/error.hpp"
#include "policy/health.hpp"
#include "actorserve/metrics.hpp"
#include "actorserve/user_plane.hpp"
#include "calls/call_host.hpp"
#include "calls/relay_actor.hpp"
#include "calls/reply_guard.hpp"

namespace actorserve {

namespace {

using force_stop_atom = caf::atom_constant<caf::atom("as_force")>;

struct replica_data {
  replica_args args;
  caf::actor user;
  replica_state state = replica_state::starting;
  std::vector<caf::response_promise> drain_waiters;
  /// Set by the user code when it registers a health check.
  std::shared_ptr<std::atomic<bool>> user_health_check;
  /// Keeps the replica's gauges in the metrics while the replica lives.
  std::shared_ptr<const int> metrics_token;
  /// What the user code is doing, and what the probes saw of it.
  std::shared_ptr<detail::replica_activity> activity;
  progress_watch progress;
  /// Calls relayed to the user actor (from callers on other nodes), by
  /// their caller and its request id, with the reply guard each went with:
  /// a caller's `call_cancel_atom` finds its call here.
  std::map<std::pair<caf::actor_addr, uint64_t>, caf::weak_actor_ptr> relayed;
};

class replica_actor : public detail::relay_actor {
public:
  replica_actor(caf::actor_config& cfg, replica_args args)
      : detail::relay_actor(cfg) {
    state.args = std::move(args);
  }

  const char* name() const override { return "actorserve.replica"; }

  caf::behavior make_behavior() override;

  /// However the replica ends, its user actor ends with it.
  void on_exit() override {
    // Callers in this process see it at once and send elsewhere; those with
    // calls running here hear of the exit (call_host::watch).
    state.args.gate->close();
    if (state.user) {
      caf::anon_send_exit(state.user, caf::exit_reason::user_shutdown);
      state.user = nullptr;
    }
    if (state.state != replica_state::failed)
      state.state = replica_state::stopped; // no drain logic from here on
    // Calls still running (a forced stop) get an answer; their callers
    // must not re-run them, since they may have had effects.
    fail_all_relays(make_error(errc::unavailable,
                               "the replica stopped while running the call"));
    for (auto& rp : state.drain_waiters)
      rp.deliver(true);
    state.drain_waiters.clear();
    detail::relay_actor::on_exit();
  }

  replica_data state;
};

void report(replica_actor* self, bool ok, std::string message) {
  auto& st = self->state;
  if (st.args.controller)
    self->send(st.args.controller, ready_atom::value, st.args.id, ok,
               std::move(message));
}

/// Ends a drain: answers the waiters, stops the user actor, exits.
void stop(replica_actor* self) {
  auto& st = self->state;
  st.state = replica_state::stopped;
  for (auto& rp : st.drain_waiters)
    rp.deliver(true);
  st.drain_waiters.clear();
  if (st.user)
    self->send_exit(st.user, caf::exit_reason::user_shutdown);
  self->quit();
}

/// Why the replica is wedged at this probe (`watch_progress`), or "".
std::string wedged(replica_actor* self) {
  auto& st = self->state;
  auto& gate = *st.args.gate;
  auto& a = *st.activity;
  activity_sample s;
  // Ended before begun: a message counted begun and not ended is one the
  // actor is inside now.
  auto ended = a.ended.load(std::memory_order_relaxed);
  s.in_message = a.begun.load(std::memory_order_relaxed) != ended;
  s.progress = ended + a.jobs_started.load(std::memory_order_relaxed);
  s.running = gate.running();
  s.max_ongoing = gate.max_ongoing();
  s.streams = a.streams.load(std::memory_order_relaxed);
  s.turned_away = gate.take_turned_away();
  s.jobs_waiting = a.jobs_waiting.load(std::memory_order_relaxed);
  auto now = self->clock().now();
  auto kind = watch_progress(st.progress, s, now,
                             st.args.spec->config.health_check_timeout);
  if (kind == stall::none)
    return {};
  return describe(kind, s,
                  std::chrono::duration_cast<std::chrono::milliseconds>(
                      now - st.progress.since));
}

caf::error rejection(uint32_t running, const char* why) {
  return caf::error{static_cast<uint8_t>(errc::rejected), error_category,
                    caf::make_message(std::string{why}, running)};
}

caf::behavior replica_actor::make_behavior() {
  auto self = this;
  auto& st = self->state;
  auto& cfg = st.args.spec->config;
  if (!st.args.gate)
    st.args.gate =
        std::make_shared<detail::admission_gate>(cfg.max_ongoing_requests);
  auto ctx = std::make_shared<replica_context>();
  ctx->app = st.args.app;
  ctx->deployment = cfg.name;
  ctx->replica_id = st.args.id;
  ctx->version = cfg.version;
  ctx->user_config = cfg.user_config.empty() ? "null" : cfg.user_config;
  ctx->max_ongoing_requests = cfg.max_ongoing_requests;
  ctx->gate = st.args.gate;
  if (auto reg = metrics_of(self->home_system())) {
    st.metrics_token = std::make_shared<const int>(0);
    std::weak_ptr<detail::admission_gate> gate = st.args.gate;
    reg->add_gauge_fn(
        "ray_serve_replica_processing_queries",
        "Requests a replica is processing (admitted and not answered)",
        detail::replica_labels(cfg.name, st.args.id, st.args.app),
        st.metrics_token, [gate] {
          auto g = gate.lock();
          return g ? static_cast<double>(g->running()) : 0.0;
        });
  }
  st.user_health_check = ctx->user_health_check;
  st.activity = ctx->activity;
  try {
    st.user = st.args.spec->spawn(self->home_system(), cfg.mode, std::move(ctx),
                                  st.args.children);
  } catch (const std::exception& e) {
    st.state = replica_state::failed;
    report(self, false, e.what());
    self->quit();
    return {};
  }
  self->monitor(st.user);
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    if (dm.source != st.user)
      return;
    st.user = nullptr;
    // Calls the user actor held when it died get an answer.
    self->fail_relays_to(
        dm.source,
        make_error(errc::unavailable, "the replica's user code stopped"));
    if (st.state == replica_state::stopped)
      return;
    auto was_starting = st.state == replica_state::starting;
    st.state = replica_state::failed;
    if (was_starting)
      report(self, false, message_of(dm.reason));
    self->quit(dm.reason);
  });
  // The user actor answers the ping once the user's constructor has run.
  // The controller's start-up timer (`startup_timeout`) stops a replica
  // whose constructor hangs; this bound, twice as long, only ends a replica
  // whose controller is gone.
  self->request(st.user, st.args.spec->config.startup_timeout * 2,
                detail::ping_atom::value)
      .then(
          [self](detail::ping_atom) {
            auto& st = self->state;
            if (st.state != replica_state::starting)
              return;
            st.state = replica_state::ready;
            st.args.gate->bind(st.user, self);
            st.args.gate->open();
            report(self, true, {});
          },
          [self](caf::error& err) {
            // A dead user actor: the down handler reports the reason.
            if (err != caf::sec::request_timeout ||
                self->state.state != replica_state::starting)
              return;
            self->state.state = replica_state::failed;
            report(self, false, "the constructor did not finish");
            self->quit(err);
          });
  return {
      [self](call_atom, request_meta& meta,
             caf::message& args) -> caf::result<caf::message> {
        auto& st = self->state;
        auto& gate = *st.args.gate;
        uint32_t running = 0;
        if (!gate.try_enter(running))
          return rejection(running, st.state != replica_state::ready
                                        ? "replica is not ready"
                                        : "replica is at max_ongoing_requests");
        if (expired(meta, caf::make_timestamp())) {
          gate.leave();
          return make_error(errc::deadline_exceeded,
                            "the request expired before it started");
        }
        // The caller and its request id name the call for a cancel (taken
        // before the response promise takes the sender over).
        auto key = std::make_pair(
            caf::actor_cast<caf::actor_addr>(self->current_sender()),
            self->current_message_id().integer_value());
        auto rp = self->make_response_promise();
        // The call's context (request id, deadline, multiplexed model id)
        // reaches the handler in a reply guard, as a caller in this
        // process sends it; the guard stands for this actor, so the answer
        // comes back here.
        caf::weak_actor_ptr guard;
        auto make_guard = [&](caf::message_id mid) {
          auto g = detail::reply_guard::make(self, self->ctrl(), mid,
                                             std::move(meta));
          guard = caf::actor_cast<caf::weak_actor_ptr>(g);
          return g;
        };
        self->relay_as(
            st.user, std::move(args),
            [self, rp, key](caf::message& reply) mutable {
              self->state.relayed.erase(key);
              caf::error err;
              if (!detail::is_error_reply(reply, err))
                rp.deliver(std::move(reply));
              else if (detail::is_receiver_down(err))
                rp.deliver(make_error(errc::unavailable,
                                      "the replica's user code stopped"));
              else
                rp.deliver(std::move(err));
              // A draining replica hears through gate_empty_atom.
              self->state.args.gate->leave();
            },
            make_guard);
        st.relayed.emplace(std::move(key), std::move(guard));
        return rp;
      },
      [self](detail::call_cancel_atom, uint64_t request) {
        // A caller on another node cancelled its call: as a caller here
        // would (call_host::cancel_in_flight), flag the guard, then tell
        // the user actor, whose handler sees the cancellation.
        auto& st = self->state;
        auto i = st.relayed.find(std::make_pair(
            caf::actor_cast<caf::actor_addr>(self->current_sender()), request));
        if (i == st.relayed.end() || !st.user)
          return;
        auto guard = i->second.lock();
        if (!guard)
          return;
        static_cast<detail::reply_guard*>(guard->get())->cancel();
        st.user->enqueue(
            caf::make_mailbox_element(std::move(guard), caf::make_message_id(),
                                      {},
                                      caf::make_message(
                                          detail::cancel_atom::value)),
            self->context());
      },
      [self](health_atom) -> caf::result<bool> {
        // The system side answers for itself: a replica whose user code is
        // busy is still healthy, unless it is wedged (no progress for
        // health_check_timeout while work waits). The user's own check
        // sees further inside.
        auto& st = self->state;
        if (st.state != replica_state::ready || !st.user)
          return make_error(errc::unavailable, "the replica is not ready");
        if (auto why = wedged(self); !why.empty())
          return make_error(errc::unavailable, std::move(why));
        if (!st.user_health_check->load())
          return true;
        auto rp = self->make_response_promise<bool>();
        self->request(st.user, st.args.spec->config.health_check_timeout,
                      detail::check_health_atom::value)
            .then(
                [rp](bool) mutable { rp.deliver(true); },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](reconfigure_atom, std::string& user_config,
             uint32_t max_ongoing) -> caf::result<bool> {
        // In place: the gate's limit now, the user's hook on its thread.
        auto& st = self->state;
        if (!st.user)
          return make_error(errc::unavailable, "the replica has no user code");
        st.args.gate->set_max_ongoing(max_ongoing);
        auto rp = self->make_response_promise<bool>();
        // A hook that hangs fails the reconfigure: the controller replaces
        // the replica.
        self->request(st.user, st.args.spec->config.reconfigure_timeout,
                      detail::reconfigure_atom::value, std::move(user_config))
            .then(
                [rp](bool) mutable { rp.deliver(true); },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](status_atom) {
        auto& st = self->state;
        return replica_status{st.args.id, st.state, st.args.gate->running(),
                              st.args.spec->config.version,
                              st.args.gate->model_ids()};
      },
      [self](detail::gate_empty_atom) {
        auto& st = self->state;
        if (st.state == replica_state::draining && st.args.gate->running() == 0)
          stop(self);
      },
      [self](drain_atom) -> caf::result<bool> {
        auto& st = self->state;
        auto rp = self->make_response_promise();
        st.drain_waiters.push_back(rp);
        if (st.state != replica_state::draining) {
          st.state = replica_state::draining;
          self->delayed_send(self,
                             st.args.spec->config.graceful_shutdown_timeout,
                             force_stop_atom::value);
        }
        if (st.args.gate->close() == 0)
          stop(self);
        return rp;
      },
      [self](force_stop_atom) {
        // graceful_shutdown_timeout passed with work still in flight.
        auto& st = self->state;
        if (st.user)
          self->send_exit(st.user, caf::exit_reason::kill);
        stop(self);
      },
  };
}

} // namespace

caf::actor spawn_replica(caf::actor_system& sys, replica_args args) {
  return sys.spawn<replica_actor>(std::move(args));
}

} // namespace actorserve
