// The machine's per-core ceilings the kernels are measured against: a tight
// loop of independent vpdpbusd (int8 MACs) and of xor + vpopcntq + add (binary
// MACs, one per bit). 16 accumulators hide the instructions' latency, so the
// loops run at issue throughput. Compiled with target attributes because only
// src/runtime/kernels/*_avx512.cc get AVX-512 flags from CMake.
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include "runtime/kernels/kernels.h"

namespace {

constexpr int kSteps = 1024;
constexpr int kChains = 12;  // x + acc per chain: 24 of the 32 zmm registers, no spills

__attribute__((target("avx512f,avx512bw,avx512vnni"))) void vnni_loop(benchmark::State& state) {
  __m512i acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_epi32(i);
  __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-5);
  for (auto _ : state) {
    benchmark::DoNotOptimize(a);
    benchmark::DoNotOptimize(b);
    for (int s = 0; s < kSteps; ++s)
      for (int i = 0; i < 16; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
  }
  __m512i sum = acc[0];
  for (int i = 1; i < 16; ++i) sum = _mm512_add_epi32(sum, acc[i]);
  benchmark::DoNotOptimize(sum);
  // 64 u8 x s8 products per instruction.
  state.counters["GMAC/s"] =
      benchmark::Counter(16.0 * kSteps * 64 / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

__attribute__((target("avx512f,avx512vpopcntdq"))) void popcnt_loop(benchmark::State& state) {
  __m512i acc[kChains], x[kChains];
  for (int i = 0; i < kChains; ++i) {
    acc[i] = _mm512_setzero_si512();
    x[i] = _mm512_set1_epi64(0x0123456789abcdefLL * (i + 1));
  }
  __m512i y = _mm512_set1_epi64(0x5555aaaa5555aaaaLL);
  for (auto _ : state) {
    benchmark::DoNotOptimize(y);
    for (int s = 0; s < kSteps; ++s)
      for (int i = 0; i < kChains; ++i) {
        x[i] = _mm512_xor_si512(x[i], y);  // changes every step, so nothing is hoisted
        acc[i] = _mm512_add_epi64(acc[i], _mm512_popcnt_epi64(x[i]));
      }
  }
  __m512i sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm512_add_epi64(sum, acc[i]);
  benchmark::DoNotOptimize(sum);
  // 512 binary products (xnor + count) per xor/popcnt/add triple.
  state.counters["Gbitop/s"] = benchmark::Counter(double(kChains) * kSteps * 512 / 1e9,
                                                  benchmark::Counter::kIsIterationInvariantRate);
}

const bool registered = [] {
  using bitsmith::kernels::Isa;
  if (bitsmith::kernels::isa_supported(Isa::kAvx512)) {
    benchmark::RegisterBenchmark("peak/vpdpbusd_zmm", vnni_loop);
    benchmark::RegisterBenchmark("peak/xor_vpopcntq_zmm", popcnt_loop);
  }
  return true;
}();

}  // namespace
