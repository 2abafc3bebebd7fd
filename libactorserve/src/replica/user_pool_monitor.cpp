// The user pool's monitor: samples the lanes, applies `plan_pool` (a pure
// function, user_pool_plan.hpp) and wakes or adds lanes (user_pool.hpp).
#include <algorithm>
#include <chrono>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "runtime/thread_name.hpp"
#include "replica/user_pool.hpp"
#include "policy/user_pool_plan.hpp"

namespace actorserve::detail {

namespace {

using namespace std::chrono_literals;

/// The monitor's tick while a lane is busy, and while none is.
constexpr auto busy_tick = 1ms;
constexpr auto idle_tick = 10ms;

/// What the kernel says of one thread of this process.
struct thread_probe {
  /// Running or waiting for a core ('R'), rather than blocked.
  bool runnable = false;
  /// Time on a core, and time waiting on a run queue, since it started.
  unsigned long long run_ns = 0;
  unsigned long long wait_ns = 0;
};

/// Reads /proc for thread `tid`; nothing where procfs or the scheduler's
/// statistics are missing.
std::optional<thread_probe> probe_thread(int tid) {
  auto dir = "/proc/self/task/" + std::to_string(tid);
  std::ifstream stat{dir + "/stat"};
  std::string line;
  if (!std::getline(stat, line))
    return std::nullopt;
  // The state follows the name, which is in parentheses and may hold spaces.
  auto close = line.rfind(')');
  if (close == std::string::npos || close + 2 >= line.size())
    return std::nullopt;
  thread_probe p;
  p.runnable = line[close + 2] == 'R';
  std::ifstream sched{dir + "/schedstat"};
  if (!(sched >> p.run_ns >> p.wait_ns))
    return std::nullopt;
  return p;
}

} // namespace

/// Whether stalled lane `l`, in turn `turn`, only waits for a core. A lane
/// blocked in user code is not; a runnable one is judged by what it did
/// between two looks in the same turn, so the first look says "starved"
/// and growth waits one more tick.
bool user_pool::starved(lane& l, uint64_t turn) {
  auto tid = l.tid.load();
  auto p = tid != 0 ? probe_thread(tid) : std::nullopt;
  if (!p || !p->runnable)
    return false;
  bool known = l.probed_turn == turn;
  bool result = !known || starved_between(p->run_ns - l.probed_run_ns,
                                          p->wait_ns - l.probed_wait_ns);
  l.probed_turn = turn;
  l.probed_run_ns = p->run_ns;
  l.probed_wait_ns = p->wait_ns;
  return result;
}

pool_step plan_pool(const std::vector<lane_sample>& lanes, size_t cap) {
  bool stalled = false;
  bool waits_on_stalled = false;
  bool all_busy = true;
  bool parked = false;
  size_t queued = 0;
  for (auto& l : lanes) {
    queued += l.queued;
    if (l.stalled && !l.starved) {
      stalled = true;
      waits_on_stalled = waits_on_stalled || l.queued > 0;
    }
    all_busy = all_busy && l.busy;
    parked = parked || l.parked;
  }
  if (!waits_on_stalled && !(queued > 0 && all_busy && stalled))
    return pool_step::none;
  if (parked)
    return pool_step::wake;
  if (!all_busy)
    return pool_step::none; // a polling lane steals it
  return lanes.size() < cap ? pool_step::grow : pool_step::none;
}

void user_pool::monitor() {
  name_this_thread("as-user-mon");
  std::vector<lane_sample> samples;
  auto tick = std::chrono::duration_cast<std::chrono::nanoseconds>(idle_tick);
  for (;;) {
    {
      std::unique_lock<std::mutex> guard{monitor_mtx_};
      monitor_cv_.wait_for(guard, tick, [&] { return closed_.load(); });
    }
    if (closed_.load())
      break;
    samples.clear();
    bool busy = false;
    auto n = count_.load(std::memory_order_acquire);
    for (size_t i = 0; i < n; ++i) {
      auto& l = *lanes_[i];
      if (!l.alive.load())
        continue;
      lane_sample s;
      // Busy first: a lane counts its turn before it turns busy.
      s.busy = l.busy.load(std::memory_order_acquire);
      auto turns = l.turns.load();
      s.stalled = s.busy && turns == l.seen;
      l.seen = turns;
      if (s.stalled) {
        l.stalled_turn.store(turns);
        s.starved = starved(l, turns);
      }
      {
        std::lock_guard<std::mutex> guard{l.mtx};
        s.parked = l.parked;
        s.queued = l.jobs.size();
      }
      busy = busy || s.busy;
      samples.push_back(s);
    }
    auto cap = std::min(max_lanes, base_ + members_.load());
    switch (plan_pool(samples, cap)) {
    case pool_step::wake:
      wake_one();
      break;
    case pool_step::grow:
      start_lane(add_lane()); // out of threads: try again next tick
      break;
    case pool_step::none:
      break;
    }
    tick = busy ? busy_tick : idle_tick;
  }
  sys_.dec_detached_threads();
}

void user_pool::close() {
  closed_.store(true);
  { std::lock_guard<std::mutex> guard{monitor_mtx_}; }
  monitor_cv_.notify_all();
  auto n = count_.load(std::memory_order_acquire);
  for (size_t i = 0; i < n; ++i) {
    auto& l = *lanes_[i];
    {
      std::lock_guard<std::mutex> guard{l.mtx};
      l.wake = true;
    }
    l.cv.notify_all();
  }
}

} // namespace actorserve::detail
