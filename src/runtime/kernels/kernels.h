// Integer kernels of the fast engine. Every function here has a portable
// reference implementation; x86 variants (AVX2, AVX-512 with VNNI/VPOPCNTDQ)
// must return identical results (tests/cpp/kernels_test.cc sweeps them).
// Kernels are single-threaded and work on a row range, so the engine can split
// work across its thread pool without the kernels knowing about threads.
#pragma once
#include <cstdint>
#include <vector>

namespace bitsmith::kernels {

enum class Isa : uint8_t { kRef, kAvx2, kAvx512 };  // kAvx512: F+BW+VL+VNNI (+VPOPCNTDQ)
const char* isa_name(Isa isa);
// Best path this CPU supports.
Isa detect_isa();
// detect_isa(), unless BITSMITH_ISA=ref|avx2|avx512 forces a path; forcing one
// the CPU lacks throws Error(kInvalidInput) naming the variable. Read once.
Isa active_isa();
bool isa_supported(Isa isa);

// ---- int8 GEMM: acc[m][n] = sum_k a[m][k] * w[n][k] (+ acc if accumulate) -------
// Weights of a linear layer, N output channels x K inputs, each in [-128, 127],
// packed once in the layout the ISA's kernel wants.
struct PackedS8 {
  Isa isa = Isa::kRef;
  int64_t n = 0, k = 0;
  int64_t k_padded = 0;           // k rounded up to the kernel's step
  std::vector<int8_t> data;       // private layout
  std::vector<int32_t> row_sums;  // sum_k w[n][k], for the unsigned-offset trick
};
PackedS8 pack_s8(const int8_t* w, int64_t n, int64_t k, Isa isa);
// Rows [m0, m1) of a (row stride lda elements) -> rows [m0, m1) of acc (stride ldc).
// The caller guarantees the exact sums fit int32 (the lowering proves it); the
// kernels add modulo 2^32, so partial sums may wrap on the way without harm.
// accumulate = true adds to what acc holds (e.g. K split in chunks).
void gemm_u8s8(const uint8_t* a, int64_t lda, int64_t m0, int64_t m1, const PackedS8& w,
               int32_t* acc, int64_t ldc, bool accumulate = false);
void gemm_s8s8(const int8_t* a, int64_t lda, int64_t m0, int64_t m1, const PackedS8& w,
               int32_t* acc, int64_t ldc, bool accumulate = false);

// ---- int16 GEMM, same contract, values in [-32768, 32767], int32 sums proven to fit.
struct PackedS16 {
  Isa isa = Isa::kRef;
  int64_t n = 0, k = 0, k_padded = 0;
  std::vector<int16_t> data;
};
PackedS16 pack_s16(const int16_t* w, int64_t n, int64_t k, Isa isa);
void gemm_s16s16(const int16_t* a, int64_t lda, int64_t m0, int64_t m1, const PackedS16& w,
                 int32_t* acc, int64_t ldc, bool accumulate = false);

// ---- wide fallback: int32 operands, int64 sums (portable only) ----
void gemm_i32_i64(const int32_t* a, int64_t lda, int64_t m0, int64_t m1, const int32_t* w,
                  int64_t n, int64_t k, int64_t* acc, int64_t ldc);

// ---- binary: values +1/-1 as bits (1 = +1, 0 = -1), K bits per row packed LSB-first
// into uint64 words, padding bits zero in both operands.
// acc[m][n] = sum_k a[m][k] * w[n][k] = k - 2 * popcount(a_row xor w_row).
int64_t bit_words(int64_t k);  // (k + 63) / 64
void pack_bits(const int8_t* values_pm1, int64_t rows, int64_t k,
               uint64_t* out);  // value > 0 -> bit 1
void gemm_xnor(const uint64_t* a, int64_t m0, int64_t m1, const uint64_t* w, int64_t n, int64_t k,
               int32_t* acc, int64_t ldc);

// ---- requantization by thresholds ----
// out[m][n] = base[n] + #{ j : acc[m][n] >= thr[n * levels + j] } for j < levels.
// Thresholds of one channel are ascending (duplicates allowed). Output is int32
// here; the engine narrows with narrow_i32 when storing (values are in range).
void threshold_i32(const int32_t* acc, int64_t ldacc, int64_t m0, int64_t m1, int64_t n,
                   const int32_t* thr, int64_t levels, const int32_t* base, int32_t* out,
                   int64_t ldout);
// Same for int64 accumulators (wide path).
void threshold_i64(const int64_t* acc, int64_t ldacc, int64_t m0, int64_t m1, int64_t n,
                   const int64_t* thr, int64_t levels, const int32_t* base, int32_t* out,
                   int64_t ldout);

// ---- pooling on NHWC integer tensors (int32 values) ----
// Max over a kh x kw window with strides and zero-based padding filled with pad_value.
struct Pool2d {
  int64_t n, h, w, c;      // input
  int64_t kh, kw, sh, sw;  // window, strides
  int64_t pt, pl, pb, pr;  // pads top/left/bottom/right
  int64_t dh = 1, dw = 1;  // dilations
  int64_t out_h() const { return (h + pt + pb - ((kh - 1) * dh + 1)) / sh + 1; }
  int64_t out_w() const { return (w + pl + pr - ((kw - 1) * dw + 1)) / sw + 1; }
};
void max_pool_i32(const int32_t* in, const Pool2d& p, int32_t pad_value, int32_t* out);
// Window sums (int64) for average pooling; the caller divides/requantizes exactly.
void sum_pool_i32(const int32_t* in, const Pool2d& p, int32_t pad_value, int64_t* out);

// ---- convolution helpers (NHWC) ----
// im2col for a 2-D convolution in NHWC: one row per output pixel, columns ordered
// (ky, kx, c) for one group; out-of-image taps get pad_value. T is uint8_t, int8_t or int16_t.
// Rows [row0, row1) of the flattened (n, oh, ow) range; out holds row0 first (out row
// r - row0, kh * kw * group_cin columns each), so a chunk fits a small scratch buffer.
struct Conv2dGeom {
  int64_t n, h, w, c;           // input NHWC, c = channels of the whole tensor
  int64_t group_c0, group_cin;  // channel slice of this group
  int64_t kh, kw, sh, sw, dh, dw;
  int64_t pt, pl, pb, pr;
  int64_t out_h() const { return (h + pt + pb - ((kh - 1) * dh + 1)) / sh + 1; }
  int64_t out_w() const { return (w + pl + pr - ((kw - 1) * dw + 1)) / sw + 1; }
};
template <class T>
void im2col_nhwc(const T* in, const Conv2dGeom& g, int64_t row0, int64_t row1, T pad_value, T* out);
// Depthwise 2-D convolution (group == channels, one filter per channel) on NHWC
// int8/uint8 input with int8 weights laid out [kh][kw][c]; int32 sums.
// Output pixels [p0, p1) of the flattened (n, oh, ow) range, written at out[p * c + ch]
// (absolute, like the GEMMs' rows), all g.c channels; group_c0/group_cin are not used.
// Padded taps count as pad_value * w (pad_value is the input's zero point).
template <class T>
void depthwise_nhwc(const T* in, const Conv2dGeom& g, const int8_t* w, T pad_value, int64_t p0,
                    int64_t p1, int32_t* out);

}  // namespace bitsmith::kernels
