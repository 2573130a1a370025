// QONNX FloatQuant: minifloat quantization such as FP8 E4M3 or FP4 E2M1
// (SEMANTICS.md "FloatQuant"). Inputs x, scale, exponent_bitwidth,
// mantissa_bitwidth, exponent_bias, max_val; attributes rounding_mode, has_inf,
// has_nan, has_subnormal (ignored, as in the reference), saturation.
//
// Float mode reproduces qonnx's numpy float_quant stage by stage (see
// float_quant_float in core/quantize.h), including its floor(log2(.)) taken in
// float32, which puts values just below a power of two in the binade above; exact
// mode uses the true exponent. The two differ only there and only for FLOOR/DOWN
// style modes, and wherever x / scale is inexact in float32.
#include <cmath>
#include <string>

#include "core/quantize.h"
#include "ops/broadcast.h"
#include "ops/registry.h"

namespace bitsmith {
namespace {

FloatQuantAttrs attrs_of(const EvalContext& c) {
  const Node& n = c.node();
  FloatQuantAttrs a;
  try {
    a.mode = parse_rounding_mode(n.attr_string("rounding_mode", "ROUND"));
  } catch (const Error& e) {
    c.unsupported(e.what());
  }
  a.saturation = n.attr_int("saturation", 1) != 0;
  a.has_inf = n.attr_int("has_inf", 0) != 0;
  a.has_nan = n.attr_int("has_nan", 0) != 0;
  return a;
}

// An integer-valued parameter tensor (exponent bits, mantissa bits, bias).
std::vector<int> int_param(const EvalContext& c, size_t input, const char* what) {
  const Tensor& t = c.input(input);
  std::vector<int> v(static_cast<size_t>(t.size()));
  for (size_t i = 0; i < v.size(); ++i) {
    double d = t.as_double(static_cast<int64_t>(i));
    if (!(std::fabs(d) <= 100000) || d != std::floor(d)) {
      c.fail(std::string(what) + " must be an integer, got " + std::to_string(d));
    }
    v[i] = static_cast<int>(d);
  }
  return v;
}

bool is_f32(const EvalContext& c, size_t i) {
  return c.input(i).type() != ElemType::kInt64;
}

void eval_float_quant(EvalContext& c) {
  FloatQuantAttrs a = attrs_of(c);
  std::vector<int> e_bits = int_param(c, 2, "exponent_bitwidth");
  std::vector<int> m_bits = int_param(c, 3, "mantissa_bitwidth");
  std::vector<int> bias = int_param(c, 4, "exponent_bias");
  Shape sh[6];
  for (size_t i = 0; i < 6; ++i) sh[i] = c.input(i).shape();
  Shape out_shape = broadcast_shape({sh[0], sh[1], sh[2], sh[3], sh[4], sh[5]});
  std::array<const Shape*, 6> shapes{&sh[0], &sh[1], &sh[2], &sh[3], &sh[4], &sh[5]};
  auto format = [&](const std::array<int64_t, 6>& p) {
    MiniFloatFormat f{e_bits[p[2]], m_bits[p[3]], bias[p[4]]};
    try {
      check_float_quant(f, a);
    } catch (const Error& e) {
      c.fail(e.what());
    }
    return f;
  };
  if (c.mode() == Mode::kExact) {
    const Tensor& x = c.real_input(0);
    const Tensor& s = c.real_input(1);
    const Tensor& mv = c.real_input(5);
    Tensor y(ElemType::kExact, out_shape);
    for_each_broadcast<6>(out_shape, shapes, [&](int64_t o, const std::array<int64_t, 6>& p) {
      y.exact()[o] =
          float_quant_exact(x.exact()[p[0]], s.exact()[p[1]], mv.exact()[p[5]], format(p), a);
    });
    return c.set_output(0, std::move(y));
  }
  const Tensor &x = c.input(0), &s = c.input(1), &mv = c.input(5);
  FloatQuantDtypes d;
  d.x_f32 = is_f32(c, 0) && is_f32(c, 1);
  d.params_f32 = is_f32(c, 3) && is_f32(c, 4);
  d.exp_and_bias_f32 = is_f32(c, 2) && is_f32(c, 4);
  Tensor y(ElemType::kFloat32, out_shape);
  for_each_broadcast<6>(out_shape, shapes, [&](int64_t o, const std::array<int64_t, 6>& p) {
    y.f32()[o] = float_quant_float(x.as_double(p[0]), s.as_double(p[1]), mv.as_double(p[5]),
                                   format(p), a, d);
  });
  c.set_output(0, std::move(y));
}

// FLOAT<E,M,bias> when the scale is 1 and the format parameters are scalars, else
// FLOAT32, as the reference infers.
DataType float_quant_dtype(const EvalContext& c, const std::vector<DataType>&) {
  const Tensor& s = c.input(1);
  for (int64_t i = 0; i < s.size(); ++i) {
    if (s.as_double(i) != 1.0) return DataType::float32();
  }
  for (size_t i = 2; i <= 4; ++i) {
    if (c.input(i).size() != 1) return DataType::float32();
  }
  int e = static_cast<int>(c.input(2).as_double(0));
  int m = static_cast<int>(c.input(3).as_double(0));
  int b = static_cast<int>(c.input(4).as_double(0));
  if (e < 1 || e > 8 || m < 0 || m > 23) return DataType::float32();  // beyond DataType's range
  return DataType::minifloat(e, m, b);
}

OpDef make() {
  OpDef d;
  d.op_type = "FloatQuant";
  d.family = OpFamily::kQonnx;
  d.min_inputs = 6;
  d.max_inputs = 6;
  d.eval = eval_float_quant;
  d.out_dtype = float_quant_dtype;
  return d;
}

const OpRegistrar kFloatQuant(make());

}  // namespace
}  // namespace bitsmith
