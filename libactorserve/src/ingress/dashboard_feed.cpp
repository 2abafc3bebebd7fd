#include "ingress/dashboard_feed.hpp"

#include <chrono>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include "actorserve/metrics.hpp"
#include "base/text.hpp"

namespace actorserve::detail {

namespace {

/// How often a snapshot goes out.
constexpr auto period = std::chrono::seconds(1);

/// At most this many dashboards watch at once.
constexpr size_t max_streams = 32;

/// How long a snapshot waits for the controller.
constexpr auto controller_timeout = std::chrono::seconds(10);

} // namespace

dashboard_feed::dashboard_feed(caf::actor_system& sys, asio::io_context& ioc,
                               controller_actor controller)
    : sys_(sys), ioc_(ioc), controller_(std::move(controller)) {}

bool dashboard_feed::add(const restinio::request_handle_t& req) {
  if (streams_.size() >= max_streams)
    return false;
  auto resp = req->create_response<restinio::chunked_output_t>();
  resp.append_header(restinio::http_field::content_type, "text/event-stream")
      .append_header("Cache-Control", "no-cache");
  resp.flush();
  streams_.emplace(next_++, std::move(resp));
  tick(); // the first snapshot at once
  return true;
}

void dashboard_feed::close() {
  closing_ = true;
  if (ticker_)
    ticker_->cancel();
  streams_.clear();
}

void dashboard_feed::tick() {
  if (tick_armed_ || streams_.empty() || closing_)
    return;
  tick_armed_ = true;
  auto self_ptr = shared_from_this();
  // The controller is a spawn argument: CAF 0.17 spawns functors without
  // arguments through a null pointer.
  sys_.spawn(
      [self_ptr](caf::event_based_actor* self, controller_actor ctrl) {
        self->request(ctrl, controller_timeout, status_atom::value)
            .then(
                [self_ptr](serve_status& st) {
                  self_ptr->post_snapshot(nlohmann::json::parse(to_json(st)));
                },
                [self_ptr](caf::error&) { self_ptr->post_snapshot(nullptr); });
      },
      controller_);
}

void dashboard_feed::post_snapshot(nlohmann::json status) {
  std::weak_ptr<dashboard_feed> weak = shared_from_this();
  asio::post(ioc_, [weak, status = std::move(status)]() mutable {
    if (auto self_ptr = weak.lock())
      self_ptr->send(std::move(status));
  });
}

void dashboard_feed::send(nlohmann::json status) {
  if (closing_)
    return;
  auto reg = metrics_of(sys_);
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  nlohmann::json event{{"time_ms", now},
                       {"status", std::move(status)},
                       {"metrics", reg ? reg->render() : std::string{}}};
  auto chunk = "data: " + detail::dump_json(event) + "\n\n";
  std::weak_ptr<dashboard_feed> weak = shared_from_this();
  for (auto& [id, stream] : streams_) {
    stream.append_chunk(chunk);
    // A write that fails (the page was closed) drops the stream, later:
    // never while this loop runs.
    stream.flush([weak, id = id](const asio::error_code& ec) {
      auto self_ptr = weak.lock();
      if (ec && self_ptr)
        asio::post(self_ptr->ioc_, [weak, id] {
          if (auto again = weak.lock())
            again->streams_.erase(id);
        });
    });
  }
  if (!ticker_)
    ticker_ = std::make_unique<asio::steady_timer>(ioc_);
  ticker_->expires_after(period);
  ticker_->async_wait([weak](const asio::error_code& ec) {
    auto self_ptr = weak.lock();
    if (!self_ptr)
      return;
    self_ptr->tick_armed_ = false;
    if (!ec)
      self_ptr->tick();
  });
}

} // namespace actorserve::detail
