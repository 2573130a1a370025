// AVX2 GEMMs on int16 pairs with vpmaddwd. Register block: up to 4 rows x 2
// column blocks of 8 int32 sums (up to 4 blocks for 1-2 rows, e.g. batch-1).
//
// Why not vpmaddubsw (u8 x s8 -> int16 pairs)? It SATURATES: 255*127 + 255*127
// = 64770 > 32767, so u8 activations in [0, 255] would clamp. Instead the
// weights are widened to int16 once at pack time and each row of activations
// is widened to int16 per call (u8 zero-, s8 sign-extended); s8 x s8 then
// needs no +128 offset at all. vpmaddwd multiplies int16 pairs into int32 and
// adds the two products without saturation: |a0*w0 + a1*w1| <= 2 * 255 * 128
// for 8-bit operands, and <= 2 * 32768^2 = 2^31 for int16 operands, where the
// single case 2^31 reads as INT32_MIN, congruent modulo 2^32. vpaddd then adds
// modulo 2^32, so each accumulator is the true sum modulo 2^32: exact whenever
// the result fits int32, which the caller guarantees.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "runtime/kernels/kernel_table.h"

namespace bitsmith::kernels::avx2 {
namespace {

constexpr int kMaxRows = 4;
constexpr int64_t kChunkRows = 64;  // rows widened at once into the scratch buffer

struct Args {
  const int16_t* a;  // int16 rows (the caller's or the widened copy)
  int64_t lda;
  const uint8_t* w;
  int64_t block_bytes;  // one block of 8 columns
  int64_t n, k;
  int32_t* acc;  // row 0 of a
  int64_t ldc;
  bool accumulate;
};

template <int R, int C>
void micro(const Args& g, int64_t m, int64_t b0) {
  const int16_t* rows[R];
  for (int r = 0; r < R; ++r) rows[r] = g.a + (m + r) * g.lda;
  const uint8_t* wp = g.w + b0 * g.block_bytes;
  // Small blocks keep S interleaved sets of sums to hide vpmaddwd + vpaddd latency.
  constexpr int S = R * C == 1 ? 4 : R * C <= 4 ? 2 : 1;
  __m256i sets[S][R][C];
  for (int s = 0; s < S; ++s)
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) sets[s][r][c] = _mm256_setzero_si256();
  auto step = [&](__m256i(&acc)[R][C], int64_t j, int64_t count) {
    __m256i av[R];
    for (int r = 0; r < R; ++r) {
      int32_t v = 0;  // the pair, zero-filled past k (the weights there are zero)
      std::memcpy(&v, rows[r] + 2 * j, static_cast<size_t>(count) * sizeof(int16_t));
      av[r] = _mm256_set1_epi32(v);
    }
    for (int c = 0; c < C; ++c) {
      const __m256i wv =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wp + c * g.block_bytes + j * 32));
      for (int r = 0; r < R; ++r)
        acc[r][c] = _mm256_add_epi32(acc[r][c], _mm256_madd_epi16(av[r], wv));
    }
  };
  const int64_t full = g.k / 2;
  int64_t j = 0;
  for (; j + S <= full; j += S)
    for (int s = 0; s < S; ++s) step(sets[s], j + s, 2);
  for (; j < full; ++j) step(sets[0], j, 2);
  if (g.k % 2 != 0) step(sets[0], full, 1);
  __m256i(&acc)[R][C] = sets[0];
  for (int s = 1; s < S; ++s)
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) acc[r][c] = _mm256_add_epi32(acc[r][c], sets[s][r][c]);
  for (int c = 0; c < C; ++c) {
    const int64_t col = (b0 + c) * kAvx2Cols;
    const int64_t valid = std::min<int64_t>(g.n - col, kAvx2Cols);
    for (int r = 0; r < R; ++r) {
      int32_t* out = g.acc + (m + r) * g.ldc + col;
      if (valid == kAvx2Cols) {
        __m256i v = acc[r][c];
        if (g.accumulate)
          v = _mm256_add_epi32(v, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(out)));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), v);
      } else {
        alignas(32) int32_t tmp[kAvx2Cols];
        _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), acc[r][c]);
        for (int64_t i = 0; i < valid; ++i)
          out[i] = static_cast<int32_t>(static_cast<uint32_t>(tmp[i]) +
                                        (g.accumulate ? static_cast<uint32_t>(out[i]) : 0u));
      }
    }
  }
}

