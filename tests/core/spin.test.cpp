// The idle spin's rule (spin_queue.hpp): a thread polls for work only while
// the cores are spare, and parks as soon as a poll gave its core away to a
// thread that kept it (a brief step by another thread does not count).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <pthread.h>
#include <sched.h>

#include "cpu_pressure.hpp"
#include "spin_queue.hpp"

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

// While tasks wait for cores, a lane polls only briefly before it parks
// (cpu_pressure.hpp): the decisions, then the reading of the real
// /proc/pressure/cpu.

using actorserve::detail::contended_spin;
using actorserve::detail::cores_contended;
using actorserve::detail::cpu_pressure;
using actorserve::detail::cpu_stall_total_us;
using actorserve::detail::spin_for;
using actorserve::detail::stall_share;

TEST_CASE("the stall total is read from the some line", "[spin]") {
  auto text = "some avg10=0.38 avg60=2.54 avg300=7.66 total=2909499253\n"
              "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
  CHECK(cpu_stall_total_us(text) == uint64_t{2909499253});
  // Only the some line counts; anything else is no reading.
  CHECK_FALSE(cpu_stall_total_us("full avg10=0.00 total=12\n"));
  CHECK_FALSE(cpu_stall_total_us("some avg10=0.38 avg60=2.54\n"));
  CHECK_FALSE(cpu_stall_total_us("some total=x\n"));
  CHECK_FALSE(cpu_stall_total_us(""));
}

TEST_CASE("a window's stall share, and when the cores count as contended",
          "[spin]") {
  CHECK(stall_share(25'000, 50ms) == Approx(0.5));
  CHECK(stall_share(0, 50ms) == 0.0);
  CHECK(stall_share(80'000, 50ms) == 1.0); // several tasks waited at once
  CHECK(stall_share(10, 0ms) == 0.0);
  // Above 25 % contended, below 15 % spare, and in between as it was.
  CHECK(cores_contended(false, 0.30));
  CHECK_FALSE(cores_contended(false, 0.20));
  CHECK(cores_contended(true, 0.20));
  CHECK_FALSE(cores_contended(true, 0.10));
}

TEST_CASE("a contended spin lasts at most a few microseconds", "[spin]") {
  CHECK(spin_for(50us, false) == 50us);
  CHECK(spin_for(50us, true) == contended_spin);
  CHECK(spin_for(2us, true) == 2us);
  CHECK(spin_for(0us, true) == 0us);
}

TEST_CASE("busy threads on every core make the cores read as contended",
          "[spin]") {
  auto& pressure = cpu_pressure::instance();
  if (!std::ifstream{"/proc/pressure/cpu"}) {
    // Without pressure stall information the cores always count as spare.
    CHECK_FALSE(pressure.contended(std::chrono::steady_clock::now()));
    return;
  }
  // Twice as many busy threads as cores: most of them wait for a core at
  // any moment, so the next window's share is near 100 %. Waits for the
  // reading to say so (a window is 50 ms), with a generous bound.
  std::atomic<bool> stop{false};
  std::vector<std::thread> busy;
  auto n = 2 * std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i)
    busy.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        // Burns a core until told to stop.
      }
    });
  auto deadline = std::chrono::steady_clock::now() + 30s;
  bool contended = false;
  while (!contended && std::chrono::steady_clock::now() < deadline) {
    contended = pressure.contended(std::chrono::steady_clock::now());
    std::this_thread::sleep_for(5ms);
  }
  stop = true;
  for (auto& t : busy)
    t.join();
  CHECK(contended);
}
