// In-process handle round trip, deployment -> deployment, with Google
// Benchmark.
//
// A Caller deployment makes sequential calls through a handle to an Echo
// deployment and times each one from `call` to its continuation (steady
// clock, inside the caller). Every benchmark iteration is one round trip;
// the benchmark thread asks the caller for batches of them. The reported
// time is the mean per round trip, and the counters p50_us / p99_us come from
// the individual samples.
//
// Variants: the callee and the caller isolated (user code on their own
// threads, the default) or inline (on the system plane), and the same loop
// between two bare CAF actors (the ceiling: no routing, no replica).
// With --cluster-port, the head measures a Caller on the head calling an
// Echo on a worker node (started with --join and --resources
// '{"bench_worker": 1}'), against both on the head.
//   handle_roundtrip [Google Benchmark flags] [actorserve flags: --threads N]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <caf/scoped_actor.hpp>

#include "actorserve/actorserve.hpp"

using namespace actorserve;

namespace {

using clock_type = std::chrono::steady_clock;
using run_atom = caf::atom_constant<caf::atom("run")>;

using echo_actor = caf::typed_actor<caf::replies_to<int64_t>::with<int64_t>>;

using caller_actor = caf::typed_actor<
    caf::replies_to<run_atom, uint32_t>::with<std::vector<int64_t>>>;

echo_actor::behavior_type echo(echo_actor::pointer) {
  return {[](int64_t x) { return x; }};
}

/// One batch of sequential round trips, in nanoseconds.
struct batch {
  caf::typed_response_promise<std::vector<int64_t>> rp;
  uint32_t n = 0;
  std::vector<int64_t> samples;
};

/// Starts the next round trip of `b`, or answers when all are done. `call`
/// sends one request and returns something with `then(on_value, on_error)`.
template <class Self, class Call>
void next(Self* self, Call call, std::shared_ptr<batch> b) {
  if (b->samples.size() == b->n) {
    b->rp.deliver(std::move(b->samples));
    return;
  }
  auto t0 = clock_type::now();
  call(self).then(
      [=](int64_t) {
        b->samples.push_back(
            std::chrono::duration_cast<std::chrono::nanoseconds>(
                clock_type::now() - t0)
                .count());
        next(self, call, b);
      },
      [=](caf::error& err) { b->rp.deliver(std::move(err)); });
}

template <class Call>
caller_actor::behavior_type loop_behavior(caller_actor::pointer self,
                                          Call call) {
  return {[=](run_atom, uint32_t n) {
    auto b = std::make_shared<batch>();
    b->rp = self->make_response_promise<std::vector<int64_t>>();
    b->n = n;
    b->samples.reserve(n);
    next(self, call, b);
    return b->rp;
  }};
}

/// The Caller deployment: round trips through a handle.
caller_actor::behavior_type caller(caller_actor::pointer self,
                                   handle<echo_actor> target) {
  return loop_behavior(self, [target](caller_actor::pointer s) {
    return target.call(s, int64_t{1});
  });
}

/// The ceiling: the same loop between two plain CAF actors.
caller_actor::behavior_type bare_caller(caller_actor::pointer self,
                                        echo_actor target) {
  return loop_behavior(self, [target](caller_actor::pointer s) {
    return s->request(target, caf::infinite, int64_t{1});
  });
}

constexpr uint32_t batch_size = 200;

/// Runs the benchmark in batches; `ask(n)` returns n round-trip samples.
template <class Ask>
void run_batches(benchmark::State& state, Ask ask) {
  std::vector<int64_t> all;
  while (state.KeepRunningBatch(batch_size)) {
    caf::expected<std::vector<int64_t>> samples = ask(batch_size);
    if (!samples || samples->size() != batch_size) {
      state.SkipWithError(samples ? "short batch"
                                  : to_string(samples.error()).c_str());
      break;
    }
    int64_t sum = 0;
    for (auto x : *samples)
      sum += x;
    state.SetIterationTime(static_cast<double>(sum) * 1e-9);
    all.insert(all.end(), samples->begin(), samples->end());
  }
  if (all.empty())
    return;
  std::sort(all.begin(), all.end());
  auto pct = [&](double q) {
    auto i = static_cast<size_t>(q * static_cast<double>(all.size()));
    return static_cast<double>(all[std::min(i, all.size() - 1)]) / 1000.0;
  };
  state.counters["p50_us"] = pct(0.50);
  state.counters["p99_us"] = pct(0.99);
}

} // namespace

