/// @file
/// The HTTP ingress (private to the library: RESTinio stays out of public
/// headers).
///
/// The server is a set of shards (shard.hpp), one per I/O thread, each with
/// its own listener on the port (SO_REUSEPORT), pending requests and routing
/// state. For each request a shard matches the longest route prefix, picks a
/// replica of the application's ingress deployment with its own
/// `caller_router`, and enqueues the call straight into it: no actor hop of
/// its own. Answers come back to the shard's `actor_companion`, which posts
/// them onto the shard's thread, where the response is written.
///
/// Errors become HTTP status codes in exactly one place: `http_status_of`.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include <caf/error.hpp>
#include <caf/fwd.hpp>

#include "actorserve/controller.hpp"
#include "actorserve/error.hpp"
#include "actorserve/serve.hpp"

namespace actorserve::detail {

/// The one mapping from error codes to HTTP status codes.
uint16_t http_status_of(errc code) noexcept;

/// The reason phrase of an HTTP status line.
const char* reason_phrase(uint16_t status);

class http_server {
public:
  http_server(caf::actor_system& sys, http_options opts,
              controller_actor controller);
  ~http_server();

  /// `GET /-/status` from a loopback client answers with the controller's
  /// status (a worker's proxy, where no admin API runs); others get 404.
  /// Call before `start`.
  void answer_status();

  /// Binds and starts serving. Returns `invalid_config` naming the address
  /// when the port cannot be bound.
  caf::error start();

  /// The bound port.
  uint16_t port() const noexcept;

  /// From now on new requests get 503 and `Connection: close`.
  void begin_drain();

  /// Waits until no request is in flight; false on timeout.
  bool wait_idle(std::chrono::milliseconds timeout);

  /// Stops RESTinio and the deadline sweeper. Idempotent.
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace actorserve::detail
