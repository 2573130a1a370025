// ONNX Conv over any spatial rank (1-D, 2-D, N-D): group (depthwise included),
// pads, strides, dilations, auto_pad, optional bias; kernel_shape defaults to W's.
// Also the blocked accumulation kernel that ConvTranspose shares (gather_conv).
//
// float mode: every float32 product is exact in double; products and the bias are
// summed in double and the sum is rounded once to float32, so each output is the
// true sum correctly rounded unless the double sum itself rounds. onnxruntime sums
// in float32 (MLAS, blocked, FMA), so the two can differ in the last bits; for
// quantized operands whose sums stay below 2^24 units both are exact and equal.
// exact mode: the true sum. When every input and weight is a finite dyadic value
// (den() == 1: integers times float32 scales) the operands are aligned to one
// exponent per tensor, the common integer factor of the input and of each weight
// row (a scale's mantissa) is taken out, and the small integers are summed in
// double (only when every partial sum is an integer below 2^53, hence exact),
// int64 or i128, chosen from the operands' bit widths and the number of terms so
// nothing can round or overflow; the factors and the bias are applied once per
// output with Exact. Otherwise (odd denominators, e.g. after an AveragePool over
// 9, or NaN and infinities) each product is added with Exact arithmetic.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <type_traits>

#include "core/exact.h"
#include "ops/conv_kernels.h"
#include "ops/registry.h"

