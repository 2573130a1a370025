// Standard ONNX elementwise ops: arithmetic (Add, Sub, Mul, Div), activations (Relu,
// LeakyRelu, Clip, Sigmoid, Tanh), Identity, Cast and simple unary math.
//
// Float mode computes in float32 exactly as IEEE does, so the basic arithmetic,
// Relu, Clip, Sqrt, Neg, Abs, Floor, Ceil and Round agree with onnxruntime bit for
// bit. Sigmoid, Tanh, Exp and Erf use onnxruntime's own float32 approximations
// (ort_math.h), which also agree bit for bit.
//
// Exact mode keeps every value exact. Ops with no finite exact value (Sigmoid,
// Tanh, Exp, Erf, and Sqrt of a non-square) are evaluated in double from the
// input's nearest double and the double result is taken as an exact dyadic
// (SEMANTICS.md, "Three levels of meaning"); they do not use the float32
// approximations of float mode.
//
// int64 inputs (shape arithmetic) stay int64: Add/Sub/Mul/Div of two int64
// tensors give int64, with overflow and division by zero reported as errors and
// Div truncating toward zero, as onnxruntime's integer Div does.
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <functional>
#include <type_traits>

#include "core/quantize.h"
#include "ops/broadcast.h"
#include "ops/ort_math.h"
#include "ops/registry.h"

