// Threshold requantization with AVX-512. Many levels: a branchless binary
// search run in 16 lanes (16 channels of one row) at once, probing with
// gathers. Few levels: the AVX2 routine (see below why).
#include "runtime/kernels/avx512_intrin.h"

#include <algorithm>

#include "runtime/kernels/kernel_table.h"

namespace bitsmith::kernels::avx512 {

void threshold_i32(const int32_t* acc, int64_t ldacc, int64_t m0, int64_t m1, int64_t n,
                   const int32_t* thr, int64_t levels, const int32_t* base, int32_t* out,
                   int64_t ldout) {
  // levels <= 16: the AVX2 compare-and-count (8 channels per ymm, one
  // vpcmpgtd + vpaddd per level). A zmm version (vpcmpd into a mask register,
  // masked add) measured slower on the Zen 4 this was tuned on: 1.76 vs 2.18
  // Gelem/s at 4096 x 64, 15 levels, so it is not kept.
  if (levels <= 16)
    return avx2::threshold_i32(acc, ldacc, m0, m1, n, thr, levels, base, out, ldout);
  const __m512i one = _mm512_set1_epi32(1);
  if (n * levels > INT32_MAX)
    return ref::threshold_i32(acc, ldacc, m0, m1, n, thr, levels, base, out, ldout);
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (int64_t m = m0; m < m1; ++m)
    for (int64_t j = 0; j < n; j += 16) {
      const __mmask16 mask = static_cast<__mmask16>((1u << std::min<int64_t>(n - j, 16)) - 1u);
      const __m512i v = _mm512_maskz_loadu_epi32(mask, acc + m * ldacc + j);
      // Lanes past n search channel j's thresholds (valid memory) and are not stored.
      const __m512i chan = _mm512_mask_blend_epi32(
          mask, _mm512_set1_epi32(static_cast<int32_t>(j)),
          _mm512_add_epi32(lane, _mm512_set1_epi32(static_cast<int32_t>(j))));
      __m512i lo = _mm512_mullo_epi32(chan, _mm512_set1_epi32(static_cast<int32_t>(levels)));
      for (int64_t len = levels; len > 1;) {
        const int64_t half = len / 2;
        const __m512i h = _mm512_set1_epi32(static_cast<int32_t>(half));
        const __m512i t = _mm512_i32gather_epi32(_mm512_add_epi32(lo, h), thr, 4);
        lo = _mm512_mask_add_epi32(lo, _mm512_cmple_epi32_mask(t, v), lo, h);
        len -= half;
      }
      const __m512i t = _mm512_i32gather_epi32(lo, thr, 4);
      lo = _mm512_mask_add_epi32(lo, _mm512_cmple_epi32_mask(t, v), lo, one);
      // lo - channel * levels is the count.
      const __m512i cnt = _mm512_sub_epi32(
          lo, _mm512_mullo_epi32(chan, _mm512_set1_epi32(static_cast<int32_t>(levels))));
      _mm512_mask_storeu_epi32(out + m * ldout + j, mask,
                               _mm512_add_epi32(cnt, _mm512_maskz_loadu_epi32(mask, base + j)));
    }
}

}  // namespace bitsmith::kernels::avx512
