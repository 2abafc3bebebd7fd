/// @file
/// The admin API: a small HTTP server of its own (as Ray's dashboard port
/// is), apart from the ingress, on one I/O thread.
///
/// | route | answer |
/// |---|---|
/// | `GET /api/serve/applications/` | the status JSON (`to_json`) |
/// | `PATCH /api/serve/applications/{app}/deployments/{deployment}` | the
/// deployment's new status; the body is a JSON object of any of
/// `num_replicas`, `user_config`, `version`, `max_ongoing_requests`,
/// `max_queued_requests` and `autoscaling_config` (`patch_from_json`); a
/// bad field gets 400 naming it |
/// | `PUT /api/serve/applications/` | a declarative deploy: the body is a
/// config (deploy_config.hpp, as JSON); 200 once it is applied, 400 naming
/// a bad field |
/// | `DELETE /api/serve/applications/` | deletes every application |
/// | `GET /-/healthz` | `{"status":"ok"}` once the controller answers |
/// | `GET /-/metrics` | the metrics in Prometheus' text format |
/// | `GET /` | the dashboard page |
/// | `GET /api/dashboard/events` | the dashboard's Server-Sent Events |
///
/// `PUT` and `DELETE` wait for the whole change, so they run on threads of
/// their own (one change at a time), through `admin_hooks` that `serve`
/// provides.
///
/// Answers come from the controller (`status_atom`, `update_atom`); the
/// server thread never blocks on it: a short-lived actor asks, and posts the
/// response back onto the server's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <memory>

#include <caf/error.hpp>
#include <caf/fwd.hpp>

#include "actorserve/controller.hpp"
#include "actorserve/serve.hpp"

namespace actorserve::detail {

/// What the admin API asks of `serve` for declarative changes. Each may
/// block until the change is done; none runs on the server's thread.
struct admin_hooks {
  /// Applies a config (JSON text).
  std::function<caf::error(const std::string&)> deploy;
  /// Deletes every application.
  std::function<caf::error()> delete_all;
  /// The config last applied (JSON text, "null" if none).
  std::function<std::string()> config;
  /// Whether a change may be made now: `unavailable` (503) while the state
  /// store cannot take it. Null: always.
  std::function<caf::error()> may_change;
  /// Waits until a change the controller made is in the state store
  /// (blocking, bounded); `unavailable` when it is not. Null: no store.
  std::function<caf::error()> persisted;
};

class admin_server {
public:
  admin_server(caf::actor_system& sys, admin_options opts,
               controller_actor controller);
  ~admin_server();

  /// Binds and starts serving; `invalid_config` naming the address when the
  /// port cannot be bound.
  caf::error start();

  uint16_t port() const noexcept;

  /// Set before `start`.
  void set_hooks(admin_hooks hooks);

  /// Stops serving. Idempotent.
  void stop();

  /// Waits for the changes still running (after `stop`, once the
  /// controller is gone, so that they end).
  void join_changes();

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

} // namespace actorserve::detail
