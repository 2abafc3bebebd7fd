/// @file
/// A steady, bounded load on loopback: a few clients, each sending one
/// request after another on its own keep-alive connection until stopped,
/// counting what came back.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "http_client.hpp"

namespace test {

class steady_load {
public:
  /// `clients` connections send `method target body` in a loop; `seen`
  /// (optional) gets every answered body, under the load's lock.
  steady_load(uint16_t port, size_t clients, std::string method,
              std::string target, std::string body = {},
              std::function<void(const nlohmann::json&)> seen = nullptr)
      : seen_(std::move(seen)) {
    for (size_t i = 0; i < clients; ++i)
      threads_.emplace_back([=] {
        http_connection conn{port};
        while (!stop_.load()) {
          auto r = conn.request(method, target, body);
          if (r.status == 0) {
            // The connection is gone: count it, and this client stops.
            ++failed_;
            std::lock_guard<std::mutex> guard{mtx_};
            failures_.push_back("no response");
            return;
          }
          if (r.status != 200) {
            ++failed_;
            std::lock_guard<std::mutex> guard{mtx_};
            failures_.push_back(std::to_string(r.status) + " " + r.body);
            continue;
          }
          ++ok_;
          if (seen_) {
            std::lock_guard<std::mutex> guard{mtx_};
            seen_(nlohmann::json::parse(r.body, nullptr, false));
          }
        }
      });
  }

  ~steady_load() { stop(); }

  /// Stops the clients once their current requests are answered.
  void stop() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable())
        t.join();
  }

  size_t ok() const { return ok_.load(); }
  size_t failed() const { return failed_.load(); }

  /// What the failed requests got (status and body).
  std::vector<std::string> failures() {
    std::lock_guard<std::mutex> guard{mtx_};
    return failures_;
  }

  /// Runs `f` under the lock that `seen` runs under.
  template <class F>
  auto locked(F f) {
    std::lock_guard<std::mutex> guard{mtx_};
    return f();
  }

private:
  std::function<void(const nlohmann::json&)> seen_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> ok_{0};
  std::atomic<size_t> failed_{0};
  std::mutex mtx_;
  std::vector<std::string> failures_;
  std::vector<std::thread> threads_;
};

} // namespace test
