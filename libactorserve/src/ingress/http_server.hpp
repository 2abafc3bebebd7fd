/// @file
/// The HTTP ingress (private to the library: RESTinio stays out of public
/// headers).
///
/// RESTinio parses requests on its own I/O threads. For each request the
/// handler matches the longest route prefix against the route table the
/// controller pushes, then enqueues the call straight into the router of the
/// application's ingress deployment and returns `request_accepted()`: no
/// actor hop of its own. Answers come back to an `actor_companion`, whose
/// enqueue callback writes the HTTP response on the delivering thread
/// (RESTinio posts the write onto the connection's strand).
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

class http_server {
public:
  http_server(caf::actor_system& sys, http_options opts,
              controller_actor controller);
  ~http_server();

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
