// Weight packing for every ISA and the reference GEMMs: plain loops with
// 64-bit sums, the definition the SIMD kernels are tested against.
#include <cstring>

#include "runtime/kernels/kernel_table.h"

namespace bitsmith::kernels {

namespace {
int64_t round_up(int64_t v, int64_t step) {
  return (v + step - 1) / step * step;
}
int64_t blocks(int64_t n, int64_t cols) {
  return (n + cols - 1) / cols;
}

// Final store shared by the reference kernels: sums are taken modulo 2^32,
// which is what the SIMD paths compute, and exact whenever the result fits.
void store(int32_t* dst, int64_t sum, bool accumulate) {
  uint32_t v = static_cast<uint32_t>(sum);
  if (accumulate) v += static_cast<uint32_t>(*dst);
  *dst = static_cast<int32_t>(v);
}

template <class A, class W>
void gemm_plain(const A* a, int64_t lda, int64_t m0, int64_t m1, const W* w, int64_t n, int64_t k,
                int32_t* acc, int64_t ldc, bool accumulate) {
  for (int64_t m = m0; m < m1; ++m) {
    const A* row = a + m * lda;
    for (int64_t j = 0; j < n; ++j) {
      const W* col = w + j * k;
      int64_t sum = 0;
      for (int64_t i = 0; i < k; ++i) sum += int64_t{row[i]} * int64_t{col[i]};
      store(acc + m * ldc + j, sum, accumulate);
    }
  }
}
}  // namespace

PackedS8 pack_s8(const int8_t* w, int64_t n, int64_t k, Isa isa) {
  PackedS8 p;
  p.isa = isa;
  p.n = n;
  p.k = k;
  p.row_sums.assign(static_cast<size_t>(n), 0);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < k; ++i) p.row_sums[j] += w[j * k + i];
  switch (isa) {
    case Isa::kRef:
      p.k_padded = k;
      p.data.assign(w, w + n * k);
      break;
    case Isa::kAvx2: {
      // Widened to int16 pairs once here, so the AVX2 kernel multiplies with
      // vpmaddwd and never meets vpmaddubsw's saturation (see gemm_avx2.cc).
      p.k_padded = round_up(k, 2);
      const int64_t pairs = p.k_padded / 2;
      std::vector<int16_t> wide(static_cast<size_t>(blocks(n, kAvx2Cols) * pairs * kAvx2Cols * 2),
                                0);
      for (int64_t j = 0; j < n; ++j)
        for (int64_t i = 0; i < k; ++i)
          wide[((j / kAvx2Cols * pairs + i / 2) * kAvx2Cols + j % kAvx2Cols) * 2 + i % 2] =
              w[j * k + i];
      p.data.resize(wide.size() * 2);
      std::memcpy(p.data.data(), wide.data(), p.data.size());
      break;
    }
    case Isa::kAvx512: {
      p.k_padded = round_up(k, 4);
      const int64_t quads = p.k_padded / 4;
      p.data.assign(static_cast<size_t>(blocks(n, kAvx512Cols) * quads * kAvx512Cols * 4), 0);
      for (int64_t j = 0; j < n; ++j)
        for (int64_t i = 0; i < k; ++i)
          p.data[((j / kAvx512Cols * quads + i / 4) * kAvx512Cols + j % kAvx512Cols) * 4 + i % 4] =
              w[j * k + i];
      break;
    }
  }
  return p;
}

PackedS16 pack_s16(const int16_t* w, int64_t n, int64_t k, Isa isa) {
  PackedS16 p;
  p.isa = isa;
  p.n = n;
  p.k = k;
  if (isa == Isa::kRef) {
    p.k_padded = k;
    p.data.assign(w, w + n * k);
    return p;
  }
  const int64_t cols = isa == Isa::kAvx2 ? kAvx2Cols : kAvx512Cols;
  p.k_padded = round_up(k, 2);
  const int64_t pairs = p.k_padded / 2;
  p.data.assign(static_cast<size_t>(blocks(n, cols) * pairs * cols * 2), 0);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < k; ++i)
      p.data[((j / cols * pairs + i / 2) * cols + j % cols) * 2 + i % 2] = w[j * k + i];
  return p;
}

void gemm_i32_i64(const int32_t* a, int64_t lda, int64_t m0, int64_t m1, const int32_t* w,
                  int64_t n, int64_t k, int64_t* acc, int64_t ldc) {
  // Products of two int32 fit int64; the sum wraps modulo 2^64 (unsigned, so no
  // undefined behaviour) and is exact whenever the caller's bound holds.
  for (int64_t m = m0; m < m1; ++m) {
    const int32_t* row = a + m * lda;
    for (int64_t j = 0; j < n; ++j) {
      const int32_t* col = w + j * k;
      uint64_t sum = 0;
      for (int64_t i = 0; i < k; ++i)
        sum += static_cast<uint64_t>(int64_t{row[i]} * int64_t{col[i]});
      acc[m * ldc + j] = static_cast<int64_t>(sum);
    }
  }
}

namespace ref {
void gemm_u8s8(const uint8_t* a, int64_t lda, int64_t m0, int64_t m1, const PackedS8& w,
               int32_t* acc, int64_t ldc, bool accumulate) {
  gemm_plain(a, lda, m0, m1, w.data.data(), w.n, w.k, acc, ldc, accumulate);
}
void gemm_s8s8(const int8_t* a, int64_t lda, int64_t m0, int64_t m1, const PackedS8& w,
               int32_t* acc, int64_t ldc, bool accumulate) {
  gemm_plain(a, lda, m0, m1, w.data.data(), w.n, w.k, acc, ldc, accumulate);
}
void gemm_s16s16(const int16_t* a, int64_t lda, int64_t m0, int64_t m1, const PackedS16& w,
                 int32_t* acc, int64_t ldc, bool accumulate) {
  gemm_plain(a, lda, m0, m1, w.data.data(), w.n, w.k, acc, ldc, accumulate);
}
}  // namespace ref

}  // namespace bitsmith::kernels
