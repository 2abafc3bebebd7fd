// An ingress shard's requests in flight: their bookkeeping and deadlines,
// the responses and metrics they end with, the streams they turn into, and
// what a closed connection does to them.
#include <algorithm>

#include <caf/actor_system.hpp>
#include <nlohmann/json.hpp>

#include "ops/logging.hpp"
#include "base/text.hpp"
#include "actorserve/http.hpp"
#include "ingress/http_server.hpp"
#include "ingress/http_stream.hpp"
#include "ingress/shard.hpp"

namespace actorserve::detail {

void ingress_shard::respond(const restinio::request_handle_t& req,
                            const std::string& rid, uint16_t status,
                            const std::string& content_type,
                            const string_pairs& extra, std::string body,
                            bool close) {
  auto resp = req->create_response(restinio::http_status_line_t{
      restinio::http_status_code_t{status}, reason_phrase(status)});
  resp.append_header(restinio::http_field::content_type, content_type);
  resp.append_header("X-Request-ID", rid);
  for (auto& kvp : extra)
    resp.append_header(kvp.first, kvp.second);
  if (close || owner.draining.load(std::memory_order_relaxed))
    resp.connection_close();
  resp.set_body(std::move(body));
  resp.done();
}

void ingress_shard::respond_json(const restinio::request_handle_t& req,
                                 const std::string& rid,
                                 const nlohmann::json& body) {
  respond(req, rid, 200, "application/json", {}, dump_json(body));
}

void ingress_shard::respond_error(const restinio::request_handle_t& req,
                                  const std::string& rid, errc code,
                                  const std::string& message,
                                  const std::string& allow, bool close) {
  string_pairs extra;
  auto status = http_status_of(code);
  if (status == 503)
    extra.emplace_back("Retry-After", "1");
  if (status == 405 && !allow.empty())
    extra.emplace_back("Allow", allow);
  nlohmann::json body{
      {"error", message}, {"code", to_string(code)}, {"request_id", rid}};
  respond(req, rid, status, "application/json", extra, dump_json(body),
          close);
}

caf::message_id ingress_shard::add_pending(restinio::request_handle_t req,
                                           std::string rid, pending_kind kind,
                                           http_metrics::route_cells* rc,
                                           clock_type::time_point start) {
  auto mid = caf::make_message_id(next_id++);
  pending.emplace(key_of(mid), pending_request{std::move(req), std::move(rid),
                                               kind, rc, start});
  if (kind != pending_kind::app_call)
    ++builtin_pending;
  update_active();
  if (owner.opts.request_timeout.count() > 0) {
    drop_answered_deadlines();
    deadlines.emplace_back(key_of(mid),
                           clock_type::now() + owner.opts.request_timeout);
    arm_deadline();
  }
  return mid;
}

bool ingress_shard::take_pending(uint64_t key, pending_request& out) {
  auto i = pending.find(key);
  if (i == pending.end())
    return false;
  out = std::move(i->second);
  pending.erase(i);
  if (out.kind != pending_kind::app_call)
    --builtin_pending;
  update_active();
  return true;
}

void ingress_shard::count(const pending_request& p, uint16_t status) {
  if (p.metrics == nullptr)
    return;
  std::chrono::duration<double, std::milli> ms = clock_type::now() - p.start;
  metrics->record(*p.metrics, status, ms.count());
  if (access_log_on())
    log_access(p.request_id, p.metrics->method, p.metrics->route,
               p.metrics->app, status, ms.count());
}

void ingress_shard::count_unrouted(const restinio::request_handle_t& req,
                                   const std::string& rid,
                                   clock_type::time_point start,
                                   uint16_t status) {
  if (!metrics)
    return;
  auto rc = metrics->route({}, {}, req->header().method().c_str(), {});
  std::chrono::duration<double, std::milli> ms = clock_type::now() - start;
  metrics->record(*rc, status, ms.count());
  if (access_log_on())
    log_access(rid, rc->method, {}, {}, status, ms.count());
}

void ingress_shard::update_active() {
  auto n = pending.size() - builtin_pending + streams.size();
  active.store(n, std::memory_order_relaxed);
  if (n == 0)
    owner.notify_if_idle();
}

void ingress_shard::start_stream(pending_request p, http_response& r) {
  auto resp = p.req->create_response<restinio::chunked_output_t>(
      restinio::http_status_line_t{restinio::http_status_code_t{r.status},
                                   reason_phrase(r.status)});
  resp.append_header(restinio::http_field::content_type, r.content_type);
  resp.append_header("X-Request-ID", p.request_id);
  for (auto& kvp : r.headers)
    resp.append_header(kvp.first, kvp.second);
  if (owner.draining.load(std::memory_order_relaxed))
    resp.connection_close();
  resp.flush(); // the headers go out before the first chunk
  auto cells =
      metrics && p.metrics != nullptr ? metrics->streams(*p.metrics) : nullptr;
  auto entry = std::make_unique<http_stream>(
      *this, p.req, p.request_id, std::move(resp), r.mode, cells, p.start);
  auto raw = entry.get();
  auto tag = inbox->open(r.stream, owner.opts.stream_window, std::move(entry));
  if (tag == 0)
    return; // failed at once; the entry answered and is gone
  streams.emplace(tag, raw);
  update_active();
  raw->start(tag);
}

void ingress_shard::stream_ended(uint64_t tag) {
  if (streams.erase(tag) > 0)
    update_active();
}

void connection_listener::state_changed(
    const restinio::connection_state::notice_t& notice) noexcept {
  if (std::holds_alternative<restinio::connection_state::closed_t>(
          notice.cause())) {
    try {
      shard_.on_connection_closed(notice.connection_id());
    } catch (...) {
      // Out of memory while cancelling: the calls finish unobserved.
    }
  }
}

void ingress_shard::on_connection_closed(restinio::connection_id_t conn) {
  if (!host || !inbox)
    return; // stopping: connections close as the server goes
  // A scan, not an index: closes are per connection, requests per message,
  // and a shard holds only its own requests in flight.
  std::vector<uint64_t> gone;
  for (auto& [key, p] : pending)
    if (p.kind == pending_kind::app_call && p.req->connection_id() == conn)
      gone.push_back(key);
  for (auto key : gone) {
    pending_request p;
    if (take_pending(key, p)) {
      count(p, 499); // as Ray Serve's proxy counts a client that left
      host->cancel(caf::make_message_id(key));
    }
  }
  // Its streams stop at their producers.
  std::vector<uint64_t> tags;
  for (auto& [tag, s] : streams)
    if (s->connection() == conn)
      tags.push_back(tag);
  for (auto tag : tags)
    inbox->cancel(tag, make_error(errc::cancelled, "the client went away"));
}

void ingress_shard::drop_answered_deadlines() {
  while (!deadlines.empty() && pending.count(deadlines.front().first) == 0)
    deadlines.pop_front();
}

void ingress_shard::arm_deadline() {
  if (deadline_armed || deadlines.empty())
    return;
  deadline_armed = true;
  // Deadlines of answered requests were dropped, so the front is a request
  // still in flight; `deadline_slack` lets one wake-up time out every
  // request whose deadline falls close together.
  deadline_timer.expires_at(
      std::max(deadlines.front().second, clock_type::now() + deadline_slack));
  deadline_timer.async_wait([this](const asio::error_code& ec) {
    deadline_armed = false;
    if (ec)
      return;
    auto now = clock_type::now();
    while (!deadlines.empty() && deadlines.front().second <= now) {
      pending_request p;
      if (take_pending(deadlines.front().first, p)) {
        count(p, http_status_of(errc::deadline_exceeded));
        respond_error(p.req, p.request_id, errc::deadline_exceeded,
                      "the request did not complete within " +
                          std::to_string(owner.opts.request_timeout.count()) +
                          " ms");
        // Nobody waits for it now: drop it if queued, stop it if running.
        host->cancel(caf::make_message_id(deadlines.front().first));
      }
      deadlines.pop_front();
    }
    drop_answered_deadlines();
    arm_deadline();
  });
}

} // namespace actorserve::detail
