// The control plane at scale: deploys N replicas of a no-op deployment in
// one process and reports how long deploying took, the memory each replica
// costs, the CPU the controller spends per tick once everything is idle
// (health probes of every replica each second, and an autoscaling tick
// every 100 ms over all of them), and the round trip of a status query and
// of a reconcile that changes nothing.
//
//   control_scale [--replicas N] [--mode inline|isolated] [--seconds S]
//                 [--health-period-s P]
//   control_scale --scale-to N [--mode inline|isolated]
//
// With --scale-to, it deploys one replica, then scales to N while another
// thread asks for the status every 10 ms, and reports how long the
// scale-up took and the worst and median status round trips meanwhile: the
// controller starts replicas in bounded steps, so it keeps answering.
//
// With a health period longer than the run, the idle CPU is the
// autoscaling ticks' alone.
//
// Prints one JSON object.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>

#include "actorserve/actorserve.hpp"

using namespace actorserve;
using namespace std::chrono;

namespace {

using noop_actor = caf::typed_actor<caf::replies_to<int32_t>::with<int32_t>>;

noop_actor::behavior_type noop(noop_actor::pointer) {
  return {[](int32_t x) { return x; }};
}

long rss_kib() {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stol(line.substr(6));
  return 0;
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/// Scales one replica up to `n`, asking for the status every 10 ms
/// meanwhile; prints the figures as one JSON object.
int scale_responsiveness(uint32_t n, execution mode) {
  serve_options opts;
  opts.http.enabled = false;
  opts.admin.enabled = false;
  opts.system_threads = 2;
  serve s{opts};
  auto h = s.run(s.deployment("Noop", noop).mode(mode).bind(), {"noop", ""});
  if (!h) {
    std::cerr << message_of(h.error()) << std::endl;
    return 1;
  }
  std::atomic<bool> done{false};
  double scale_s = 0;
  std::thread scaler{[&] {
    auto t0 = steady_clock::now();
    auto r = s.scale("noop", "Noop", n, minutes(30));
    scale_s = duration<double>(steady_clock::now() - t0).count();
    if (!r)
      std::cerr << message_of(r.error()) << std::endl;
    done = true;
  }};
  std::vector<double> rtts;
  while (!done) {
    auto t1 = steady_clock::now();
    auto st = s.status(seconds(60));
    rtts.push_back(duration<double, std::milli>(steady_clock::now() - t1)
                       .count());
    std::this_thread::sleep_for(milliseconds(10));
  }
  scaler.join();
  std::sort(rtts.begin(), rtts.end());
  auto at = [&](double q) {
    return rtts.empty() ? 0.0 : rtts[static_cast<size_t>(q * (rtts.size() - 1))];
  };
  std::printf("{\"scale_to\": %u, \"mode\": \"%s\", \"scale_s\": %.3f, "
              "\"status_probes\": %zu, \"status_p50_ms\": %.2f, "
              "\"status_max_ms\": %.2f}\n",
              n, to_string(mode), scale_s, rtts.size(), at(0.5), at(1.0));
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  uint32_t n = 10'000;
  auto mode = execution::inline_;
  int secs = 5;
  int health_s = 1;
  uint32_t scale_to = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--replicas") == 0)
      n = static_cast<uint32_t>(std::atoi(argv[i + 1]));
    else if (std::strcmp(argv[i], "--mode") == 0)
      mode = std::strcmp(argv[i + 1], "isolated") == 0 ? execution::isolated
                                                       : execution::inline_;
    else if (std::strcmp(argv[i], "--seconds") == 0)
      secs = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--health-period-s") == 0)
      health_s = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--scale-to") == 0)
      scale_to = static_cast<uint32_t>(std::atoi(argv[i + 1]));
  }
  if (scale_to > 0)
    return scale_responsiveness(scale_to, mode);
  serve_options opts;
  opts.http.enabled = false;
  opts.admin.enabled = false;
  opts.system_threads = 2;
  serve s{opts};
  auto rss0 = rss_kib();
  // Autoscaled between n and n: the tick samples every replica, and never
  // changes the count.
  autoscaling_config scaling;
  scaling.min_replicas = n;
  scaling.max_replicas = n;
  auto t0 = steady_clock::now();
  auto h = s.run(s.deployment("Noop", noop)
                     .mode(mode)
                     .autoscaling(scaling)
                     .health_check(seconds(health_s), seconds(30))
                     .bind(),
                 {"noop", ""});
  if (!h) {
    std::cerr << message_of(h.error()) << std::endl;
    return 1;
  }
  auto deployed = duration<double>(steady_clock::now() - t0).count();
  auto first = h->call(int32_t{1}).get(seconds(5));
  auto first_s = duration<double>(steady_clock::now() - t0).count();
  auto rss1 = rss_kib();
  // Idle: only health probes (every replica, each second) and autoscaling
  // ticks (every 100 ms) run.
  std::this_thread::sleep_for(seconds(1));
  auto c0 = cpu_seconds();
  std::this_thread::sleep_for(seconds(secs));
  auto idle_cpu = cpu_seconds() - c0;
  auto t1 = steady_clock::now();
  auto st = s.status();
  auto status_ms =
      duration<double, std::milli>(steady_clock::now() - t1).count();
  std::printf("{\"replicas\": %u, \"mode\": \"%s\", \"deploy_s\": %.3f, "
              "\"first_call_s\": %.3f, \"first_call_ok\": %s, "
              "\"kib_per_replica\": %.1f, \"health_period_s\": %d, "
              "\"idle_cpu_share\": %.4f, \"cpu_ms_per_100ms_tick\": %.3f, "
              "\"status_ms\": %.2f, \"status_replicas\": %zu}\n",
              n, to_string(mode), deployed, first_s, first ? "true" : "false",
              static_cast<double>(rss1 - rss0) / n, health_s, idle_cpu / secs,
              // All idle CPU charged to the 100 ms control ticks.
              idle_cpu / (secs * 10.0) * 1000.0, status_ms,
              st ? st->applications.front().deployments.front().replicas.size()
                 : 0);
  return 0;
}
