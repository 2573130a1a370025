// Per-ISA entry points behind the dispatching functions of kernels.h. Each
// ISA file fills one Table; the public functions pick the table of the packed
// weights' ISA (GEMMs) or of active_isa() (everything else). Tests reach every
// table directly so each ISA path is compared with the reference on one CPU.
#pragma once
#include "runtime/kernels/kernels.h"

namespace bitsmith::kernels {

struct Table {
  void (*gemm_u8s8)(const uint8_t* a, int64_t lda, int64_t m0, int64_t m1, const PackedS8& w,
                    int32_t* acc, int64_t ldc, bool accumulate);
  void (*gemm_s8s8)(const int8_t* a, int64_t lda, int64_t m0, int64_t m1, const PackedS8& w,
                    int32_t* acc, int64_t ldc, bool accumulate);
  void (*gemm_s16s16)(const int16_t* a, int64_t lda, int64_t m0, int64_t m1, const PackedS16& w,
                      int32_t* acc, int64_t ldc, bool accumulate);
  void (*gemm_xnor)(const uint64_t* a, int64_t m0, int64_t m1, const uint64_t* w, int64_t n,
                    int64_t k, int32_t* acc, int64_t ldc);
  void (*threshold_i32)(const int32_t* acc, int64_t ldacc, int64_t m0, int64_t m1, int64_t n,
                        const int32_t* thr, int64_t levels, const int32_t* base, int32_t* out,
                        int64_t ldout);
  void (*max_pool_i32)(const int32_t* in, const Pool2d& p, int32_t pad_value, int32_t* out);
  void (*sum_pool_i32)(const int32_t* in, const Pool2d& p, int32_t pad_value, int64_t* out);
  void (*depthwise_u8)(const uint8_t* in, const Conv2dGeom& g, const int8_t* w, uint8_t pad_value,
                       int64_t p0, int64_t p1, int32_t* out);
  void (*depthwise_s8)(const int8_t* in, const Conv2dGeom& g, const int8_t* w, int8_t pad_value,
                       int64_t p0, int64_t p1, int32_t* out);
};

// The table of one ISA; throws Error(kInput) when the CPU lacks it.
const Table& table_for(Isa isa);

// One set of these per ISA namespace (ref, avx2, avx512); the ref ones are the
// plain loops every other path is tested against.
#define BITSMITH_KERNEL_DECLS                                                                   \
  void gemm_u8s8(const uint8_t* a, int64_t lda, int64_t m0, int64_t m1, const PackedS8& w,      \
                 int32_t* acc, int64_t ldc, bool accumulate);                                   \
  void gemm_s8s8(const int8_t* a, int64_t lda, int64_t m0, int64_t m1, const PackedS8& w,       \
                 int32_t* acc, int64_t ldc, bool accumulate);                                   \
  void gemm_s16s16(const int16_t* a, int64_t lda, int64_t m0, int64_t m1, const PackedS16& w,   \
                   int32_t* acc, int64_t ldc, bool accumulate);                                 \
  void gemm_xnor(const uint64_t* a, int64_t m0, int64_t m1, const uint64_t* w, int64_t n,       \
                 int64_t k, int32_t* acc, int64_t ldc);                                         \
  void threshold_i32(const int32_t* acc, int64_t ldacc, int64_t m0, int64_t m1, int64_t n,      \
                     const int32_t* thr, int64_t levels, const int32_t* base, int32_t* out,     \
                     int64_t ldout);                                                            \
  void max_pool_i32(const int32_t* in, const Pool2d& p, int32_t pad_value, int32_t* out);       \
  void sum_pool_i32(const int32_t* in, const Pool2d& p, int32_t pad_value, int64_t* out);       \
  void depthwise_u8(const uint8_t* in, const Conv2dGeom& g, const int8_t* w, uint8_t pad_value, \
                    int64_t p0, int64_t p1, int32_t* out);                                      \
  void depthwise_s8(const int8_t* in, const Conv2dGeom& g, const int8_t* w, int8_t pad_value,   \
                    int64_t p0, int64_t p1, int32_t* out);

namespace ref {
BITSMITH_KERNEL_DECLS
}
namespace avx2 {
BITSMITH_KERNEL_DECLS
}
namespace avx512 {
BITSMITH_KERNEL_DECLS
}

// Filled by dispatch.cc, table_avx2.cc and table_avx512.cc.
extern const Table kRefTable;
extern const Table kAvx2Table;
extern const Table kAvx512Table;

// Packed layouts (pack_s8 / pack_s16 write them, the ISA kernels read them):
// - kRef:    data is w itself, row-major [n][k]; k_padded == k.
// - kAvx2:   int16 pairs. Columns in blocks of 8 (one ymm of int32 sums),
//            k padded to 2; block b, pair j holds 8 columns x 2 int16 (w[c][2j],
//            w[c][2j+1]) = 32 bytes at ((b * k_padded/2) + j) * 32. PackedS8 stores
//            the int16 bytes in its int8 vector (widened once at pack time).
// - kAvx512: s8 in quads: blocks of 16 columns, k padded to 4, block b, quad j
//            holds 16 columns x 4 int8 = 64 bytes at (b * k_padded/4 + j) * 64.
//            s16 in pairs: blocks of 16 columns, 16 x 2 int16 = 64 bytes per pair.
// Padding (columns beyond n, k beyond k) is zero, so it adds nothing to sums.
constexpr int64_t kAvx2Cols = 8;
// #{ j < levels : thr[j] <= v } for ascending thr, by a branchless binary search
// (ceil(log2(levels)) + 1 probes, no data-dependent branches).
template <class T>
inline int64_t count_at_most(const T* thr, int64_t levels, T v) {
  if (levels <= 0) return 0;
  int64_t lo = 0, len = levels;
  while (len > 1) {
    const int64_t half = len / 2;
    lo += thr[lo + half] <= v ? half : 0;
    len -= half;
  }
  return lo + (thr[lo] <= v ? 1 : 0);
}
constexpr int64_t kAvx512Cols = 16;

}  // namespace bitsmith::kernels
