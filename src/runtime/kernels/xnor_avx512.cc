// XNOR-popcount GEMM with AVX-512 VPOPCNTDQ: 2 rows x 4 weight rows per
// register block, 8 words (512 bits) per step, masked loads for the last words
// (masked-off lanes load zero in both operands, so they never count).
// Short rows, and medium rows with enough of them, go along N (see along_n).
#include "runtime/kernels/avx512_intrin.h"

#include <algorithm>
#include <vector>

#include "runtime/kernels/kernel_table.h"

namespace bitsmith::kernels::avx512 {
namespace {

template <int R, int C>
void micro(const uint64_t* a, const uint64_t* w, int64_t words, int64_t k, int64_t m, int64_t j,
           int32_t* acc, int64_t ldc) {
  __m512i cnt[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) cnt[r][c] = _mm512_setzero_si512();
  for (int64_t i = 0; i < words; i += 8) {
    const int64_t left = std::min<int64_t>(words - i, 8);
    const __mmask8 mask = static_cast<__mmask8>((1u << left) - 1u);
    __m512i av[R];
    for (int r = 0; r < R; ++r) av[r] = _mm512_maskz_loadu_epi64(mask, a + (m + r) * words + i);
    for (int c = 0; c < C; ++c) {
      const __m512i wv = _mm512_maskz_loadu_epi64(mask, w + (j + c) * words + i);
      for (int r = 0; r < R; ++r)
        cnt[r][c] = _mm512_add_epi64(cnt[r][c], _mm512_popcnt_epi64(_mm512_xor_si512(av[r], wv)));
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c)
      acc[(m + r) * ldc + j + c] = static_cast<int32_t>(k - 2 * _mm512_reduce_add_epi64(cnt[r][c]));
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

// Along N: weights transposed to [word][column] once per call, each
// activation word broadcast against 16 columns (2 vectors) of 2 rows at a time.
// No horizontal sums, so it wins for short rows (a vector along K would be
// mostly empty) and, when enough rows share the transpose, for medium ones.
template <int R>
void along_n_rows(const uint64_t* a, int64_t m, const uint64_t* wt, int64_t npad, int64_t n,
                  int64_t k, int64_t words, int32_t* acc, int64_t ldc) {
  const __m512i kv = _mm512_set1_epi64(k);
  for (int64_t j = 0; j < n; j += 16) {
    __m512i cnt[R][2];
    for (int r = 0; r < R; ++r) cnt[r][0] = cnt[r][1] = _mm512_setzero_si512();
    for (int64_t i = 0; i < words; ++i) {
      const __m512i w0 = _mm512_loadu_si512(wt + i * npad + j);
      const __m512i w1 = _mm512_loadu_si512(wt + i * npad + j + 8);
      for (int r = 0; r < R; ++r) {
        const __m512i av = _mm512_set1_epi64(static_cast<int64_t>(a[(m + r) * words + i]));
        cnt[r][0] = _mm512_add_epi64(cnt[r][0], _mm512_popcnt_epi64(_mm512_xor_si512(av, w0)));
        cnt[r][1] = _mm512_add_epi64(cnt[r][1], _mm512_popcnt_epi64(_mm512_xor_si512(av, w1)));
      }
    }
    const int64_t valid = std::min<int64_t>(n - j, 16);
    for (int r = 0; r < R; ++r)
      for (int h = 0; h < 2; ++h) {
        const int64_t left = std::clamp<int64_t>(valid - 8 * h, 0, 8);
        if (left == 0) continue;
        const __m256i res =
            _mm512_cvtepi64_epi32(_mm512_sub_epi64(kv, _mm512_add_epi64(cnt[r][h], cnt[r][h])));
        _mm256_mask_storeu_epi32(acc + (m + r) * ldc + j + 8 * h,
                                 static_cast<__mmask8>((1u << left) - 1u), res);
      }
  }
}

void along_n(const uint64_t* a, int64_t m0, int64_t m1, const uint64_t* w, int64_t n, int64_t k,
             int64_t words, int32_t* acc, int64_t ldc) {
  const int64_t npad = (n + 15) / 16 * 16;
  thread_local std::vector<uint64_t> wt;
  wt.assign(static_cast<size_t>(words * npad), 0);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < words; ++i) wt[i * npad + j] = w[j * words + i];
  int64_t m = m0;
  for (; m + 2 <= m1; m += 2) along_n_rows<2>(a, m, wt.data(), npad, n, k, words, acc, ldc);
  if (m < m1) along_n_rows<1>(a, m, wt.data(), npad, n, k, words, acc, ldc);
}

}  // namespace

void gemm_xnor(const uint64_t* a, int64_t m0, int64_t m1, const uint64_t* w, int64_t n, int64_t k,
               int32_t* acc, int64_t ldc) {
  const int64_t words = (k + 63) / 64;
  if (words < 4 || (m1 - m0 >= 4 && words <= 64)) {
    along_n(a, m0, m1, w, n, k, words, acc, ldc);
    return;
  }
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

}  // namespace bitsmith::kernels::avx512