// Longer than 80 lines: the benchmark's one script, each step once.
int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv); // takes its own flags out of argv
  serve_options defaults;
  defaults.admin.enabled = false; // Ray's dashboard may hold 8265
  defaults.http.enabled = false;
  serve s{argc, argv, defaults};
  struct variant {
    const char* name;
    execution caller_mode;
    execution callee_mode;
  };
  const variant variants[] = {
      {"handle/caller_isolated/callee_isolated", execution::isolated,
       execution::isolated},
      {"handle/caller_inline/callee_isolated", execution::inline_,
       execution::isolated},
      {"handle/caller_inline/callee_inline", execution::inline_,
       execution::inline_},
  };
  // Across nodes (--cluster-port on the head, --join on a worker started
  // with --resources '{"bench_worker": 1}'): Echo needs that resource, so
  // it runs on the worker, and the Caller on the head; the same pair with
  // both on the head is measured in the same run. Both nodes build both.
  const variant cluster_variants[] = {
      {"cluster/caller_head/callee_worker", execution::isolated,
       execution::isolated},
      {"cluster/caller_head/callee_head", execution::isolated,
       execution::isolated},
  };
  bool cluster = s.cluster_port() != 0 || s.node_id() != 0;
  std::vector<handle<caller_actor>> callers;
  auto chosen =
      cluster ? std::vector<variant>(std::begin(cluster_variants),
                                     std::end(cluster_variants))
              : std::vector<variant>(std::begin(variants), std::end(variants));
  for (auto& v : chosen) {
    if (cluster && std::string{v.name} == "cluster/caller_head/callee_head" &&
        s.node_id() != 0)
      break; // the worker registers what it may be asked to run
    std::map<std::string, double> needs;
    if (std::string{v.name} == "cluster/caller_head/callee_worker")
      needs = {{"bench_worker", 1}};
    auto target =
        s.deployment("Echo", echo).mode(v.callee_mode).resources(needs).bind();
    auto app = s.deployment("Caller", caller).mode(v.caller_mode).bind(target);
    auto h = s.run(app, {v.name, ""});
    if (!h)
      return s.fail(h.error());
    callers.push_back(*h);
    benchmark::RegisterBenchmark(v.name, [&callers, i = callers.size() - 1](
                                             benchmark::State& st) {
      run_batches(st, [&](uint32_t n) {
        return callers[i]
            .call(run_atom::value, n)
            .get(std::chrono::seconds(30));
      });
    })->UseManualTime();
  }
  if (s.node_id() != 0) {
    std::cout << "handle_roundtrip: worker node " << s.node_id() << std::endl;
    return s.wait();
  }
  if (cluster) {
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    s.shutdown();
    return 0;
  }
  // CAF 0.17 needs an argument to spawn a function safely (see user_plane).
  auto bare_echo = s.system().spawn(
      [](echo_actor::pointer self, int) { return echo(self); }, 0);
  auto bare = s.system().spawn(bare_caller, bare_echo);
  benchmark::RegisterBenchmark("caf/bare_actors", [&](benchmark::State& st) {
    caf::scoped_actor self{s.system()};
    run_batches(st, [&](uint32_t n) {
      caf::expected<std::vector<int64_t>> result{caf::error{}};
      self->request(bare, std::chrono::seconds(30), run_atom::value, n)
          .receive([&](std::vector<int64_t>& xs) { result = std::move(xs); },
                   [&](caf::error& err) { result = std::move(err); });
      return result;
    });
  })->UseManualTime();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  caf::anon_send_exit(bare, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(bare_echo, caf::exit_reason::user_shutdown);
  s.shutdown();
  return 0;
}
