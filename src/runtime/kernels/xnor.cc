// Binary (+1/-1) GEMM by XNOR-popcount: packing and the reference loops.
#include "runtime/kernels/kernel_table.h"

namespace bitsmith::kernels {

int64_t bit_words(int64_t k) {
  return (k + 63) / 64;
}

void pack_bits(const int8_t* values_pm1, int64_t rows, int64_t k, uint64_t* out) {
  const int64_t words = bit_words(k);
  for (int64_t r = 0; r < rows; ++r) {
    uint64_t* dst = out + r * words;
    for (int64_t i = 0; i < words; ++i) dst[i] = 0;  // padding bits stay zero
    for (int64_t i = 0; i < k; ++i)
      if (values_pm1[r * k + i] > 0) dst[i / 64] |= uint64_t{1} << (i % 64);
  }
}

namespace ref {
// Bits that differ are the -1 products: sum = (k - d) - d = k - 2d. Padding
// bits are zero in both operands and so never differ.
void gemm_xnor(const uint64_t* a, int64_t m0, int64_t m1, const uint64_t* w, int64_t n, int64_t k,
               int32_t* acc, int64_t ldc) {
  const int64_t words = bit_words(k);
  for (int64_t m = m0; m < m1; ++m)
    for (int64_t j = 0; j < n; ++j) {
      int64_t d = 0;
      for (int64_t i = 0; i < words; ++i)
        d += __builtin_popcountll(a[m * words + i] ^ w[j * words + i]);
      acc[m * ldc + j] = static_cast<int32_t>(k - 2 * d);
    }
}
}  // namespace ref

}  // namespace bitsmith::kernels
