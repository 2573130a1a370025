// im2col for NHWC convolutions: each tap of a group is group_cin contiguous
// channels, so a row is kh * kw memcpy's (or pad fills); no SIMD code needed.
#include <algorithm>
#include <cstring>

#include "runtime/kernels/kernels.h"

namespace bitsmith::kernels {

template <class T>
void im2col_nhwc(const T* in, const Conv2dGeom& g, int64_t row0, int64_t row1, T pad_value,
                 T* out) {
  const int64_t oh = g.out_h(), ow = g.out_w(), cin = g.group_cin;
  const int64_t cols = g.kh * g.kw * cin;
  for (int64_t row = row0; row < row1; ++row) {
    const int64_t b = row / (oh * ow), oy = row / ow % oh, ox = row % ow;
    T* dst = out + (row - row0) * cols;
    for (int64_t ky = 0; ky < g.kh; ++ky)
      for (int64_t kx = 0; kx < g.kw; ++kx, dst += cin) {
        const int64_t iy = oy * g.sh - g.pt + ky * g.dh, ix = ox * g.sw - g.pl + kx * g.dw;
        if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) {
          std::fill(dst, dst + cin, pad_value);
          continue;
        }
        std::memcpy(dst, in + ((b * g.h + iy) * g.w + ix) * g.c + g.group_c0,
                    static_cast<size_t>(cin) * sizeof(T));
      }
  }
}

template void im2col_nhwc<uint8_t>(const uint8_t*, const Conv2dGeom&, int64_t, int64_t, uint8_t,
                                   uint8_t*);
template void im2col_nhwc<int8_t>(const int8_t*, const Conv2dGeom&, int64_t, int64_t, int8_t,
                                  int8_t*);
template void im2col_nhwc<int16_t>(const int16_t*, const Conv2dGeom&, int64_t, int64_t, int16_t,
                                   int16_t*);
// int32 and int64: the wide paths (operands beyond 16 bits; fixed-point float inputs).
template void im2col_nhwc<int32_t>(const int32_t*, const Conv2dGeom&, int64_t, int64_t, int32_t,
                                   int32_t*);
template void im2col_nhwc<int64_t>(const int64_t*, const Conv2dGeom&, int64_t, int64_t, int64_t,
                                   int64_t*);

}  // namespace bitsmith::kernels