template <int R>
void micro_rows(const Args& g, int64_t m, int64_t b0, int64_t blocks) {
  switch (blocks) {
    case 1:
      return micro<R, 1>(g, m, b0);
    case 2:
      return micro<R, 2>(g, m, b0);
    case 3:
      return micro<R, 3>(g, m, b0);
    default:
      return micro<R, 4>(g, m, b0);
  }
}

// Rows [m0, m1) of g.a (already int16) into g.acc.
void run(const Args& g, int64_t m0, int64_t m1) {
  const int64_t nblocks = (g.n + kAvx2Cols - 1) / kAvx2Cols;
  constexpr int64_t kPanel = 4;  // blocks per column panel
  for (int64_t b0 = 0; b0 < nblocks; b0 += kPanel) {
    const int64_t blocks = std::min(nblocks - b0, kPanel);
    for (int64_t m = m0; m < m1; m += kMaxRows) {
      const int64_t rows = std::min<int64_t>(m1 - m, kMaxRows);
      // 16 ymm registers: 1-2 rows take 4 blocks, 3-4 rows 2 blocks at a time.
      if (rows <= 2) {
        rows == 1 ? micro_rows<1>(g, m, b0, blocks) : micro_rows<2>(g, m, b0, blocks);
        continue;
      }
      for (int64_t b = b0; b < b0 + blocks; b += 2) {
        const int64_t nb = std::min<int64_t>(b0 + blocks - b, 2);
        rows == 3 ? micro_rows<3>(g, m, b, nb) : micro_rows<4>(g, m, b, nb);
      }
    }
  }
}

// Widens 8-bit rows to int16 in chunks, then runs the int16 kernel.
template <class T>
void run_widened(const T* a, int64_t lda, int64_t m0, int64_t m1, const PackedS8& w, int32_t* acc,
                 int64_t ldc, bool accumulate) {
  thread_local std::vector<int16_t> scratch;
  const int64_t k = w.k;
  scratch.resize(static_cast<size_t>(std::max<int64_t>(k, 1) * kChunkRows));
  for (int64_t mc = m0; mc < m1; mc += kChunkRows) {
    const int64_t rows = std::min(m1 - mc, kChunkRows);
    for (int64_t r = 0; r < rows; ++r) {
      const T* src = a + (mc + r) * lda;
      int16_t* dst = scratch.data() + r * k;
      for (int64_t i = 0; i < k; ++i) dst[i] = src[i];
    }
    const Args g{scratch.data(),      k,   reinterpret_cast<const uint8_t*>(w.data.data()),
                 w.k_padded / 2 * 32, w.n, k,
                 acc + mc * ldc,      ldc, accumulate};
    run(g, 0, rows);
  }
}

}  // namespace

void gemm_u8s8(const uint8_t* a, int64_t lda, int64_t m0, int64_t m1, const PackedS8& w,
               int32_t* acc, int64_t ldc, bool accumulate) {
  run_widened(a, lda, m0, m1, w, acc, ldc, accumulate);
}

void gemm_s8s8(const int8_t* a, int64_t lda, int64_t m0, int64_t m1, const PackedS8& w,
               int32_t* acc, int64_t ldc, bool accumulate) {
  run_widened(a, lda, m0, m1, w, acc, ldc, accumulate);
}

void gemm_s16s16(const int16_t* a, int64_t lda, int64_t m0, int64_t m1, const PackedS16& w,
                 int32_t* acc, int64_t ldc, bool accumulate) {
  const Args g{a,
               lda,
               reinterpret_cast<const uint8_t*>(w.data.data()),
               w.k_padded / 2 * 32,
               w.n,
               w.k,
               acc,
               ldc,
               accumulate};
  run(g, m0, m1);
}

}  // namespace bitsmith::kernels::avx2
