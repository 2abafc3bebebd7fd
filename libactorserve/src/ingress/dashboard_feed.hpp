/// @file
/// The dashboard's live updates: `GET /api/dashboard/events` on the admin
/// server, Server-Sent Events carrying a snapshot (the status and the
/// rendered metrics) every second to each open page, at most 32 at once.
///
/// Thread safety: every member runs on the admin server's thread. The
/// status is asked of the controller by a short-lived actor, whose answer is
/// posted back onto that thread. Handlers left in the server's io_context
/// or in a connection when it stops hold the feed weakly, so that nothing
/// keeps it alive after the server is gone.
#pragma once

#include <cstdint>
#include <map>
#include <memory>

#include <nlohmann/json_fwd.hpp>
#include <restinio/all.hpp>

#include "actorserve/controller.hpp"

namespace actorserve::detail {

class dashboard_feed : public std::enable_shared_from_this<dashboard_feed> {
public:
  dashboard_feed(caf::actor_system& sys, asio::io_context& ioc,
                 controller_actor controller);

  /// Opens an event stream answering `req`; false (nothing sent) when
  /// too many are open already.
  bool add(const restinio::request_handle_t& req);

  /// Closes every stream and sends no more; before the server stops.
  void close();

private:
  using event_stream = restinio::response_builder_t<restinio::chunked_output_t>;

  /// Asks the controller for the status, then sends every stream a
  /// snapshot; again every period while any is open.
  void tick();

  /// From any thread: `send(status)` on the server's thread.
  void post_snapshot(nlohmann::json status);

  void send(nlohmann::json status);

  caf::actor_system& sys_;
  asio::io_context& ioc_;
  controller_actor controller_;
  std::map<uint64_t, event_stream> streams_;
  uint64_t next_ = 1;
  std::unique_ptr<asio::steady_timer> ticker_;
  bool tick_armed_ = false;
  bool closing_ = false;
};

} // namespace actorserve::detail
