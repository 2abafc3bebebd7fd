/// @file
/// The shared job queue of the "sharing" scheduler (spin_scheduler.hpp),
/// and the idle spin that every thread running actors uses: system
/// workers and the user plane's pool (user_pool.hpp).
///
/// A thread that finds the queue empty polls it for `spin` before it parks
/// on the condition variable. On a virtual machine a parked thread takes tens
/// of microseconds to wake, and a request crosses threads several times, so
/// at low load the wake-ups, not the work, would set the latency. A push
/// signals the condition variable only when a thread is parked. The cost is
/// CPU while polling: at most `spin` per idle period per thread, no more
/// threads polling at once than the `spin_budget` below allows, and none once
/// the cores are not spare: a poll that yielded its core to a thread that
/// kept it ends the spin (`spin_until`).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>

#include <sys/resource.h>

#include <caf/resumable.hpp>

namespace actorserve::detail {

/// Bounds how many threads of the process poll for work at once (system
/// workers and user-plane threads alike): by default one per core, so pollers
/// never outnumber the cores; `serve` sets it from `--spin-threads`. A
/// thread that finds the budget spent parks at once, and a polling thread
/// yields its core to any runnable thread at every poll.
class spin_budget {
public:
  static spin_budget& instance() {
    static spin_budget budget;
    return budget;
  }

  bool try_acquire() noexcept {
    auto n = spinning_.load(std::memory_order_relaxed);
    auto limit = limit_.load(std::memory_order_relaxed);
    while (n < limit)
      if (spinning_.compare_exchange_weak(n, n + 1, std::memory_order_relaxed))
        return true;
    return false;
  }

  void release() noexcept { spinning_.fetch_sub(1, std::memory_order_relaxed); }

  void set_limit(int n) noexcept {
    limit_.store(std::max(1, n), std::memory_order_relaxed);
  }

private:
  spin_budget()
      : limit_(std::max(
            1, static_cast<int>(std::thread::hardware_concurrency()))) {}

