#include "http_server.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/actor_companion.hpp>
#include <caf/actor_system.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/make_message.hpp>
#include <caf/message_id.hpp>
#include <nlohmann/json.hpp>
#include <restinio/all.hpp>

#include "actorserve/http_types.hpp"
#include "actorserve/messages.hpp"

namespace actorserve::detail {

namespace {

using traits = restinio::default_traits_t;
using server_handle = restinio::running_server_handle_t<traits>;
using clock_type = std::chrono::steady_clock;

const char* reason_phrase(uint16_t status) {
  switch (status) {
  case 200:
    return "OK";
  case 400:
    return "Bad Request";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 408:
    return "Request Timeout";
  case 413:
    return "Payload Too Large";
  case 500:
    return "Internal Server Error";
  case 503:
    return "Service Unavailable";
  default:
    return status < 400 ? "OK" : "Error";
  }
}

/// What a pending entry waits for.
enum class pending_kind : uint8_t { app_call, status_query };

struct pending_entry {
  restinio::request_handle_t req;
  std::string request_id;
  pending_kind kind;
};

bool prefix_matches(const std::string& prefix, restinio::string_view_t path) {
  if (prefix == "/")
    return true;
  if (path.size() < prefix.size() ||
      path.compare(0, prefix.size(), prefix) != 0)
    return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

} // namespace

struct http_server::impl {
  impl(caf::actor_system& sys, http_options opts, controller_actor ctrl)
      : sys(sys), opts(std::move(opts)), controller(std::move(ctrl)) {
    std::random_device rd;
    id_prefix = std::to_string(rd() % 100000) + "-";
  }

  caf::actor_system& sys;
  http_options opts;
  controller_actor controller;
  caf::actor companion;
  caf::strong_actor_ptr companion_ptr;
  std::shared_ptr<const route_table> routes = std::make_shared<route_table>();
  std::atomic<uint16_t> port{0};
  std::atomic<bool> draining{false};
  std::atomic<uint64_t> next_id{1};
  std::string id_prefix;

  std::mutex mtx;
  std::condition_variable cv;      // deadline sweeper
  std::condition_variable idle_cv; // drain
  std::unordered_map<uint64_t, pending_entry> pending;
  std::deque<std::pair<uint64_t, clock_type::time_point>> deadlines;
  bool stopping = false;
  std::thread sweeper;
  server_handle server;
  bool stopped = false;

  // -- responses ------------------------------------------------------------

  void respond(const restinio::request_handle_t& req, const std::string& rid,
               uint16_t status, const std::string& content_type,
               const string_pairs& extra, std::string body) {
    auto resp = req->create_response(restinio::http_status_line_t{
        restinio::http_status_code_t{status}, reason_phrase(status)});
    resp.append_header(restinio::http_field::content_type, content_type);
    resp.append_header("X-Request-ID", rid);
    for (auto& kvp : extra)
      resp.append_header(kvp.first, kvp.second);
    if (draining.load())
      resp.connection_close();
    resp.set_body(std::move(body));
    resp.done();
  }

  void respond_json(const restinio::request_handle_t& req,
                    const std::string& rid, const nlohmann::json& body,
                    uint16_t status = 200) {
    respond(req, rid, status, "application/json", {}, body.dump());
  }

  void respond_error(const restinio::request_handle_t& req,
                     const std::string& rid, errc code,
                     const std::string& message) {
    string_pairs extra;
    auto status = http_status_of(code);
    if (status == 503)
      extra.emplace_back("Retry-After", "1");
    nlohmann::json body{
        {"error", message}, {"code", to_string(code)}, {"request_id", rid}};
    respond(req, rid, status, "application/json", extra, body.dump());
  }

  void respond_error(const restinio::request_handle_t& req,
                     const std::string& rid, const caf::error& err) {
    respond_error(req, rid, code_of(err), message_of(err));
  }

  // -- pending requests -----------------------------------------------------

  /// Requests accepted and not yet answered.
  size_t in_flight() {
    std::lock_guard<std::mutex> guard{mtx};
    return pending.size();
  }

  uint64_t add_pending(restinio::request_handle_t req, std::string rid,
                       pending_kind kind) {
    auto id = next_id.fetch_add(1);
    std::lock_guard<std::mutex> guard{mtx};
    pending.emplace(id, pending_entry{std::move(req), std::move(rid), kind});
    if (opts.request_timeout.count() > 0) {
      deadlines.emplace_back(id, clock_type::now() + opts.request_timeout);
      if (deadlines.size() == 1)
        cv.notify_one();
    }
    return id;
  }

  bool take_pending(uint64_t id, pending_entry& out) {
    std::lock_guard<std::mutex> guard{mtx};
    auto i = pending.find(id);
    if (i == pending.end())
      return false;
    out = std::move(i->second);
    pending.erase(i);
    if (pending.empty())
      idle_cv.notify_all();
    return true;
  }

