/// @file
/// One I/O thread of the HTTP ingress (private to the library: RESTinio
/// stays out of public headers).
///
/// A shard has a listener of its own on the port (SO_REUSEPORT: the kernel
/// spreads connections over the shards), its own pending requests, deadline
/// timer and routing state per deployment (`call_host`). Replies reach it
/// through its companion actor, which puts them in the shard's
/// `reply_inbox`; it posts a drain onto the shard's thread only when that
/// thread has marked the inbox blocked, before it waits for events (`run`).
/// Everything but `active` and the companion's callback is touched by that
/// thread alone.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <caf/actor.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/message_id.hpp>
#include <nlohmann/json.hpp>
#include <restinio/all.hpp>

#include "calls/call_host.hpp"
#include "ops/logging.hpp"
#include "ingress/http_metrics.hpp"
#include "ingress/reply_inbox.hpp"
#include "ingress/tls_context.hpp"
#include "actorserve/stream_core.hpp"
#include "actorserve/controller.hpp"
#include "actorserve/endpoint.hpp"
#include "actorserve/error.hpp"
#include "actorserve/http_types.hpp"
#include "actorserve/serve.hpp"

namespace actorserve::detail {

/// The key of a request or response id in a shard's maps.
inline uint64_t key_of(caf::message_id mid) {
  return mid.integer_value() & caf::message_id::request_id_mask;
}

class ingress_shard;
class http_stream;

/// Hears when a connection closes (on the shard's thread), so that the
/// requests still running for it are cancelled all the way down.
class connection_listener {
public:
  explicit connection_listener(ingress_shard& shard) : shard_(shard) {}
  void
  state_changed(const restinio::connection_state::notice_t& notice) noexcept;

private:
  ingress_shard& shard_;
};

/// A shard's RESTinio server, plain or TLS (shard_listen.cpp, the one file
/// that knows their types).
class listener {
public:
  virtual ~listener() = default;
  virtual void close_sync() = 0;
};

using clock_type = std::chrono::steady_clock;

/// How long `GET /-/healthz` waits for the controller before it answers 503.
constexpr auto health_timeout = std::chrono::seconds(1);

/// How late a request timeout may be answered, so that deadlines close
/// together share one timer wake-up.
constexpr auto deadline_slack = std::chrono::milliseconds(5);

/// How long `GET /-/status` (a worker's proxy) waits for its answer.
constexpr auto status_timeout = std::chrono::seconds(5);

/// What a pending request waits for.
enum class pending_kind : uint8_t {
  app_call,
  health_query,
  status_query,
  /// `GET /v2/health/ready` (v2_front.cpp).
  v2_ready
};

struct pending_request {
  restinio::request_handle_t req;
  std::string request_id;
  pending_kind kind;
  /// Where its response is counted (null: not counted, or metrics off).
  http_metrics::route_cells* metrics = nullptr;
  clock_type::time_point start{};
};

/// State every shard shares; none of it is touched per request except
/// read-mostly values (the route table's version, the drain flag).
struct ingress_state {
  ingress_state(caf::actor_system& sys, http_options opts,
                controller_actor ctrl);

  caf::actor_system& sys;
  http_options opts;
  controller_actor controller;
  std::string id_prefix;
  published<route_table> routes{std::make_shared<route_table>()};
  std::atomic<uint16_t> port{0};
  std::atomic<bool> draining{false};
  /// Connections the process's descriptors allow (http_server::start):
  /// the listeners stop accepting before descriptors run out.
  size_t connection_cap = SIZE_MAX;
  /// HTTPS: the context every shard's listener shares (null: plain HTTP).
  std::shared_ptr<asio::ssl::context> tls;
  std::vector<std::unique_ptr<ingress_shard>> shards;
  bool stopped = false;
  /// Answers `GET /-/status` from the controller to loopback clients (a
  /// worker's proxy, where no admin API runs); set before `start`.
  bool answers_status = false;

  // Drain: shards signal here when they run out of requests while draining.
  std::mutex idle_mtx;
  std::condition_variable idle_cv;

  /// Requests accepted and not yet answered, over all shards.
  size_t in_flight() const;

