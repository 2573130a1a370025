// The public kernel entry points: GEMMs follow the ISA their weights were
// packed for; the other kernels follow active_isa().
#include "runtime/kernels/kernel_table.h"

namespace bitsmith::kernels {

const Table kRefTable = {ref::gemm_u8s8,    ref::gemm_s8s8,     ref::gemm_s16s16,
                         ref::gemm_xnor,    ref::threshold_i32, ref::max_pool_i32,
                         ref::sum_pool_i32, ref::depthwise_u8,  ref::depthwise_s8};

void gemm_u8s8(const uint8_t* a, int64_t lda, int64_t m0, int64_t m1, const PackedS8& w,
               int32_t* acc, int64_t ldc, bool accumulate) {
  table_for(w.isa).gemm_u8s8(a, lda, m0, m1, w, acc, ldc, accumulate);
}

void gemm_s8s8(const int8_t* a, int64_t lda, int64_t m0, int64_t m1, const PackedS8& w,
               int32_t* acc, int64_t ldc, bool accumulate) {
  table_for(w.isa).gemm_s8s8(a, lda, m0, m1, w, acc, ldc, accumulate);
}

void gemm_s16s16(const int16_t* a, int64_t lda, int64_t m0, int64_t m1, const PackedS16& w,
                 int32_t* acc, int64_t ldc, bool accumulate) {
  table_for(w.isa).gemm_s16s16(a, lda, m0, m1, w, acc, ldc, accumulate);
}

void gemm_xnor(const uint64_t* a, int64_t m0, int64_t m1, const uint64_t* w, int64_t n, int64_t k,
               int32_t* acc, int64_t ldc) {
  table_for(active_isa()).gemm_xnor(a, m0, m1, w, n, k, acc, ldc);
}

void threshold_i32(const int32_t* acc, int64_t ldacc, int64_t m0, int64_t m1, int64_t n,
                   const int32_t* thr, int64_t levels, const int32_t* base, int32_t* out,
                   int64_t ldout) {
  table_for(active_isa()).threshold_i32(acc, ldacc, m0, m1, n, thr, levels, base, out, ldout);
}

void max_pool_i32(const int32_t* in, const Pool2d& p, int32_t pad_value, int32_t* out) {
  table_for(active_isa()).max_pool_i32(in, p, pad_value, out);
}

void sum_pool_i32(const int32_t* in, const Pool2d& p, int32_t pad_value, int64_t* out) {
  table_for(active_isa()).sum_pool_i32(in, p, pad_value, out);
}

template <>
void depthwise_nhwc<uint8_t>(const uint8_t* in, const Conv2dGeom& g, const int8_t* w,
                             uint8_t pad_value, int64_t p0, int64_t p1, int32_t* out) {
  table_for(active_isa()).depthwise_u8(in, g, w, pad_value, p0, p1, out);
}

template <>
void depthwise_nhwc<int8_t>(const int8_t* in, const Conv2dGeom& g, const int8_t* w,
                            int8_t pad_value, int64_t p0, int64_t p1, int32_t* out) {
  table_for(active_isa()).depthwise_s8(in, g, w, pad_value, p0, p1, out);
}

}  // namespace bitsmith::kernels
