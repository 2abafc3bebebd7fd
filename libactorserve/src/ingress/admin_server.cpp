#include "ingress/admin_server.hpp"

#include <atomic>
#include <mutex>
#include <vector>
#include <string>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <nlohmann/json.hpp>
#include <restinio/all.hpp>

#include "actorserve/metrics.hpp"
#include "ingress/admin_access.hpp"
#include "ingress/body_limit.hpp"
#include "ingress/change_queue.hpp"
#include "ingress/dashboard_feed.hpp"
#include "ingress/dashboard_page.hpp"
#include "ingress/http_server.hpp"
#include "ops/logging.hpp"
#include "base/text.hpp"
#include "runtime/thread_name.hpp"

namespace actorserve::detail {

namespace {

// Bodies over the limit get 413 unread (body_limit.hpp); connections are
// capped.
struct traits : restinio::default_single_thread_traits_t {
  using http_methods_mapper_t = early_413_methods;
  static constexpr bool use_connection_count_limiter = true;
};

/// Open connections to the admin API (dashboards, the CLI, scripts).
constexpr size_t max_admin_connections = 256;

/// The time a connection has to send its next whole request.
constexpr auto admin_read_timeout = std::chrono::seconds(30);

using server_type = restinio::http_server_t<traits>;

/// How long the admin API waits for the controller.
constexpr auto controller_timeout = std::chrono::seconds(10);

constexpr std::string_view apps_path = "/api/serve/applications";

} // namespace

struct admin_server::impl : std::enable_shared_from_this<impl> {
  impl(caf::actor_system& sys, admin_options opts, controller_actor ctrl)
      : sys(sys), opts(std::move(opts)), controller(std::move(ctrl)) {}

  caf::actor_system& sys;
  admin_options opts;
  controller_actor controller;
  asio::io_context ioc;
  std::unique_ptr<server_type> server;
  std::thread thread;
  std::atomic<uint16_t> port{0};
  bool stopped = false;
  /// The dashboard's event streams.
  std::shared_ptr<dashboard_feed> feed =
      std::make_shared<dashboard_feed>(sys, ioc, controller);
  // -- declarative changes (PUT, DELETE) --
  admin_hooks hooks;
  change_queue changes{opts.max_pending_changes};
  log_limiter errors;

  /// On the server's thread.
  static void respond(const restinio::request_handle_t& req, uint16_t status,
                      std::string body) {
    req
        ->create_response(restinio::http_status_line_t{
            restinio::http_status_code_t{status}, reason_phrase(status)})
        .append_header(restinio::http_field::content_type, "application/json")
        .set_body(std::move(body))
        .done();
  }

  static std::string error_body(errc code, const std::string& message) {
    return dump_json({{"error", message}, {"code", to_string(code)}});
  }

  static void respond_error(const restinio::request_handle_t& req, errc code,
                            const std::string& message) {
    respond(req, http_status_of(code), error_body(code, message));
  }

  /// From any thread: the response is written on the server's.
  void answer(restinio::request_handle_t req, uint16_t status,
              std::string body) {
    asio::post(
        ioc, [req = std::move(req), status, body = std::move(body)]() mutable {
          respond(req, status, std::move(body));
        });
  }

  void answer_error(restinio::request_handle_t req, const caf::error& err) {
    auto code = code_of(err);
    answer(std::move(req), http_status_of(code),
           error_body(code, message_of(err)));
  }

  /// Asks the controller `xs...` from a short-lived actor; `f` renders the
  /// `T` it answers.
  template <class T, class F, class... Ts>
  void ask(restinio::request_handle_t req, F f, Ts... xs) {
    auto self_ptr = shared_from_this();
    // The controller is a spawn argument: CAF 0.17 spawns functors without
    // arguments through a null pointer.
    sys.spawn(
        [self_ptr, req, f, xs...](caf::event_based_actor* self,
                                  controller_actor ctrl) {
          self->request(ctrl, controller_timeout, xs...)
              .then([self_ptr, req,
                     f](T& x) { self_ptr->answer(req, 200, f(x)); },
                    [self_ptr, req](caf::error& err) {
                      self_ptr->answer_error(req, err);
                    });
        },
        controller);
  }

  /// Every request, with what it throws caught: a 500, and the server goes
  /// on.
  restinio::request_handling_status_t
  handle_guarded(const restinio::request_handle_t& req) {
    try {
      if (admit_admin_request(req, opts))
        return handle(req);
      return restinio::request_accepted();
    } catch (const std::exception& e) {
      log_caught(errors, "admin API", e.what());
    } catch (...) {
      log_caught(errors, "admin API", "a non-standard exception");
    }
    try {
      respond_error(req, errc::internal, "the admin API failed on this request");
      return restinio::request_accepted();
    } catch (...) {
      return restinio::request_rejected();
    }
  }

