// Pooling and depthwise loops with the channel loop innermost and contiguous
// (NHWC), written so the compiler vectorizes it. Included by pool.cc (the
// reference, baseline flags) and by loops_avx2.cc / loops_avx512.cc, which
// compile the same loops for wider vectors. The anonymous namespace gives each
// including file its own copy, so differently-compiled copies never merge.
#pragma once
#include <algorithm>

#include "runtime/kernels/kernel_table.h"

namespace bitsmith::kernels {
namespace {

inline void max_pool_loops(const int32_t* in, const Pool2d& p, int32_t pad_value, int32_t* out) {
  const int64_t oh = p.out_h(), ow = p.out_w(), c = p.c;
  for (int64_t b = 0; b < p.n; ++b)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox) {
        int32_t* o = out + ((b * oh + oy) * ow + ox) * c;
        bool padded = false;
        bool first = true;
        for (int64_t ky = 0; ky < p.kh; ++ky)
          for (int64_t kx = 0; kx < p.kw; ++kx) {
            const int64_t iy = oy * p.sh - p.pt + ky * p.dh, ix = ox * p.sw - p.pl + kx * p.dw;
            if (iy < 0 || iy >= p.h || ix < 0 || ix >= p.w) {
              padded = true;
              continue;
            }
            const int32_t* row = in + ((b * p.h + iy) * p.w + ix) * c;
            if (first) {
              std::copy(row, row + c, o);
              first = false;
            } else {
              for (int64_t ch = 0; ch < c; ++ch) o[ch] = std::max(o[ch], row[ch]);
            }
          }
        if (first) {
          std::fill(o, o + c, pad_value);
        } else if (padded) {
          for (int64_t ch = 0; ch < c; ++ch) o[ch] = std::max(o[ch], pad_value);
        }
      }
}

inline void sum_pool_loops(const int32_t* in, const Pool2d& p, int32_t pad_value, int64_t* out) {
  const int64_t oh = p.out_h(), ow = p.out_w(), c = p.c;
  for (int64_t b = 0; b < p.n; ++b)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox) {
        int64_t* o = out + ((b * oh + oy) * ow + ox) * c;
        std::fill(o, o + c, int64_t{0});
        int64_t pads = 0;
        for (int64_t ky = 0; ky < p.kh; ++ky)
          for (int64_t kx = 0; kx < p.kw; ++kx) {
            const int64_t iy = oy * p.sh - p.pt + ky * p.dh, ix = ox * p.sw - p.pl + kx * p.dw;
            if (iy < 0 || iy >= p.h || ix < 0 || ix >= p.w) {
              ++pads;
              continue;
            }
            const int32_t* row = in + ((b * p.h + iy) * p.w + ix) * c;
            for (int64_t ch = 0; ch < c; ++ch) o[ch] += row[ch];
          }
        if (pads != 0)
          for (int64_t ch = 0; ch < c; ++ch) o[ch] += pads * int64_t{pad_value};
      }
}

// Output pixel p (flattened n, oh, ow) -> out[p * c + ch], all g.c channels.
template <class T>
void depthwise_loops(const T* in, const Conv2dGeom& g, const int8_t* w, T pad_value, int64_t p0,
                     int64_t p1, int32_t* out) {
  const int64_t oh = g.out_h(), ow = g.out_w(), c = g.c;
  for (int64_t pix = p0; pix < p1; ++pix) {
    const int64_t b = pix / (oh * ow), oy = pix / ow % oh, ox = pix % ow;
    int32_t* o = out + pix * c;
    std::fill(o, o + c, 0);
    for (int64_t ky = 0; ky < g.kh; ++ky)
      for (int64_t kx = 0; kx < g.kw; ++kx) {
        const int8_t* wrow = w + (ky * g.kw + kx) * c;
        const int64_t iy = oy * g.sh - g.pt + ky * g.dh, ix = ox * g.sw - g.pl + kx * g.dw;
        if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) {
          const int32_t pad = pad_value;
          for (int64_t ch = 0; ch < c; ++ch) o[ch] += pad * int32_t{wrow[ch]};
          continue;
        }
        const T* row = in + ((b * g.h + iy) * g.w + ix) * c;
        for (int64_t ch = 0; ch < c; ++ch) o[ch] += int32_t{row[ch]} * int32_t{wrow[ch]};
      }
  }
}

}  // namespace
}  // namespace bitsmith::kernels

// Defines the pooling and depthwise entries of one ISA namespace from the loops.
#define BITSMITH_DEFINE_LOOP_KERNELS(NS)                                                        \
  namespace bitsmith::kernels::NS {                                                             \
  void max_pool_i32(const int32_t* in, const Pool2d& p, int32_t pad_value, int32_t* out) {      \
    max_pool_loops(in, p, pad_value, out);                                                      \
  }                                                                                             \
  void sum_pool_i32(const int32_t* in, const Pool2d& p, int32_t pad_value, int64_t* out) {      \
    sum_pool_loops(in, p, pad_value, out);                                                      \
  }                                                                                             \
  void depthwise_u8(const uint8_t* in, const Conv2dGeom& g, const int8_t* w, uint8_t pad_value, \
                    int64_t p0, int64_t p1, int32_t* out) {                                     \
    depthwise_loops(in, g, w, pad_value, p0, p1, out);                                          \
  }                                                                                             \
  void depthwise_s8(const int8_t* in, const Conv2dGeom& g, const int8_t* w, int8_t pad_value,   \
                    int64_t p0, int64_t p1, int32_t* out) {                                     \
    depthwise_loops(in, g, w, pad_value, p0, p1, out);                                          \
  }                                                                                             \
  }
