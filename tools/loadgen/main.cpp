// loadgen: an open-loop, fixed-rate HTTP/1.1 load generator.
//
// Closed loop vs open loop. A closed-loop generator (wrk, ab) keeps N
// connections busy and sends the next request on a connection only when the
// previous answer arrived. When the server stalls, the generator stalls with
// it: it simply sends less, so the queue that real clients would build up
// never forms, and the slow period shows up as a handful of slow samples
// instead of the many requests that would have waited behind it. Real
// traffic does not wait for the server; it arrives at its own rate.
//
// This generator is open loop: request i is due at the fixed time
// t0 + i / rate, whatever the server does. Its latency is measured from that
// *intended* start, not from the moment it was written to a socket, so time
// spent waiting for a free connection (because the server is slow) counts.
// Measuring from the actual send time instead is "coordinated omission": the
// generator and the server would agree to leave the queueing delay out.
//
// Design: one thread, non-blocking sockets, epoll, and a timerfd armed (with
// nanosecond resolution, absolute CLOCK_MONOTONIC time) at the next intended
// start. A pool of persistent keep-alive connections is opened before t0;
// each carries at most one request at a time. A due request goes to a free
// connection or waits, in order, for one. A closed connection is reopened
// by the next request that uses it, and a failed reopen fails that request.
//
// Accounting (the chaos suite's instrument): every request of the schedule
// ends exactly once, with an HTTP status, a transport error, a cut of ours
// (--cut closes a connection on purpose, part way through the request or
// at a random time after it began: waiting for the answer or in the middle
// of a stream) or a timeout (lost). The --json summary counts them by
// outcome, with answers that came with no request waiting (a request
// answered twice) and the worst wait; --log writes one line per request.
//
// Exit status: 0 if every measured request got an HTTP response (any
// status), 1 if any failed or timed out, or if the pool cannot be opened at
// start (nothing listening: no run, no summary), 2 for bad usage.

#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "common.hpp"
#include "generator.hpp"
#include "options.hpp"

