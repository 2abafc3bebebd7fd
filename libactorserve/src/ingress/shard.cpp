#include "shard.hpp"

#include <random>
#include <sys/socket.h>

#include <caf/actor_cast.hpp>
#include <caf/actor_companion.hpp>
#include <caf/actor_system.hpp>
#include <caf/make_message.hpp>

#include "actorserve/http.hpp"
#include "../core/logging.hpp"
#include "http_server.hpp"
#include "http_stream.hpp"

namespace actorserve::detail {

namespace {

using reuse_port =
    asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

bool prefix_matches(const std::string& prefix, restinio::string_view_t path) {
  if (prefix == "/")
    return true;
  if (path.size() < prefix.size() ||
      path.compare(0, prefix.size(), prefix) != 0)
    return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

/// The key of a request or response id in a shard's maps.
uint64_t key_of(caf::message_id mid) {
  return mid.integer_value() & caf::message_id::request_id_mask;
}

} // namespace

// -- ingress_state ------------------------------------------------------------

ingress_state::ingress_state(caf::actor_system& sys, http_options opts,
                             controller_actor ctrl)
    : sys(sys), opts(std::move(opts)), controller(std::move(ctrl)) {
  std::random_device rd;
  id_prefix = std::to_string(rd() % 100000) + "-";
}

size_t ingress_state::in_flight() const {
  size_t n = 0;
  for (auto& s : shards)
    n += s->active.load(std::memory_order_relaxed);
  return n;
}

void ingress_state::notify_if_idle() {
  if (!draining.load(std::memory_order_relaxed))
    return;
  std::lock_guard<std::mutex> guard{idle_mtx};
  idle_cv.notify_all();
}

// -- ingress_shard ------------------------------------------------------------

void ingress_shard::respond(const restinio::request_handle_t& req,
                            const std::string& rid, uint16_t status,
                            const std::string& content_type,
                            const string_pairs& extra, std::string body) {
  auto resp = req->create_response(restinio::http_status_line_t{
      restinio::http_status_code_t{status}, reason_phrase(status)});
  resp.append_header(restinio::http_field::content_type, content_type);
  resp.append_header("X-Request-ID", rid);
  for (auto& kvp : extra)
    resp.append_header(kvp.first, kvp.second);
  if (owner.draining.load(std::memory_order_relaxed))
    resp.connection_close();
  resp.set_body(std::move(body));
  resp.done();
}

void ingress_shard::respond_json(const restinio::request_handle_t& req,
                                 const std::string& rid,
                                 const nlohmann::json& body) {
  respond(req, rid, 200, "application/json", {}, body.dump());
}

void ingress_shard::respond_error(const restinio::request_handle_t& req,
                                  const std::string& rid, errc code,
                                  const std::string& message,
                                  const std::string& allow) {
  string_pairs extra;
  auto status = http_status_of(code);
  if (status == 503)
    extra.emplace_back("Retry-After", "1");
  if (status == 405 && !allow.empty())
    extra.emplace_back("Allow", allow);
  nlohmann::json body{
      {"error", message}, {"code", to_string(code)}, {"request_id", rid}};
  respond(req, rid, status, "application/json", extra, body.dump());
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
  auto entry = std::make_unique<http_stream>(*this, p.req, p.request_id,
                                             std::move(resp), r.mode);
  auto raw = entry.get();
  auto tag = inbox->open(r.stream, owner.opts.stream_window, std::move(entry));
  if (tag == 0)
    return; // failed at once; the entry answered and is gone
  streams.emplace(tag, raw);
  update_active();
  raw->start(tag,
             metrics && p.metrics != nullptr ? metrics->streams(*p.metrics)
                                             : nullptr,
             p.start);
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

void ingress_shard::arm_deadline() {
  if (deadline_armed || deadlines.empty())
    return;
  deadline_armed = true;
  deadline_timer.expires_at(deadlines.front().second);
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
    arm_deadline();
  });
}

void ingress_shard::on_enqueue(caf::mailbox_element_ptr ptr) {
  auto& content = ptr->content();
  if (content.match_elements<routes_atom, route_table>()) {
    // Published at once (not posted), so a route is live by the time
    // `serve::run` returns.
    owner.routes.set(
        std::make_shared<const route_table>(content.get_as<route_table>(1)));
    return;
  }
  asio::post(ioc, [this, p = std::move(ptr)]() mutable { on_message(*p); });
}

void ingress_shard::on_message(caf::mailbox_element& x) {
  auto& content = x.content();
  if (content.match_elements<route_retry_atom>()) {
    host->on_retry();
    return;
  }
  if (content.match_elements<replica_gone_atom, uint64_t>()) {
    host->on_replica_gone(content.get_as<uint64_t>(1));
    return;
  }
  if (inbox->handle(content))
    return;
  if (!x.mid.is_response() || host->on_response(x))
    return;
  pending_request p;
  if (!take_pending(key_of(x.mid), p))
    return; // answered already (timed out)
  if (content.match_elements<caf::error>()) {
    auto& err = content.get_as<caf::error>(0);
    count(p, http_status_of(code_of(err)));
    respond_error(p.req, p.request_id, code_of(err), message_of(err),
                  allowed_methods(err));
  } else if (p.kind == pending_kind::health_query) {
    respond_json(p.req, p.request_id,
                 {{"status", "ok"}, {"in_flight", owner.in_flight()}});
  } else if (p.kind == pending_kind::status_query &&
             content.match_elements<serve_status>()) {
    respond(p.req, p.request_id, 200, "application/json", {},
            to_json(content.get_as<serve_status>(0)));
  } else if (content.match_elements<http_response>()) {
    auto& r = content.get_mutable_as<http_response>(0);
    count(p, r.status); // a stream counts when its headers go out
    if (r.mode != body_mode::whole && r.stream) {
      start_stream(std::move(p), r);
      return;
    }
    respond(p.req, p.request_id, r.status, r.content_type, r.headers,
            std::move(r.body));
  } else {
    count(p, http_status_of(errc::user_error));
    respond_error(p.req, p.request_id, errc::user_error,
                  "the ingress deployment answered with a "
                  "value that is not an http_response");
  }
}

std::string
ingress_shard::request_id_of(const restinio::http_request_header_t& hdr) {
  auto rid = hdr.get_field_or("X-Request-ID", "");
  if (!rid.empty() && rid.size() <= 128)
    return rid;
  return owner.id_prefix + std::to_string(index) + "-" +
         std::to_string(next_rid++);
}

restinio::request_handling_status_t
ingress_shard::handle(const restinio::request_handle_t& req) {
  auto& hdr = req->header();
  auto rid = request_id_of(hdr);
  auto path = hdr.path();
  if (path.size() >= 3 && path.compare(0, 3, "/-/") == 0)
    return builtin(req, rid, path);
  auto start = metrics ? clock_type::now() : clock_type::time_point{};
  if (owner.draining.load(std::memory_order_relaxed)) {
    count_unrouted(req, rid, start, http_status_of(errc::unavailable));
    respond_error(req, rid, errc::unavailable, "the server is shutting down");
    return restinio::request_accepted();
  }
  if (req->body().size() > owner.opts.max_body_bytes) {
    count_unrouted(req, rid, start, http_status_of(errc::payload_too_large));
    respond_error(req, rid, errc::payload_too_large,
                  "the body has " + std::to_string(req->body().size()) +
                      " bytes; the limit is " +
                      std::to_string(owner.opts.max_body_bytes));
    return restinio::request_accepted();
  }
  owner.routes.refresh(routes_seen, routes);
  const route_entry* match = nullptr;
  for (auto& e : *routes)
    if (prefix_matches(e.prefix, path)) {
      match = &e;
      break;
    }
  if (match == nullptr) {
    count_unrouted(req, rid, start, http_status_of(errc::not_found));
    respond_error(req, rid, errc::not_found,
                  "no application serves " + std::string{path});
    return restinio::request_accepted();
  }
  http_request msg;
  msg.method = std::string{hdr.method().c_str()};
  msg.full_path = std::string{path};
  if (match->prefix == "/")
    msg.path = msg.full_path;
  else
    msg.path = msg.full_path.size() == match->prefix.size()
                   ? std::string{"/"}
                   : msg.full_path.substr(match->prefix.size());
  try {
    auto qp = restinio::parse_query(hdr.query());
    for (auto& kvp : qp)
      msg.query.emplace_back(std::string{kvp.first}, std::string{kvp.second});
  } catch (const std::exception&) {
    count_unrouted(req, rid, start, http_status_of(errc::bad_request));
    respond_error(req, rid, errc::bad_request, "the query string is not valid");
    return restinio::request_accepted();
  }
  hdr.for_each_field([&](const restinio::http_header_field_t& f) {
    msg.headers.emplace_back(f.name(), f.value());
  });
  msg.body = req->body();
  msg.request_id = rid;
  request_meta meta;
  meta.request_id = rid;
  // Ray Serve's header for model multiplexing.
  meta.multiplexed_model_id =
      std::string{hdr.get_field_or("serve_multiplexed_model_id", "")};
  if (owner.opts.request_timeout.count() > 0)
    meta.deadline = caf::make_timestamp() + owner.opts.request_timeout;
  // A reference, not a copy: copying the shared_ptr would bump one
  // reference count per request from every shard. The shard's route table
  // holds the endpoint until the call is routed.
  const auto& target = match->target;
  auto rc = metrics ? metrics->route(match->prefix, match->app, msg.method,
                                     target->deployment())
                    : nullptr;
  auto mid =
      add_pending(req, std::move(rid), pending_kind::app_call, rc, start);
  // Routed here, on this thread: straight to a replica.
  host->route(target, mid, std::move(meta), caf::make_message(std::move(msg)));
  return restinio::request_accepted();
}

restinio::request_handling_status_t
ingress_shard::builtin(const restinio::request_handle_t& req,
                       const std::string& rid, restinio::string_view_t path) {
  if (path == "/-/healthz") {
    // 200 once the controller answers (the system plane schedules it); 503
    // while draining, or when it does not answer within health_timeout.
    if (owner.draining.load()) {
      respond_error(req, rid, errc::unavailable, "draining");
      return restinio::request_accepted();
    }
    auto mid = add_pending(req, rid, pending_kind::health_query);
    auto timer = std::make_shared<asio::steady_timer>(ioc, health_timeout);
    timer->async_wait(
        [this, key = key_of(mid), timer](const asio::error_code& ec) {
          pending_request p;
          if (!ec && take_pending(key, p))
            respond_error(p.req, p.request_id, errc::unavailable,
                          "the system plane did not answer within 1 s");
        });
    caf::actor_cast<caf::actor>(owner.controller)
        ->enqueue(caf::make_mailbox_element(companion_ptr, mid, {},
                                            health_atom::value),
                  nullptr);
  } else if (path == "/-/routes") {
    owner.routes.refresh(routes_seen, routes);
    auto body = nlohmann::json::object();
    for (auto& e : *routes)
      body[e.prefix] = e.app;
    respond_json(req, rid, body);
  } else if (path == "/-/status") {
    auto mid = add_pending(req, rid, pending_kind::status_query);
    caf::actor_cast<caf::actor>(owner.controller)
        ->enqueue(caf::make_mailbox_element(companion_ptr, mid, {},
                                            status_atom::value),
                  nullptr);
  } else {
    respond_error(req, rid, errc::not_found,
                  "no built-in endpoint " + std::string{path});
  }
  return restinio::request_accepted();
}

void ingress_shard::open(uint16_t port) {
  companion = owner.sys.spawn<caf::actor_companion>();
  companion_ptr = caf::actor_cast<caf::strong_actor_ptr>(companion);
  auto* raw = caf::actor_cast<caf::actor_companion*>(companion);
  raw->on_enqueue(
      [this](caf::mailbox_element_ptr ptr) { on_enqueue(std::move(ptr)); });
  host = std::make_unique<call_host>(raw, index + 1, true);
  inbox = std::make_unique<stream_inbox>(raw);
  auto& o = owner.opts;
  auto hard = o.hard_body_limit != 0 ? o.hard_body_limit : 4 * o.max_body_bytes;
  auto handling = o.request_timeout.count() > 0
                      ? std::chrono::duration_cast<clock_type::duration>(
                            o.request_timeout + std::chrono::seconds(10))
                      : std::chrono::duration_cast<clock_type::duration>(
                            std::chrono::hours(24));
  auto settings =
      restinio::server_settings_t<traits>{}
          .address(o.host)
          .port(port)
          .request_handler([this](auto req) { return handle(req); })
          .incoming_http_msg_limits(
              restinio::incoming_http_msg_limits_t{}
                  .max_url_size(o.max_url_bytes)
                  .max_field_value_size(o.max_header_bytes)
                  .max_field_count(o.max_header_count)
                  .max_body_size(hard))
          .handle_request_timeout(handling)
          // Read on while a request runs, so that a client that goes away
          // is noticed (connection_listener) and its request cancelled.
          .max_pipelined_requests(2)
          .connection_state_listener(
              std::make_shared<connection_listener>(*this))
          .read_next_http_message_timelimit(
              std::chrono::duration_cast<clock_type::duration>(
                  o.keep_alive_timeout))
          .acceptor_options_setter([](restinio::acceptor_options_t& opts) {
            opts.set_option(asio::ip::tcp::acceptor::reuse_address(true));
            opts.set_option(reuse_port(true));
          })
          .acceptor_post_bind_hook([this](asio::ip::tcp::acceptor& acceptor) {
            if (index == 0)
              owner.port = acceptor.local_endpoint().port();
          });
  server = std::make_unique<server_type>(restinio::external_io_context(ioc),
                                         std::move(settings));
  server->open_sync();
}

void ingress_shard::run() {
  thread = std::thread{[this] { ioc.run(); }};
}

void ingress_shard::stop() {
  // From here on, replies are dropped: no callback runs after this.
  if (companion) {
    auto* raw = caf::actor_cast<caf::actor_companion*>(companion);
    raw->on_enqueue([](caf::mailbox_element_ptr) {});
  }
  if (thread.joinable()) {
    asio::post(ioc, [this] {
      // Requests still waiting (the drain timed out) get an answer before
      // their connections close; the writes start here and the close waits
      // for the next turn of the loop.
      auto left = std::move(pending);
      pending.clear();
      builtin_pending = 0;
      // Streams still running end with an error event, and stop at their
      // producers.
      while (!streams.empty())
        inbox->cancel(streams.begin()->first,
                      make_error(errc::unavailable,
                                 "the server stopped before the stream ended"));
      active.store(0, std::memory_order_relaxed);
      for (auto& kvp : left) {
        count(kvp.second, http_status_of(errc::unavailable));
        respond_error(kvp.second.req, kvp.second.request_id, errc::unavailable,
                      "the server stopped before the request completed");
      }
      asio::post(ioc, [this] {
        server->close_sync();
        deadline_timer.cancel();
        work.reset();
        ioc.stop();
      });
    });
    thread.join();
  }
  // The companion ends here: an exit message would reach the dropping
  // handler above. Once a call crossed nodes, CAF's registry holds it as
  // well (to route answers from other nodes), so dropping our reference
  // alone would leave it running and the actor system waiting.
  if (companion) {
    auto* raw = caf::actor_cast<caf::actor_companion*>(companion);
    raw->cleanup(caf::exit_reason::user_shutdown, nullptr);
  }
  pending.clear();
  active = 0;
  streams.clear();
  inbox.reset();
  host.reset();
  server.reset();
  companion = nullptr;
  companion_ptr = nullptr;
}

} // namespace actorserve::detail
