/// @file
/// The admin API's declarative changes (PUT, DELETE), run one at a time, in
/// order, on one thread of their own (private to the library).
///
/// A change waits for the whole deploy, so it cannot run on the server's
/// I/O thread; one thread for all of them keeps a burst of requests from
/// starting a thread each. At most `max_pending` changes wait behind the
/// one running; `push` refuses more (the caller answers 503).
///
/// Thread safety: `push` and `stop` from any thread; the tasks run on the
/// queue's thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace actorserve::detail {

class change_queue {
public:
  using task = std::function<void()>;

  explicit change_queue(size_t max_pending) : max_pending_(max_pending) {}
  ~change_queue();

  change_queue(const change_queue&) = delete;
  change_queue& operator=(const change_queue&) = delete;

  /// Queues `run`; false (and nothing queued) when `max_pending` changes
  /// wait already, or the queue stopped. `drop` runs instead of `run` if
  /// the queue stops before `run` started.
  bool push(task run, task drop);

  /// Takes no more changes; those still waiting are dropped. The one
  /// running, if any, runs on (see `join`).
  void stop();

  /// Waits for the running change to end (after `stop`).
  void join();

private:
  void loop();

  size_t max_pending_;
  std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<std::pair<task, task>> waiting_;
  bool stopped_ = false;
  std::thread thread_; // started by the first push
};

} // namespace actorserve::detail
