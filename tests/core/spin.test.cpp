// The idle spin's rule (spin_queue.hpp): a thread polls for work only while
// the cores are spare, and parks as soon as a poll gave its core away to a
// thread that kept it (a brief step by another thread does not count).
#include <atomic>
#include <chrono>
#include <thread>

#include <catch2/catch.hpp>
#include <pthread.h>
#include <sched.h>

#include "runtime/spin_queue.hpp"

using actorserve::detail::spin_until;
using actorserve::detail::yield_ends_spin;
using namespace std::chrono_literals;

namespace {

/// Pins the calling thread to `cpu`.
bool pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
}

/// A CPU this process may run on.
int some_cpu() {
  cpu_set_t set;
  CPU_ZERO(&set);
  REQUIRE(sched_getaffinity(0, sizeof(set), &set) == 0);
  for (int i = 0; i < CPU_SETSIZE; ++i)
    if (CPU_ISSET(i, &set))
      return i;
  FAIL("no CPU");
  return 0;
}

} // namespace

TEST_CASE("a spin that finds work says so without polling", "[spin]") {
  // Work already there: found at the first look, before any yield (a spin
  // that yields may give up early when the cores are busy, so only this
  // case is certain on a loaded machine).
  int looks = 0;
  CHECK(spin_until(
      [&] {
        ++looks;
        return true;
      },
      std::chrono::hours(1)));
  CHECK(looks == 1);
}

TEST_CASE("a spin with nothing to find ends when its time is up", "[spin]") {
  CHECK_FALSE(spin_until([] { return false; }, 1ms));
}

TEST_CASE("a yield ends the spin only when another thread kept the core",
          "[spin]") {
  // Not switched out: the core was spare, however long the yield took (a
  // hypervisor may stall a virtual CPU).
  CHECK_FALSE(yield_ends_spin(false, 5ms));
  // Switched out briefly: a thread of the pipeline took a step, and what
  // it passes on may be the work the spinner waits for.
  CHECK_FALSE(yield_ends_spin(true, 0us));
  CHECK_FALSE(yield_ends_spin(true, 20us));
  // Switched out for longer: the cores are not spare.
  CHECK(yield_ends_spin(true, 21us));
  CHECK(yield_ends_spin(true, 3ms));
}

TEST_CASE("a spin gives up as soon as another thread wants its core",
          "[spin]") {
  // Both threads on one core: the busy thread is runnable whenever the
  // spinner yields and keeps the core for a scheduler slice (milliseconds),
  // so the first yield that gives the core away ends the spin, and the spin
  // must end long before its hour is up (a spin that ignored this would
  // run into ctest's timeout). Catch asserts on this thread only.
  auto cpu = some_cpu();
  std::atomic<bool> busy_running{false};
  std::atomic<bool> stop{false};
  bool pinned = true;
  bool found = true;
  std::thread busy{[&] {
    pin(cpu);
    busy_running = true;
    while (!stop.load(std::memory_order_relaxed)) {
      // Burns the core until told to stop.
    }
  }};
  std::thread spinner{[&] {
    pinned = pin(cpu);
    while (!busy_running.load())
      std::this_thread::yield();
    found = spin_until([] { return false; }, std::chrono::hours(1));
    stop = true;
  }};
  spinner.join();
  busy.join();
  CHECK(pinned);
  CHECK_FALSE(found);
}

TEST_CASE("a queue lock waits for its holder, however long it holds it",
          "[spin]") {
  // lock_queue tries briefly without sleeping, then sleeps on the mutex:
  // either way it returns owning the lock, and only after the holder let
  // go of it.
  using actorserve::detail::lock_queue;
  std::mutex mtx;
  {
    auto guard = lock_queue(mtx); // free: taken at the first try
    CHECK(guard.owns_lock());
  }
  using actorserve::detail::cpu_relax;
  using actorserve::detail::queue_lock_tries;
  std::atomic<bool> held{false};
  std::atomic<bool> trying{false};
  std::atomic<bool> released{false};
  std::thread holder{[&] {
    std::lock_guard<std::mutex> guard{mtx};
    held = true;
    while (!trying.load())
      std::this_thread::yield();
    // Held past the waiter's tries, usually: ten times as many pauses.
    for (int i = 0; i < 10 * queue_lock_tries; ++i)
      cpu_relax();
    released = true;
  }};
  while (!held.load())
    std::this_thread::yield();
  trying = true;
  auto guard = lock_queue(mtx);
  bool after_release = released.load();
  CHECK(guard.owns_lock());
  CHECK(after_release);
  guard.unlock();
  holder.join();
}
