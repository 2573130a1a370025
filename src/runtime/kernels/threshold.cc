// Requantization by thresholds: the reference loops and the int64 path.
#include "runtime/kernels/kernel_table.h"

namespace bitsmith::kernels {

namespace {
template <class T>
void threshold_plain(const T* acc, int64_t ldacc, int64_t m0, int64_t m1, int64_t n, const T* thr,
                     int64_t levels, const int32_t* base, int32_t* out, int64_t ldout) {
  for (int64_t m = m0; m < m1; ++m)
    for (int64_t j = 0; j < n; ++j) {
      const T v = acc[m * ldacc + j];
      int64_t count = 0;
      for (int64_t l = 0; l < levels; ++l) count += v >= thr[j * levels + l] ? 1 : 0;
      out[m * ldout + j] = static_cast<int32_t>(base[j] + count);
    }
}
}  // namespace

namespace ref {
void threshold_i32(const int32_t* acc, int64_t ldacc, int64_t m0, int64_t m1, int64_t n,
                   const int32_t* thr, int64_t levels, const int32_t* base, int32_t* out,
                   int64_t ldout) {
  threshold_plain(acc, ldacc, m0, m1, n, thr, levels, base, out, ldout);
}
}  // namespace ref

void threshold_i64(const int64_t* acc, int64_t ldacc, int64_t m0, int64_t m1, int64_t n,
                   const int64_t* thr, int64_t levels, const int32_t* base, int32_t* out,
                   int64_t ldout) {
  if (levels <= 16) return threshold_plain(acc, ldacc, m0, m1, n, thr, levels, base, out, ldout);
  for (int64_t m = m0; m < m1; ++m)
    for (int64_t j = 0; j < n; ++j)
      out[m * ldout + j] = static_cast<int32_t>(
          base[j] + count_at_most(thr + j * levels, levels, acc[m * ldacc + j]));
}

}  // namespace bitsmith::kernels
