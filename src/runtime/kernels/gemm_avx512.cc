// AVX-512 VNNI GEMMs. Register block: up to 4 rows x 4 column blocks of 16
// int32 sums (16 zmm accumulators). Per step the kernel broadcasts one 4-byte
// quad (u8/s8) or one int16 pair of each row and multiplies it with the packed
// weights of each column block (layout in kernel_table.h).
//
// Why nothing saturates: vpdpbusd and vpdpwssd are the NON-saturating forms
// (the "s"-suffixed vpdpbusds/vpdpwssds would clamp). Each 32-bit lane gets
//   u8 x s8 quads: |sum of 4 products| <= 4 * 255 * 128 = 130560 < 2^31, or
//   s16 x s16 pairs: |sum of 2 products| <= 2 * 32768^2 = 2^31, which is exact
//   modulo 2^32 (the one case 2^31 reads as INT32_MIN, congruent mod 2^32),
// and is added to the accumulator modulo 2^32. So every accumulator equals the
// true sum modulo 2^32, which is the true sum when it fits int32 (the caller's
// contract), whatever the partial sums did on the way.
//
// s8 x s8 uses vpdpbusd (u8 first operand) on a + 128 = a XOR 0x80, then
// subtracts 128 * sum_k w[n][k] (PackedS8::row_sums), again modulo 2^32.
#include "runtime/kernels/avx512_intrin.h"

#include <cstring>

#include "runtime/kernels/kernel_table.h"

namespace bitsmith::kernels::avx512 {
namespace {

constexpr int kMaxRows = 4;
constexpr int kMaxBlocks = 4;

struct QuadsU8 {  // 4 x u8 times 4 x s8 per lane
  using T = uint8_t;
  static constexpr int64_t kStep = 4;
  static __m512i madd(__m512i acc, __m512i a, __m512i w) { return _mm512_dpbusd_epi32(acc, a, w); }
};
struct PairsS16 {  // 2 x s16 times 2 x s16 per lane
  using T = int16_t;
  static constexpr int64_t kStep = 2;
  static __m512i madd(__m512i acc, __m512i a, __m512i w) { return _mm512_dpwssd_epi32(acc, a, w); }
};

struct Args {
  const void* a;
  int64_t lda;  // elements
  const uint8_t* w;
  int64_t block_bytes;  // bytes of one packed block of 16 columns
  int64_t n, k;
  uint32_t flip;            // XOR for each broadcast group: 0x80808080 turns s8 into u8 + 128
  const int32_t* row_sums;  // non-null: subtract 128 * row_sums (s8s8)
  int32_t* acc;
  int64_t ldc;
  bool accumulate;
};

template <class Kind, int R, int C>
void micro(const Args& g, int64_t m, int64_t b0) {
  using T = typename Kind::T;
  const T* rows[R];
  for (int r = 0; r < R; ++r) rows[r] = static_cast<const T*>(g.a) + (m + r) * g.lda;
  const uint8_t* wp = g.w + b0 * g.block_bytes;
  // Small blocks (batch-1, few columns) would wait on vpdpbusd's latency with
  // R * C chains only, so they keep S interleaved sets of sums, added at the end.
  constexpr int S = R * C == 1 ? 4 : R * C <= 4 ? 2 : 1;
  __m512i sets[S][R][C];
  for (int s = 0; s < S; ++s)
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) sets[s][r][c] = _mm512_setzero_si512();
  const int64_t full = g.k / Kind::kStep, tail = g.k % Kind::kStep;
  auto step = [&](__m512i(&acc)[R][C], int64_t j, int64_t count) {
    __m512i av[R];
    for (int r = 0; r < R; ++r) {
      uint32_t v = 0;  // the group's elements, zero-filled past k (weights there are zero)
      std::memcpy(&v, rows[r] + j * Kind::kStep, static_cast<size_t>(count) * sizeof(T));
      av[r] = _mm512_set1_epi32(static_cast<int32_t>(v ^ g.flip));
    }
    for (int c = 0; c < C; ++c) {
      const __m512i wv = _mm512_loadu_si512(wp + c * g.block_bytes + j * 64);
      for (int r = 0; r < R; ++r) acc[r][c] = Kind::madd(acc[r][c], av[r], wv);
    }
  };
  int64_t j = 0;
  for (; j + S <= full; j += S)
    for (int s = 0; s < S; ++s) step(sets[s], j + s, Kind::kStep);
  for (; j < full; ++j) step(sets[0], j, Kind::kStep);
  if (tail != 0) step(sets[0], full, tail);
  __m512i(&acc)[R][C] = sets[0];
  for (int s = 1; s < S; ++s)
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) acc[r][c] = _mm512_add_epi32(acc[r][c], sets[s][r][c]);
  for (int c = 0; c < C; ++c) {
    const int64_t col = (b0 + c) * kAvx512Cols;
    const int64_t valid = g.n - col < kAvx512Cols ? g.n - col : kAvx512Cols;
    const __mmask16 mask = static_cast<__mmask16>((1u << valid) - 1u);
    __m512i corr = _mm512_setzero_si512();
    if (g.row_sums != nullptr)
      corr = _mm512_slli_epi32(_mm512_maskz_loadu_epi32(mask, g.row_sums + col), 7);
    for (int r = 0; r < R; ++r) {
      int32_t* out = g.acc + (m + r) * g.ldc + col;
      __m512i v = _mm512_sub_epi32(acc[r][c], corr);
      if (g.accumulate) v = _mm512_add_epi32(v, _mm512_maskz_loadu_epi32(mask, out));
      _mm512_mask_storeu_epi32(out, mask, v);
    }
  }
}