  /// Answers requests whose deadline passed with 408. Deadlines arrive in
  /// order (one timeout for all), so a FIFO suffices.
  void sweep() {
    std::unique_lock<std::mutex> guard{mtx};
    while (!stopping) {
      if (deadlines.empty()) {
        cv.wait(guard);
        continue;
      }
      auto due = deadlines.front().second;
      if (clock_type::now() < due) {
        cv.wait_until(guard, due);
        continue;
      }
      std::vector<pending_entry> expired;
      auto now = clock_type::now();
      while (!deadlines.empty() && deadlines.front().second <= now) {
        auto i = pending.find(deadlines.front().first);
        if (i != pending.end()) {
          expired.push_back(std::move(i->second));
          pending.erase(i);
        }
        deadlines.pop_front();
      }
      if (pending.empty())
        idle_cv.notify_all();
      guard.unlock();
      for (auto& e : expired)
        respond_error(e.req, e.request_id, errc::deadline_exceeded,
                      "the request did not complete within " +
                          std::to_string(opts.request_timeout.count()) + " ms");
      guard.lock();
    }
  }

  // -- answers from the system plane ----------------------------------------

  /// Runs on whichever thread enqueues into the companion.
  void on_message(caf::mailbox_element_ptr ptr) {
    auto& content = ptr->content();
    if (content.match_elements<routes_atom, route_table>()) {
      auto table =
          std::make_shared<const route_table>(content.get_as<route_table>(1));
      std::atomic_store(&routes, std::move(table));
      return;
    }
    if (!ptr->mid.is_response())
      return;
    pending_entry entry;
    if (!take_pending(ptr->mid.request_id().integer_value(), entry))
      return; // answered already (timed out)
    if (content.match_elements<caf::error>()) {
      respond_error(entry.req, entry.request_id, content.get_as<caf::error>(0));
    } else if (entry.kind == pending_kind::status_query &&
               content.match_elements<serve_status>()) {
      respond(entry.req, entry.request_id, 200, "application/json", {},
              to_json(content.get_as<serve_status>(0)));
    } else if (content.match_elements<http_response>()) {
      auto& r = content.get_mutable_as<http_response>(0);
      respond(entry.req, entry.request_id, r.status, r.content_type, r.headers,
              std::move(r.body));
    } else {
      respond_error(entry.req, entry.request_id, errc::user_error,
                    "the ingress deployment answered with a "
                    "value that is not an http_response");
    }
  }

  // -- requests from RESTinio -----------------------------------------------

  std::string request_id_of(const restinio::http_request_header_t& hdr) {
    auto rid = hdr.get_field_or("X-Request-ID", "");
    if (!rid.empty() && rid.size() <= 128)
      return rid;
    return id_prefix + std::to_string(next_id.fetch_add(1));
  }

  void send(caf::actor dest, uint64_t id, caf::message msg) {
    dest->enqueue(caf::make_mailbox_element(companion_ptr,
                                            caf::make_message_id(id), {},
                                            std::move(msg)),
                  nullptr);
  }

  restinio::request_handling_status_t
  handle(const restinio::request_handle_t& req) {
    auto& hdr = req->header();
    auto rid = request_id_of(hdr);
    auto path = hdr.path();
    if (path.size() >= 3 && path.compare(0, 3, "/-/") == 0)
      return builtin(req, rid, path);
    if (draining.load()) {
      respond_error(req, rid, errc::unavailable, "the server is shutting down");
      return restinio::request_accepted();
    }
    if (req->body().size() > opts.max_body_bytes) {
      respond_error(req, rid, errc::payload_too_large,
                    "the body has " + std::to_string(req->body().size()) +
                        " bytes; the limit is " +
                        std::to_string(opts.max_body_bytes));
      return restinio::request_accepted();
    }
    auto table = std::atomic_load(&routes);
    const route_entry* match = nullptr;
    for (auto& e : *table)
      if (prefix_matches(e.prefix, path)) {
        match = &e;
        break;
      }
    if (match == nullptr) {
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
      respond_error(req, rid, errc::bad_request,
                    "the query string is not valid");
      return restinio::request_accepted();
    }
    hdr.for_each_field([&](const restinio::http_header_field_t& f) {
      msg.headers.emplace_back(f.name(), f.value());
    });
    msg.body = req->body();
    msg.request_id = rid;
    request_meta meta;
    meta.request_id = rid;
    if (opts.request_timeout.count() > 0)
      meta.deadline = caf::make_timestamp() + opts.request_timeout;
    auto router = match->router;
    auto id = add_pending(req, std::move(rid), pending_kind::app_call);
    send(router, id,
         caf::make_message(call_atom::value, std::move(meta),
                           caf::make_message(std::move(msg))));
    return restinio::request_accepted();
  }

