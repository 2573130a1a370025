// Gemm and MatMul.
//
// Float mode accumulates every dot product in double (each float32 product is
// exact in double) and rounds once to float32 at the end; for Gemm the alpha and
// beta terms are applied in double before that one rounding. onnxruntime's MLAS
// sums in float32 with fused multiply-adds in k order, restarting at block
// boundaries whose size depends on the shapes and the thread count, and uses other
// kernels when M or N is 1, so no one fixed order reproduces it; its results differ
// from these in the last bits of most sums (more where terms cancel). The
// order-free double sum is the documented choice (docs/semantics.md).
//
// Exact mode is the reference: sums of exact products, never rounded. Three tiers
// give the same values at different speeds (see ExactOperand): when each operand
// is integers times one power of two (quantized values times a power-of-two
// scale), plain int64 or 128-bit integer dot products, with the width chosen so no
// sum can overflow; when the operands are dyadic with scattered exponents, 128-bit
// sums that realign as they go; otherwise (odd denominators, or exponents too far
// apart) Exact arithmetic, which goes to big integers past 127 bits.
//
// Two int64 operands to MatMul give int64 (overflow is an error).
#include <algorithm>
#include <cstdint>
#include <optional>

#include "ops/broadcast.h"
#include "ops/registry.h"

namespace bitsmith {
namespace {

// Element (r, k) of a matrix stored at data[off + r * rs + k * cs].
struct View {
  int64_t off = 0;
  int64_t rs = 0;
  int64_t cs = 0;
  size_t at(int64_t r, int64_t k) const { return static_cast<size_t>(off + r * rs + k * cs); }
};

struct Dims {
  int64_t m = 0, k = 0, n = 0;
};

// ---------------------------------------------------------------------------
// Kernels: y[yo + m*N + n] = sum_k a(m,k) * b(k,n)

void matmul_f32(const std::vector<float>& a, View av, const std::vector<float>& b, View bv, Dims d,
                std::vector<double>& y, int64_t yo) {
  for (int64_t m = 0; m < d.m; ++m) {
    double* row = y.data() + yo + m * d.n;
    for (int64_t n = 0; n < d.n; ++n) row[n] = 0.0;
    // k-outer order keeps the B row contiguous; each output still sums over k in order.
    for (int64_t k = 0; k < d.k; ++k) {
      double x = a[av.at(m, k)];
      if (bv.cs == 1) {  // the usual layout: a contiguous row the compiler vectorizes
        const float* brow = b.data() + bv.at(k, 0);
        for (int64_t n = 0; n < d.n; ++n) row[n] += x * static_cast<double>(brow[n]);
      } else {
        for (int64_t n = 0; n < d.n; ++n) row[n] += x * static_cast<double>(b[bv.at(k, n)]);
      }
    }
  }
}

void matmul_i64(const EvalContext& c, const std::vector<int64_t>& a, View av,
                const std::vector<int64_t>& b, View bv, Dims d, std::vector<int64_t>& y,
                int64_t yo) {
  for (int64_t m = 0; m < d.m; ++m) {
    for (int64_t n = 0; n < d.n; ++n) {
      int64_t acc = 0;
      for (int64_t k = 0; k < d.k; ++k) {
        int64_t p = 0;
        if (__builtin_mul_overflow(a[av.at(m, k)], b[bv.at(k, n)], &p) ||
            __builtin_add_overflow(acc, p, &acc)) {
          c.fail("int64 overflow in the matrix product");
        }
      }
      y[static_cast<size_t>(yo + m * d.n + n)] = acc;
    }
  }
}

// A finite dyadic value n * 2^e with |n| < 2^62.
struct Dyadic {
  int64_t n;
  int32_t e;
};

int bits_of(i128 v) {
  u128 u = v < 0 ? static_cast<u128>(0) - static_cast<u128>(v) : static_cast<u128>(v);
  auto hi = static_cast<uint64_t>(u >> 64);
  if (hi) return 128 - __builtin_clzll(hi);
  auto lo = static_cast<uint64_t>(u);
  return lo ? 64 - __builtin_clzll(lo) : 0;
}

// One exact matrix operand, prepared once per tensor. Three tiers:
//  - common: every value is ints[i] * 2^exp with |ints[i]| < 2^max_bits <= 2^62
//    (quantized values times one power-of-two scale): plain integer dot products;
//  - dyadic: every value is a small dyadic with its own exponent: 128-bit sums
//    that realign exponents as they go;
//  - otherwise Exact arithmetic.
struct ExactOperand {
  const std::vector<Exact>* x = nullptr;
  bool dyadic = false;
  std::vector<Dyadic> d;
  bool common = false;
  std::vector<int64_t> ints;
  int64_t exp = 0;
  int max_bits = 0;

