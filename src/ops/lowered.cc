// Conversions between real values and their integer twins, emitted by the
// lowering pass (src/passes/lower.cc) in the bitsmith.lowered domain. An integer
// twin q of a real tensor x satisfies x = scale * q + offset exactly, with scale
// and offset constant and broadcast like a per-channel parameter.
#include <cmath>

#include <algorithm>

#include "codegen/rt/bitsmith_rt.h"  // round_ratio: one rounding routine for engine and generated code
#include "core/common_rational.h"
#include "core/float_order.h"
#include "core/quantize.h"
#include "ops/broadcast.h"
#include "ops/registry.h"
#include "runtime/threads.h"

namespace bitsmith {
namespace {

void need_exact(const EvalContext& c) {
  if (c.mode() != Mode::kExact) c.fail("lowered integer ops run in exact mode only");
}

// IntQuantize(x, scale, zero_point, bits): the integer level of QONNX Quant.
void eval_quantize(EvalContext& c) {
  need_exact(c);
  IntQuantAttrs a;
  a.is_signed = c.node().attr_int("signed", 1) != 0;
  a.narrow = c.node().attr_int("narrow", 0) != 0;
  a.mode = parse_rounding_mode(c.node().attr_string("rounding_mode", "ROUND"));
  const Tensor& x = c.real_input(0);
  const Tensor& s = c.real_input(1);
  const Tensor& z = c.real_input(2);
  int bits = static_cast<int>(c.input(3).as_int(0));
  if (s.size() != 1 || z.size() != 1 || c.input(3).size() != 1)
    c.fail("scale, zero point and bits must be scalars");
  Tensor q(ElemType::kInt64, x.shape());
  const Exact& sv = s.exact()[0];
  const Exact& zv = z.exact()[0];
  for (size_t i = 0; i < x.exact().size(); ++i) {
    // NaN has no level; the reference passes it through Quant, so the batch goes there.
    if (x.exact()[i].is_nan()) throw OffGrid("NaN reaches a quantizer");
    q.i64()[i] = static_cast<int64_t>(int_quant_level_exact(x.exact()[i], sv, zv, bits, a));
  }
  c.set_output(0, std::move(q));
}

// IntDequantize(q, scale, offset) = scale * q + offset. With float_out=1 (the pass
// sets it where the value is a graph output) the result is the float32 the engine
// would round it to, computed in integers: scale and offset over one denominator,
// (s*q + o) / den * 2^exp rounded once (bitsmith_rt::round_ratio, the routine
// generated code uses) instead of building an exact rational per element.
struct DequantPlan {
  bool fast = false;
  int scale_bits = 0;
  CommonRational s, o;
};

void eval_dequantize(EvalContext& c) {
  need_exact(c);
  const Tensor& q = c.input(0);
  const Tensor& s = c.real_input(1);
  const Tensor& o = c.real_input(2);
  if (q.type() != ElemType::kInt64) c.fail("input 0 must hold integers");
  Shape out = broadcast_shape({q.shape(), s.shape(), o.shape()});
  const bool to_float = c.node().attr_int("float_out", 0) != 0;
  if (to_float) {
    auto plan = c.cached<DequantPlan>("plan", [&] {
      DequantPlan p;
      std::vector<Exact> both(s.exact());
      both.insert(both.end(), o.exact().begin(), o.exact().end());
      CommonRational all;
      std::string why;
      // round_ratio takes numerators below 2^125: checked per run against the levels.
      if (common_rational(both, 123, &all, &why)) {
        const auto mid = all.num.begin() + static_cast<int64_t>(s.exact().size());
        p.s.num.assign(all.num.begin(), mid);
        p.o.num.assign(mid, all.num.end());
        p.fast = true;
        for (i128 v : p.s.num) p.scale_bits = std::max(p.scale_bits, bit_length(v));
        p.s.den = all.den;
        p.s.exp = all.exp;
      }
      return p;
    });
    Tensor y(ElemType::kFloat32, out);
    int64_t qlo = 0, qhi = 0;
    for (int64_t v : q.i64()) {
      qlo = std::min(qlo, v);
      qhi = std::max(qhi, v);
    }
    const int qbits = std::max(bit_length(i128{qlo}), bit_length(i128{qhi}));
    if (plan->fast && plan->scale_bits + qbits <= 124) {
      // Parameter indices per element first (the broadcast walk is sequential), then
      // the roundings, which dominate, over the threads.
      const int64_t n = static_cast<int64_t>(y.f32().size());
      std::vector<std::array<int64_t, 3>> at(static_cast<size_t>(n));
      for_each_broadcast<3>(
          out, {&q.shape(), &s.shape(), &o.shape()},
          [&](int64_t i, const std::array<int64_t, 3>& p) { at[static_cast<size_t>(i)] = p; });
      parallel_for(n, 1 << 10, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
          const auto& p = at[static_cast<size_t>(i)];
          y.f32()[static_cast<size_t>(i)] = bitsmith_rt::round_ratio<float>(
              plan->s.num[static_cast<size_t>(p[1])] * q.i64()[p[0]] +
                  plan->o.num[static_cast<size_t>(p[2])],
              plan->s.den, plan->s.exp);
        }
      });
    } else {
      for_each_broadcast<3>(
          out, {&q.shape(), &s.shape(), &o.shape()},
          [&](int64_t i, const std::array<int64_t, 3>& p) {
            y.f32()[static_cast<size_t>(i)] =
                (s.exact()[p[1]] * Exact::from_int(q.i64()[p[0]]) + o.exact()[p[2]]).to_float();
          });
    }
    return c.set_output(0, std::move(y));
  }
  Tensor y(ElemType::kExact, out);
  for_each_broadcast<3>(
      out, {&q.shape(), &s.shape(), &o.shape()}, [&](int64_t i, const std::array<int64_t, 3>& p) {
        y.exact()[i] = s.exact()[p[1]] * Exact::from_int(q.i64()[p[0]]) + o.exact()[p[2]];
      });
  c.set_output(0, std::move(y));
}