namespace {

using namespace loadgen;

// -- results -------------------------------------------------------------

struct latency_stats {
  double mean = 0;
  int64_t p50 = 0;
  int64_t p90 = 0;
  int64_t p99 = 0;
  int64_t p999 = 0;
  int64_t max = 0;
};

/// `per_mille` = 500 for p50: the element at index ceil(q * n) - 1.
int64_t percentile(const std::vector<int64_t>& sorted, int64_t per_mille) {
  if (sorted.empty())
    return 0;
  auto n = static_cast<int64_t>(sorted.size());
  auto index = (per_mille * n + 999) / 1000 - 1;
  index = std::clamp<int64_t>(index, 0, n - 1);
  return sorted[static_cast<size_t>(index)];
}

latency_stats compute_stats(std::vector<int64_t>& samples) {
  latency_stats s;
  if (samples.empty())
    return s;
  std::sort(samples.begin(), samples.end());
  double sum = 0;
  for (auto x : samples)
    sum += static_cast<double>(x);
  s.mean = sum / static_cast<double>(samples.size());
  s.p50 = percentile(samples, 500);
  s.p90 = percentile(samples, 900);
  s.p99 = percentile(samples, 990);
  s.p999 = percentile(samples, 999);
  s.max = samples.back();
  return s;
}

struct summary {
  const outcome_book* book = nullptr;
  int64_t due = 0;
  int64_t t0_ns = 0;
  double offered_rps = 0;
  double achieved_rps = 0;
  tally measured;
  tally warmup;
  latency_stats latency;
};

void print_json(const options& opts, const summary& s) {
  const auto& m = s.measured;
  std::printf("{\"offered_rps\":%.3f,\"achieved_rps\":%.3f,"
              "\"sent\":%" PRId64 ",\"completed\":%" PRId64 ",\"ok\":%" PRId64
              ",\"non2xx\":%" PRId64 ",\"errors\":%" PRId64
              ",\"timeouts\":%" PRId64 ",\"mean_us\":%.1f,\"p50_us\":%" PRId64
              ",\"p90_us\":%" PRId64 ",\"p99_us\":%" PRId64
              ",\"p999_us\":%" PRId64 ",\"max_us\":%" PRId64
              ",\"connections\":%d"
              ",\"duration_s\":%.3f",
              s.offered_rps, s.achieved_rps, m.sent, m.completed(), m.ok,
              m.non2xx, m.errors, m.timeouts, s.latency.mean, s.latency.p50,
              s.latency.p90, s.latency.p99, s.latency.p999, s.latency.max,
              opts.connections, opts.duration);
  // Every request of the run, warm-up included: how each one ended.
  const auto& b = *s.book;
  std::printf(",\"due\":%" PRId64 ",\"ended\":%" PRId64
              ",\"unsolicited\":%" PRId64 ",\"ended_twice\":%" PRId64
              ",\"worst_us\":%" PRId64 ",\"t0_ns\":%" PRId64
              ",\"outcomes\":{",
              s.due, b.ended(), b.unsolicited_count(), b.ended_twice(),
              b.worst_us(), s.t0_ns);
  const char* sep = "";
  for (auto& [code, n] : b.counts()) {
    std::printf("%s\"%s\":%" PRId64, sep, outcome_name(code).c_str(), n);
    sep = ",";
  }
  std::printf("}}\n");
}

void print_human(const options& opts, const summary& s) {
  const auto& m = s.measured;
  const auto& l = s.latency;
  std::printf("loadgen: %s %s, %.1f req/s open loop for %.3g s "
              "(+%.3g s warm-up), %d connections\n",
              opts.method.c_str(), opts.url.url.c_str(), opts.rate,
              opts.duration, opts.warmup, opts.connections);
  std::printf("  requests:   %" PRId64 " sent, %" PRId64 " completed (%" PRId64
              " 2xx, %" PRId64 " non-2xx), %" PRId64 " errors, %" PRId64
              " timeouts\n",
              m.sent, m.completed(), m.ok, m.non2xx, m.errors, m.timeouts);
  std::printf("  throughput: %.1f req/s achieved, %.1f req/s offered\n",
              s.achieved_rps, s.offered_rps);
  std::printf("  latency from intended start (us): mean %.1f  p50 %" PRId64
              "  p90 %" PRId64 "  p99 %" PRId64 "  p99.9 %" PRId64
              "  max %" PRId64 "\n",
              l.mean, l.p50, l.p90, l.p99, l.p999, l.max);
  std::printf("  outcomes:   ");
  for (auto& [code, n] : s.book->counts())
    std::printf(" %s %" PRId64, outcome_name(code).c_str(), n);
  std::printf(" (of %" PRId64 " due); worst wait %" PRId64 " us, %" PRId64
              " unsolicited answers\n",
              s.due, s.book->worst_us(), s.book->unsolicited_count());
  if (opts.warmup > 0)
    std::printf("  warm-up:    %" PRId64 " requests sent, %" PRId64
                " failed (not counted above)\n",
                s.warmup.sent, s.warmup.failed());
}

} // namespace

int main(int argc, char** argv) {
  options opts;
  try {
    if (!parse_options(argc, argv, opts)) {
      std::fputs(usage_text, stdout);
      return 0;
    }
  } catch (const usage_error& e) {
    std::fprintf(stderr, "loadgen: %s\n%s", e.what(), usage_text);
    return 2;
  }
  try {
    load_generator gen{opts};
    try {
      gen.open_pool();
    } catch (const fatal_error& e) {
      std::fprintf(stderr, "loadgen: cannot open %d connection(s) to %s: %s\n",
                   opts.connections, opts.url.url.c_str(), e.what());
      return 1;
    }
    gen.run();
    summary s;
    s.book = &gen.book();
    s.due = gen.plan().total;
    s.t0_ns = gen.plan().t0;
    s.measured = gen.measured();
    s.warmup = gen.warmup();
    s.offered_rps =
        static_cast<double>(gen.plan().measured_count()) / opts.duration;
    s.achieved_rps = static_cast<double>(s.measured.completed()) /
                     gen.measured_span(opts.duration);
    s.latency = compute_stats(gen.samples());
    if (!opts.log_path.empty() &&
        !gen.book().write_log(opts.log_path,
                              [&](int64_t i) { return gen.plan().intended(i); }))
      std::fprintf(stderr, "loadgen: cannot write %s\n", opts.log_path.c_str());
    if (opts.json)
      print_json(opts, s);
    else
      print_human(opts, s);
    std::fflush(stdout);
    return s.measured.failed() == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loadgen: %s\n", e.what());
    return 1;
  }
}
