#include "replica/replica_actor.hpp"

#include <chrono>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/sec.hpp>
#include <caf/send.hpp>

#include "actorserve/error.hpp"
#include "actorserve/metrics.hpp"
#include "calls/call_host.hpp"

namespace actorserve {

caf::behavior replica_actor::make_behavior() {
  if (!start())
    return {};
  return {
      [this](call_atom, request_meta& meta, caf::message& args) {
        return on_call(meta, args);
      },
      [this](detail::call_cancel_atom, uint64_t id) { on_cancel(id); },
      [this](health_atom) { return on_health(); },
      [this](reconfigure_atom, std::string& user_config, uint32_t max) {
        return on_reconfigure(user_config, max);
      },
      [this](status_atom) { return on_status(); },
      [this](detail::gate_empty_atom) { on_gate_empty(); },
      [this](drain_atom) { return on_drain(); },
      [this](force_stop_atom) { on_force_stop(); },
  };
}

// -- start-up ---------------------------------------------------------------

/// Spawns the user actor and waits for its constructor; false when the
/// replica failed at once (it has reported and quit).
bool replica_actor::start() {
  auto& cfg = state.args.spec->config;
  if (!state.args.gate)
    state.args.gate =
        std::make_shared<detail::admission_gate>(cfg.max_ongoing_requests);
  auto ctx = make_context();
  register_metrics();
  state.user_health_check = ctx->user_health_check;
  state.activity = ctx->activity;
  if (!spawn_user(std::move(ctx)))
    return false;
  monitor(state.user);
  set_down_handler([this](caf::down_msg& dm) { on_user_down(dm); });
  await_ready();
  return true;
}

/// What the user code sees of its replica.
std::shared_ptr<replica_context> replica_actor::make_context() {
  auto& cfg = state.args.spec->config;
  auto ctx = std::make_shared<replica_context>();
  ctx->app = state.args.app;
  ctx->deployment = cfg.name;
  ctx->replica_id = state.args.id;
  ctx->version = cfg.version;
  ctx->user_config = cfg.user_config.empty() ? "null" : cfg.user_config;
  ctx->max_ongoing_requests = cfg.max_ongoing_requests;
  ctx->gate = state.args.gate;
  return ctx;
}

/// The replica's gauges, while it lives (metrics_token).
void replica_actor::register_metrics() {
  auto reg = metrics_of(home_system());
  if (!reg)
    return;
  auto& cfg = state.args.spec->config;
  state.metrics_token = std::make_shared<const int>(0);
  std::weak_ptr<detail::admission_gate> gate = state.args.gate;
  reg->add_gauge_fn(
      "ray_serve_replica_processing_queries",
      "Requests a replica is processing (admitted and not answered)",
      detail::replica_labels(cfg.name, state.args.id, state.args.app),
      state.metrics_token, [gate] {
        auto g = gate.lock();
        return g ? static_cast<double>(g->running()) : 0.0;
      });
}

/// Spawns the user actor; a spawn that throws fails the replica.
bool replica_actor::spawn_user(std::shared_ptr<replica_context> ctx) {
  auto& cfg = state.args.spec->config;
  try {
    state.user = state.args.spec->spawn(home_system(), cfg.mode,
                                        std::move(ctx), state.args.children);
    return true;
  } catch (const std::exception& e) {
    state.state = replica_state::failed;
    report(false, e.what());
    quit();
    return false;
  }
}

/// The user actor answers the ping once the user's constructor has run.
/// The controller's start-up timer (`startup_timeout`) stops a replica whose
/// constructor hangs; this bound, twice as long, only ends a replica whose
/// controller is gone.
void replica_actor::await_ready() {
  request(state.user, state.args.spec->config.startup_timeout * 2,
          detail::ping_atom::value)
      .then([this](detail::ping_atom) { on_user_ready(); },
            [this](caf::error& err) { on_ready_error(err); });
}

void replica_actor::on_user_ready() {
  if (state.state != replica_state::starting)
    return;
  state.state = replica_state::ready;
  state.args.gate->bind(state.user, this);
  state.args.gate->open();
  report(true, {});
}

void replica_actor::on_ready_error(caf::error& err) {
  // A dead user actor: the down handler reports the reason.
  if (err != caf::sec::request_timeout || state.state != replica_state::starting)
    return;
  state.state = replica_state::failed;
  report(false, "the constructor did not finish");
  quit(err);
}

void replica_actor::on_user_down(caf::down_msg& dm) {
  if (dm.source != state.user)
    return;
  state.user = nullptr;
  // Calls the user actor held when it died get an answer.
  fail_relays_to(dm.source, make_error(errc::unavailable,
                                       "the replica's user code stopped"));
  if (state.state == replica_state::stopped)
    return;
  auto was_starting = state.state == replica_state::starting;
  state.state = replica_state::failed;
  if (was_starting)
    report(false, message_of(dm.reason));
  quit(dm.reason);
}

// -- the controller's messages ----------------------------------------------

/// The system side answers for itself: a replica whose user code is busy is
/// still healthy, unless it is wedged (no progress for health_check_timeout
/// while work waits). The user's own check sees further inside.
caf::result<bool> replica_actor::on_health() {
  if (state.state != replica_state::ready || !state.user)
    return make_error(errc::unavailable, "the replica is not ready");
  if (auto why = wedged(); !why.empty())
    return make_error(errc::unavailable, std::move(why));
  if (!state.user_health_check->load())
    return true;
  return ask_user(state.args.spec->config.health_check_timeout,
                  detail::check_health_atom::value);
}

/// In place: the gate's limit now, the user's hook on its thread. A hook
/// that hangs fails the reconfigure: the controller replaces the replica.
caf::result<bool> replica_actor::on_reconfigure(std::string& user_config,
                                                uint32_t max_ongoing) {
  if (!state.user)
    return make_error(errc::unavailable, "the replica has no user code");
  state.args.gate->set_max_ongoing(max_ongoing);
  return ask_user(state.args.spec->config.reconfigure_timeout,
                  detail::reconfigure_atom::value, std::move(user_config));
}

replica_status replica_actor::on_status() {
  return replica_status{state.args.id, state.state, state.args.gate->running(),
                        state.args.spec->config.version,
                        state.args.gate->model_ids()};
}

void replica_actor::on_gate_empty() {
  if (state.state == replica_state::draining && state.args.gate->running() == 0)
    stop();
}

caf::result<bool> replica_actor::on_drain() {
  auto rp = make_response_promise();
  state.drain_waiters.push_back(rp);
  if (state.state != replica_state::draining) {
    state.state = replica_state::draining;
    delayed_send(this, state.args.spec->config.graceful_shutdown_timeout,
                 force_stop_atom::value);
  }
  if (state.args.gate->close() == 0)
    stop();
  return rp;
}

/// graceful_shutdown_timeout passed with work still in flight.
void replica_actor::on_force_stop() {
  if (state.user)
    send_exit(state.user, caf::exit_reason::kill);
  stop();
}

/// However the replica ends, its user actor ends with it.
void replica_actor::on_exit() {
  // Callers in this process see it at once and send elsewhere; those with
  // calls running here hear of the exit (call_host::watch).
  state.args.gate->close();
  if (state.user) {
    caf::anon_send_exit(state.user, caf::exit_reason::user_shutdown);
    state.user = nullptr;
  }
  if (state.state != replica_state::failed)
    state.state = replica_state::stopped; // no drain logic from here on
  // Calls still running (a forced stop) get an answer; their callers must
  // not re-run them, since they may have had effects.
  fail_all_relays(make_error(errc::unavailable,
                             "the replica stopped while running the call"));
  for (auto& rp : state.drain_waiters)
    rp.deliver(true);
  state.drain_waiters.clear();
  detail::relay_actor::on_exit();
}

// -- helpers ----------------------------------------------------------------

/// Asks the user actor `xs` within `timeout`: `true` once it answered, else
/// its error.
template <class... Ts>
caf::result<bool> replica_actor::ask_user(caf::timespan timeout, Ts&&... xs) {
  auto rp = make_response_promise<bool>();
  request(state.user, timeout, std::forward<Ts>(xs)...)
      .then([rp](bool) mutable { rp.deliver(true); },
            [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

void replica_actor::report(bool ok, std::string message) {
  if (state.args.controller)
    send(state.args.controller, ready_atom::value, state.args.id, ok,
         std::move(message));
}

/// Ends a drain: answers the waiters, stops the user actor, exits.
void replica_actor::stop() {
  state.state = replica_state::stopped;
  for (auto& rp : state.drain_waiters)
    rp.deliver(true);
  state.drain_waiters.clear();
  if (state.user)
    send_exit(state.user, caf::exit_reason::user_shutdown);
  quit();
}

/// Why the replica is wedged at this probe (`watch_progress`), or "".
std::string replica_actor::wedged() {
  auto& gate = *state.args.gate;
  auto& a = *state.activity;
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
  auto now = clock().now();
  auto kind = watch_progress(state.progress, s, now,
                             state.args.spec->config.health_check_timeout);
  if (kind == stall::none)
    return {};
  return describe(kind, s,
                  std::chrono::duration_cast<std::chrono::milliseconds>(
                      now - state.progress.since));
}

caf::actor spawn_replica(caf::actor_system& sys, replica_args args) {
  return sys.spawn<replica_actor>(std::move(args));
}

} // namespace actorserve
