/// @file
/// The health verdict of one replica: a pure function of its probe results
/// (Ray Serve's rule: three failed checks in a row and the replica is
/// replaced). The controller probes each ready replica every
/// `health_check_period` and feeds the outcome here; tests drive it with
/// plain values.
///
/// A probe fails when the user's check throws or does not answer in time,
/// and also when the replica is wedged (`watch_progress`, below): its user
/// code has made no progress for `health_check_timeout` while work waits
/// for it. The replica's system side decides that at each probe from
/// counters the user plane keeps, so a replica whose user code is stuck in
/// every slot fails its probes even without a check of its own.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace actorserve {

/// How one probe of a replica went.
enum class probe_result : uint8_t {
  /// The replica answered, and its user's check (if any) passed.
  ok,
  /// The replica answered with an error: the user's check threw.
  failed,
  /// No answer within `health_check_timeout`.
  timed_out,
};

/// What the controller does about a replica after a probe.
enum class health_verdict : uint8_t {
  /// Healthy: nothing.
  healthy,
  /// One or two strikes in a row: keep it, keep probing.
  suspect,
  /// Three strikes in a row: replace it.
  replace,
};

/// Consecutive failed probes that make a replica unhealthy.
constexpr uint32_t health_strike_limit = 3;

/// A replica's probe history, as the controller keeps it.
struct health_record {
  /// Failed or timed-out probes in a row.
  uint32_t strikes = 0;
};

/// Records `p` in `r` and returns the verdict. A passing probe clears the
/// strikes; the verdict stays `replace` for every further failure.
constexpr health_verdict record_probe(health_record& r,
                                      probe_result p) noexcept {
  if (p == probe_result::ok) {
    r.strikes = 0;
    return health_verdict::healthy;
  }
  ++r.strikes;
  return r.strikes >= health_strike_limit ? health_verdict::replace
                                          : health_verdict::suspect;
}

/// Most probes one health tick sends: a deployment with more replicas is
/// probed in slices spread over its period, so that no tick of the
/// controller grows with the replica count.
constexpr uint32_t health_probes_per_tick = 256;

/// How a deployment's probes are spread over one `health_check_period`.
struct health_schedule {
  /// Ticks per period.
  uint32_t slices = 1;
  /// The time between two ticks.
  std::chrono::milliseconds interval{0};
};

/// Spreads the probes of `replicas` replicas over `period`: one tick per
/// period up to `health_probes_per_tick` replicas, more (each probing a
/// slice, every replica once per period) above. Never shorter than 1 ms.
constexpr health_schedule
schedule_probes(uint32_t replicas, std::chrono::milliseconds period) noexcept {
  health_schedule s;
  s.slices =
      replicas <= health_probes_per_tick
          ? 1
          : (replicas + health_probes_per_tick - 1) / health_probes_per_tick;
  auto interval = period / s.slices;
  if (interval < std::chrono::milliseconds{1}) {
    interval = std::chrono::milliseconds{1};
    s.slices = static_cast<uint32_t>(period.count() > 0 ? period.count() : 1);
  }
  s.interval = interval;
  return s;
}

/// What a replica's user code was doing at a probe, as its system side
/// reads it (counters of the user plane and the admission gate). Counts
/// that only grow matter by whether they changed since the last probe.
struct activity_sample {
  /// Progress so far: messages the user actor finished, and blocking jobs
  /// that started.
  uint64_t progress = 0;
  /// The user actor is inside a message now.
  bool in_message = false;
  /// Calls and streams holding a slot at the gate, and the gate's limit.
  uint32_t running = 0;
  uint32_t max_ongoing = 0;
  /// The streams among `running`.
  uint32_t streams = 0;
  /// A caller was turned away at the full gate since the last probe.
  bool turned_away = false;
  /// Blocking jobs waiting for one of the replica's blocking threads.
  uint64_t jobs_waiting = 0;
};

/// How a replica is wedged: what waits, and on what.
enum class stall : uint8_t {
  /// Not wedged.
  none,
  /// The user actor is inside one message while other calls of the
  /// replica wait for it (their continuations, or their turn).
  actor,
  /// Blocking jobs wait while every blocking thread is held.
  blocking,
  /// Every slot is held (not all by streams) and callers were turned away.
  full,
};

/// The probing side's memory of a replica's progress.
struct progress_watch {
  bool seen = false;
  /// Work waited at the last probe.
  bool waiting = false;
  activity_sample last;
  /// Since when work has waited with no progress (while a stall holds).
  std::chrono::steady_clock::time_point since;
};

/// Records sample `s`, taken at `now`, and says whether the replica is
/// wedged: work waited at this probe, and nothing progressed from the
/// probe at which waiting work was first seen (unbroken since) until now,
/// `timeout` or more later. A long call with nothing waiting behind it is
/// busy, not wedged; so are slots held by streams alone (a stream may be
/// quiet for long).
inline stall watch_progress(progress_watch& w, const activity_sample& s,
                            std::chrono::steady_clock::time_point now,
                            std::chrono::milliseconds timeout) noexcept {
  auto kind = stall::none;
  if (s.in_message && s.running >= 2)
    kind = stall::actor;
  else if (s.jobs_waiting > 0)
    kind = stall::blocking;
  else if (s.turned_away && s.running >= s.max_ongoing &&
           s.running > s.streams)
    kind = stall::full;
  bool moved = !w.seen || s.progress != w.last.progress;
  bool was_waiting = w.waiting;
  w.seen = true;
  w.waiting = kind != stall::none;
  w.last = s;
  if (kind == stall::none)
    return stall::none;
  if (moved || !was_waiting) {
    w.since = now;
    return stall::none;
  }
  return now - w.since >= timeout ? kind : stall::none;
}

/// Why a probe of a replica wedged by `kind` failed, for its status.
inline std::string describe(stall kind, const activity_sample& s,
                            std::chrono::milliseconds stalled) {
  auto ms = std::to_string(stalled.count()) + " ms";
  switch (kind) {
    case stall::actor:
      return "wedged: its user code has been in one message for " + ms +
             " while " + std::to_string(s.running - 1) +
             " other call(s) wait for it";
    case stall::blocking:
      return "wedged: no blocking job started for " + ms + " while " +
             std::to_string(s.jobs_waiting) + " wait for a thread";
    case stall::full:
      return "wedged: all " + std::to_string(s.max_ongoing) +
             " slots held with no progress for " + ms +
             " while callers were turned away";
    case stall::none:
      break;
  }
  return "not wedged";
}

} // namespace actorserve
