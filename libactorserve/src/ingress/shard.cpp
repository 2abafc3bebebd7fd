#include "ingress/shard.hpp"

#include <algorithm>
#include <charconv>
#include <random>

#include <caf/actor_cast.hpp>
#include <caf/actor_companion.hpp>
#include <caf/actor_system.hpp>
#include <caf/make_message.hpp>

#include "actorserve/http.hpp"
#include "ops/logging.hpp"
#include "ingress/body_limit.hpp"
#include "ingress/http_server.hpp"
#include "runtime/thread_name.hpp"
#include "runtime/serve_config.hpp"
#include "runtime/spin_queue.hpp"
#include "ingress/http_stream.hpp"

namespace actorserve::detail {

namespace {

bool prefix_matches(const std::string& prefix, restinio::string_view_t path) {
  if (prefix == "/")
    return true;
  if (path.size() < prefix.size() ||
      path.compare(0, prefix.size(), prefix) != 0)
    return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
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

void ingress_shard::on_enqueue(caf::mailbox_element_ptr ptr) {
  auto& content = ptr->content();
  if (content.match_elements<routes_atom, route_table>()) {
    // Published at once (not posted), so a route is live by the time
    // `serve::run` returns.
    owner.routes.set(
        std::make_shared<const route_table>(content.get_as<route_table>(1)));
    return;
  }
  // Only a sleeping I/O thread needs waking; an awake one drains the inbox
  // before it sleeps again (`run`).
  if (replies.push(std::move(ptr)))
    asio::post(ioc, [this] { drain_replies(); });
}

size_t ingress_shard::drain_replies() {
  return replies.drain(
      [this](caf::mailbox_element& x) { on_message_guarded(x); });
}

void ingress_shard::on_message(caf::mailbox_element& x) {
  auto& content = x.content();
  // The framework's own messages start with an atom; answers do not.
  if (!content.empty() && content.match_element<caf::atom_value>(0)) {
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
  }
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
  } else if (p.kind == pending_kind::v2_ready) {
    respond(p.req, p.request_id, 200, "application/json", {},
            R"({"ready":true})");
  } else if (p.kind == pending_kind::status_query &&
             content.match_elements<serve_status>()) {
    respond(p.req, p.request_id, 200, "application/json", {},
            to_json(content.get_as<serve_status>(0)));
  } else if (content.match_elements<http_response>()) {
    auto& r = content.get_mutable_as<http_response>(0);
    if (auto bad = bad_response_header(r); !bad.empty()) {
      count(p, http_status_of(errc::user_error));
      respond_error(p.req, p.request_id, errc::user_error, bad);
      return;
    }
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

restinio::request_handling_status_t
ingress_shard::handle(const restinio::request_handle_t& req) {
  auto& hdr = req->header();
  auto rid = request_id_of(hdr);
  auto path = hdr.path();
  // A body skipped for its size leaves the connection unusable: answered
  // first, whatever the path.
  if (declared_body_over(*req, owner.opts.max_body_bytes) &&
      reject_front(req, rid, {}))
    return restinio::request_accepted();
  if (path.size() >= 3 && path.compare(0, 3, "/-/") == 0)
    return builtin(req, rid, path);
  auto start = metrics ? clock_type::now() : clock_type::time_point{};
  if (reject_front(req, rid, start))
    return restinio::request_accepted();
  owner.routes.refresh(routes_seen, routes);
  const route_entry* match = nullptr;
  for (auto& e : *routes)
    if (prefix_matches(e.prefix, path)) {
      match = &e;
      break;
    }
  if (v2_server(req, rid, path, match))
    return restinio::request_accepted();
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
  request_meta meta;
  if (auto why = read_request(req, msg, meta); !why.empty()) {
    count_unrouted(req, rid, start, http_status_of(errc::bad_request));
    respond_error(req, rid, errc::bad_request, why);
    return restinio::request_accepted();
  }
  msg.request_id = rid;
  meta.request_id = rid;
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

void ingress_shard::ask_controller(const restinio::request_handle_t& req,
                                   const std::string& rid, pending_kind kind,
                                   std::chrono::milliseconds timeout,
                                   const char* late, caf::message msg) {
  auto mid = add_pending(req, rid, kind);
  auto timer = std::make_shared<asio::steady_timer>(ioc, timeout);
  timer->async_wait(
      [this, key = key_of(mid), timer, late](const asio::error_code& ec) {
        pending_request p;
        if (!ec && take_pending(key, p))
          respond_error(p.req, p.request_id, errc::unavailable, late);
      });
  caf::actor_cast<caf::actor>(owner.controller)
      ->enqueue(caf::make_mailbox_element(companion_ptr, mid, {},
                                          std::move(msg)),
                nullptr);
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
    ask_controller(req, rid, pending_kind::health_query, health_timeout,
                   "the system plane did not answer within 1 s",
                   caf::make_message(health_atom::value));
  } else if (path == "/-/status" && owner.answers_status &&
             req->remote_endpoint().address().is_loopback()) {
    // Status is internal: only a client on this host sees it.
    ask_controller(req, rid, pending_kind::status_query, status_timeout,
                   "no status within 5 s", caf::make_message(status_atom::value));
  } else if (path == "/-/routes") {
    owner.routes.refresh(routes_seen, routes);
    auto body = nlohmann::json::object();
    for (auto& e : *routes)
      body[e.prefix] = e.app;
    respond_json(req, rid, body);
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
  server = listen(port);
}

bool ingress_shard::await_answer(std::chrono::nanoseconds spin) {
  if (spin.count() <= 0 || !spin_budget::instance().try_acquire())
    return false;
  auto found = spin_until([this] { return replies.has_mail(); }, spin);
  spin_budget::instance().release();
  return found;
}

void ingress_shard::run() {
  answer_spin = std::min<std::chrono::nanoseconds>(idle_spin_of(owner.sys),
                                                   max_answer_spin);
  thread = std::thread{[this] {
    name_this_thread("as-http-" + std::to_string(index));
    // asio's loop, with the reply inbox drained after every batch of
    // handlers, and marked as blocked (so that the next answer wakes the
    // thread) only when the thread is about to wait for events. With
    // several requests in flight it first polls the inbox briefly.
    while (!ioc.stopped()) {
      try {
        turn();
      } catch (const std::exception& e) {
        replies.unblock();
        log_caught(loop_errors, "http I/O thread", e.what());
      } catch (...) {
        replies.unblock();
        log_caught(loop_errors, "http I/O thread", "a non-standard exception");
      }
    }
  }};
}

void ingress_shard::turn() {
  size_t n = 0;
  while (n < handler_batch && ioc.poll_one() > 0)
    ++n;
  n += drain_replies();
  if (n > 0 || ioc.stopped())
    return;
  if (pending.size() >= answer_spin_min_pending && await_answer(answer_spin))
    return;
  if (!replies.try_block())
    return;
  ioc.run_one();
  replies.unblock();
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
