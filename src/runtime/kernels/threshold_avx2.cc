// Threshold requantization with AVX2, 8 channels of one row per vector.
// levels <= 16: thresholds transposed to [level][channel] once per call; each
// level costs one vpcmpgtd + vpaddd (start from base + levels, subtract one
// per threshold above the value). More levels: scalar branchless search.
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "runtime/kernels/kernel_table.h"

namespace bitsmith::kernels::avx2 {

void threshold_i32(const int32_t* acc, int64_t ldacc, int64_t m0, int64_t m1, int64_t n,
                   const int32_t* thr, int64_t levels, const int32_t* base, int32_t* out,
                   int64_t ldout) {
  if (levels > 16) {
    for (int64_t m = m0; m < m1; ++m)
      for (int64_t j = 0; j < n; ++j)
        out[m * ldout + j] = static_cast<int32_t>(
            base[j] + count_at_most(thr + j * levels, levels, acc[m * ldacc + j]));
    return;
  }
  const int64_t n8 = n / 8 * 8;
  thread_local std::vector<int32_t> thr_t;
  thr_t.assign(static_cast<size_t>(levels * std::max<int64_t>(n8, 1)), 0);
  for (int64_t j = 0; j < n8; ++j)
    for (int64_t l = 0; l < levels; ++l) thr_t[l * n8 + j] = thr[j * levels + l];
  const __m256i lv = _mm256_set1_epi32(static_cast<int32_t>(levels));
  for (int64_t m = m0; m < m1; ++m) {
    for (int64_t j = 0; j < n8; j += 8) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(acc + m * ldacc + j));
      __m256i cnt =
          _mm256_add_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(base + j)), lv);
      for (int64_t l = 0; l < levels; ++l) {
        const __m256i t = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(&thr_t[l * n8 + j]));
        cnt = _mm256_add_epi32(cnt, _mm256_cmpgt_epi32(t, v));  // -1 where t > v
      }
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + m * ldout + j), cnt);
    }
    for (int64_t j = n8; j < n; ++j) {
      const int32_t v = acc[m * ldacc + j];
      int64_t count = 0;
      for (int64_t l = 0; l < levels; ++l) count += v >= thr[j * levels + l] ? 1 : 0;
      out[m * ldout + j] = static_cast<int32_t>(base[j] + count);
    }
  }
}

}  // namespace bitsmith::kernels::avx2
