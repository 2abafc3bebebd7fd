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
/// | `GET /-/healthz` | `{"status":"ok"}` once the controller answers |
///
/// Answers come from the controller (`status_atom`, `update_atom`); the
/// server thread never blocks on it: a short-lived actor asks, and posts the
/// response back onto the server's thread.
#pragma once

#include <cstdint>
#include <memory>

#include <caf/error.hpp>
#include <caf/fwd.hpp>

#include "actorserve/controller.hpp"
#include "actorserve/serve.hpp"

namespace actorserve::detail {

class admin_server {
public:
  admin_server(caf::actor_system& sys, admin_options opts,
               controller_actor controller);
  ~admin_server();

  /// Binds and starts serving; `invalid_config` naming the address when the
  /// port cannot be bound.
  caf::error start();

  uint16_t port() const noexcept;

  /// Stops serving. Idempotent.
  void stop();

private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

} // namespace actorserve::detail