  std::atomic<int> spinning_{0};
  std::atomic<int> limit_;
};

/// How many times the kernel switched the calling thread out involuntarily
/// (a yield that gave the core to another thread counts).
inline long involuntary_switches() noexcept {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  return usage.ru_nivcsw;
}

/// A yield that kept the core away from the spinning thread for longer
/// than this gave it to a thread with real work of its own (the load, or a
/// busy thread): the cores are not spare. A shorter one let a thread of the
/// same pipeline take a step (a network thread passing a message on, say),
/// and the work it passes on may be the very work the spinner waits for.
constexpr auto yield_gave_core = std::chrono::microseconds(20);

/// Whether a spin ends after a yield: when the kernel switched the thread
/// out (`switched`) and it got the core back only after `away`.
inline bool yield_ends_spin(bool switched,
                            std::chrono::nanoseconds away) noexcept {
  return switched && away > yield_gave_core;
}

/// Polls `found` for up to `spin`, yielding the core at every poll, and
/// returns whether it found work. Gives up as soon as a yield ends the spin
/// (`yield_ends_spin`): another thread needed the core, so polling would
/// only take time from threads with work.
template <class F>
bool spin_until(F found, std::chrono::nanoseconds spin) {
  using clock = std::chrono::steady_clock;
  auto until = clock::now() + spin;
  auto switches = involuntary_switches();
  while (!found()) {
    auto before = clock::now();
    if (before >= until)
      return false;
    std::this_thread::yield();
    auto after = involuntary_switches();
    if (yield_ends_spin(after != switches, clock::now() - before))
      return found();
    switches = after;
  }
  return true;
}

/// Tries to take a held queue lock this many times, pausing between tries,
/// before it sleeps on it: a queue's lock is held for a few instructions,
/// and a thread that sleeps on it pays a futex wake-up (tens of
/// microseconds on a virtual machine) while the holder is long done.
constexpr int queue_lock_tries = 100;

/// A pause for a spinning thread, telling the core it spins.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

/// Locks a queue's `mtx`, spinning briefly before it sleeps
/// (`queue_lock_tries`).
inline std::unique_lock<std::mutex> lock_queue(std::mutex& mtx) {
  for (int i = 0; i < queue_lock_tries; ++i) {
    if (mtx.try_lock())
      return std::unique_lock<std::mutex>{mtx, std::adopt_lock};
    cpu_relax();
  }
  return std::unique_lock<std::mutex>{mtx};
}

/// The queues of threads that steal from each other (system workers,
/// worker_scheduler.hpp; the user plane's lanes, user_pool.hpp) share a
/// shape: `mtx` guards `jobs`, `parked` and `wake`, `size` mirrors
/// `jobs.size()`, and the owner parks on `cv`.
///
/// Appends `job` to `q` and wakes its owner if it is parked. Returns the
/// queue's length after the push, or 0 when the owner was woken.
template <class Queue>
size_t push_and_wake_owner(Queue& q, caf::resumable* job) {
  size_t backlog;
  bool owner_parked;
  {
    auto guard = lock_queue(q.mtx);
    q.jobs.push_back(job);
    backlog = q.jobs.size();
    q.size.store(backlog);
    owner_parked = q.parked;
  }
  if (!owner_parked)
    return backlog;
  q.cv.notify_one();
  return 0;
}

/// Wakes one parked owner among the `n` queues `at(i)` that nobody woke
/// yet, to steal; nothing when none is parked.
template <class At>
void wake_one_parked(size_t n, At at) {
  for (size_t i = 0; i < n; ++i) {
    auto& q = at(i);
    auto guard = lock_queue(q.mtx);
    if (q.parked && !q.wake) {
      q.wake = true;
      guard.unlock();
      q.cv.notify_one();
      return;
    }
  }
}

class spin_queue {
public:
  /// Set before any thread takes from the queue.
  void set_spin(std::chrono::nanoseconds spin) noexcept { spin_ = spin; }

  void push(caf::resumable* job) {
    bool wake;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      jobs_.push_back(job);
      size_.store(jobs_.size(), std::memory_order_release);
      wake = parked_ > 0;
    }
    if (wake)
      cv_.notify_one();
  }

  /// Returns the next job, waiting as long as it takes; nullptr once the
  /// queue is closed and empty.
  caf::resumable* take() {
    if (spin_.count() > 0 && size_.load(std::memory_order_acquire) == 0 &&
        spin_budget::instance().try_acquire()) {
      spin_until([this] { return size_.load(std::memory_order_acquire) != 0; },
                 spin_);
      spin_budget::instance().release();
    }
    std::unique_lock<std::mutex> guard{mtx_};
    if (jobs_.empty()) {
      ++parked_;
      cv_.wait(guard, [this] { return !jobs_.empty() || closed_; });
      --parked_;
    }
    return jobs_.empty() ? nullptr : pop();
  }

  /// Wakes every waiting thread; `take` returns nullptr once empty.
  void close() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      closed_ = true;
    }
    cv_.notify_all();
  }

  /// Hands every queued job to `f` (at shutdown).
  template <class F>
  void drain(F f) {
    std::lock_guard<std::mutex> guard{mtx_};
    while (!jobs_.empty())
      f(pop());
  }

private:
  /// Takes the front job; the caller holds the lock.
  caf::resumable* pop() {
    auto job = jobs_.front();
    jobs_.pop_front();
    size_.store(jobs_.size(), std::memory_order_release);
    return job;
  }

  std::chrono::nanoseconds spin_{0};
  std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<caf::resumable*> jobs_; // guarded by mtx_
  size_t parked_ = 0;                // guarded by mtx_
  bool closed_ = false;              // guarded by mtx_
  /// Mirrors jobs_.size() for polling without the lock.
  std::atomic<size_t> size_{0};
};

} // namespace actorserve::detail