  /// The admin API's routes: each path to its handler.
  restinio::request_handling_status_t
  handle(const restinio::request_handle_t& req) {
    std::string path{req->header().path()};
    while (path.size() > 1 && path.back() == '/')
      path.pop_back();
    if (path == apps_path)
      on_applications(req);
    else if (path == "/" || path == "/-/metrics" ||
             path == "/api/dashboard/events")
      on_page(req, path);
    else if (path == "/-/status")
      ask<serve_status>(
          req, [](const serve_status& st) { return to_json(st); },
          status_atom::value);
    else if (path == "/-/healthz")
      ask<bool>(
          req, [](bool) { return std::string{R"({"status":"ok"})"}; },
          health_atom::value);
    else if (!on_deployment(req, path))
      respond_error(req, errc::not_found,
                    "no such admin route: " + clip_text(path, 256));
    return restinio::request_accepted();
  }

  /// GET, PUT or DELETE of every application.
  void on_applications(const restinio::request_handle_t& req) {
    auto method = req->header().method();
    if (method == restinio::http_method_get()) {
      auto config = hooks.config ? hooks.config() : std::string{"null"};
      ask<serve_status>(
          req,
          [config](const serve_status& st) {
            return with_config(to_json(st), config);
          },
          status_atom::value);
    } else if (method == restinio::http_method_put() && hooks.deploy) {
      auto body = req->body();
      change(req, [this, body] { return hooks.deploy(body); });
    } else if (method == restinio::http_method_delete() && hooks.delete_all) {
      change(req, [this] { return hooks.delete_all(); });
    } else {
      respond_error(req, errc::method_not_allowed,
                    "use GET, PUT or DELETE on " + std::string{apps_path} +
                        "/");
    }
  }

  /// The dashboard page, its event feed and the metrics: GET only.
  void on_page(const restinio::request_handle_t& req, const std::string& path) {
    if (req->header().method() != restinio::http_method_get())
      respond_error(req, errc::method_not_allowed, "use GET on " + path);
    else if (path == "/")
      respond_page(req);
    else if (path == "/-/metrics")
      respond_metrics(req);
    else if (!feed->add(req))
      respond_error(req, errc::unavailable, "too many dashboards are open");
  }

  /// PATCH /api/serve/applications/{app}/deployments/{deployment}; false
  /// when `path` is not of that form.
  bool on_deployment(const restinio::request_handle_t& req,
                     const std::string& path) {
    auto prefix = std::string{apps_path} + "/";
    auto mid = path.find("/deployments/");
    if (path.rfind(prefix, 0) != 0 || mid == std::string::npos ||
        mid <= prefix.size())
      return false;
    auto app = path.substr(prefix.size(), mid - prefix.size());
    auto dep = path.substr(mid + std::string_view{"/deployments/"}.size());
    if (app.find('/') != std::string::npos || dep.empty() ||
        dep.find('/') != std::string::npos)
      return false;
    if (req->header().method() != restinio::http_method_patch()) {
      respond_error(req, errc::method_not_allowed,
                    "use PATCH to change a deployment");
      return true;
    }
    auto patch = patch_from_json(req->body());
    if (!patch)
      respond_error(req, errc::bad_request, message_of(patch.error()));
    else
      update(req, std::move(app), std::move(dep), std::move(*patch));
    return true;
  }

  /// The status with each application's part of the config last applied
  /// (`deployed_app_config`, as Ray reports it).
  static std::string with_config(const std::string& status,
                                 const std::string& config) {
    auto st = nlohmann::json::parse(status);
    auto cfg = nlohmann::json::parse(config, nullptr, false);
    if (cfg.is_object() && cfg.contains("applications") &&
        cfg["applications"].is_array())
      for (auto& app : cfg["applications"]) {
        auto name = app.value("name", std::string{"default"});
        if (st["applications"].contains(name))
          st["applications"][name]["deployed_app_config"] = app;
      }
    return dump_json(st);
  }

  /// Runs `f` (a change that waits until it is done) on the change queue's
  /// thread, one change at a time, and answers with its outcome; 503 when
  /// `max_pending_changes` wait already.
  template <class F>
  void change(const restinio::request_handle_t& req, F f) {
    auto self_ptr = shared_from_this();
    auto run = [self_ptr, req, f] {
      caf::error err;
      try {
        err = f();
      } catch (const std::exception& e) {
        err = make_error(errc::internal, e.what());
      }
      if (!err)
        self_ptr->answer(req, 200, R"({"status":"ok"})");
      else if (code_of(err) == errc::invalid_config)
        self_ptr->answer_error(req,
                               make_error(errc::bad_request, message_of(err)));
      else
        self_ptr->answer_error(req, err);
    };
    auto drop = [self_ptr, req] {
      self_ptr->answer_error(
          req, make_error(errc::unavailable,
                          "the admin API stopped before this change ran"));
    };
    if (!changes.push(std::move(run), std::move(drop)))
      respond_error(req, errc::unavailable,
                    std::to_string(opts.max_pending_changes) +
                        " changes wait already; retry once they are done");
  }

