// The Open Inference Protocol codec (src/infer/), with Google Benchmark:
// decoding Triton's "simple" request (two INT32 inputs of N elements, as
// tritonclient.http sends it) in JSON and with binary tensor data, and
// encoding the response both ways. The counter allocs is the number of
// allocations per operation: it must not grow with N.
//   v2_codec [Google Benchmark flags]
#include <atomic>
#include <cstdlib>
#include <new>

#include <benchmark/benchmark.h>

#include "actorserve/tensor.hpp"
#include "infer/v2.hpp"

using namespace actorserve;
using namespace actorserve::detail;

namespace {
std::atomic<size_t> allocations{0};
} // namespace

void* operator new(size_t n) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (auto p = std::malloc(n ? n : 1))
    return p;
  throw std::bad_alloc();
}
// The replacements pair with the operator new above; GCC cannot see that.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  std::free(p);
}
#pragma GCC diagnostic pop

namespace {

model_signature simple(int64_t n) {
  model_signature sig;
  sig.name = "simple";
  sig.max_batch_size = 8;
  sig.inputs = {{"INPUT0", datatype::INT32, {n}}, {"INPUT1", datatype::INT32, {n}}};
  sig.outputs = {{"OUTPUT0", datatype::INT32, {n}},
                 {"OUTPUT1", datatype::INT32, {n}}};
  return sig;
}

std::vector<tensor> tensors(int64_t n, const char* a, const char* b) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = static_cast<int32_t>(i * 7) - 3;
  return {tensor::of<int32_t>(a, {1, n}, v), tensor::of<int32_t>(b, {1, n}, v)};
}

template <class F>
void measure(benchmark::State& state, size_t bytes, F f) {
  f();
  auto before = allocations.load();
  f();
  state.counters["allocs"] = static_cast<double>(allocations.load() - before);
  for (auto _ : state)
    f();
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}

void decode(benchmark::State& state, bool binary) {
  auto n = state.range(0);
  auto sig = simple(n);
  infer_request req;
  req.inputs = tensors(n, "INPUT0", "INPUT1");
  req.outputs = {{"OUTPUT0", binary}, {"OUTPUT1", binary}};
  auto body = encode_infer_request(req, binary);
  measure(state, body.body.size(), [&] {
    auto r = decode_infer_request(body.body, body.json_header_length, sig);
    if (!r)
      state.SkipWithError("decoding failed");
    benchmark::DoNotOptimize(r);
  });
}

void encode(benchmark::State& state, bool binary) {
  auto n = state.range(0);
  infer_response res{"simple", "1", "", tensors(n, "OUTPUT0", "OUTPUT1"), {}};
  auto size = encode_infer_response(res, {}, binary)->body.size();
  measure(state, size, [&] {
    auto r = encode_infer_response(res, {}, binary);
    benchmark::DoNotOptimize(r);
  });
}

void BM_decode_json(benchmark::State& s) { decode(s, false); }
void BM_decode_binary(benchmark::State& s) { decode(s, true); }
void BM_encode_json(benchmark::State& s) { encode(s, false); }
void BM_encode_binary(benchmark::State& s) { encode(s, true); }

} // namespace

BENCHMARK(BM_decode_json)->Arg(16)->Arg(1600)->Arg(160000);
BENCHMARK(BM_decode_binary)->Arg(16)->Arg(1600)->Arg(160000);
BENCHMARK(BM_encode_json)->Arg(16)->Arg(1600)->Arg(160000);
BENCHMARK(BM_encode_binary)->Arg(16)->Arg(1600)->Arg(160000);
BENCHMARK_MAIN();