namespace bitsmith {
namespace {

// ---------------------------------------------------------------------------
// Binary arithmetic

enum class Arith { kAdd, kSub, kMul, kDiv };

// float32 (IEEE, as onnxruntime) or Exact: the same four operators.
template <class T>
T apply(Arith op, const T& a, const T& b) {
  switch (op) {
    case Arith::kAdd:
      return a + b;
    case Arith::kSub:
      return a - b;
    case Arith::kMul:
      return a * b;
    case Arith::kDiv:
      break;
  }
  return a / b;
}

int64_t apply_int(const EvalContext& c, Arith op, int64_t a, int64_t b) {
  int64_t r = 0;
  bool overflow = false;
  switch (op) {
    case Arith::kAdd:
      overflow = __builtin_add_overflow(a, b, &r);
      break;
    case Arith::kSub:
      overflow = __builtin_sub_overflow(a, b, &r);
      break;
    case Arith::kMul:
      overflow = __builtin_mul_overflow(a, b, &r);
      break;
    case Arith::kDiv:
      if (b == 0) c.fail("integer division by zero");
      overflow = a == INT64_MIN && b == -1;
      if (!overflow) r = a / b;  // C++ truncates toward zero, like onnxruntime
      break;
  }
  if (overflow) {
    c.fail("int64 overflow computing " + std::to_string(a) + " and " + std::to_string(b));
  }
  return r;
}

// y[o] = fn(a[i], b[j]) over the broadcast of the two shapes; same-shape and
// scalar operands skip the odometer.
template <class T, class Fn>
Tensor broadcast_binary(const Tensor& a, const Tensor& b, Fn&& fn) {
  Shape out = broadcast_shape({a.shape(), b.shape()});
  Tensor y(elem_type_of<T>(), out);
  const auto& av = a.data<T>();
  const auto& bv = b.data<T>();
  auto& yv = y.data<T>();
  if (a.shape() == out && b.shape() == out) {
    for (size_t i = 0; i < yv.size(); ++i) yv[i] = fn(av[i], bv[i]);
  } else if (a.shape() == out && bv.size() == 1) {
    for (size_t i = 0; i < yv.size(); ++i) yv[i] = fn(av[i], bv[0]);
  } else {
    for_each_broadcast<2>(out, {&a.shape(), &b.shape()},
                          [&](int64_t o, const std::array<int64_t, 2>& p) {
                            yv[static_cast<size_t>(o)] =
                                fn(av[static_cast<size_t>(p[0])], bv[static_cast<size_t>(p[1])]);
                          });
  }
  return y;
}

void eval_arith(EvalContext& c, Arith op) {
  const Tensor& a0 = c.input(0);
  const Tensor& b0 = c.input(1);
  if (a0.type() == ElemType::kInt64 && b0.type() == ElemType::kInt64) {
    c.set_output(0, broadcast_binary<int64_t>(
                        a0, b0, [&](int64_t a, int64_t b) { return apply_int(c, op, a, b); }));
    return;
  }
  const Tensor& a = c.real_input(0);
  const Tensor& b = c.real_input(1);
  if (c.mode() == Mode::kExact) {
    c.set_output(0, broadcast_binary<Exact>(
                        a, b, [op](const Exact& x, const Exact& y) { return apply(op, x, y); }));
  } else {
    c.set_output(0,
                 broadcast_binary<float>(a, b, [op](float x, float y) { return apply(op, x, y); }));
  }
}

// ---------------------------------------------------------------------------
// Unary ops: one function per storage; int_fn may be empty, then int64 inputs
// are converted to the mode's real type first.

struct UnaryFns {
  std::function<float(float)> f;
  std::function<Exact(const Exact&)> x;
  std::function<int64_t(const EvalContext&, int64_t)> i;
};

template <class T, class Fn>
Tensor map_unary(const Tensor& in, Fn&& fn) {
  Tensor y(elem_type_of<T>(), in.shape());
  const auto& iv = in.data<T>();
  auto& yv = y.data<T>();
  for (size_t k = 0; k < yv.size(); ++k) yv[k] = fn(iv[k]);
  return y;
}

void eval_unary(EvalContext& c, const UnaryFns& fns) {
  const Tensor& in = c.input(0);
  if (in.type() == ElemType::kInt64 && fns.i) {
    c.set_output(0, map_unary<int64_t>(in, [&](int64_t v) { return fns.i(c, v); }));
    return;
  }
  const Tensor& x = c.real_input(0);
  if (c.mode() == Mode::kExact) {
    c.set_output(0, map_unary<Exact>(x, fns.x));
  } else {
    c.set_output(0, map_unary<float>(x, fns.f));
  }
}

// A double-precision evaluation of a function with no finite exact value, used by
// exact mode (see the file comment).
Exact via_double(double (*fn)(double), const Exact& v) {
  return Exact::from_double(fn(v.to_double()));
}

double sigmoid(double v) {
  return 1.0 / (1.0 + std::exp(-v));
}
double tanh_d(double v) {
  return std::tanh(v);
}
double exp_d(double v) {
  return std::exp(v);
}
double erf_d(double v) {
  return std::erf(v);
}
double sqrt_d(double v) {
  return std::sqrt(v);
}

int64_t checked_neg(const EvalContext& c, int64_t v) {
  if (v == INT64_MIN) c.fail("int64 overflow negating " + std::to_string(v));
  return -v;
}

// Floor/Ceil/Round go through quantize.h, the one home of rounding.
UnaryFns rounding(RoundingMode mode) {
  UnaryFns u;
  u.f = [mode](float v) { return round_float<float>(v, mode); };
  u.x = [mode](const Exact& v) {
    if (!v.is_finite() || v.is_integer()) return v;
    return Exact::from_int(round_exact(v, mode));
  };
  u.i = [](const EvalContext&, int64_t v) { return v; };
  return u;
}

UnaryFns relu() {
  UnaryFns u;
  // NaN and -0 pass through, as in onnxruntime.
  u.f = [](float v) { return v < 0 ? 0.0f : v; };
  u.x = [](const Exact& v) { return v.is_nan() || v.sign() > 0 ? v : Exact(); };
  u.i = [](const EvalContext&, int64_t v) { return v > 0 ? v : 0; };
  return u;
}

UnaryFns leaky_relu(float alpha) {
  UnaryFns u;
  Exact ax = Exact::from_double(alpha);
  u.f = [alpha](float v) { return v < 0 ? v * alpha : v; };
  u.x = [ax](const Exact& v) { return v.sign() < 0 ? v * ax : v; };
  return u;
}

UnaryFns sqrt_fns() {
  UnaryFns u;
  u.f = [](float v) { return std::sqrt(v); };  // IEEE sqrt is correctly rounded
  u.x = [](const Exact& v) {
    if (v.sign() < 0) return Exact::nan();
    return via_double(sqrt_d, v);
  };
  return u;
}

// float_fn gives float mode (onnxruntime's approximation, or the double function
// rounded once when float_fn is null); exact mode always evaluates fn in double.
UnaryFns transcendental(double (*fn)(double), float (*float_fn)(float) = nullptr) {
  UnaryFns u;
  if (float_fn) {
    u.f = float_fn;
  } else {
    u.f = [fn](float v) { return static_cast<float>(fn(static_cast<double>(v))); };
  }
  u.x = [fn](const Exact& v) { return via_double(fn, v); };
  return u;
}

// Quantized type of Abs/Neg: |INT<b>| fits UINT<b>, -INT<b> needs INT<b+1>.
DataType abs_dtype(const EvalContext&, const std::vector<DataType>& in) {
  const DataType& t = in.at(0);
  if (t.kind() == DataType::Kind::kInt)
    return t.is_signed() ? DataType::integer(t.bits(), false) : t;
  return DataType();
}

DataType neg_dtype(const EvalContext&, const std::vector<DataType>& in) {
  const DataType& t = in.at(0);
  if (t.kind() == DataType::Kind::kBipolar || t.kind() == DataType::Kind::kTernary) return t;
  if (t.kind() == DataType::Kind::kInt && t.bits() < 32)
    return DataType::integer(t.bits() + 1, true);
  return DataType();
}

// Relu keeps the non-negative part of a type: INT<b> becomes UINT<b-1>, BIPOLAR and
// TERNARY become BINARY ({0, 1}); the other types hold 0 and stay.
DataType relu_dtype(const EvalContext&, const std::vector<DataType>& in) {
  const DataType& t = in.at(0);
  switch (t.kind()) {
    case DataType::Kind::kInt:
      return t.is_signed() ? DataType::integer(t.bits() > 1 ? t.bits() - 1 : 1, false) : t;
    case DataType::Kind::kBipolar:
    case DataType::Kind::kTernary:
      return DataType::integer(1, false);
    default:
      return t;
  }
}

// Rounding an integer type changes nothing; rounding anything else gives an
// integer of unknown width.
DataType integer_preserving(const EvalContext&, const std::vector<DataType>& in) {
  return in.at(0).is_integer() ? in.at(0) : DataType();
}

// ---------------------------------------------------------------------------
// Clip: bounds are optional inputs from opset 11 on, attributes before.

template <class T>
T clip_value(T v, const T& lo, const T& hi) {
  // NaN fails both tests and stays NaN; lo > hi gives hi, as onnxruntime does.
  if (v < lo) v = lo;
  if (v > hi) v = hi;
  return v;
}

// Clip only produces input values or its bounds, so an integer range type stays
// when every bound given is an integer inside it; other types stay only unbounded.
DataType clip_dtype(const EvalContext& c, const std::vector<DataType>& in) {
  const DataType& t = in.at(0);
  const Node& n = c.node();
  std::vector<double> bounds;
  if (n.version >= 11) {
    for (size_t i = 1; i < 3; ++i) {
      if (c.has_input(i)) bounds.push_back(c.input(i).as_double(0));
    }
  } else {
    float lo = n.attr_float("min", -FLT_MAX), hi = n.attr_float("max", FLT_MAX);
    if (lo != -FLT_MAX) bounds.push_back(lo);
    if (hi != FLT_MAX) bounds.push_back(hi);
  }
  if (bounds.empty()) return t;
  bool range_type = t.kind() == DataType::Kind::kInt || t.kind() == DataType::Kind::kTernary;
  for (double b : bounds) {
    if (!range_type || b != std::floor(b) || b < t.min() || b > t.max()) return DataType();
  }
  return t;
}

void eval_clip(EvalContext& c) {
  const Tensor& in = c.input(0);
  const Node& n = c.node();
  bool as_inputs = n.version >= 11;
  auto bound = [&](size_t idx) -> const Tensor* {
    if (!as_inputs || !c.has_input(idx)) return nullptr;
    const Tensor& t = c.input(idx);
    if (t.size() != 1) c.fail("Clip bound (input " + std::to_string(idx) + ") must be a scalar");
    return &t;
  };
  const Tensor* lo_t = bound(1);
  const Tensor* hi_t = bound(2);
  // Before opset 11 the bounds are float attributes defaulting to the float range.
  float lo_attr = n.attr_float("min", -FLT_MAX);
  float hi_attr = n.attr_float("max", FLT_MAX);
  if (in.type() == ElemType::kInt64) {
    auto int_bound = [&](const Tensor* t, float attr, int64_t open) {
      if (t) return t->as_int(0);
      if (as_inputs || std::fabs(attr) >= 9.2e18f) return open;
      return static_cast<int64_t>(attr);
    };
    int64_t lo = int_bound(lo_t, lo_attr, INT64_MIN);
    int64_t hi = int_bound(hi_t, hi_attr, INT64_MAX);
    c.set_output(0, map_unary<int64_t>(in, [&](int64_t v) { return clip_value(v, lo, hi); }));
    return;
  }
  const Tensor& x = c.real_input(0);
  if (c.mode() == Mode::kExact) {
    auto exact_bound = [&](const Tensor* t, float attr, bool upper) {
      if (t) return t->to(ElemType::kExact).exact()[0];
      return as_inputs ? Exact::inf(!upper) : Exact::from_double(attr);
    };
    Exact lo = exact_bound(lo_t, lo_attr, false);
    Exact hi = exact_bound(hi_t, hi_attr, true);
    c.set_output(0, map_unary<Exact>(x, [&](const Exact& v) { return clip_value(v, lo, hi); }));
  } else {
    auto float_bound = [&](const Tensor* t, float attr, bool upper) {
      if (t) return t->to(ElemType::kFloat32).f32()[0];
      return as_inputs ? (upper ? INFINITY : -INFINITY) : attr;
    };
    float lo = float_bound(lo_t, lo_attr, false);
    float hi = float_bound(hi_t, hi_attr, true);
    c.set_output(0, map_unary<float>(x, [&](float v) { return clip_value(v, lo, hi); }));
  }
}

// ---------------------------------------------------------------------------
// Cast. Storage is float32, int64 or Exact, so ONNX element types map onto these:
// FLOAT and DOUBLE give the mode's real type (in exact mode the exact value is
// kept and NOT rounded to float32: a Cast to FLOAT between exact ops is a no-op;
// in float mode DOUBLE is stored as float32); the integer types give int64
// storage; BOOL gives 0/1. FLOAT16, BFLOAT16, STRING and complex types are not
// supported.
//
// Real to integer truncates toward zero. Out-of-range values (and NaN, inf) are
// undefined behaviour in C++, so onnxruntime gives whatever its x86-64 build's
// conversion instructions give; bitsmith reproduces that in both modes (checked
// against onnxruntime 1.32): signed targets up to 32 bits and UINT8/UINT16 convert
// through a 32-bit integer, INT64 through a 64-bit one, an out-of-range value
// becoming the most negative integer of that width, and the result is wrapped to
// the target's width (Cast(300.5 -> INT8) = 44, Cast(1e10 -> INT32) = -2^31).
// UINT32 and UINT64 convert values >= 2^31 (2^63) by subtracting that power first
// and setting the top bit after. UINT64 is stored as int64, so values of 2^63 and
// above read back as negative.

enum OnnxType : int64_t {
  kFloat = 1,
  kUint8 = 2,
  kInt8 = 3,
  kUint16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kDouble = 11,
  kUint32 = 12,
  kUint64 = 13,
  kBfloat16 = 16,
};

// An integer target: its width and signedness (bits 64 means no wrap), and the
// width of the machine conversion from a real value (32 or 64).
struct IntTarget {
  int bits;
  bool is_signed;
  int convert_bits;
};

IntTarget int_target(int64_t to) {
  switch (to) {
    case kUint8:
      return {8, false, 32};
    case kInt8:
      return {8, true, 32};
    case kUint16:
      return {16, false, 32};
    case kInt16:
      return {16, true, 32};
    case kInt32:
      return {32, true, 32};
    case kUint32:
      return {32, false, 32};
    case kUint64:
      return {64, false, 64};
    default:
      return {64, true, 64};
  }
}

int64_t wrap_to(int64_t v, IntTarget t) {
  if (t.bits == 64) return v;
  uint64_t mask = (uint64_t{1} << t.bits) - 1;
  uint64_t u = static_cast<uint64_t>(v) & mask;
  if (t.is_signed && (u >> (t.bits - 1)) != 0)
    return static_cast<int64_t>(u) - (int64_t{1} << t.bits);
  return static_cast<int64_t>(u);
}

// Truncation toward zero when the result fits `bits` signed bits; else the most
// negative value of that width (x86's "integer indefinite").
int64_t machine_convert(double v, int bits) {
  double t = std::trunc(v);
  double limit = std::ldexp(1.0, bits - 1);
  if (!(t >= -limit && t < limit)) return bits == 32 ? INT32_MIN : INT64_MIN;
  return static_cast<int64_t>(t);
}

int64_t machine_convert(const Exact& v, int bits) {
  Exact limit = Exact::make(1, 1, bits - 1);
  if (!v.is_finite() || v >= limit || v <= -limit - Exact::from_int(1)) {
    return bits == 32 ? INT32_MIN : INT64_MIN;
  }
  return static_cast<int64_t>(v.sign() < 0 ? v.ceil() : v.floor());
}

// A real value converted to target t, before wrapping to t's width.
template <class T>
int64_t convert_real(const T& v, IntTarget t) {
  if (t.is_signed || t.bits < 32) return machine_convert(v, t.convert_bits);
  // Unsigned 32/64-bit: values from 2^(bits-1) up are shifted down first.
  const int b = t.convert_bits;
  bool high;
  if constexpr (std::is_same_v<T, Exact>) {
    high = v >= Exact::make(1, 1, b - 1);
  } else {
    high = v >= std::ldexp(1.0, b - 1);
  }
  if (!high) return machine_convert(v, b);
  uint64_t top = uint64_t{1} << (b - 1);
  uint64_t r;
  if constexpr (std::is_same_v<T, Exact>) {
    r = static_cast<uint64_t>(machine_convert(v - Exact::make(1, 1, b - 1), b)) ^ top;
  } else {
    r = static_cast<uint64_t>(machine_convert(v - std::ldexp(1.0, b - 1), b)) ^ top;
  }
  return b == 32 ? static_cast<int64_t>(r & 0xFFFFFFFFu) : static_cast<int64_t>(r);
}

void eval_cast(EvalContext& c) {
  int64_t to = c.node().attr_int("to");
  const Tensor& in = c.input(0);
  switch (to) {
    case kFloat:
    case kDouble:
      c.set_output(0, c.real_input(0));
      return;
    case kBool: {
      Tensor y(ElemType::kInt64, in.shape());
      for (int64_t k = 0; k < in.size(); ++k) {
        bool nz = in.type() == ElemType::kInt64   ? in.i64()[static_cast<size_t>(k)] != 0
                  : in.type() == ElemType::kExact ? !in.exact()[static_cast<size_t>(k)].is_zero()
                                                  : in.f32()[static_cast<size_t>(k)] != 0.0f;
        y.i64()[static_cast<size_t>(k)] = nz ? 1 : 0;
      }
      c.set_output(0, std::move(y));
      return;
    }
    case kUint8:
    case kInt8:
    case kUint16:
    case kInt16:
    case kInt32:
    case kUint32:
    case kInt64:
    case kUint64: {
      IntTarget t = int_target(to);
      Tensor y(ElemType::kInt64, in.shape());
      auto& out = y.i64();
      for (size_t k = 0; k < out.size(); ++k) {
        int64_t v = in.type() == ElemType::kInt64   ? in.i64()[k]
                    : in.type() == ElemType::kExact ? convert_real(in.exact()[k], t)
                                                    : convert_real(double{in.f32()[k]}, t);
        out[k] = wrap_to(v, t);
      }
      c.set_output(0, std::move(y));
      return;
    }
    default:
      break;
  }
  c.unsupported("Cast to ONNX element type " + std::to_string(to) +
                " is not supported (supported: FLOAT, DOUBLE, BOOL and the integer types)");
}

DataType cast_dtype(const EvalContext& c, const std::vector<DataType>& in) {
  int64_t to = c.node().attr_int("to");
  switch (to) {
    case kFloat:
    case kDouble:
      return in.at(0);
    case kInt64:
    case kUint64:
      return in.at(0).is_integer() ? in.at(0) : DataType();
    case kBool:
      return DataType::integer(1, false);
    default:
      break;
  }
  IntTarget t = int_target(to);
  if (t.bits == 64) return DataType();
  DataType target = DataType::integer(t.bits, t.is_signed);
  // An integer type that fits the target keeps its tighter name.
  const DataType& src = in.at(0);
  if (src.is_integer() && src.min() >= target.min() && src.max() <= target.max()) return src;
  return target;
}

// ---------------------------------------------------------------------------
// Registration

OpDef op(const char* name, int min_in, int max_in, std::function<void(EvalContext&)> eval,
         bool preserves = false) {
  OpDef d;
  d.op_type = name;
  d.family = OpFamily::kOnnx;
  d.min_inputs = min_in;
  d.max_inputs = max_in;
  d.eval = std::move(eval);
  d.preserves_dtype = preserves;
  return d;
}

OpDef arith(const char* name, Arith a) {
  return op(name, 2, 2, [a](EvalContext& c) { eval_arith(c, a); });
}

OpDef unary(const char* name, UnaryFns fns, bool preserves = false) {
  return op(
      name, 1, 1, [fns](EvalContext& c) { eval_unary(c, fns); }, preserves);
}

OpDef with_dtype(OpDef d,
                 std::function<DataType(const EvalContext&, const std::vector<DataType>&)> f) {
  d.out_dtype = std::move(f);
  return d;
}

UnaryFns neg_fns() {
  UnaryFns u;
  u.f = [](float v) { return -v; };
  u.x = [](const Exact& v) { return -v; };
  u.i = checked_neg;
  return u;
}

UnaryFns abs_fns() {
  UnaryFns u;
  u.f = [](float v) { return std::fabs(v); };
  u.x = [](const Exact& v) { return v.sign() < 0 ? -v : v; };
  u.i = [](const EvalContext& c, int64_t v) { return v < 0 ? checked_neg(c, v) : v; };
  return u;
}

const OpRegistrar kAdd(arith("Add", Arith::kAdd));
const OpRegistrar kSub(arith("Sub", Arith::kSub));
const OpRegistrar kMul(arith("Mul", Arith::kMul));
const OpRegistrar kDiv(arith("Div", Arith::kDiv));

const OpRegistrar kRelu(with_dtype(unary("Relu", relu()), relu_dtype));
const OpRegistrar kLeakyRelu(op("LeakyRelu", 1, 1, [](EvalContext& c) {
  eval_unary(c, leaky_relu(c.node().attr_float("alpha", 0.01f)));
}));
const OpRegistrar kClip(with_dtype(op("Clip", 1, 3, eval_clip), clip_dtype));
const OpRegistrar kSigmoid(unary("Sigmoid", transcendental(sigmoid, ort::logistic)));
const OpRegistrar kTanh(unary("Tanh", transcendental(tanh_d, ort::tanh)));
const OpRegistrar kExp(unary("Exp", transcendental(exp_d, ort::exp)));
const OpRegistrar kErf(unary("Erf", transcendental(erf_d, ort::erf)));
const OpRegistrar kSqrt(unary("Sqrt", sqrt_fns()));
const OpRegistrar kNeg(with_dtype(unary("Neg", neg_fns()), neg_dtype));
const OpRegistrar kAbs(with_dtype(unary("Abs", abs_fns()), abs_dtype));
const OpRegistrar kFloor(with_dtype(unary("Floor", rounding(RoundingMode::kFloor)),
                                    integer_preserving));
const OpRegistrar kCeil(with_dtype(unary("Ceil", rounding(RoundingMode::kCeil)),
                                   integer_preserving));
// ONNX Round breaks ties to even.
const OpRegistrar kRound(with_dtype(unary("Round", rounding(RoundingMode::kHalfEven)),
                                    integer_preserving));
const OpRegistrar kIdentity(op(
    "Identity", 1, 1, [](EvalContext& c) { c.set_output(0, c.take_input(0)); }, true));
const OpRegistrar kCast(with_dtype(op("Cast", 1, 1, eval_cast), cast_dtype));

}  // namespace
}  // namespace bitsmith
