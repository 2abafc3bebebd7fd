/// @file
/// The demo application served in-process on a free loopback port.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
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
  opts.http.port = 0; // any free port
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

inline nlohmann::json body_of(const http_result& r) {
  return nlohmann::json::parse(r.body, nullptr, false);
}

} // namespace test
