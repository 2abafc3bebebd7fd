#include "ingress/change_queue.hpp"

#include "ops/logging.hpp"
#include "runtime/thread_name.hpp"

namespace actorserve::detail {

change_queue::~change_queue() {
  stop();
  join();
}

bool change_queue::push(task run, task drop) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (stopped_ || waiting_.size() >= max_pending_)
    return false;
  waiting_.emplace_back(std::move(run), std::move(drop));
  if (!thread_.joinable())
    thread_ = std::thread{[this] { loop(); }};
  cv_.notify_one();
  return true;
}

void change_queue::stop() {
  std::deque<std::pair<task, task>> dropped;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopped_ = true;
    dropped.swap(waiting_);
    cv_.notify_all();
  }
  for (auto& kvp : dropped)
    if (kvp.second)
      kvp.second();
}

void change_queue::join() {
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id())
    thread_.join();
}

void change_queue::loop() {
  name_this_thread("as-admin-chg");
  static log_limiter errors;
  for (;;) {
    task run;
    {
      std::unique_lock<std::mutex> guard{mtx_};
      cv_.wait(guard, [this] { return stopped_ || !waiting_.empty(); });
      if (waiting_.empty())
        return; // stopped
      run = std::move(waiting_.front().first);
      waiting_.pop_front();
    }
    try {
      run();
    } catch (const std::exception& e) {
      log_caught(errors, "admin change thread", e.what());
    } catch (...) {
      log_caught(errors, "admin change thread", "a non-standard exception");
    }
  }
}

} // namespace actorserve::detail