  restinio::request_handling_status_t
  builtin(const restinio::request_handle_t& req, const std::string& rid,
          restinio::string_view_t path) {
    if (path == "/-/healthz") {
      // Answered while the system plane is up; 503 while draining.
      if (draining.load())
        respond_error(req, rid, errc::unavailable, "draining");
      else
        respond_json(req, rid, {{"status", "ok"}, {"in_flight", in_flight()}});
    } else if (path == "/-/routes") {
      auto table = std::atomic_load(&routes);
      auto body = nlohmann::json::object();
      for (auto& e : *table)
        body[e.prefix] = e.app;
      respond_json(req, rid, body);
    } else if (path == "/-/status") {
      auto id = add_pending(req, rid, pending_kind::status_query);
      send(caf::actor_cast<caf::actor>(controller), id,
           caf::make_message(status_atom::value));
    } else {
      respond_error(req, rid, errc::not_found,
                    "no built-in endpoint " + std::string{path});
    }
    return restinio::request_accepted();
  }
};

http_server::http_server(caf::actor_system& sys, http_options opts,
                         controller_actor controller)
    : impl_(std::make_unique<impl>(sys, std::move(opts),
                                   std::move(controller))) {}

http_server::~http_server() {
  stop();
}

caf::error http_server::start() {
  auto& d = *impl_;
  d.companion = d.sys.spawn<caf::actor_companion>();
  d.companion_ptr = caf::actor_cast<caf::strong_actor_ptr>(d.companion);
  auto* raw = caf::actor_cast<caf::actor_companion*>(d.companion);
  raw->on_enqueue(
      [&d](caf::mailbox_element_ptr ptr) { d.on_message(std::move(ptr)); });
  d.sweeper = std::thread{[&d] { d.sweep(); }};
  auto hard = d.opts.hard_body_limit != 0 ? d.opts.hard_body_limit
                                          : 4 * d.opts.max_body_bytes;
  auto handling = d.opts.request_timeout.count() > 0
                      ? std::chrono::duration_cast<clock_type::duration>(
                            d.opts.request_timeout + std::chrono::seconds(10))
                      : std::chrono::duration_cast<clock_type::duration>(
                            std::chrono::hours(24));
  try {
    d.server = restinio::run_async<traits>(
        restinio::own_io_context(),
        restinio::server_settings_t<traits>{}
            .address(d.opts.host)
            .port(d.opts.port)
            .request_handler([&d](auto req) { return d.handle(req); })
            .incoming_http_msg_limits(
                restinio::incoming_http_msg_limits_t{}
                    .max_url_size(d.opts.max_url_bytes)
                    .max_field_value_size(d.opts.max_header_bytes)
                    .max_field_count(d.opts.max_header_count)
                    .max_body_size(hard))
            .handle_request_timeout(handling)
            .read_next_http_message_timelimit(
                std::chrono::duration_cast<clock_type::duration>(
                    d.opts.keep_alive_timeout))
            .acceptor_post_bind_hook([&d](asio::ip::tcp::acceptor& acceptor) {
              d.port = acceptor.local_endpoint().port();
            }),
        d.opts.threads);
  } catch (const std::exception& e) {
    return make_error(errc::invalid_config,
                      "http: cannot listen on " + d.opts.host + ":" +
                          std::to_string(d.opts.port) + ": " + e.what());
  }
  caf::anon_send(d.controller, routes_atom::value, d.companion);
  return {};
}

uint16_t http_server::port() const noexcept {
  return impl_->port.load();
}

void http_server::begin_drain() {
  impl_->draining = true;
}

bool http_server::wait_idle(std::chrono::milliseconds timeout) {
  auto& d = *impl_;
  std::unique_lock<std::mutex> guard{d.mtx};
  return d.idle_cv.wait_for(guard, timeout, [&] { return d.pending.empty(); });
}

void http_server::stop() {
  auto& d = *impl_;
  if (d.stopped)
    return;
  d.stopped = true;
  if (d.server) {
    d.server->stop();
    d.server->wait();
    d.server.reset();
  }
  {
    std::lock_guard<std::mutex> guard{d.mtx};
    d.stopping = true;
    d.pending.clear();
  }
  d.cv.notify_all();
  if (d.sweeper.joinable())
    d.sweeper.join();
  if (d.companion) {
    auto* raw = caf::actor_cast<caf::actor_companion*>(d.companion);
    raw->on_enqueue([](caf::mailbox_element_ptr) {});
    anon_send_exit(d.companion, caf::exit_reason::user_shutdown);
    d.companion = nullptr;
    d.companion_ptr = nullptr;
  }
}

} // namespace actorserve::detail