  explicit ExactOperand(const std::vector<Exact>& v) : x(&v) {
    const i128 limit = static_cast<i128>(1) << 62;
    d.resize(v.size());
    int64_t emin = INT64_MAX;
    for (size_t i = 0; i < v.size(); ++i) {
      const Exact& e = v[i];
      if (!e.is_finite() || e.is_big() || e.den() != 1 || e.num() >= limit || e.num() <= -limit)
        return;
      d[i] = {static_cast<int64_t>(e.num()), e.exp()};
      if (e.num() != 0) emin = std::min<int64_t>(emin, e.exp());
    }
    dyadic = true;
    exp = emin == INT64_MAX ? 0 : emin;
    ints.resize(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      if (d[i].n == 0) {
        ints[i] = 0;
        continue;
      }
      int64_t shift = d[i].e - exp;
      int bits = bits_of(d[i].n) + static_cast<int>(std::min<int64_t>(shift, 64));
      if (bits > 62) return;
      ints[i] = d[i].n * (int64_t{1} << shift);
      max_bits = std::max(max_bits, bits);
    }
    common = true;
  }
};

// Constant operands (weights) are prepared once per graph and reused.
std::shared_ptr<const ExactOperand> exact_operand(const EvalContext& c, size_t i, const Tensor& t) {
  if (c.is_constant(i)) {
    return c.cached<ExactOperand>("exact_operand" + std::to_string(i),
                                  [&] { return ExactOperand(t.exact()); });
  }
  return std::make_shared<const ExactOperand>(t.exact());
}

// Sum of n_i * 2^e_i in one i128 with the smallest exponent seen so far; every
// step keeps |acc| < 2^125 or gives up (ok = false).
struct DyadicSum {
  i128 acc = 0;
  int64_t e = 0;
  bool ok = true;

