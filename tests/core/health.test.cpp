// The health verdict as a pure function of probe results.
#include <catch2/catch.hpp>

#include "policy/health.hpp"

using namespace actorserve;

TEST_CASE("three failed probes in a row replace a replica, a pass forgives",
          "[health]") {
  health_record r;
  CHECK(record_probe(r, probe_result::ok) == health_verdict::healthy);
  CHECK(record_probe(r, probe_result::failed) == health_verdict::suspect);
  CHECK(record_probe(r, probe_result::timed_out) == health_verdict::suspect);
  // A pass clears the strikes: two more failures are not enough.
  CHECK(record_probe(r, probe_result::ok) == health_verdict::healthy);
  CHECK(r.strikes == 0);
  CHECK(record_probe(r, probe_result::failed) == health_verdict::suspect);
  CHECK(record_probe(r, probe_result::failed) == health_verdict::suspect);
  CHECK(record_probe(r, probe_result::timed_out) == health_verdict::replace);
  CHECK(record_probe(r, probe_result::failed) == health_verdict::replace);
  static_assert(health_strike_limit == 3);
}

TEST_CASE("probes of many replicas are spread over the period in slices",
          "[health]") {
  using ms = std::chrono::milliseconds;
  auto s = schedule_probes(2, ms{10'000});
  CHECK(s.slices == 1);
  CHECK(s.interval == ms{10'000});
  s = schedule_probes(health_probes_per_tick, ms{10'000});
  CHECK(s.slices == 1);
  s = schedule_probes(10'000, ms{10'000});
  CHECK(s.slices == 40); // 250 probes a tick
  CHECK(s.interval == ms{250});
  CHECK(10'000 / s.slices <= health_probes_per_tick);
  s = schedule_probes(1'000'000, ms{100});
  CHECK(s.interval == ms{1});
  CHECK(s.slices == 100);
}

namespace {

using clock_type = std::chrono::steady_clock;
using ms = std::chrono::milliseconds;

clock_type::time_point at(int64_t millis) {
  return clock_type::time_point{} + std::chrono::hours(1) + ms{millis};
}

/// A replica of max_ongoing 4 running `running` calls.
activity_sample busy(uint32_t running, uint64_t progress = 7) {
  activity_sample s;
  s.progress = progress;
  s.running = running;
  s.max_ongoing = 4;
  return s;
}

} // namespace

TEST_CASE("a replica stuck in one message while other calls wait is wedged "
          "after the timeout",
          "[health]") {
  progress_watch w;
  auto s = busy(3);
  s.in_message = true;
  CHECK(watch_progress(w, s, at(0), ms{300}) == stall::none); // first look
  CHECK(watch_progress(w, s, at(200), ms{300}) == stall::none);
  CHECK(watch_progress(w, s, at(300), ms{300}) == stall::actor);
  CHECK(watch_progress(w, s, at(400), ms{300}) == stall::actor);
  CHECK_THAT(describe(stall::actor, s, ms{400}),
             Catch::Contains("one message for 400 ms") &&
                 Catch::Contains("2 other call(s)"));
  // Progress (a message ended) starts the clock again.
  s.progress = 8;
  CHECK(watch_progress(w, s, at(500), ms{300}) == stall::none);
  CHECK(watch_progress(w, s, at(700), ms{300}) == stall::none);
  CHECK(watch_progress(w, s, at(800), ms{300}) == stall::actor);
}

TEST_CASE("a long call with nothing waiting behind it is busy, not wedged",
          "[health]") {
  progress_watch w;
  auto s = busy(1);
  s.in_message = true;
  for (int t = 0; t <= 10'000; t += 1000)
    CHECK(watch_progress(w, s, at(t), ms{300}) == stall::none);
  // Calls in run_blocking with the actor free, and no job waiting.
  auto b = busy(4);
  progress_watch w2;
  for (int t = 0; t <= 10'000; t += 1000)
    CHECK(watch_progress(w2, b, at(t), ms{300}) == stall::none);
}

TEST_CASE("idle time before work arrives does not count towards a stall",
          "[health]") {
  progress_watch w;
  CHECK(watch_progress(w, busy(0), at(0), ms{300}) == stall::none);
  CHECK(watch_progress(w, busy(0), at(5000), ms{300}) == stall::none);
  auto s = busy(2);
  s.in_message = true;
  // Waiting work first seen now: not wedged until 300 ms later.
  CHECK(watch_progress(w, s, at(5100), ms{300}) == stall::none);
  CHECK(watch_progress(w, s, at(5300), ms{300}) == stall::none);
  CHECK(watch_progress(w, s, at(5400), ms{300}) == stall::actor);
}

TEST_CASE("blocking jobs that wait behind held threads wedge a replica",
          "[health]") {
  progress_watch w;
  auto s = busy(2);
  s.jobs_waiting = 3;
  CHECK(watch_progress(w, s, at(0), ms{100}) == stall::none);
  CHECK(watch_progress(w, s, at(100), ms{100}) == stall::blocking);
  CHECK_THAT(describe(stall::blocking, s, ms{100}),
             Catch::Contains("3 wait for a thread"));
  // A job started: progress.
  s.progress = 8;
  CHECK(watch_progress(w, s, at(150), ms{100}) == stall::none);
}

TEST_CASE("a full replica with no progress is wedged only while callers are "
          "turned away, and never by streams alone",
          "[health]") {
  progress_watch w;
  auto s = busy(4);
  CHECK(watch_progress(w, s, at(0), ms{100}) == stall::none);
  s.turned_away = true; // a caller knocked since the last look
  CHECK(watch_progress(w, s, at(50), ms{100}) == stall::none);
  CHECK(watch_progress(w, s, at(150), ms{100}) == stall::full);
  CHECK_THAT(describe(stall::full, s, ms{150}),
             Catch::Contains("all 4 slots held"));
  // Nobody knocked since: no work waits, the clock stops.
  s.turned_away = false;
  CHECK(watch_progress(w, s, at(300), ms{100}) == stall::none);
  // Every slot a quiet stream: busy, however long and however many knock.
  progress_watch ws;
  auto st = busy(4);
  st.streams = 4;
  st.turned_away = true;
  for (int t = 0; t <= 2000; t += 100)
    CHECK(watch_progress(ws, st, at(t), ms{100}) == stall::none);
}
