// ONNX pooling: MaxPool (with the optional Indices output), AveragePool,
// GlobalAveragePool and GlobalMaxPool over any spatial rank.
//
// Shapes follow onnxruntime 1.32 (see resolve_pool_geometry), including its
// negative SAME padding when the stride exceeds the kernel (onnxruntime's own MLAS
// MaxPool refuses that case; its generic kernels and bitsmith compute it). A maximum needs no
// rounding, so MaxPool is the same in both modes and keeps the storage type; like
// onnxruntime it starts from the lowest finite float32 and keeps the first element
// strictly greater, so NaN never wins.
// AveragePool, float mode: the window sum in double divided by the count in double,
// rounded once to float32 (onnxruntime sums and divides in float32; for quantized
// inputs whose float32 sum is exact both give the correctly rounded quotient).
// Exact mode divides exactly: averages over 9 elements have denominator 9, and
// that is intended: the true value is what a later Quant rounds.
// count_include_pad counts the window taps that lie inside the padded input, not
// those past the end padding that ceil_mode adds, as onnxruntime does.
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "core/exact.h"
#include "ops/conv_kernels.h"
#include "ops/registry.h"

namespace bitsmith {

void resolve_pool_geometry(const EvalContext& c, WindowGeometry& g, AutoPad pad, bool ceil_mode) {
  for (size_t a = 0; a < g.in.size(); ++a) {
    const int64_t s = g.strides[a], k = g.kernel[a];
    if (pad == AutoPad::kValid) {
      g.pad_begin[a] = g.pad_end[a] = 0;
    } else if (pad != AutoPad::kNotSet) {
      // Undilated k, and C++ division toward zero, as onnxruntime: when the stride
      // exceeds the kernel the padding comes out negative and windows skip inputs.
      const int64_t target = (g.in[a] + s - 1) / s;
      const int64_t need = (target - 1) * s + k - g.in[a];
      g.pad_begin[a] = pad == AutoPad::kSameUpper ? need / 2 : (need + 1) / 2;
      g.pad_end[a] = need - g.pad_begin[a];
    }
    const int64_t span = g.in[a] + g.pad_begin[a] + g.pad_end[a] - (k - 1) * g.dilations[a] - 1;
    int64_t out = span / s + 1;  // division toward zero
    if (ceil_mode) {
      out = (span > 0 ? (span + s - 1) / s : span / s) + 1;
      // A last window starting in the end padding would see only padding.
      if ((out - 1) * s >= g.in[a] + g.pad_begin[a]) --out;
    }
    if (out <= 0) {
      c.fail("the window (kernel " + std::to_string(k) + ", dilation " +
             std::to_string(g.dilations[a]) + ") does not fit the padded input of size " +
             std::to_string(g.in[a] + g.pad_begin[a] + g.pad_end[a]) + " along spatial axis " +
             std::to_string(a));
    }
    g.out[a] = out;
  }
}

namespace {

struct Pooling {
  WindowGeometry g;
  std::vector<AxisTaps> axes;
  int64_t planes = 0;  // N * C
};

Pooling windowed(const EvalContext& c, const Tensor& x) {
  if (x.rank() < 3)
    c.fail("input must have rank >= 3 (N, C, spatial...), got " + shape_str(x.shape()));
  std::vector<int64_t> in(x.shape().begin() + 2, x.shape().end());
  std::vector<int64_t> kernel = c.node().attr_ints("kernel_shape", {});
  if (kernel.size() != in.size()) {
    c.fail("kernel_shape " + shape_str(kernel) + " must have one entry per spatial dim of input " +
           shape_str(x.shape()));
  }
  Pooling p;
  p.g = window_attrs(c, in, kernel);
  for (size_t a = 0; a < in.size(); ++a) {
    if (p.g.pad_begin[a] >= kernel[a] || p.g.pad_end[a] >= kernel[a]) {
      c.fail("pads must be smaller than the kernel (onnxruntime requires it)");
    }
  }
  resolve_pool_geometry(c, p.g, auto_pad_of(c), c.node().attr_int("ceil_mode", 0) != 0);
  p.axes = window_taps(p.g);
  p.planes = x.dim(0) * x.dim(1);
  return p;
}

// Global pooling: one window covering every spatial position.
Pooling global(const EvalContext& c, const Tensor& x) {
  if (x.rank() < 3)
    c.fail("input must have rank >= 3 (N, C, spatial...), got " + shape_str(x.shape()));
  Pooling p;
  p.g.in.assign(x.shape().begin() + 2, x.shape().end());
  const size_t r = p.g.in.size();
  if (r > kMaxSpatialRank) c.unsupported(std::to_string(r) + " spatial dims are too many");
  p.g.kernel = p.g.in;
  p.g.strides.assign(r, 1);
  p.g.dilations.assign(r, 1);
  p.g.pad_begin.assign(r, 0);
  p.g.pad_end.assign(r, 0);
  p.g.out.assign(r, 1);
  p.axes = window_taps(p.g);
  p.planes = x.dim(0) * x.dim(1);
  return p;
}

Shape out_shape(const Tensor& x, const WindowGeometry& g) {
  Shape s{x.dim(0), x.dim(1)};
  s.insert(s.end(), g.out.begin(), g.out.end());
  return s;
}

template <class T>
T lowest() {
  if constexpr (std::is_same_v<T, Exact>) {
    return Exact::from_double(static_cast<double>(std::numeric_limits<float>::lowest()));
  } else {
    return std::numeric_limits<T>::lowest();
  }
}

// Column-major index of a row-major spatial offset (storage_order 1).
int64_t column_major(int64_t off, const std::vector<int64_t>& in) {
  int64_t idx = 0, mul = 1;
  std::vector<int64_t> coord(in.size());
  for (size_t a = in.size(); a-- > 0;) {
    coord[a] = off % in[a];
    off /= in[a];
  }
  for (size_t a = 0; a < in.size(); ++a) {
    idx += coord[a] * mul;
    mul *= in[a];
  }
  return idx;
}

template <class T>
void max_loop(const Pooling& p, const std::vector<T>& x, std::vector<T>& y,
              std::vector<int64_t>* idx, bool column) {
  const int64_t in_size = p.g.in_size(), out_size = p.g.out_size();
  const T low = lowest<T>();
  for_each_window(p.g, p.axes, [&](int64_t o, std::span<const Tap> taps) {
    for (int64_t pl = 0; pl < p.planes; ++pl) {
      const T* xc = x.data() + pl * in_size;
      T best = low;
      int64_t arg = -1;
      for (const Tap& t : taps) {
        if (xc[t.x] > best) {
          best = xc[t.x];
          arg = t.x;
        }
      }
      y[static_cast<size_t>(pl * out_size + o)] = best;
      if (idx) {
        int64_t i = arg < 0 ? -1 : (column ? column_major(arg, p.g.in) : arg) + pl * in_size;
        (*idx)[static_cast<size_t>(pl * out_size + o)] = i;
      }
    }
  });
}

Tensor max_pool(const EvalContext& c, const Pooling& p, const Tensor& x, Tensor* indices) {
  Shape shape = out_shape(x, p.g);
  Tensor y(x.type(), shape);
  std::vector<int64_t>* idx = nullptr;
  if (indices) {
    *indices = Tensor(ElemType::kInt64, shape);
    idx = &indices->i64();
  }
  const bool column = c.node().attr_int("storage_order", 0) != 0;
  x.visit([&](const auto& xv) {
    using T = typename std::decay_t<decltype(xv)>::value_type;
    max_loop<T>(p, xv, y.data<T>(), idx, column);
  });
  return y;
}

int bitlen(u128 v) {
  const auto hi = static_cast<uint64_t>(v >> 64), lo = static_cast<uint64_t>(v);
  if (hi) return 128 - __builtin_clzll(hi);
  return lo ? 64 - __builtin_clzll(lo) : 0;
}

// Per output position, the divisor: the taps inside the padded input when
// count_include_pad, else the taps inside the input.
std::vector<int64_t> divisors(const Pooling& p, bool include_pad) {
  const size_t r = p.g.in.size();
  std::vector<int64_t> counts(static_cast<size_t>(p.g.out_size()));
  std::vector<int64_t> pos(r, 0);
  for (size_t o = 0; o < counts.size(); ++o) {
    int64_t n = 1;
    for (size_t a = 0; a < r; ++a) {
      int64_t cnt = 0;
      if (include_pad) {
        const int64_t start = pos[a] * p.g.strides[a] - p.g.pad_begin[a];
        for (int64_t k = 0; k < p.g.kernel[a]; ++k) {
          const int64_t i = start + k * p.g.dilations[a];
          if (i >= -p.g.pad_begin[a] && i < p.g.in[a] + p.g.pad_end[a]) ++cnt;
        }
      } else {
        const auto& b = p.axes[a].begin;
        cnt = b[static_cast<size_t>(pos[a]) + 1] - b[static_cast<size_t>(pos[a])];
      }
      n *= cnt;
    }
    counts[o] = n;
    for (size_t a = r; a-- > 0;) {
      if (++pos[a] < p.g.out[a]) break;
      pos[a] = 0;
    }
  }
  return counts;
}

Tensor average_pool(const EvalContext& c, const Pooling& p, const Tensor& x_any, bool include_pad) {
  const ElemType type = c.real_type();
  Tensor holder;
  const Tensor& x = x_any.type() == type ? x_any : (holder = x_any.to(type));
  const std::vector<int64_t> counts = divisors(p, include_pad);
  const int64_t in_size = p.g.in_size(), out_size = p.g.out_size();
  Tensor y(type, out_shape(x, p.g));
  if (type == ElemType::kFloat32) {
    const float* xp = x.f32().data();
    float* yp = y.f32().data();
    for_each_window(p.g, p.axes, [&](int64_t o, std::span<const Tap> taps) {
      const auto cnt = static_cast<double>(counts[static_cast<size_t>(o)]);
      for (int64_t pl = 0; pl < p.planes; ++pl) {
        const float* xc = xp + pl * in_size;
        double sum = 0;
        for (const Tap& t : taps) sum += static_cast<double>(xc[t.x]);
        yp[pl * out_size + o] = static_cast<float>(sum / cnt);
      }
    });
    return y;
  }
  const std::vector<Exact>& xv = x.exact();
  Exact* yp = y.exact().data();
  // Fast path: finite dyadic inputs aligned to one exponent and summed as integers.
  int64_t emin = std::numeric_limits<int64_t>::max();
  bool dyadic = true;
  for (const Exact& e : xv) {
    if (!e.is_finite() || e.is_big() || e.den() != 1) {
      dyadic = false;
      break;
    }
    if (e.num() != 0) emin = std::min<int64_t>(emin, e.exp());
  }
  if (emin == std::numeric_limits<int64_t>::max()) emin = 0;
  std::vector<i128> aligned;
  if (dyadic) {
    const int budget = 126 - bitlen(static_cast<u128>(std::max<int64_t>(1, p.g.kernel_size())));
    aligned.resize(xv.size());
    for (size_t i = 0; i < xv.size() && dyadic; ++i) {
      const Exact& e = xv[i];
      if (e.num() == 0) continue;
      const u128 mag = e.num() < 0 ? static_cast<u128>(0) - static_cast<u128>(e.num())
                                   : static_cast<u128>(e.num());
      if (bitlen(mag) + (e.exp() - emin) > budget) {
        dyadic = false;
        break;
      }
      aligned[i] = e.num() * (static_cast<i128>(1) << (e.exp() - emin));
    }
  }
  for_each_window(p.g, p.axes, [&](int64_t o, std::span<const Tap> taps) {
    const int64_t cnt = counts[static_cast<size_t>(o)];
    for (int64_t pl = 0; pl < p.planes; ++pl) {
      Exact& out = yp[pl * out_size + o];
      if (cnt == 0) {
        out = Exact::nan();
        continue;
      }
      if (dyadic) {
        const i128* xc = aligned.data() + pl * in_size;
        i128 sum = 0;
        for (const Tap& t : taps) sum += xc[t.x];
        out = Exact::make(sum, cnt, emin);
      } else {
        const Exact* xc = xv.data() + pl * in_size;
        Exact sum;
        for (const Tap& t : taps) sum += xc[t.x];
        out = sum / Exact::from_int(cnt);
      }
    }
  });
  return y;
}

void eval_max_pool(EvalContext& c) {
  Pooling p = windowed(c, c.input(0));
  const bool want_indices = c.node().outputs.size() > 1 && !c.node().outputs[1].empty();
  Tensor indices;
  c.set_output(0, max_pool(c, p, c.input(0), want_indices ? &indices : nullptr));
  if (want_indices) c.set_output(1, std::move(indices));
}

void eval_average_pool(EvalContext& c) {
  Pooling p = windowed(c, c.input(0));
  c.set_output(0, average_pool(c, p, c.input(0), c.node().attr_int("count_include_pad", 0) != 0));
}

void eval_global_average_pool(EvalContext& c) {
  c.set_output(0, average_pool(c, global(c, c.input(0)), c.input(0), false));
}

void eval_global_max_pool(EvalContext& c) {
  c.set_output(0, max_pool(c, global(c, c.input(0)), c.input(0), nullptr));
}

OpDef make(const char* name, void (*eval)(EvalContext&), bool preserves) {
  OpDef d;
  d.op_type = name;
  d.family = OpFamily::kOnnx;
  d.min_inputs = 1;
  d.max_inputs = 1;
  d.eval = eval;
  d.preserves_dtype = preserves;
  return d;
}

const OpRegistrar kMaxPool(make("MaxPool", eval_max_pool, true));
const OpRegistrar kAveragePool(make("AveragePool", eval_average_pool, false));
const OpRegistrar kGlobalAveragePool(make("GlobalAveragePool", eval_global_average_pool, false));
const OpRegistrar kGlobalMaxPool(make("GlobalMaxPool", eval_global_max_pool, true));

}  // namespace
}  // namespace bitsmith