  static void respond_page(const restinio::request_handle_t& req) {
    req->create_response()
        .append_header(restinio::http_field::content_type,
                       "text/html; charset=utf-8")
        .append_header("Cache-Control", "no-cache")
        .set_body(std::string{dashboard_html()})
        .done();
  }

  /// Prometheus' text format; empty with metrics off.
  void respond_metrics(const restinio::request_handle_t& req) {
    auto reg = metrics_of(sys);
    req->create_response()
        .append_header(restinio::http_field::content_type,
                       "text/plain; version=0.0.4; charset=utf-8")
        .set_body(reg ? reg->render() : std::string{})
        .done();
  }

  void update(restinio::request_handle_t req, std::string app, std::string dep,
              deployment_patch patch) {
    if (hooks.may_change)
      if (auto err = hooks.may_change()) {
        answer_error(req, err);
        return;
      }
    auto self_ptr = shared_from_this();
    auto ask = [self_ptr, req, app, dep, patch](caf::event_based_actor* self,
                                                controller_actor ctrl) {
      self->request(ctrl, controller_timeout, update_atom::value, app, dep,
                    patch, false)
          .then(
              [self_ptr, req](deployment_status& st) {
                if (self_ptr->hooks.persisted)
                  if (auto err = self_ptr->hooks.persisted()) {
                    self_ptr->answer_error(req, err);
                    return;
                  }
                self_ptr->answer(req, 200, to_json(st));
              },
              [self_ptr, req](caf::error& err) {
                // A value the controller refused came from the body.
                if (code_of(err) == errc::invalid_config)
                  err = make_error(errc::bad_request, message_of(err));
                self_ptr->answer_error(req, err);
              });
    };
    // With a state store the answer waits (bounded) until the change is
    // written: on a thread of its own, not on the system plane's.
    if (hooks.persisted)
      sys.spawn<caf::detached>(ask, controller);
    else
      sys.spawn(ask, controller);
  }
};

admin_server::admin_server(caf::actor_system& sys, admin_options opts,
                           controller_actor controller)
    : impl_(std::make_shared<impl>(sys, std::move(opts),
                                   std::move(controller))) {}

admin_server::~admin_server() {
  stop();
  join_changes();
}

caf::error admin_server::start() {
  auto& d = *impl_;
  auto weak = std::weak_ptr<impl>{impl_};
  auto settings =
      restinio::server_settings_t<traits>{}
          .address(d.opts.host)
          .port(d.opts.port)
          .request_handler([weak](auto req) {
            if (auto d = weak.lock())
              return d->handle_guarded(req);
            return restinio::request_rejected();
          })
          .incoming_http_msg_limits(restinio::incoming_http_msg_limits_t{}
                                        .max_url_size(8 * 1024)
                                        .max_field_value_size(16 * 1024)
                                        .max_field_count(100)
                                        .max_body_size(d.opts.max_body_bytes))
          .max_parallel_connections(max_admin_connections)
          .read_next_http_message_timelimit(admin_read_timeout)
          // A restarted server binds while its old connections sit in
          // TIME_WAIT.
          .acceptor_options_setter([](restinio::acceptor_options_t& o) {
            o.set_option(asio::ip::tcp::acceptor::reuse_address(true));
          })
          .acceptor_post_bind_hook([&d](asio::ip::tcp::acceptor& acceptor) {
            d.port = acceptor.local_endpoint().port();
          });
  try {
    d.server = std::make_unique<server_type>(
        restinio::external_io_context(d.ioc), std::move(settings));
    d.server->open_sync();
  } catch (const std::exception& e) {
    d.server.reset();
    return make_error(errc::invalid_config,
                      "admin: cannot listen on " + d.opts.host + ":" +
                          std::to_string(d.opts.port) + ": " + e.what());
  }
  d.thread = std::thread{[&d] {
    name_this_thread("as-admin");
    // The loop's boundary: whatever a handler throws is logged and the
    // server goes on.
    while (!d.ioc.stopped()) {
      try {
        d.ioc.run();
      } catch (const std::exception& e) {
        log_caught(d.errors, "admin API thread", e.what());
      } catch (...) {
        log_caught(d.errors, "admin API thread", "a non-standard exception");
      }
    }
  }};
  return {};
}

uint16_t admin_server::port() const noexcept {
  return impl_->port.load();
}

void admin_server::set_hooks(admin_hooks hooks) {
  impl_->hooks = std::move(hooks);
}

void admin_server::join_changes() {
  impl_->changes.stop();
  impl_->changes.join();
}

void admin_server::stop() {
  auto& d = *impl_;
  if (d.stopped || !d.server)
    return;
  d.stopped = true;
  asio::post(d.ioc, [&d] {
    d.feed->close();
    d.server->close_sync();
    d.ioc.stop();
  });
  if (d.thread.joinable())
    d.thread.join();
}

} // namespace actorserve::detail