namespace bitsmith {

AutoPad auto_pad_of(const EvalContext& c) {
  std::string s = c.node().attr_string("auto_pad", "NOTSET");
  if (s == "NOTSET" || s.empty()) return AutoPad::kNotSet;
  if (s == "VALID") return AutoPad::kValid;
  if (s == "SAME_UPPER") return AutoPad::kSameUpper;
  if (s == "SAME_LOWER") return AutoPad::kSameLower;
  c.unsupported("auto_pad '" + s + "' is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER");
}

static int64_t product(const std::vector<int64_t>& v) {
  int64_t p = 1;
  for (int64_t d : v) p *= d;
  return p;
}

int64_t WindowGeometry::in_size() const {
  return product(in);
}
int64_t WindowGeometry::out_size() const {
  return product(out);
}
int64_t WindowGeometry::kernel_size() const {
  return product(kernel);
}

void check_conv_ranks(const EvalContext& c, const Tensor& x, const Tensor& w) {
  if (x.rank() < 3)
    c.fail("input must have rank >= 3 (N, C, spatial...), got " + shape_str(x.shape()));
  if (w.rank() != x.rank()) {
    c.fail("weight shape " + shape_str(w.shape()) + " does not match the rank of input " +
           shape_str(x.shape()));
  }
}

std::vector<int64_t> weight_kernel(const EvalContext& c, const Tensor& w) {
  std::vector<int64_t> kernel(w.shape().begin() + 2, w.shape().end());
  std::vector<int64_t> ks = c.node().attr_ints("kernel_shape", {});
  if (!ks.empty() && ks != kernel) {
    c.fail("kernel_shape " + shape_str(ks) + " does not match weight " + shape_str(w.shape()));
  }
  return kernel;
}

WindowGeometry window_attrs(const EvalContext& c, const std::vector<int64_t>& in,
                            const std::vector<int64_t>& kernel) {
  const Node& n = c.node();
  const size_t r = in.size();
  if (r > kMaxSpatialRank) {
    c.unsupported(std::to_string(r) + " spatial dims (at most " + std::to_string(kMaxSpatialRank) +
                  ")");
  }
  WindowGeometry g;
  g.in = in;
  g.kernel = kernel;
  auto list = [&](const char* name, int64_t fill, size_t len, int64_t min) {
    std::vector<int64_t> v = n.attr_ints(name, {});
    if (v.empty()) v.assign(len, fill);
    if (v.size() != len) {
      c.fail(std::string(name) + " has " + std::to_string(v.size()) + " entries, expected " +
             std::to_string(len) + " for " + std::to_string(r) + " spatial dims");
    }
    for (int64_t x : v) {
      if (x < min)
        c.fail(std::string(name) + " holds " + std::to_string(x) + ", below " +
               std::to_string(min));
    }
    return v;
  };
  g.strides = list("strides", 1, r, 1);
  g.dilations = list("dilations", 1, r, 1);
  std::vector<int64_t> pads = list("pads", 0, 2 * r, 0);
  g.pad_begin.assign(pads.begin(), pads.begin() + static_cast<std::ptrdiff_t>(r));
  g.pad_end.assign(pads.begin() + static_cast<std::ptrdiff_t>(r), pads.end());
  for (int64_t k : kernel) {
    if (k < 1) c.fail("kernel dims must be positive, got " + std::to_string(k));
  }
  g.out.assign(r, 0);
  return g;
}

void resolve_conv_geometry(const EvalContext& c, WindowGeometry& g, AutoPad pad) {
  for (size_t a = 0; a < g.in.size(); ++a) {
    const int64_t s = g.strides[a];
    const int64_t dk = (g.kernel[a] - 1) * g.dilations[a] + 1;
    if (pad == AutoPad::kValid) {
      g.pad_begin[a] = g.pad_end[a] = 0;
    } else if (pad != AutoPad::kNotSet) {
      int64_t target = (g.in[a] + s - 1) / s;
      int64_t need = std::max<int64_t>(0, (target - 1) * s + dk - g.in[a]);
      g.pad_begin[a] = pad == AutoPad::kSameUpper ? need / 2 : (need + 1) / 2;
      g.pad_end[a] = need - g.pad_begin[a];
    }
    int64_t span = g.in[a] + g.pad_begin[a] + g.pad_end[a] - dk;
    if (span < 0) {
      c.fail("the kernel spans " + std::to_string(dk) + " along spatial axis " + std::to_string(a) +
             " but the padded input has only " +
             std::to_string(g.in[a] + g.pad_begin[a] + g.pad_end[a]));
    }
    g.out[a] = span / s + 1;
  }
}

std::vector<AxisTaps> window_taps(const WindowGeometry& g) {
  std::vector<AxisTaps> axes(g.in.size());
  for (size_t a = 0; a < axes.size(); ++a) {
    AxisTaps& t = axes[a];
    t.begin.reserve(static_cast<size_t>(g.out[a]) + 1);
    t.begin.push_back(0);
    for (int64_t o = 0; o < g.out[a]; ++o) {
      const int64_t start = o * g.strides[a] - g.pad_begin[a];
      for (int64_t k = 0; k < g.kernel[a]; ++k) {
        const int64_t i = start + k * g.dilations[a];
        if (i >= 0 && i < g.in[a]) t.pairs.emplace_back(i, k);
      }
      t.begin.push_back(static_cast<int64_t>(t.pairs.size()));
    }
  }
  return axes;
}

namespace {

// Weights as rows (one per output channel) of cg*ksize contiguous terms, input
// channel major and kernel minor. Conv's own layout already is; ConvTranspose's
// (input channel first) is not.
bool is_packed(const ChannelLayout& L, int64_t ksize) {
  const int64_t J = L.in_channels / L.group * ksize;
  return L.w_in_stride == ksize && L.w_out_stride == J &&
         L.w_group_stride == L.out_channels / L.group * J;
}

template <class T>
std::vector<T> pack_rows(const T* w, const ChannelLayout& L, int64_t ksize) {
  const int64_t cg = L.in_channels / L.group, mg = L.out_channels / L.group, J = cg * ksize;
  std::vector<T> packed(static_cast<size_t>(L.out_channels * J));
  for (int64_t m = 0; m < L.out_channels; ++m) {
    const T* src = w + (m / mg) * L.w_group_stride + (m % mg) * L.w_out_stride;
    for (int64_t cc = 0; cc < cg; ++cc) {
      for (int64_t k = 0; k < ksize; ++k) {
        packed[static_cast<size_t>(m * J + cc * ksize + k)] = src[cc * L.w_in_stride + k];
      }
    }
  }
  return packed;
}

ChannelLayout packed_layout(ChannelLayout L, int64_t ksize) {
  L.w_in_stride = ksize;
  L.w_out_stride = L.in_channels / L.group * ksize;
  L.w_group_stride = L.out_channels / L.group * L.w_out_stride;
  return L;
}

// The hot loop of float mode and of exact mode's double path (whose madd is
// exactly acc += x * w): out[r][i] = sum over j of col[j][i] * w[r][j] for four
// weight rows and a block of 8 positions held in registers. Every product there is
// exact in double (float32 times float32, or integers whose products and sums
// stay below 2^53), so a fused multiply-add rounds like a multiply then add and
// the AVX2/FMA build picked at run time gives the same bits as the portable one.
// col rows are B (a multiple of 8) long; lanes past n read stale column entries
// and are discarded.
__attribute__((always_inline)) inline void dot_rows4_body(const double* __restrict col, int64_t B,
                                                          const double* __restrict w, int64_t J,
                                                          double* __restrict out, int64_t n) {
  for (int64_t ob = 0; ob < n; ob += 8) {
    double acc[4][8] = {};
    for (int64_t j = 0; j < J; ++j) {
      const double* c = col + j * B + ob;
      const double v0 = w[j], v1 = w[J + j], v2 = w[2 * J + j], v3 = w[3 * J + j];
      for (int i = 0; i < 8; ++i) {
        acc[0][i] += c[i] * v0;
        acc[1][i] += c[i] * v1;
        acc[2][i] += c[i] * v2;
        acc[3][i] += c[i] * v3;
      }
    }
    const int64_t lanes = std::min<int64_t>(8, n - ob);
    for (int r = 0; r < 4; ++r) {
      for (int64_t i = 0; i < lanes; ++i) out[r * B + ob + i] = acc[r][i];
    }
  }
}

__attribute__((target("avx2,fma"))) void dot_rows4_avx2(const double* col, int64_t B,
                                                        const double* w, int64_t J, double* out,
                                                        int64_t n) {
  dot_rows4_body(col, B, w, J, out, n);
}

void dot_rows4_portable(const double* col, int64_t B, const double* w, int64_t J, double* out,
                        int64_t n) {
  dot_rows4_body(col, B, w, J, out, n);
}

void dot_rows4(const double* col, int64_t B, const double* w, int64_t J, double* out, int64_t n) {
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (avx2) return dot_rows4_avx2(col, B, w, J, out, n);
  dot_rows4_portable(col, B, w, J, out, n);
}

// The accumulation loop shared by every mode, written as a blocked GEMM: for a
// block of output positions the window values are gathered into columns
// (im2col, padding as zeros), then every output channel's packed weight row runs
// down those columns with the innermost loop over contiguous positions. Buffers
// are sized once; nothing is allocated per element.
template <class T, class Acc, class MulAdd, class Store>
void gather_loop(const ChannelLayout& L, const WindowGeometry& g, const std::vector<AxisTaps>& axes,
                 const T* x, const T* w, MulAdd madd, Store store) {
  const int64_t cg = L.in_channels / L.group, mg = L.out_channels / L.group;
  const int64_t ksize = g.kernel_size(), in_size = g.in_size(), out_size = g.out_size();
  const int64_t J = cg * ksize;  // terms per output
  std::vector<T> packed;
  const T* wp = w;
  if (!is_packed(L, ksize)) {
    packed = pack_rows(w, L, ksize);
    wp = packed.data();
  }
  // Block of output positions: the columns take about 2^15 elements.
  // A multiple of 8 (the register block of dot_rows4).
  const int64_t B =
      std::clamp<int64_t>((int64_t{1} << 15) / std::max<int64_t>(1, J), 8, 256) / 8 * 8;
  std::vector<T> col(static_cast<size_t>(J * B));
  std::vector<Acc> acc(static_cast<size_t>(4 * B));
  std::vector<int64_t> pos(static_cast<size_t>(B));
  for (int64_t n = 0; n < L.batch; ++n) {
    for (int64_t gi = 0; gi < L.group; ++gi) {
      const T* xg = x + (n * L.in_channels + gi * cg) * in_size;
      int64_t nb = 0;
      auto store_rows = [&](int64_t rows, int64_t m0, const Acc* a) {
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t base = (n * L.out_channels + m0 + r) * out_size;
          for (int64_t ob = 0; ob < nb; ++ob) {
            store(base + pos[static_cast<size_t>(ob)], m0 + r, a[r * B + ob]);
          }
        }
      };
      // Four output channels at a time share each column load.
      auto flush = [&]() {
        for (int64_t mm = 0; mm < mg; mm += 4) {
          const int64_t rows = std::min<int64_t>(4, mg - mm);
          const int64_t m0 = gi * mg + mm;
          Acc* a = acc.data();
          for (int64_t i = 0; i < rows * B; ++i) a[i] = Acc{};
          const T* w0 = wp + m0 * J;
          if constexpr (std::is_same_v<T, double> && std::is_same_v<Acc, double>) {
            if (rows == 4) {
              dot_rows4(col.data(), B, w0, J, a, nb);
              store_rows(rows, m0, a);
              continue;
            }
          }
          for (int64_t j = 0; j < J; ++j) {
            const T* __restrict cr = col.data() + j * B;
            if (rows == 4) {
              // Copies and restrict pointers let the compiler vectorize over ob.
              const T v0 = w0[j], v1 = w0[J + j], v2 = w0[2 * J + j], v3 = w0[3 * J + j];
              Acc* __restrict a0 = a;
              Acc* __restrict a1 = a + B;
              Acc* __restrict a2 = a + 2 * B;
              Acc* __restrict a3 = a + 3 * B;
              for (int64_t ob = 0; ob < nb; ++ob) {
                madd(a0[ob], cr[ob], v0);
                madd(a1[ob], cr[ob], v1);
                madd(a2[ob], cr[ob], v2);
                madd(a3[ob], cr[ob], v3);
              }
            } else {
              for (int64_t r = 0; r < rows; ++r) {
                const T& v = w0[r * J + j];
                for (int64_t ob = 0; ob < nb; ++ob) madd(a[r * B + ob], cr[ob], v);
              }
            }
          }
          store_rows(rows, m0, a);
        }
        nb = 0;
      };
      for_each_window(g, axes, [&](int64_t o, std::span<const Tap> taps) {
        T* c0 = col.data() + nb;
        for (int64_t j = 0; j < J; ++j) c0[j * B] = T{};
        for (int64_t cc = 0; cc < cg; ++cc) {
          const T* xc = xg + cc * in_size;
          T* cc0 = c0 + cc * ksize * B;
          for (const Tap& t : taps) cc0[t.k * B] = xc[t.x];
        }
        pos[static_cast<size_t>(nb++)] = o;
        if (nb == B) flush();
      });
      if (nb > 0) flush();
    }
  }
}

int bitlen(u128 v) {
  const auto hi = static_cast<uint64_t>(v >> 64), lo = static_cast<uint64_t>(v);
  if (hi) return 128 - __builtin_clzll(hi);
  return lo ? 64 - __builtin_clzll(lo) : 0;
}

u128 magnitude(i128 v) {
  return v < 0 ? static_cast<u128>(0) - static_cast<u128>(v) : static_cast<u128>(v);
}

const Tensor& in_type(const Tensor& t, ElemType type, Tensor& holder) {
  if (t.type() == type) return t;
  holder = t.to(type);
  return holder;
}

Tensor output_tensor(const ChannelLayout& L, const WindowGeometry& g, ElemType type) {
  Shape shape{L.batch, L.out_channels};
  shape.insert(shape.end(), g.out.begin(), g.out.end());
  return Tensor(type, shape);
}

// Float mode: float32 products are exact in double; the sum and the bias are
// accumulated in double and rounded once.
Tensor gather_float(const Tensor& x, const Tensor& w, const Tensor* b, const ChannelLayout& L,
                    const WindowGeometry& g, const std::vector<AxisTaps>& axes) {
  std::vector<double> xd(x.f32().begin(), x.f32().end());
  std::vector<double> wd(w.f32().begin(), w.f32().end());
  Tensor y = output_tensor(L, g, ElemType::kFloat32);
  float* yp = y.f32().data();
  const float* bp = b ? b->f32().data() : nullptr;
  gather_loop<double, double>(
      L, g, axes, xd.data(), wd.data(), [](double& acc, double xv, double wv) { acc += xv * wv; },
      [&](int64_t i, int64_t m, double acc) {
        if (bp) acc += static_cast<double>(bp[m]);
        yp[i] = static_cast<float>(acc);
      });
  return y;
}

// A tensor of finite dyadic values written as integers times 2^exp.
struct Aligned {
  std::vector<int64_t> v;
  int64_t exp = 0;
  int bits = 0;  // largest magnitude's bit length
};

// Aligns every value to the smallest exponent; false when a value is not a finite
// dyadic or an aligned value needs more than 62 bits.
bool align_dyadic(const std::vector<Exact>& in, Aligned& out) {
  int64_t emin = std::numeric_limits<int64_t>::max();
  for (const Exact& e : in) {
    if (!e.is_finite() || e.is_big() || e.den() != 1) return false;
    if (e.num() != 0) emin = std::min<int64_t>(emin, e.exp());
  }
  if (emin == std::numeric_limits<int64_t>::max()) emin = 0;
  for (const Exact& e : in) {
    if (e.num() != 0 && bitlen(magnitude(e.num())) + (e.exp() - emin) > 62) return false;
  }
  out.v.resize(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const Exact& e = in[i];
    out.v[i] = e.num() == 0 ? 0 : static_cast<int64_t>(e.num()) * (int64_t{1} << (e.exp() - emin));
  }
  out.exp = emin;
  return true;
}

// Divides each of `rows` equal slices by the gcd of its magnitudes and returns the
// gcds. Quantized operands are integers times a scale, so this takes the scale's
// mantissa out and leaves the small integers, whose sums fit narrow accumulators.
std::vector<int64_t> take_common_factors(Aligned& a, int64_t rows) {
  std::vector<int64_t> g(static_cast<size_t>(rows), 0);
  const size_t len = rows > 0 ? a.v.size() / static_cast<size_t>(rows) : 0;
  a.bits = 0;
  for (size_t r = 0; r < g.size(); ++r) {
    int64_t* v = a.v.data() + r * len;
    int64_t d = 0;
    for (size_t i = 0; i < len && d != 1; ++i) d = std::gcd(d, v[i] < 0 ? -v[i] : v[i]);
    if (d == 0) d = 1;
    for (size_t i = 0; i < len; ++i) {
      if (d != 1) v[i] /= d;
      a.bits = std::max(a.bits, bitlen(magnitude(v[i])));
    }
    g[r] = d;
  }
  return g;
}

// The integer dot products run in Acc (double only where every partial sum is an
// integer below 2^53, so it is exact); each output is then acc * factor[m] + bias.
template <class V, class Acc>
Tensor gather_factored(const Aligned& xa, const Aligned& wa, const std::vector<Exact>& factor,
                       const Tensor* b, const ChannelLayout& L, const WindowGeometry& g,
                       const std::vector<AxisTaps>& axes) {
  std::vector<V> xv(xa.v.begin(), xa.v.end()), wv(wa.v.begin(), wa.v.end());
  Tensor y = output_tensor(L, g, ElemType::kExact);
  Exact* yp = y.exact().data();
  const Exact* bp = b ? b->exact().data() : nullptr;
  gather_loop<V, Acc>(
      L, g, axes, xv.data(), wv.data(),
      [](Acc& acc, V x, V w) { acc += static_cast<Acc>(x) * static_cast<Acc>(w); },
      [&](int64_t i, int64_t m, Acc acc) {
        auto n = static_cast<i128>(acc);
        Exact v = n == 0 ? Exact() : Exact::from_int(n) * factor[static_cast<size_t>(m)];
        yp[i] = bp ? v + bp[m] : v;
      });
  return y;
}

Tensor gather_exact(const Tensor& x, const Tensor& w, const Tensor* b, const ChannelLayout& L,
                    const WindowGeometry& g, const std::vector<AxisTaps>& axes) {
  const int64_t ksize = g.kernel_size();
  std::vector<Exact> wpk = pack_rows(w.exact().data(), L, ksize);
  const ChannelLayout P = packed_layout(L, ksize);
  Aligned xa, wa;
  if (align_dyadic(x.exact(), xa) && align_dyadic(wpk, wa)) {
    const int64_t gx = take_common_factors(xa, 1)[0];
    const std::vector<int64_t> gw = take_common_factors(wa, L.out_channels);
    std::vector<Exact> factor(gw.size());
    for (size_t m = 0; m < gw.size(); ++m) {
      factor[m] = Exact::make(gx, 1, xa.exp) * Exact::make(gw[m], 1, wa.exp);
    }
    const int64_t terms = std::max<int64_t>(1, (L.in_channels / L.group) * ksize);
    const int need = xa.bits + wa.bits + bitlen(static_cast<u128>(terms));
    if (need <= 53) return gather_factored<double, double>(xa, wa, factor, b, P, g, axes);
    if (need <= 62) return gather_factored<int64_t, int64_t>(xa, wa, factor, b, P, g, axes);
    if (need <= 126) return gather_factored<int64_t, i128>(xa, wa, factor, b, P, g, axes);
  }
  Tensor y = output_tensor(L, g, ElemType::kExact);
  Exact* yp = y.exact().data();
  const Exact* bp = b ? b->exact().data() : nullptr;
  gather_loop<Exact, Exact>(
      P, g, axes, x.exact().data(), wpk.data(),
      [](Exact& acc, const Exact& xv, const Exact& wv) {
        // A finite zero factor adds nothing; NaN and infinities still propagate.
        if ((xv.is_zero() && wv.is_finite()) || (wv.is_zero() && xv.is_finite())) return;
        acc += xv * wv;
      },
      [&](int64_t i, int64_t m, const Exact& acc) { yp[i] = bp ? acc + bp[m] : acc; });
  return y;
}

}  // namespace

