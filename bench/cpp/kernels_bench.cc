// Integer kernel throughput per ISA path. Shapes are M x N x K (rows of
// activations x output channels x reduction length); GOPS counts a multiply and
// an add as 2 operations (binary GEMM: one +-1 product = 2 ops as well).
// Single thread: the engine's threads multiply this by the cores it gets.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "runtime/kernels/kernel_table.h"

namespace bitsmith::kernels {
namespace {

struct Shape {
  int64_t m, n, k;
};
const Shape kShapes[] = {{1, 64, 16},   {1, 10, 256},   {1, 256, 784},    {1, 1024, 1024},
                         {64, 10, 256}, {4096, 64, 16}, {256, 256, 1152}, {1024, 128, 576}};

template <class T>
std::vector<T> random_values(int64_t count, int lo, int hi) {
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<T> v(static_cast<size_t>(count));
  for (T& x : v) x = static_cast<T>(d(rng));
  return v;
}

void set_gops(benchmark::State& state, const Shape& s) {
  state.counters["GOPS"] = benchmark::Counter(2.0 * double(s.m) * double(s.n) * double(s.k) / 1e9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

void bench_u8s8(benchmark::State& state, Isa isa, Shape s) {
  const auto a = random_values<uint8_t>(s.m * s.k, 0, 255);
  const auto w = random_values<int8_t>(s.n * s.k, -128, 127);
  const PackedS8 p = pack_s8(w.data(), s.n, s.k, isa);
  std::vector<int32_t> c(static_cast<size_t>(s.m * s.n));
  for (auto _ : state) {
    gemm_u8s8(a.data(), s.k, 0, s.m, p, c.data(), s.n);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_gops(state, s);
}

void bench_s8s8(benchmark::State& state, Isa isa, Shape s) {
  const auto a = random_values<int8_t>(s.m * s.k, -128, 127);
  const auto w = random_values<int8_t>(s.n * s.k, -128, 127);
  const PackedS8 p = pack_s8(w.data(), s.n, s.k, isa);
  std::vector<int32_t> c(static_cast<size_t>(s.m * s.n));
  for (auto _ : state) {
    gemm_s8s8(a.data(), s.k, 0, s.m, p, c.data(), s.n);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_gops(state, s);
}

void bench_s16(benchmark::State& state, Isa isa, Shape s) {
  const auto a = random_values<int16_t>(s.m * s.k, -32768, 32767);
  const auto w = random_values<int16_t>(s.n * s.k, -32768, 32767);
  const PackedS16 p = pack_s16(w.data(), s.n, s.k, isa);
  std::vector<int32_t> c(static_cast<size_t>(s.m * s.n));
  for (auto _ : state) {
    gemm_s16s16(a.data(), s.k, 0, s.m, p, c.data(), s.n);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_gops(state, s);
}

void bench_xnor(benchmark::State& state, Isa isa, Shape s) {
  const int64_t words = bit_words(s.k);
  const auto a = random_values<uint64_t>(s.m * words, 0, 1 << 30);
  auto w = random_values<uint64_t>(s.n * words, 0, 1 << 30);
  std::vector<int32_t> c(static_cast<size_t>(s.m * s.n));
  const Table& t = table_for(isa);
  for (auto _ : state) {
    t.gemm_xnor(a.data(), 0, s.m, w.data(), s.n, s.k, c.data(), s.n);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_gops(state, s);
}

void bench_threshold(benchmark::State& state, Isa isa, int64_t m, int64_t n, int64_t levels) {
  const auto acc = random_values<int32_t>(m * n, -1000, 1000);
  std::vector<int32_t> thr(static_cast<size_t>(n * levels)), base(static_cast<size_t>(n), 0);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t l = 0; l < levels; ++l)
      thr[j * levels + l] = static_cast<int32_t>(-1000 + 2000 * l / levels);
  std::vector<int32_t> out(acc.size());
  const Table& t = table_for(isa);
  for (auto _ : state) {
    t.threshold_i32(acc.data(), n, 0, m, n, thr.data(), levels, base.data(), out.data(), n);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.counters["Gelem/s"] =
      benchmark::Counter(double(m * n) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

std::string shape_name(const Shape& s) {
  return std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k);
}

const bool registered = [] {
  for (Isa isa : {Isa::kRef, Isa::kAvx2, Isa::kAvx512}) {
    if (!isa_supported(isa)) continue;
    const std::string tag = std::string("/") + isa_name(isa) + "/";
    for (const Shape& s : kShapes) {
      benchmark::RegisterBenchmark(("gemm_u8s8" + tag + shape_name(s)).c_str(), bench_u8s8, isa, s);
      benchmark::RegisterBenchmark(("gemm_s8s8" + tag + shape_name(s)).c_str(), bench_s8s8, isa, s);
      benchmark::RegisterBenchmark(("gemm_s16" + tag + shape_name(s)).c_str(), bench_s16, isa, s);
    }
    for (const Shape& s :
         {Shape{1, 256, 784}, Shape{1, 1024, 1024}, Shape{256, 256, 1152}, Shape{4096, 64, 64}})
      benchmark::RegisterBenchmark(("gemm_xnor" + tag + shape_name(s)).c_str(), bench_xnor, isa, s);
    for (int64_t levels : {15, 255})
      benchmark::RegisterBenchmark(
          ("threshold" + tag + "4096x64_L" + std::to_string(levels)).c_str(), bench_threshold, isa,
          4096, 64, levels);
  }
  return true;
}();

}  // namespace
}  // namespace bitsmith::kernels