  void add(i128 p, int64_t pe) {
    if (p == 0 || !ok) return;
    if (acc == 0) {
      acc = p;
      e = pe;
      return;
    }
    if (pe < e) {
      std::swap(acc, p);
      std::swap(e, pe);
    }
    int64_t shift = pe - e;  // align p down to the accumulator's exponent
    if (shift > 124 || bits_of(p) + shift > 124) {
      ok = false;
      return;
    }
    acc += p * (static_cast<i128>(1) << shift);
    if (bits_of(acc) > 124) ok = false;
  }
};

// Integer dot products at a common exponent. Acc is int64 or i128, chosen so no
// sum can overflow; the k-outer order walks rows of B contiguously.
template <class Acc>
void matmul_common(const ExactOperand& a, View av, const ExactOperand& b, View bv, Dims d,
                   std::vector<Exact>& y, int64_t yo) {
  std::vector<Acc> row(static_cast<size_t>(d.n));
  for (int64_t m = 0; m < d.m; ++m) {
    std::fill(row.begin(), row.end(), Acc{0});
    for (int64_t k = 0; k < d.k; ++k) {
      Acc x = a.ints[av.at(m, k)];
      if (x == 0) continue;
      const int64_t* brow = b.ints.data() + bv.at(k, 0);
      if (bv.cs == 1) {  // the usual layout: a contiguous row the compiler can vectorize
        for (int64_t n = 0; n < d.n; ++n) row[static_cast<size_t>(n)] += x * brow[n];
      } else {
        for (int64_t n = 0; n < d.n; ++n) row[static_cast<size_t>(n)] += x * brow[n * bv.cs];
      }
    }
    for (int64_t n = 0; n < d.n; ++n) {
      y[static_cast<size_t>(yo + m * d.n + n)] =
          Exact::make(row[static_cast<size_t>(n)], 1, a.exp + b.exp);
    }
  }
}

void matmul_exact(const ExactOperand& a, View av, const ExactOperand& b, View bv, Dims d,
                  std::vector<Exact>& y, int64_t yo) {
  if (a.common && b.common) {
    int sum_bits = a.max_bits + b.max_bits + bits_of(d.k);
    if (sum_bits <= 62) return matmul_common<int64_t>(a, av, b, bv, d, y, yo);
    if (sum_bits <= 125) return matmul_common<i128>(a, av, b, bv, d, y, yo);
  }
  for (int64_t m = 0; m < d.m; ++m) {
    for (int64_t n = 0; n < d.n; ++n) {
      Exact& out = y[static_cast<size_t>(yo + m * d.n + n)];
      if (a.dyadic && b.dyadic) {
        DyadicSum s;
        for (int64_t k = 0; k < d.k && s.ok; ++k) {
          const Dyadic& x = a.d[av.at(m, k)];
          const Dyadic& w = b.d[bv.at(k, n)];
          s.add(static_cast<i128>(x.n) * w.n, static_cast<int64_t>(x.e) + w.e);
        }
        if (s.ok) {
          out = Exact::make(s.acc, 1, s.e);
          continue;
        }
      }
      Exact acc;
      for (int64_t k = 0; k < d.k; ++k) acc += (*a.x)[av.at(m, k)] * (*b.x)[bv.at(k, n)];
      out = acc;
    }
  }
}

// ---------------------------------------------------------------------------
// MatMul: numpy semantics, 1-D operands promoted and their dims dropped again.

void eval_matmul(EvalContext& c) {
  const Tensor& a0 = c.input(0);
  const Tensor& b0 = c.input(1);
  if (a0.rank() == 0 || b0.rank() == 0) c.fail("MatMul operands must have rank >= 1");
  Shape as = a0.shape(), bs = b0.shape();
  if (as.size() == 1) as.insert(as.begin(), 1);
  if (bs.size() == 1) bs.push_back(1);
  Dims d{as[as.size() - 2], as.back(), bs.back()};
  if (bs[bs.size() - 2] != d.k) {
    c.fail("inner dimensions differ: " + shape_str(a0.shape()) + " times " + shape_str(b0.shape()));
  }
  Shape a_batch(as.begin(), as.end() - 2), b_batch(bs.begin(), bs.end() - 2);
  Shape batch = broadcast_shape({a_batch, b_batch});
  Shape out = batch;
  if (a0.rank() > 1) out.push_back(d.m);
  if (b0.rank() > 1) out.push_back(d.n);

  bool ints = a0.type() == ElemType::kInt64 && b0.type() == ElemType::kInt64;
  const Tensor& a = ints ? a0 : c.real_input(0);
  const Tensor& b = ints ? b0 : c.real_input(1);
  ElemType et = ints ? ElemType::kInt64 : c.real_type();
  Tensor y(et, out);
  std::vector<double> acc;
  if (et == ElemType::kFloat32) acc.resize(static_cast<size_t>(y.size()));
  std::shared_ptr<const ExactOperand> ax, bx;
  if (et == ElemType::kExact) {
    ax = exact_operand(c, 0, a);
    bx = exact_operand(c, 1, b);
  }

  for_each_broadcast<2>(batch, {&a_batch, &b_batch},
                        [&](int64_t o, const std::array<int64_t, 2>& p) {
                          View av{p[0] * d.m * d.k, d.k, 1};
                          View bv{p[1] * d.k * d.n, d.n, 1};
                          int64_t yo = o * d.m * d.n;
                          switch (et) {
                            case ElemType::kFloat32:
                              matmul_f32(a.f32(), av, b.f32(), bv, d, acc, yo);
                              break;
                            case ElemType::kInt64:
                              matmul_i64(c, a.i64(), av, b.i64(), bv, d, y.i64(), yo);
                              break;
                            case ElemType::kExact:
                              matmul_exact(*ax, av, *bx, bv, d, y.exact(), yo);
                              break;
                          }
                        });
  if (et == ElemType::kFloat32) {
    for (size_t i = 0; i < acc.size(); ++i) y.f32()[i] = static_cast<float>(acc[i]);
  }
  c.set_output(0, std::move(y));
}

// True when `s` broadcasts to `target` without changing it (unidirectional).
bool broadcasts_to(const Shape& s, const Shape& target) {
  if (s.size() > target.size()) return false;
  size_t off = target.size() - s.size();
  for (size_t d = 0; d < s.size(); ++d) {
    if (s[d] != 1 && s[d] != target[off + d]) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// Gemm: Y = alpha * A' * B' + beta * C, C broadcast unidirectionally to (M, N).

void eval_gemm(EvalContext& c) {
  const Node& node = c.node();
  bool trans_a = node.attr_int("transA", 0) != 0;
  bool trans_b = node.attr_int("transB", 0) != 0;
  float alpha = node.attr_float("alpha", 1.0f);
  float beta = node.attr_float("beta", 1.0f);
  const Tensor& a = c.real_input(0);
  const Tensor& b = c.real_input(1);
  if (a.rank() != 2 || b.rank() != 2) {
    c.fail("Gemm needs 2-D A and B, got " + shape_str(a.shape()) + " and " + shape_str(b.shape()));
  }
  Dims d{trans_a ? a.dim(1) : a.dim(0), trans_a ? a.dim(0) : a.dim(1),
         trans_b ? b.dim(0) : b.dim(1)};
  int64_t kb = trans_b ? b.dim(1) : b.dim(0);
  if (kb != d.k) {
    c.fail("inner dimensions differ: A " + shape_str(a.shape()) + (trans_a ? " (transposed)" : "") +
           ", B " + shape_str(b.shape()) + (trans_b ? " (transposed)" : ""));
  }
  View av = trans_a ? View{0, 1, d.m} : View{0, d.k, 1};
  View bv = trans_b ? View{0, 1, d.k} : View{0, d.n, 1};
  Shape out{d.m, d.n};
  bool has_c = c.has_input(2);
  Tensor cc;
  if (has_c) {
    cc = c.real_input(2);
    if (!broadcasts_to(cc.shape(), out)) {
      c.fail("C of shape " + shape_str(cc.shape()) + " does not broadcast to " + shape_str(out));
    }
  }
  Tensor y(c.real_type(), out);
  if (c.mode() == Mode::kFloat) {
    std::vector<double> acc(static_cast<size_t>(y.size()));
    matmul_f32(a.f32(), av, b.f32(), bv, d, acc, 0);
    if (alpha != 1.0f) {
      for (double& v : acc) v *= alpha;
    }
    if (has_c) {
      for_each_broadcast<1>(out, {&cc.shape()}, [&](int64_t o, const std::array<int64_t, 1>& p) {
        acc[static_cast<size_t>(o)] +=
            static_cast<double>(beta) * cc.f32()[static_cast<size_t>(p[0])];
      });
    }
    for (size_t i = 0; i < acc.size(); ++i) y.f32()[i] = static_cast<float>(acc[i]);
  } else {
    matmul_exact(*exact_operand(c, 0, a), av, *exact_operand(c, 1, b), bv, d, y.exact(), 0);
    if (alpha != 1.0f) {
      Exact ax = Exact::from_double(alpha);
      for (Exact& v : y.exact()) v *= ax;
    }
    if (has_c) {
      Exact bx = Exact::from_double(beta);
      bool unit = beta == 1.0f;
      for_each_broadcast<1>(out, {&cc.shape()}, [&](int64_t o, const std::array<int64_t, 1>& p) {
        const Exact& cv = cc.exact()[static_cast<size_t>(p[0])];
        y.exact()[static_cast<size_t>(o)] += unit ? cv : bx * cv;
      });
    }
  }
  c.set_output(0, std::move(y));
}

OpDef make(const char* name, int min_in, int max_in, void (*eval)(EvalContext&)) {
  OpDef d;
  d.op_type = name;
  d.family = OpFamily::kOnnx;
  d.min_inputs = min_in;
  d.max_inputs = max_in;
  d.eval = eval;
  return d;
}

const OpRegistrar kMatMul(make("MatMul", 2, 2, eval_matmul));
const OpRegistrar kGemm(make("Gemm", 2, 3, eval_gemm));

}  // namespace
}  // namespace bitsmith
