/// @file
/// `serve`: the runtime a user's `main()` creates.
///
/// It owns the system plane (one `caf::actor_system` with an explicit thread
/// count, the controller, routers and replicas' system sides), the user plane
/// (isolated user actors on its pool of user threads, and blocking threads)
/// and the HTTP
/// ingress (RESTinio on its own threads).
///
/// ```cpp
/// int main(int argc, char** argv) {
///   actorserve::serve serve{argc, argv};      // --port, --host, --threads ...
///   auto tok = serve.deployment("Tokenizer",
///   tokenizer).num_replicas(2).bind(); auto app =
///   serve.deployment("Classifier", classifier).bind(tok); if (auto h =
///   serve.run(app, {"classify", "/classify"}); !h)
///     return serve.fail(h.error());            // names the bad field
///   return serve.wait();                      // SIGINT/SIGTERM: drain, exit 0
/// }
/// ```
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/expected.hpp>
#include <nlohmann/json_fwd.hpp>

#include "actorserve/cluster.hpp"
#include "actorserve/controller.hpp"
#include "actorserve/deployment.hpp"
#include "actorserve/handle.hpp"
#include "actorserve/messages.hpp"

namespace actorserve {

/// The cores this process may run on (its CPU affinity, so `taskset`
/// counts), at least 1.
size_t available_cores() noexcept;

/// The default of `--threads` and `--http-threads`: a quarter of the
/// available cores, at least 1. Requests cost the I/O threads and the
/// system plane about the same, and the rest is left to the user plane's
/// pool (`default_user_thread_count`) and blocking work.
size_t default_thread_count() noexcept;

/// The default base size of the user plane's thread pool: half the
/// available cores, at least 1.
size_t default_user_thread_count() noexcept;

/// Options of the HTTP ingress.
struct http_options {
  /// Serve HTTP at all.
  bool enabled = true;
  /// Bind address; loopback unless you mean to expose the server.
  std::string host = "127.0.0.1";
  /// 0 picks a free port (see `serve::http_port`).
  uint16_t port = 8000;
  /// I/O threads: each has a listener on the port (SO_REUSEPORT), its own
  /// connections and its own routing state.
  size_t threads = default_thread_count();
  /// Bodies above this get 413 with a JSON error. A `Content-Length` over
  /// it is answered before any of the body is read (and the connection
  /// closes); a chunked body is cut when it passes it.
  size_t max_body_bytes = 10 * 1024 * 1024;
  /// Deprecated, ignored: no more than `max_body_bytes` is ever buffered.
  size_t hard_body_limit = 0;
  /// Open client connections, over all I/O threads; the listeners stop
  /// accepting at the limit (and the kernel's backlog holds the rest).
  /// Also kept below the process's descriptor limit, which start-up raises
  /// to its hard limit.
  size_t max_connections = 10'000;
  /// Requests a connection may have read ahead of their answers (HTTP
  /// pipelining); at least 2, so that a client that goes away mid-request
  /// is noticed.
  size_t max_pipelined_requests = 2;
  /// Longest request target (path and query) accepted.
  size_t max_url_bytes = 8 * 1024;
  /// Longest single header value accepted.
  size_t max_header_bytes = 16 * 1024;
  /// Most header fields accepted.
  size_t max_header_count = 100;
  /// End-to-end request timeout (408 when it passes); 0 means none.
  std::chrono::milliseconds request_timeout{0};
  /// The time a connection has to deliver its next whole request, headers
  /// and body, counted from the end of the previous one: an idle keep-alive
  /// connection closes after it, and so does a client that sends a request
  /// slowly (slowloris).
  std::chrono::milliseconds keep_alive_timeout{90'000};
  /// Streamed responses (SSE, chunked): chunks a producer may send ahead of
  /// what the client has taken off the socket.
  uint32_t stream_window = 16;
  /// Streamed responses end with a `deadline_exceeded` error when the first
  /// chunk takes longer than this after the response began; 0 = no limit.
  std::chrono::milliseconds stream_first_chunk_timeout{30'000};
  /// ... or when two chunks are further apart than this; 0 = no limit.
  std::chrono::milliseconds stream_idle_timeout{60'000};
  /// HTTPS: the server's certificate chain and its private key (PEM
  /// files, both or neither). With them the port speaks TLS only (1.2 and
  /// later); a plain HTTP client is refused.
  std::string tls_cert;
  std::string tls_key;
  /// A TLS client has this long, from its connection, to finish the
  /// handshake; then the connection closes.
  std::chrono::milliseconds tls_handshake_timeout{10'000};
  bool tls() const noexcept { return !tls_cert.empty(); }
};

/// Options of the admin API (admin_server: status and updates over HTTP,
/// as Ray's dashboard port serves them).
struct admin_options {
  bool enabled = true;
  /// Loopback unless you mean to expose it: it changes deployments.
  std::string host = "127.0.0.1";
  /// 0 picks a free port (see `serve::admin_port`).
  uint16_t port = 8265;
  /// A bearer token every request must carry (`Authorization: Bearer
  /// ...`); empty: none. Required when `host` is not a loopback address.
  std::string token;
  /// Request bodies (configs, patches) above this get 413.
  size_t max_body_bytes = 1024 * 1024;
  /// Declarative changes (PUT, DELETE) waiting to run; more get 503.
  size_t max_pending_changes = 16;
};

/// What this node offers the replicas placed on it (placement.hpp): each
/// replica reserves its deployment's `num_cpus` and `resources`, and a
/// replica that fits nowhere stays pending.
struct node_options {
  /// CPUs to hand out; the machine's cores by default.
  double num_cpus = static_cast<double>(available_cores());
  /// Custom resources, e.g. {"accel": 2}.
  std::map<std::string, double> resources;
  /// Bytes of memory replicas may reserve here (placement.hpp's
  /// `memory_resource`: each replica takes its deployment's "memory"
  /// resource plus `replica_memory_reserve`); 0: a quarter of the
  /// machine's memory. Replicas past it are pending, with the reason.
  double memory_bytes = 0;
};

/// The server's logs (Ray Serve's `logging_config`).
struct logging_options {
  /// "TEXT" (a line of text) or "JSON" (one JSON object per line).
  std::string encoding = "TEXT";
  /// "DEBUG", "INFO", "WARNING" or "ERROR".
  std::string level = "INFO";
  /// One line per HTTP request (request id, method, route, status,
  /// latency, application) and one per call a replica answers. Off by
  /// default: each line takes the log sink's lock, a point every request
  /// would pass through.
  bool enable_access_log = false;
  /// Append to this file; empty: stderr.
  std::string file;
};

/// The head's durable state store: what it deployed (applications, their
/// configs and changes, targets, the node and replica tables) survives a
/// restart, and a restarted head adopts the replicas its workers still run.
struct state_options {
  /// `--state-dir DIR`: the embedded store, SQLite in WAL mode at
  /// DIR/state.db. Empty (the default) with no `store`: no store, the
  /// state lives in memory only.
  std::string dir;
  /// `--state-store redis://HOST:PORT/KEYPREFIX`: the shared store (Redis)
  /// instead, for several machines and a standby head.
  std::string store;
  /// `--state-store-password-file`: Redis's password (AUTH).
  std::string password;
  /// `--recovery-grace-ms`: after a start that found state, how long the
  /// head waits for the workers it knew to rejoin before it replaces their
  /// replicas; 0: three heartbeat periods, and at least a worker's longest
  /// wait between tries to join (2 s) plus one, so that each tries once.
  std::chrono::milliseconds recovery_grace{0};
  /// `--standby`: with the Redis store, this head waits for the leader's
  /// lease to lapse and then takes over.
  bool standby = false;
  /// `--lease-ttl-ms`: how long a leader's lease lasts unless renewed
  /// (renewed every third of it).
  std::chrono::milliseconds lease_ttl{3000};
  /// `--state-store-timeout-ms`: each store operation's limit.
  std::chrono::milliseconds timeout{1000};
  bool enabled() const noexcept { return !dir.empty() || !store.empty(); }
};

/// Options of the runtime.
struct serve_options {
  /// Worker threads of the system plane's scheduler.
  size_t system_threads = default_thread_count();
  /// Base size of the user plane's pool, the threads that run isolated
  /// replicas' user code. The pool adds a thread while a replica's code
  /// holds one of them past a millisecond and others wait, and retires the
  /// extra threads once they idle (user_pool.hpp).
  size_t user_threads = default_user_thread_count();
  /// "workers" (a queue per worker with stealing, the default), "sharing"
  /// (one shared queue) or "stealing" (CAF's own work stealing).
  std::string scheduler_policy = "workers";
  /// How long an idle system-plane worker or user-plane thread keeps polling
  /// for work before it sleeps. A sleeping thread takes tens of
  /// microseconds to wake, so this keeps latency low at moderate load, at
  /// the price of up to this much CPU per idle period per thread; at most
  /// `spin_threads` threads poll at once. Zero: sleep at once. Not used by
  /// "stealing". An HTTP I/O thread with two or more requests in flight
  /// polls for their answers for at most 10 microseconds of it.
  std::chrono::microseconds idle_spin{50};
  /// How many threads may poll for work at once (system workers and user
  /// plane threads together). 0: one per available core, so pollers never
  /// outnumber the cores (and each yields its core to any runnable thread).
  /// More trades CPU for latency when a call crosses more threads than
  /// there are cores (an isolated replica calling another on 2 cores).
  size_t spin_threads = 0;
  http_options http;
  admin_options admin;
  node_options node;
  /// The cluster: the head's port for nodes, or the head this worker joins.
  cluster_options cluster;
  /// The head's durable state store (`--state-dir`, `--state-store`).
  state_options state;
  /// Registers the application's own message types with the actor system,
  /// so that calls carrying them can cross nodes (`add_message_type`).
  std::vector<std::function<void(caf::actor_system_config&)>> message_types;
  /// Makes `T` (inspectable) sendable between nodes under `name`, the
  /// same on every node. Types actorserve knows (strings, numbers, vectors
  /// of them, `http_request`, `http_response`) need nothing.
  template <class T>
  void add_message_type(std::string name) {
    message_types.push_back([name](caf::actor_system_config& cfg) {
      cfg.add_message_type<T>(name);
    });
  }
  logging_options logging;
  /// Count requests and calls (metrics.hpp), rendered by the admin API at
  /// `GET /-/metrics`. Off: nothing is counted (`--no-metrics`).
  bool metrics = true;
  /// How long shutdown waits for in-flight HTTP requests.
  std::chrono::milliseconds drain_timeout{20'000};
  /// How long `run`, `remove` and the admin API's declarative changes
  /// wait for the controller: for an application to be RUNNING, or gone.
  /// Past it they fail with `deadline_exceeded`; the application goes on
  /// deploying (or being deleted), and status shows where it stands.
  std::chrono::milliseconds deploy_timeout{600'000};
  /// Text `--help` prints after the server's flags: the application's own
  /// flags, for example.
  std::string usage;
};

/// Parses flags (--host, --port, --http-threads, --threads, --scheduler,
/// --idle-spin-us, --spin-threads, --request-timeout-ms, --max-body-bytes,
/// --drain-timeout-ms, the --stream-* flags, --no-http, --admin-host,
/// --admin-port, --no-admin, --num-cpus, --resources, --cluster-port,
/// --cluster-host, --join, --cluster-token-file)
/// over `defaults`. Bad values give `invalid_config` naming the flag. An
/// argument that is not one of these goes to `rest`, in order, for the
/// application to parse; without `rest` it is an error naming it.
caf::expected<serve_options>
parse_options(int argc, const char* const* argv, serve_options defaults = {},
              std::vector<std::string>* rest = nullptr);

/// What `--help` prints: every server flag with its default, then
/// `opts.usage`.
std::string usage_text(const serve_options& opts);

/// Checks the options; names the offending field.
caf::error validate(const serve_options& opts);

/// How to run an application.
struct run_options {
  std::string name = "default";
  /// Where the app is reachable over HTTP; empty means not exposed.
  std::string route_prefix = "/";
};

struct deploy_config;
class app_registry;
namespace detail {
struct admin_hooks;
} // namespace detail

class serve {
public:
  /// Starts the system plane and the ingress. Throws `error_exception`
  /// (`invalid_config`) when the options are invalid or the port is taken.
  explicit serve(serve_options opts = {});

  /// Like `serve(parse_options(argc, argv, defaults, rest))`, but prints
  /// the error and exits with status 2 on bad flags, and prints
  /// `usage_text` and exits 0 on `--help`. With `rest`, the application's
  /// own arguments land there.
  serve(int argc, char** argv, serve_options defaults = {},
        std::vector<std::string>* rest = nullptr);

  /// Shuts down (drains) if `shutdown` was not called.
  ~serve();

  serve(const serve&) = delete;
  serve& operator=(const serve&) = delete;

  /// Starts building a deployment.
  template <class F>
  deployment_builder<F> deployment(std::string name, F fun) const {
    return {std::move(name), std::move(fun)};
  }

  /// Deploys `app` and everything bound into it, and returns once every
  /// replica is ready. Running an app under the name of a running one
  /// updates it in place (Ray Serve's redeploy): each deployment changes by
  /// its classification (see `update`), and the app serves throughout. Returns
  /// a handle to the ingress deployment, or the error (a bad config names the
  /// field).
  template <class Interface>
  caf::expected<handle<Interface>> run(const app_node<Interface>& app,
                                       run_options opts = {}) {
    auto st = run_impl(app_spec{opts.name, opts.route_prefix, app.spec()});
    if (!st)
      return std::move(st.error());
    return handle<Interface>{std::move(*st)};
  }

  /// Applies a declarative config (deploy_config.hpp): builds each listed
  /// application with the builder `apps` has under its `import_path`,
  /// applies the config's per-deployment overrides, and runs it (a running
  /// application updates in place by Ray Serve's classification, so
  /// deploying the same config again changes nothing); applications the
  /// config does not list are deleted. Every application is built and
  /// checked before anything changes; an error names the field and where
  /// it stands in the file. Returns once every replica is ready.
  caf::error deploy(const deploy_config& cfg, const app_registry& apps);

  /// The config last applied by `deploy`, as JSON text ("null" if none).
  std::string deployed_config() const;
  /// `deploy` at start-up (`run CONFIG`): with a state store that holds
  /// what this server deployed while it last ran from the same `cfg`, that
  /// state is deployed instead, so changes made through the admin API and
  /// `deploy` since survive a restart; otherwise `cfg` is deployed.
  caf::error deploy_at_start(const deploy_config& cfg,
                             const app_registry& apps);

  /// The builders that declarative deploys over the admin API
  /// (`PUT /api/serve/applications/`) use; `apps` must outlive the server.
  void set_app_registry(const app_registry& apps);

  /// Returns a handle to deployment `name` of application `app`.
  template <class Interface>
  caf::expected<handle<Interface>>
  get_deployment_handle(const std::string& app, const std::string& name) {
    auto r = find_endpoint(app, name);
    if (!r)
      return std::move(r.error());
    return handle<Interface>{std::move(*r)};
  }

  /// Deletes an application: drains its replicas, then removes its routes.
  /// Returns false if there is no such application.
  caf::expected<bool> remove(const std::string& app);

  /// Sets the replica count of one deployment and waits until it holds, or
  /// `timeout` passes (`deadline_exceeded`; the controller keeps working
  /// towards `n`). Fails with `unavailable` when the deployment gives up on
  /// a constructor that keeps failing, or the app is being deleted.
  caf::expected<deployment_status>
  scale(const std::string& app, const std::string& deployment, uint32_t n,
        std::chrono::milliseconds timeout = std::chrono::seconds(60));

  /// Changes a running deployment (`num_replicas`, `user_config`,
  /// `version`, limits, `autoscaling_config`) by Ray Serve's classification:
  /// lightweight changes touch no replica, `user_config` and
  /// `max_ongoing_requests` reconfigure live replicas in place (their ids
  /// stay), a new `version` rolls new replicas in, 20 % at a time, each
  /// ready before an old one drains. Waits until the deployment is healthy
  /// again, or `timeout` (`deadline_exceeded`; the update goes on). A bad
  /// field gives `invalid_config` naming it.
  caf::expected<deployment_status>
  update(const std::string& app, const std::string& deployment,
         deployment_patch patch,
         std::chrono::milliseconds timeout = std::chrono::seconds(60));

  /// The status of every application, deployment and replica.
  caf::expected<serve_status>
  status(std::chrono::milliseconds timeout = std::chrono::seconds(5));

  /// The port the ingress listens on (0 when HTTP is disabled).
  uint16_t http_port() const noexcept;

  /// The port the admin API listens on (0 when it is disabled).
  uint16_t admin_port() const noexcept;

  /// The port the head takes nodes on (0 when it does not).
  uint16_t cluster_port() const noexcept;

  /// This worker's node id (0 on the head).
  uint64_t node_id() const noexcept;

  const serve_options& options() const noexcept;

  caf::actor_system& system() noexcept;

  controller_actor controller() const;

  /// Stops accepting requests, drains in-flight ones, stops every replica
  /// and the ingress. Idempotent.
  void shutdown();

  /// Blocks until SIGINT or SIGTERM, then shuts down. Returns 0.
  int wait();

  /// Prints `err` to stderr and returns 1: `return serve.fail(err);`
  int fail(const caf::error& err);

private:
  /// The head with a state store: takes the leader's lease (a standby
  /// waits for it), reads the store back and starts its writer; null
  /// without a store. Throws `error_exception` when the store cannot be
  /// opened or read.
  std::shared_ptr<detail::store_setup> open_state_store();
  /// `unavailable` while the state store fails: changes are refused.
  caf::error store_refuses() const;
  /// Waits until the controller's state, with the change just made, is in
  /// the store (for at most the store's timeout, doubled).
  caf::error persisted();
  /// Releases the lease and stops the writer (shutdown).
  void close_state_store();
  /// The head: writes its cluster address into the state store, where
  /// workers look for the leading head.
  void publish_leader(const std::string& address);
  /// A worker with `--state-store`: the leading head's cluster address
  /// there, else `fallback` (its `--join`).
  static std::string leader_address(const state_options& o,
                                    const std::string& fallback);
  /// The head: publishes the cluster gate on the cluster port.
  void open_cluster_port();
  /// A worker: joins the head (throws `error_exception` when refused).
  void start_worker();
  caf::expected<endpoint_ptr> run_impl(app_spec spec);
  void set_deployed_config(const nlohmann::json& source);
  /// What the admin API's declarative changes call.
  detail::admin_hooks admin_hooks();
  /// The head with `--expect-nodes N`: waits until N workers joined.
  caf::error wait_for_nodes();
  caf::expected<endpoint_ptr> find_endpoint(const std::string& app,
                                            const std::string& deployment);

  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace actorserve