// IntFromReal(x, scale, offset) = (x - offset) / scale, which must be an integer:
// the pass only emits it where the producer's meaning guarantees that.
void eval_from_real(EvalContext& c) {
  need_exact(c);
  const Tensor& x = c.real_input(0);
  const Tensor& s = c.real_input(1);
  const Tensor& o = c.real_input(2);
  if (broadcast_shape({x.shape(), s.shape(), o.shape()}) != x.shape())
    c.fail("parameters must broadcast to x");
  Tensor q(ElemType::kInt64, x.shape());
  for_each_broadcast<3>(x.shape(), {&x.shape(), &s.shape(), &o.shape()},
                        [&](int64_t i, const std::array<int64_t, 3>& p) {
                          Exact v = (x.exact()[p[0]] - o.exact()[p[2]]) / s.exact()[p[1]];
                          if (!v.is_integer())
                            throw OffGrid("value " + std::to_string(i) +
                                          " is not on the integer grid (NaN or infinity)");
                          q.i64()[i] = static_cast<int64_t>(v.floor());
                        });
  c.set_output(0, std::move(q));
}

// IntFromFloat(x) attrs exp, bits: q = x / 2^exp where that is an integer of at most
// `bits` bits, else OffGrid (the batch goes to the reference graph). Reads float32
// inputs directly (the engine leaves inputs only lowered ops read unconverted).
void eval_from_float(EvalContext& c) {
  need_exact(c);
  const int64_t e = c.node().attr_int("exp"), bits = c.node().attr_int("bits");
  const Tensor& x = c.input(0);
  Tensor q(ElemType::kInt64, x.shape());
  const double lim = std::ldexp(1.0, static_cast<int>(bits));
  auto convert = [&](double v, size_t i) {
    double s = std::ldexp(v, static_cast<int>(-e));  // exact: a power-of-two scaling of a double
    if (!(std::fabs(s) <= lim) || s != std::trunc(s)) {
      throw OffGrid("input value " + std::to_string(v) + " is not a multiple of 2^" +
                    std::to_string(e) + " below 2^" + std::to_string(bits + e));
    }
    q.i64()[i] = static_cast<int64_t>(s);
  };
  if (x.type() == ElemType::kFloat32) {
    for (size_t i = 0; i < x.f32().size(); ++i) convert(x.f32()[i], i);
  } else {
    const Tensor& r = c.real_input(0);
    for (size_t i = 0; i < r.exact().size(); ++i) {
      const Exact& v = r.exact()[i];
      double d = v.to_double();
      if (!(Exact::from_double(d) == v)) throw OffGrid("input value is not a double");
      convert(d, i);
    }
  }
  c.set_output(0, std::move(q));
}

