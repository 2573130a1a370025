// XNOR-popcount GEMM for AVX2 CPUs without VPOPCNTDQ: popcount of 256 bits by
// two vpshufb nibble look-ups, summed into 64-bit lanes with vpsadbw (Mula's
// method). 2 rows x 4 weight rows per block; leftover words use scalar popcnt.
#include <immintrin.h>

#include <algorithm>

#include "runtime/kernels/kernel_table.h"

namespace bitsmith::kernels::avx2 {
namespace {

// Popcount of each byte, summed per 64-bit lane (<= 64 each).
inline __m256i popcount_lanes(__m256i v) {
  const __m256i table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2,
                                         1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i lo = _mm256_shuffle_epi8(table, _mm256_and_si256(v, low4));
  const __m256i hi = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(v, 4), low4));
  return _mm256_sad_epu8(_mm256_add_epi8(lo, hi), _mm256_setzero_si256());
}

inline int64_t hsum(__m256i v) {
  const __m128i s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  return _mm_cvtsi128_si64(s) + _mm_extract_epi64(s, 1);
}

template <int R, int C>
void micro(const uint64_t* a, const uint64_t* w, int64_t words, int64_t k, int64_t m, int64_t j,
           int32_t* acc, int64_t ldc) {
  __m256i cnt[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) cnt[r][c] = _mm256_setzero_si256();
  const int64_t full = words / 4 * 4;
  for (int64_t i = 0; i < full; i += 4) {
    __m256i av[R];
    for (int r = 0; r < R; ++r)
      av[r] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + (m + r) * words + i));
    for (int c = 0; c < C; ++c) {
      const __m256i wv =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + (j + c) * words + i));
      for (int r = 0; r < R; ++r)
        cnt[r][c] = _mm256_add_epi64(cnt[r][c], popcount_lanes(_mm256_xor_si256(av[r], wv)));
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) {
      int64_t d = hsum(cnt[r][c]);
      for (int64_t i = full; i < words; ++i)
        d += static_cast<int64_t>(_mm_popcnt_u64(a[(m + r) * words + i] ^ w[(j + c) * words + i]));
      acc[(m + r) * ldc + j + c] = static_cast<int32_t>(k - 2 * d);
    }
}

template <int R>
void micro_rows(const uint64_t* a, const uint64_t* w, int64_t words, int64_t k, int64_t m,
                int64_t j, int64_t cols, int32_t* acc, int64_t ldc) {
  switch (cols) {
    case 1:
      return micro<R, 1>(a, w, words, k, m, j, acc, ldc);
    case 2:
      return micro<R, 2>(a, w, words, k, m, j, acc, ldc);
    case 3:
      return micro<R, 3>(a, w, words, k, m, j, acc, ldc);
    default:
      return micro<R, 4>(a, w, words, k, m, j, acc, ldc);
  }
}

}  // namespace

void gemm_xnor(const uint64_t* a, int64_t m0, int64_t m1, const uint64_t* w, int64_t n, int64_t k,
               int32_t* acc, int64_t ldc) {
  const int64_t words = (k + 63) / 64;
  for (int64_t j = 0; j < n; j += 4) {
    const int64_t cols = std::min<int64_t>(n - j, 4);
    for (int64_t m = m0; m < m1; m += 2) {
      if (m1 - m >= 2)
        micro_rows<2>(a, w, words, k, m, j, cols, acc, ldc);
      else
        micro_rows<1>(a, w, words, k, m, j, cols, acc, ldc);
    }
  }
}

}  // namespace bitsmith::kernels::avx2