Tensor gather_conv(const EvalContext& c, const Tensor& x, const Tensor& w, const Tensor* b,
                   const ChannelLayout& layout, const WindowGeometry& g,
                   const std::vector<AxisTaps>& axes) {
  const ElemType type = c.real_type();
  Tensor hx, hw, hb;
  const Tensor& xr = in_type(x, type, hx);
  const Tensor& wr = in_type(w, type, hw);
  const Tensor* br = b ? &in_type(*b, type, hb) : nullptr;
  if (br && br->size() != layout.out_channels) {
    c.fail("bias has " + std::to_string(br->size()) + " elements, expected " +
           std::to_string(layout.out_channels) + " (one per output channel)");
  }
  if (type == ElemType::kFloat32) return gather_float(xr, wr, br, layout, g, axes);
  return gather_exact(xr, wr, br, layout, g, axes);
}

Tensor conv_nchw(const EvalContext& c, const Tensor& x, const Tensor& w, const Tensor* b) {
  check_conv_ranks(c, x, w);
  const int64_t group = c.node().attr_int("group", 1);
  const int64_t C = x.dim(1), M = w.dim(0);
  if (group < 1 || C % group != 0 || M % group != 0 || w.dim(1) * group != C) {
    c.fail("input channels " + std::to_string(C) + ", weight " + shape_str(w.shape()) +
           " and group " + std::to_string(group) +
           " do not agree (need C == W[1]*group and W[0] divisible by group)");
  }
  std::vector<int64_t> in(x.shape().begin() + 2, x.shape().end());
  std::vector<int64_t> kernel = weight_kernel(c, w);
  WindowGeometry g = window_attrs(c, in, kernel);
  resolve_conv_geometry(c, g, auto_pad_of(c));
  ChannelLayout L;
  L.batch = x.dim(0);
  L.in_channels = C;
  L.out_channels = M;
  L.group = group;
  const int64_t ksize = g.kernel_size();
  L.w_in_stride = ksize;
  L.w_out_stride = (C / group) * ksize;
  L.w_group_stride = (M / group) * L.w_out_stride;
  return gather_conv(c, x, w, b, L, g, window_taps(g));
}

namespace {

void eval_conv(EvalContext& c) {
  const Tensor* b = c.has_input(2) ? &c.input(2) : nullptr;
  c.set_output(0, conv_nchw(c, c.input(0), c.input(1), b));
}

OpDef make_conv() {
  OpDef d;
  d.op_type = "Conv";
  d.family = OpFamily::kOnnx;
  d.min_inputs = 2;
  d.max_inputs = 3;
  d.eval = eval_conv;
  return d;
}

const OpRegistrar kConv(make_conv());

}  // namespace
}  // namespace bitsmith
