/// @file
/// A steady, bounded load on loopback: a few clients, each sending one
/// request after another on its own keep-alive connection until stopped,
/// counting what came back.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
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
      : seen_(std::move(seen)), done_(clients), gone_(clients) {
    for (size_t i = 0; i < clients; ++i)
      threads_.emplace_back([=] {
        http_connection conn{port};
        while (!stop_.load() && answer(i, conn.request(method, target, body)))
          ;
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

  /// Waits until the request each client has in flight now is answered
  /// (and counted); false past `timeout`.
  bool settle(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    std::unique_lock<std::mutex> guard{mtx_};
    auto mark = done_;
    return cv_.wait_for(guard, timeout, [&] {
      for (size_t i = 0; i < done_.size(); ++i)
        if (done_[i] == mark[i] && !gone_[i])
          return false;
      return true;
    });
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
  /// Counts client `i`'s answer; false when its connection is gone (the
  /// client stops).
  bool answer(size_t i, const http_result& r) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      ++done_[i];
      if (r.status == 0) {
        gone_[i] = true;
        ++failed_;
        failures_.push_back("no response");
      } else if (r.status != 200) {
        ++failed_;
        failures_.push_back(std::to_string(r.status) + " " + r.body);
      } else {
        ++ok_;
        if (seen_)
          seen_(nlohmann::json::parse(r.body, nullptr, false));
      }
    }
    cv_.notify_all();
    return r.status != 0;
  }

  std::mutex mtx_;
  std::condition_variable cv_;
  /// Requests each client finished, and whether it stopped.
  std::vector<size_t> done_;
  std::vector<bool> gone_;
  std::vector<std::string> failures_;
  std::vector<std::thread> threads_;
};

} // namespace test
