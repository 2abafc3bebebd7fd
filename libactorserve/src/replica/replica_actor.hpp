/// @file
/// The replica actor behind `spawn_replica` (replica.hpp holds its
/// protocol): its state, and one member function per step and per message.
/// Start-up and the controller's messages are in replica.cpp, relayed calls
/// in replica_calls.cpp.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/behavior.hpp>
#include <caf/response_promise.hpp>
#include <caf/result.hpp>
#include <caf/system_messages.hpp>

#include "calls/relay_actor.hpp"
#include "policy/health.hpp"
#include "replica/replica.hpp"
#include "replica/user_plane.hpp"

namespace actorserve {

using force_stop_atom = caf::atom_constant<caf::atom("as_force")>;

/// A relayed call's name for a cancel: its caller and request id.
using call_key = std::pair<caf::actor_addr, uint64_t>;

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
  std::map<call_key, caf::weak_actor_ptr> relayed;
};

class replica_actor : public detail::relay_actor {
public:
  replica_actor(caf::actor_config& cfg, replica_args args)
      : detail::relay_actor(cfg) {
    state.args = std::move(args);
  }

  const char* name() const override { return "actorserve.replica"; }

  /// Starts the user code (start); the table names each message's handler.
  caf::behavior make_behavior() override;

  void on_exit() override;

  replica_data state;

private:
  // Start-up, in order (start).
  bool start();
  std::shared_ptr<replica_context> make_context();
  void register_metrics();
  bool spawn_user(std::shared_ptr<replica_context> ctx);
  void await_ready();
  void on_user_ready();
  void on_ready_error(caf::error& err);
  void on_user_down(caf::down_msg& dm);
  // The behaviour.
  caf::result<caf::message> on_call(request_meta& meta, caf::message& args);
  void on_relayed_reply(caf::response_promise& rp, const call_key& key,
                        caf::message& reply);
  void on_cancel(uint64_t request);
  caf::result<bool> on_health();
  caf::result<bool> on_reconfigure(std::string& user_config,
                                   uint32_t max_ongoing);
  replica_status on_status();
  void on_gate_empty();
  caf::result<bool> on_drain();
  void on_force_stop();
  // Helpers.
  template <class... Ts>
  caf::result<bool> ask_user(caf::timespan timeout, Ts&&... xs);
  void report(bool ok, std::string message);
  void stop();
  std::string wedged();
};

} // namespace actorserve