// IntFromFloatThresholds(x, keys) attr base: q = base + #{j : key(x) >= keys[j]} with
// key the total order of float32 (passes/requant_search.h); thresholds found on the
// reference chain from x to a quantizer, so q is that quantizer's level exactly.
// Infinities go to the reference graph (OffGrid).
void eval_from_float_thresholds(EvalContext& c) {
  need_exact(c);
  const Tensor& x = c.input(0);
  const std::vector<int64_t>& keys = c.input(1).i64();
  const int64_t base = c.node().attr_int("base");
  Tensor q(ElemType::kInt64, x.shape());
  // "Never" is key(+FLT_MAX) + 1 = key(+inf); infinities are refused below.
  std::vector<uint32_t> k32(keys.size());
  for (size_t j = 0; j < keys.size(); ++j)
    k32[j] = static_cast<uint32_t>(std::min<int64_t>(keys[j], UINT32_MAX));
  auto level = [&](float v) {
    if (!std::isfinite(v)) throw OffGrid("input holds an infinity or NaN");
    const uint32_t key = float_key(v);
    if (k32.size() <= 16) {  // few levels: a branch-free count beats a search
      int64_t n = 0;
      for (uint32_t t : k32) n += key >= t;
      return base + n;
    }
    return base + (std::upper_bound(k32.begin(), k32.end(), key) - k32.begin());
  };
  if (x.type() == ElemType::kFloat32) {
    // Each element alone: split over the threads (an infinity throws OffGrid from a
    // worker; the pool passes it on).
    const float* xs = x.f32().data();
    int64_t* qs = q.i64().data();
    parallel_for(static_cast<int64_t>(x.f32().size()), 1 << 14, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) qs[i] = level(xs[i]);
    });
  } else {
    const Tensor& r = c.real_input(0);
    for (size_t i = 0; i < r.exact().size(); ++i) {
      float f = r.exact()[i].to_float();
      if (!(Exact::from_double(f) == r.exact()[i])) throw OffGrid("input value is not a float32");
      q.i64()[i] = level(f);
    }
  }
  c.set_output(0, std::move(q));
}

// IntAdd(qa, qb[, thresholds]) attrs a, b, base: acc = a * qa + b * qb (same shapes),
// then base + #{j : acc >= thresholds[j]} when thresholds are given.
void eval_int_add(EvalContext& c) {
  need_exact(c);
  const Tensor& qa = c.input(0);
  const Tensor& qb = c.input(1);
  if (qa.type() != ElemType::kInt64 || qb.type() != ElemType::kInt64 || qa.shape() != qb.shape()) {
    c.fail("inputs must be integer levels of one shape");
  }
  const int64_t ka = c.node().attr_int("a"), kb = c.node().attr_int("b"),
                base = c.node().attr_int("base");
  Tensor out(ElemType::kInt64, qa.shape());
  const int64_t* a = qa.i64().data();
  const int64_t* b = qb.i64().data();
  int64_t* o = out.i64().data();
  const int64_t n = qa.size();
  if (c.has_input(2)) {
    const std::vector<int64_t>& t = c.input(2).i64();
    for (int64_t i = 0; i < n; ++i) {
      o[i] = base + (std::upper_bound(t.begin(), t.end(), ka * a[i] + kb * b[i]) - t.begin());
    }
  } else {
    for (int64_t i = 0; i < n; ++i) o[i] = ka * a[i] + kb * b[i];
  }
  c.set_output(0, std::move(out));
}

