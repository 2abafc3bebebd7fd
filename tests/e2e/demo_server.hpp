/// @file
/// The demo application served in-process on a free loopback port.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <set>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "actorserve/error.hpp"
#include "actorserve/serve.hpp"
#include "demo.hpp"
#include "http_client.hpp"

namespace test {

inline actorserve::serve_options demo_options() {
  actorserve::serve_options opts;
  opts.admin.port = 0; // a free port: tests run side by side
  opts.http.port = 0;  // any free port
  // Two I/O threads, each routing for itself, whatever the machine.
  opts.http.threads = 2;
  opts.system_threads = 2;
  opts.http.request_timeout = std::chrono::seconds(3);
  return opts;
}

struct demo_server {
  actorserve::serve serve{demo_options()};
  uint16_t port = 0;

  demo_server() {
    auto err = demo::run_all(serve);
    INFO(actorserve::message_of(err));
    REQUIRE_FALSE(err);
    port = serve.http_port();
    REQUIRE(port != 0);
  }

  http_result post(const std::string& target, const nlohmann::json& body) {
    return http(port, "POST", target, body.dump());
  }

  http_result get(const std::string& target) {
    return http(port, "GET", target);
  }
};

/// Waits until no replica (of application `app`, or of any) runs anything
/// according to `/-/status`'s source; false if that does not happen within
/// ten seconds.
inline bool replicas_idle(actorserve::serve& s, const std::string& app = {}) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    auto st = s.status();
    REQUIRE(st);
    bool idle = true;
    for (auto& a : st->applications)
      if (app.empty() || a.name == app)
        for (auto& dep : a.deployments)
          for (auto& r : dep.replicas)
            idle = idle && r.ongoing == 0;
    if (idle)
      return true;
    std::this_thread::yield();
  }
  return false;
}

/// Waits until `pred()` holds, asking again as soon as it is answered;
/// false once `limit` passed.
template <class Pred>
bool wait_until(Pred pred,
                std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred())
      return true;
    std::this_thread::yield();
  }
  return pred();
}

/// The status of deployment `dep` of application `app` (empty name when
/// there is none).
inline actorserve::deployment_status deployment_of(actorserve::serve& s,
                                                   const std::string& app,
                                                   const std::string& dep) {
  auto st = s.status();
  REQUIRE(st);
  for (auto& a : st->applications)
    if (a.name == app)
      for (auto& d : a.deployments)
        if (d.name == dep)
          return d;
  return {};
}

/// The ids of the ready replicas of deployment `dep` of `app`.
inline std::set<uint64_t> ready_ids(actorserve::serve& s,
                                    const std::string& app,
                                    const std::string& dep) {
  std::set<uint64_t> out;
  for (auto& r : deployment_of(s, app, dep).replicas)
    if (r.state == actorserve::replica_state::ready)
      out.insert(r.id);
  return out;
}

inline nlohmann::json body_of(const http_result& r) {
  return nlohmann::json::parse(r.body, nullptr, false);
}

/// The body of a POST to the demo's /stream: `n` tokens, one every
/// `delay_ms`, failing at chunk `fail_at` (-1: never).
inline std::string stream_body(int n, int delay_ms, int fail_at = -1) {
  return nlohmann::json{{"prompt", "the quick brown fox"},
                        {"n", n},
                        {"delay_ms", delay_ms},
                        {"fail_at", fail_at}}
      .dump();
}

} // namespace test