  /// Wakes `wait_idle` (called by a shard whose last request ended).
  void notify_if_idle();
};

class ingress_shard {
public:
  ingress_shard(ingress_state& owner, size_t index)
      : owner(owner), index(index), work(asio::make_work_guard(ioc)),
        deadline_timer(ioc) {}

  ingress_state& owner;
  size_t index;
  asio::io_context ioc;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  std::unique_ptr<listener> server;
  std::thread thread;
  caf::actor companion;
  /// Messages to the companion, waiting for this shard's thread.
  reply_inbox replies;
  /// How many handlers the loop runs between two looks at `replies`.
  static constexpr size_t handler_batch = 64;
  /// With at least this many requests in flight, an I/O thread that ran
  /// out of events polls `replies` for `answer_spin` before it waits:
  /// answers then arrive microseconds apart, and waking a thread that sleeps
  /// in epoll costs both sides a system call and the I/O thread a context
  /// switch. A lone request in flight is a lone client waiting: there the
  /// replica thread's own spin keeps the hand-off short, and a second
  /// polling thread would only compete with the client for the cores (on
  /// 2 cores, polling for it made `wrk -c1` swing between 19k and 50k req/s).
  static constexpr size_t answer_spin_min_pending = 2;
  /// The bound on `answer_spin`, which is `serve_options::idle_spin` below
  /// it (so `--idle-spin-us 0` turns this poll off too).
  static constexpr auto max_answer_spin = std::chrono::microseconds(10);
  std::chrono::nanoseconds answer_spin{0};
  caf::strong_actor_ptr companion_ptr;
  std::unique_ptr<call_host> host;
  /// Streams this shard writes to clients (SSE, chunked), by tag; owned by
  /// `inbox`.
  std::unique_ptr<stream_inbox> inbox;
  std::unordered_map<uint64_t, http_stream*> streams;
  // -- touched only by this shard's thread --
  uint64_t next_id = 1;
  uint64_t next_rid = 1;
  /// The start of this shard's request ids (`id_prefix`, index, dash).
  std::string rid_prefix;
  std::unordered_map<uint64_t, pending_request> pending;
  std::deque<std::pair<uint64_t, clock_type::time_point>> deadlines;
  asio::steady_timer deadline_timer;
  bool deadline_armed = false;
  uint64_t routes_seen = 0;
  std::shared_ptr<const route_table> routes;
  /// Pending built-in queries (status, health), which `active` leaves out.
  size_t builtin_pending = 0;
  /// This thread's HTTP metrics; null with metrics off.
  std::unique_ptr<http_metrics> metrics;
  // -- written by this shard's thread, read by others --
  /// Application requests accepted and not yet answered.
  std::atomic<size_t> active{0};

  // -- responses ------------------------------------------------------------

  /// `close`: the connection closes after this response.
  void respond(const restinio::request_handle_t& req, const std::string& rid,
               uint16_t status, const std::string& content_type,
               const string_pairs& extra, std::string body,
               bool close = false);

  void respond_json(const restinio::request_handle_t& req,
                    const std::string& rid, const nlohmann::json& body);

  /// An error response with the JSON error body; `allow` fills a 405's
  /// `Allow` header.
  void respond_error(const restinio::request_handle_t& req,
                     const std::string& rid, errc code,
                     const std::string& message, const std::string& allow = {},
                     bool close = false);

  // -- pending requests -----------------------------------------------------

  caf::message_id add_pending(restinio::request_handle_t req, std::string rid,
                              pending_kind kind,
                              http_metrics::route_cells* rc = nullptr,
                              clock_type::time_point start = {});

  /// Counts the response with `status` to `p` in the metrics.
  void count(const pending_request& p, uint16_t status);

  /// Counts a response to a request that never became pending.
  void count_unrouted(const restinio::request_handle_t& req,
                      const std::string& rid, clock_type::time_point start,
                      uint16_t status);

  bool take_pending(uint64_t key, pending_request& out);

  /// Publishes how many application requests and streams are in flight.
  void update_active();

  // -- streamed responses (http_stream.hpp) ---------------------------------

  /// Begins writing `r`'s stream as the response to `p`.
  void start_stream(pending_request p, http_response& r);

