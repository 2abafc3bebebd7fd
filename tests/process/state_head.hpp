/// @file
/// Helpers of the tests of the head's state store with real processes: a
/// temporary directory, the demo's `run CONFIG` with a store, and what its
/// status and flaky app say.
#pragma once

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "child.hpp"
#include "http_client.hpp"
#include "temp_dir.hpp"

namespace test {


inline const char* flaky_only = R"(http_options: {port: 0}
admin_options: {port: 0}
applications:
  - name: flaky
    route_prefix: /flaky
    import_path: demo:flaky
)";

/// Asks `pred` (a request to a child process) again as soon as it answers,
/// until it holds; false after `limit`.
template <class Pred>
bool wait_until(Pred pred,
                std::chrono::milliseconds limit = std::chrono::seconds(15)) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred())
      return true;
    std::this_thread::yield();
  }
  return pred();
}

inline uint16_t port_after(const std::string& text, const std::string& what) {
  std::smatch m;
  std::regex re{what + "http://127\\.0\\.0\\.1:([0-9]+)"};
  REQUIRE(std::regex_search(text, m, re));
  return static_cast<uint16_t>(std::stoi(m[1]));
}

/// `run CONFIG` with a state store, once it serves.
struct head {
  static std::vector<std::string> args(const std::string& config,
                                       std::vector<std::string> store,
                                       std::vector<std::string> extra) {
    std::vector<std::string> out{DEMO_BINARY, "run", config};
    out.insert(out.end(), store.begin(), store.end());
    out.insert(out.end(), extra.begin(), extra.end());
    return out;
  }
  test::child proc;
  uint16_t http = 0;
  uint16_t admin = 0;
  /// `store`: the state flags, e.g. {"--state-dir", DIR}; `extra` more.
  head(const std::string& config, std::vector<std::string> store,
       std::vector<std::string> extra = {})
      : proc(args(config, std::move(store), std::move(extra))) {
    auto banner = proc.read_until("admin API on");
    INFO(banner);
    http = port_after(banner, "serving on ");
    admin = port_after(banner, "admin API on ");
  }
  nlohmann::json status() {
    auto r = test::http(admin, "GET", "/api/serve/applications/");
    REQUIRE(r.status == 200);
    return nlohmann::json::parse(r.body);
  }
  void kill9() {
    REQUIRE(::kill(proc.pid, SIGKILL) == 0);
    proc.wait_exit();
  }
};

/// What must survive a restart: each app's route and status, each
/// deployment's target, version and status.
inline nlohmann::json shape_of(const nlohmann::json& st) {
  nlohmann::json out = nlohmann::json::object();
  for (auto& [name, app] : st["applications"].items()) {
    nlohmann::json deps = nlohmann::json::object();
    for (auto& [dname, d] : app["deployments"].items())
      deps[dname] = {d["target_replicas"], d["version"], d["status"]};
    out[name] = {app["route_prefix"], app["status"], deps};
  }
  return out;
}

/// The user_config the flaky app's replicas answer with.
inline nlohmann::json flaky_config(uint16_t port) {
  auto r = test::http(port, "POST", "/flaky", "");
  INFO(r.body);
  REQUIRE(r.status == 200);
  return nlohmann::json::parse(r.body)["user_config"];
}

} // namespace test