// IntThreshold(acc, thresholds [C, L], base [C][, sign [C]]) attr axis: for an element
// of channel c (along axis; C may be 1 for all channels),
// base[c] + #{j : sign[c] * acc >= thresholds[c, j]}, sign +1 or -1 (+1 when absent; -1
// where the requantization chain decreases). Thresholds of a channel ascend.
// Requantizes integer sums that are not an IntLinear accumulator (window sums of
// average pooling, transposed convolutions).
void eval_int_threshold(EvalContext& c) {
  need_exact(c);
  const Tensor& acc = c.input(0);
  const Tensor& thr = c.input(1);
  const Tensor& base = c.input(2);
  if (acc.type() != ElemType::kInt64 || thr.type() != ElemType::kInt64 || thr.rank() != 2 ||
      base.type() != ElemType::kInt64 || base.size() != thr.dim(0)) {
    c.fail("needs int64 levels, thresholds [C, L] and base [C]");
  }
  int64_t axis = c.node().attr_int("axis", 1);
  if (axis < 0) axis += acc.rank();
  if (axis < 0 || axis >= acc.rank()) c.fail("axis out of range");
  const int64_t C = acc.dim(static_cast<int>(axis)), T = thr.dim(0), L = thr.dim(1);
  if (T != 1 && T != C) c.fail("thresholds need 1 or " + std::to_string(C) + " rows");
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < acc.rank(); ++d) inner *= acc.dim(static_cast<int>(d));
  Tensor out(ElemType::kInt64, acc.shape());
  const int64_t* a = acc.i64().data();
  const int64_t* t = thr.i64().data();
  int64_t* o = out.i64().data();
  const Tensor* sign = c.has_input(3) ? &c.input(3) : nullptr;
  if (sign && (sign->type() != ElemType::kInt64 || sign->size() != T))
    c.fail("sign needs one entry per threshold row");
  for (int64_t i = 0; i < acc.size(); ++i) {
    const int64_t ch = T == 1 ? 0 : (i / inner) % C;
    const int64_t* row = t + ch * L;
    const int64_t v = sign && sign->i64()[static_cast<size_t>(ch)] < 0 ? -a[i] : a[i];
    o[i] = base.i64()[static_cast<size_t>(ch)] + (std::upper_bound(row, row + L, v) - row);
  }
  c.set_output(0, std::move(out));
}

// IntScale(q) attr multiplier: q * multiplier. Aligns integer twins of different
// scales to their common one (Concat); the pass proves the products fit.
void eval_int_scale(EvalContext& c) {
  need_exact(c);
  const Tensor& q = c.input(0);
  if (q.type() != ElemType::kInt64) c.fail("input 0 must hold integers");
  const int64_t m = c.node().attr_int("multiplier");
  Tensor out(ElemType::kInt64, q.shape());
  for (int64_t i = 0; i < q.size(); ++i)
    out.i64()[static_cast<size_t>(i)] = q.i64()[static_cast<size_t>(i)] * m;
  c.set_output(0, std::move(out));
}

OpDef make(const char* name, int inputs, void (*eval)(EvalContext&)) {
  OpDef d;
  d.op_type = name;
  d.family = OpFamily::kLowered;
  d.min_inputs = inputs;
  d.max_inputs = inputs;
  d.eval = eval;
  return d;
}

const OpRegistrar kQuantize(make("IntQuantize", 4, eval_quantize));
const OpRegistrar kDequantize(make("IntDequantize", 3, eval_dequantize));
const OpRegistrar kFromReal(make("IntFromReal", 3, eval_from_real));
const OpRegistrar kFromFloat(make("IntFromFloat", 1, eval_from_float));
const OpRegistrar kIntAdd([] {
  OpDef d = make("IntAdd", 2, eval_int_add);
  d.max_inputs = 3;
  return d;
}());
const OpRegistrar kIntThreshold([] {
  OpDef d = make("IntThreshold", 3, eval_int_threshold);
  d.max_inputs = 4;
  return d;
}());
const OpRegistrar kIntScale(make("IntScale", 1, eval_int_scale));
const OpRegistrar kFromFloatThresholds(make("IntFromFloatThresholds", 2,
                                            eval_from_float_thresholds));

}  // namespace
}  // namespace bitsmith