  /// The stream `tag` ended (its response is done).
  void stream_ended(uint64_t tag);

  /// The client of connection `conn` went away: its requests are cancelled
  /// (dropped if still queued, told so if running) and never answered.
  void on_connection_closed(restinio::connection_id_t conn);

  /// One timer per shard; deadlines arrive in order (one timeout for all).
  /// It aims at a request still in flight, so a steady stream of quick
  /// requests costs about one wake-up per timeout, not one per request.
  void arm_deadline();

  /// Drops the front deadlines of requests already answered.
  void drop_answered_deadlines();

  // -- messages from the system plane ---------------------------------------

  /// Runs on whichever thread enqueues into the companion.
  void on_enqueue(caf::mailbox_element_ptr ptr);

  /// Runs on this shard's thread.
  void on_message(caf::mailbox_element& x);

  /// Hands everything in `replies` to `on_message`, oldest first (this
  /// shard's thread). Returns how many.
  size_t drain_replies();

  /// Polls `replies` for up to `spin` within the process's spin budget
  /// (spin_queue.hpp); returns whether an answer arrived.
  bool await_answer(std::chrono::nanoseconds spin);

  // -- requests from RESTinio -----------------------------------------------

  /// The client's `X-Request-ID` when it is 1 to 128 visible ASCII
  /// characters, else a new one (shard_guard.cpp).
  std::string request_id_of(const restinio::http_request_header_t& hdr);

  /// Answers a request that must not be routed: the server drains (503),
  /// or its body is, or was declared, over `max_body_bytes` (413, and the
  /// connection closes). Returns whether it answered.
  bool reject_front(const restinio::request_handle_t& req,
                    const std::string& rid, clock_type::time_point start);

  /// Fills `msg`'s query and headers and `meta`'s model id from `req`;
  /// returns why the request is bad (400), or an empty string.
  std::string read_request(const restinio::request_handle_t& req,
                           http_request& msg, request_meta& meta);

  /// Why the ingress deployment's response cannot go out (a header name
  /// that is not a token, a value or content type with CR, LF or NUL), or
  /// an empty string.
  static std::string bad_response_header(const http_response& r);

  /// `on_message`, with whatever it throws caught: the request it was for
  /// gets a 500 (shard_guard.cpp).
  void on_message_guarded(caf::mailbox_element& x);

  /// The share of `max_connections` each shard's listener takes.
  size_t connection_share() const;

  /// One turn of the shard's loop (`run`).
  void turn();

  /// Rate-limits the lines for exceptions caught in this shard's loop.
  log_limiter loop_errors;

  restinio::request_handling_status_t
  handle(const restinio::request_handle_t& req);

  /// `handle`, with what it throws caught: logged, and a 500 when the
  /// request was not answered yet (shard_guard.cpp).
  restinio::request_handling_status_t
  handle_guarded(const restinio::request_handle_t& req);

  restinio::request_handling_status_t
  builtin(const restinio::request_handle_t& req, const std::string& rid,
          restinio::string_view_t path);

  /// The Open Inference Protocol's server endpoints (`GET /v2`,
  /// `/v2/health/live`, `/v2/health/ready`), unless an application routed
  /// at a prefix other than "/" takes the path; true when it answered
  /// (v2_front.cpp).
  bool v2_server(const restinio::request_handle_t& req, const std::string& rid,
                 restinio::string_view_t path, const route_entry* match);

  /// Sends `msg` to the controller for a built-in endpoint; answered by
  /// `on_message`, or with 503 `late` after `timeout`.
  void ask_controller(const restinio::request_handle_t& req,
                      const std::string& rid, pending_kind kind,
                      std::chrono::milliseconds timeout, const char* late,
                      caf::message msg);

  // -- lifetime -------------------------------------------------------------

  /// Binds (throws on failure); the thread starts in `run`.
  void open(uint16_t port);

  /// Binds the shard's listener (shard_listen.cpp): TLS when the state
  /// has a context. Throws when the port cannot be bound.
  std::unique_ptr<listener> listen(uint16_t port);

  void run();

  void stop();
};

} // namespace actorserve::detail