template <class Kind, int R>
void micro_rows(const Args& g, int64_t m, int64_t b0, int64_t blocks) {
  switch (blocks) {
    case 1:
      return micro<Kind, R, 1>(g, m, b0);
    case 2:
      return micro<Kind, R, 2>(g, m, b0);
    case 3:
      return micro<Kind, R, 3>(g, m, b0);
    default:
      return micro<Kind, R, 4>(g, m, b0);
  }
}

template <class Kind>
void run(const Args& g, int64_t m0, int64_t m1) {
  const int64_t nblocks = (g.n + kAvx512Cols - 1) / kAvx512Cols;
  // Column panels outside, rows inside: a panel of 64 columns x K stays in
  // L1/L2 while every row block streams past it.
  for (int64_t b0 = 0; b0 < nblocks; b0 += kMaxBlocks) {
    const int64_t blocks = nblocks - b0 < kMaxBlocks ? nblocks - b0 : kMaxBlocks;
    for (int64_t m = m0; m < m1; m += kMaxRows) {
      switch (m1 - m < kMaxRows ? m1 - m : kMaxRows) {
        case 1:
          micro_rows<Kind, 1>(g, m, b0, blocks);
          break;
        case 2:
          micro_rows<Kind, 2>(g, m, b0, blocks);
          break;
        case 3:
          micro_rows<Kind, 3>(g, m, b0, blocks);
          break;
        default:
          micro_rows<Kind, 4>(g, m, b0, blocks);
          break;
      }
    }
  }
}

Args s8_args(const void* a, int64_t lda, const PackedS8& w, int32_t* acc, int64_t ldc,
             bool accumulate) {
  return Args{a,
              lda,
              reinterpret_cast<const uint8_t*>(w.data.data()),
              w.k_padded / 4 * 64,
              w.n,
              w.k,
              0u,
              nullptr,
              acc,
              ldc,
              accumulate};
}

}  // namespace

void gemm_u8s8(const uint8_t* a, int64_t lda, int64_t m0, int64_t m1, const PackedS8& w,
               int32_t* acc, int64_t ldc, bool accumulate) {
  run<QuadsU8>(s8_args(a, lda, w, acc, ldc, accumulate), m0, m1);
}

void gemm_s8s8(const int8_t* a, int64_t lda, int64_t m0, int64_t m1, const PackedS8& w,
               int32_t* acc, int64_t ldc, bool accumulate) {
  Args g = s8_args(a, lda, w, acc, ldc, accumulate);
  g.flip = 0x80808080u;
  g.row_sums = w.row_sums.data();
  run<QuadsU8>(g, m0, m1);
}

void gemm_s16s16(const int16_t* a, int64_t lda, int64_t m0, int64_t m1, const PackedS16& w,
                 int32_t* acc, int64_t ldc, bool accumulate) {
  const Args g{a,
               lda,
               reinterpret_cast<const uint8_t*>(w.data.data()),
               w.k_padded / 2 * 64,
               w.n,
               w.k,
               0u,
               nullptr,
               acc,
               ldc,
               accumulate};
  run<PairsS16>(g, m0, m1);
}

}  // namespace bitsmith::kernels::avx512
