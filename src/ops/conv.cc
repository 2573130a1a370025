// ONNX Conv over any spatial rank (1-D, 2-D, N-D): group (depthwise included),
// pads, strides, dilations, auto_pad, optional bias; kernel_shape defaults to W's.
//
// float mode: every product and the bias are summed in double and the sum is
// rounded once to float32. onnxruntime sums in float32 (MLAS GEMM, blocked, with
// FMA), so the two can differ in the last bits where float32 partial sums round;
// for quantized operands whose sums stay below 2^24 units both are exact and equal.
// exact mode: the true sum. When every input and weight is a finite dyadic value
// (den() == 1, the usual case: integers times float32 scales) the operands are
// aligned to one exponent per tensor and summed as integers in int64 or i128,
// chosen from the operands' bit widths and the window size so nothing can
// overflow; otherwise (odd denominators, e.g. after an AveragePool over 9, or NaN
// and infinities) each product is added with Exact arithmetic.
#include <cmath>
#include <limits>
#include <string>

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

// The accumulation loop shared by every mode: for each output position the taps
// are built once and reused for all batches and channels.
template <class T, class Acc, class MulAdd, class Store>
void gather_loop(const ChannelLayout& L, const WindowGeometry& g, const std::vector<AxisTaps>& axes,
                 const T* x, const T* w, MulAdd madd, Store store) {
  const int64_t cg = L.in_channels / L.group, mg = L.out_channels / L.group;
  const int64_t in_size = g.in_size(), out_size = g.out_size();
  for_each_window(g, axes, [&](int64_t o, std::span<const Tap> taps) {
    const Tap* tp = taps.data();
    const size_t nt = taps.size();
    for (int64_t n = 0; n < L.batch; ++n) {
      for (int64_t gi = 0; gi < L.group; ++gi) {
        const T* xg = x + (n * L.in_channels + gi * cg) * in_size;
        for (int64_t mm = 0; mm < mg; ++mm) {
          const int64_t m = gi * mg + mm;
          const T* wm = w + gi * L.w_group_stride + mm * L.w_out_stride;
          Acc acc{};
          for (int64_t cc = 0; cc < cg; ++cc) {
            const T* xc = xg + cc * in_size;
            const T* wc = wm + cc * L.w_in_stride;
            for (size_t t = 0; t < nt; ++t) madd(acc, xc[tp[t].x], wc[tp[t].k]);
          }
          store((n * L.out_channels + m) * out_size + o, m, acc);
        }
      }
    }
  });
}

int bitlen(u128 v) {
  int n = 0;
  while (v) {
    v >>= 1;
    ++n;
  }
  return n;
}

u128 magnitude(i128 v) {
  return v < 0 ? static_cast<u128>(0) - static_cast<u128>(v) : static_cast<u128>(v);
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
    if (!e.is_finite() || e.den() != 1) return false;
    if (e.num() != 0) emin = std::min<int64_t>(emin, e.exp());
  }
  if (emin == std::numeric_limits<int64_t>::max()) emin = 0;
  int bits = 0;
  for (const Exact& e : in) {
    if (e.num() == 0) continue;
    const int64_t b = bitlen(magnitude(e.num())) + (e.exp() - emin);
    if (b > 62) return false;
    bits = std::max(bits, static_cast<int>(b));
  }
  out.v.resize(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const Exact& e = in[i];
    out.v[i] = e.num() == 0 ? 0 : static_cast<int64_t>(e.num()) * (int64_t{1} << (e.exp() - emin));
  }
  out.exp = emin;
  out.bits = bits;
  return true;
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

template <class Acc>
Tensor gather_aligned(const Aligned& xa, const Aligned& wa, const Tensor* b, const ChannelLayout& L,
                      const WindowGeometry& g, const std::vector<AxisTaps>& axes) {
  Tensor y = output_tensor(L, g, ElemType::kExact);
  Exact* yp = y.exact().data();
  const Exact* bp = b ? b->exact().data() : nullptr;
  const int64_t exp = xa.exp + wa.exp;
  gather_loop<int64_t, Acc>(
      L, g, axes, xa.v.data(), wa.v.data(),
      [](Acc& acc, int64_t xv, int64_t wv) { acc += static_cast<Acc>(xv) * static_cast<Acc>(wv); },
      [&](int64_t i, int64_t m, Acc acc) {
        Exact v = Exact::make(static_cast<i128>(acc), 1, exp);
        yp[i] = bp ? v + bp[m] : v;
      });
  return y;
}

Tensor gather_exact(const Tensor& x, const Tensor& w, const Tensor* b, const ChannelLayout& L,
                    const WindowGeometry& g, const std::vector<AxisTaps>& axes) {
  Aligned xa, wa;
  if (align_dyadic(x.exact(), xa) && align_dyadic(w.exact(), wa)) {
    const int64_t terms = std::max<int64_t>(1, (L.in_channels / L.group) * g.kernel_size());
    const int need = xa.bits + wa.bits + bitlen(static_cast<u128>(terms));
    if (need <= 62) return gather_aligned<int64_t>(xa, wa, b, L, g, axes);
    if (need <= 126) return gather_aligned<i128>(xa, wa, b, L, g, axes);
  }
  Tensor y = output_tensor(L, g, ElemType::kExact);
  Exact* yp = y.exact().data();
  const Exact* bp = b ? b->exact().data() : nullptr;
  gather_loop<Exact, Exact>(
      L, g, axes, x.exact().data(), w.exact().data(),
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
  if (x.rank() < 3)
    c.fail("input must have rank >= 3 (N, C, spatial...), got " + shape_str(x.shape()));
  if (w.rank() != x.rank()) {
    c.fail("weight shape " + shape_str(w.shape()) + " does not match the rank of input " +
           shape_str(x.shape()));
  }
  const int64_t group = c.node().attr_int("group", 1);
  const int64_t C = x.dim(1), M = w.dim(0);
  if (group < 1 || C % group != 0 || M % group != 0 || w.dim(1) * group != C) {
    c.fail("input channels " + std::to_string(C) + ", weight " + shape_str(w.shape()) +
           " and group " + std::to_string(group) +
           " do not agree (need C == W[1]*group and W[0] divisible by group)");
  }
  std::vector<int64_t> in(x.shape().begin() + 2, x.shape().end());
  std::vector<int64_t> kernel(w.shape().begin() + 2, w.shape().end());
  std::vector<int64_t> ks = c.node().attr_ints("kernel_shape", {});
  if (!ks.empty() && ks != kernel) {
    c.fail("kernel_shape " + shape_str(ks) + " does not match weight " + shape_str(w.shape()));
  }
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
