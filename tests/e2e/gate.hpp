/// @file
/// A gate user code blocks on until the test opens it, counting who
/// entered: the event tests wait for instead of sleeping.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace test {

struct gate {
  std::mutex mtx;
  std::condition_variable cv;
  bool open = false;
  std::atomic<int> entered{0};

  /// Blocks the caller until the gate opens.
  void pass() {
    std::unique_lock<std::mutex> guard{mtx};
    ++entered;
    cv.notify_all();
    cv.wait(guard, [this] { return open; });
  }

  /// Waits for the event "n callers are inside"; the timeout only bounds a
  /// failing test.
  bool wait_entered(int n,
                    std::chrono::seconds timeout = std::chrono::seconds(30)) {
    std::unique_lock<std::mutex> guard{mtx};
    return cv.wait_for(guard, timeout,
                       [this, n] { return entered.load() >= n; });
  }

  void release() {
    {
      std::lock_guard<std::mutex> guard{mtx};
      open = true;
    }
    cv.notify_all();
  }
};

} // namespace test
