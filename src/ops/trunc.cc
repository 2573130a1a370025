// QONNX Trunc: drops least-significant bits of an already-quantized value
// (SEMANTICS.md "Trunc").
//
// v1 has 5 inputs (x, scale, zeropt, in_bitwidth, out_bitwidth) and keeps the input
// scale; v2 has 6 (x, scale, zeropt, in_bitwidth, out_scale, out_bitwidth), clamps
// to the output range and rescales. The version is the model's opset version of the
// node's domain (1 when the domain is not imported); a 6-input node is taken as v2
// whatever the version, since old files declare none, and a 5-input node under a
// v2 import is an error.
//
// Float mode follows the reference's numpy code stage by stage, each stage in the
// dtype numpy promotes to (int64 parameters make it float64), with the result cast
// to float32 at the end. Exact mode takes every rounding decision on the true value.
#include <cmath>
#include <string>

#include "core/quantize.h"
#include "ops/broadcast.h"
#include "ops/registry.h"

namespace bitsmith {
namespace {

constexpr const char* kV1Inputs = "x, scale, zeropt, in_bitwidth, out_bitwidth";
constexpr const char* kV2Inputs = "x, scale, zeropt, in_bitwidth, out_scale, out_bitwidth";

int version_of(const EvalContext& c) {
  size_t n = c.node().inputs.size();
  if (n == 6) return 2;
  if (c.node().version >= 2) {
    c.fail("Trunc v" + std::to_string(c.node().version) + " takes 6 inputs (" + kV2Inputs +
           "), got " + std::to_string(n) + "; the 5-input form (" + kV1Inputs +
           ") is Trunc v1, which needs the domain imported at version 1");
  }
  if (n != 5) c.fail("Trunc v1 takes 5 inputs (" + std::string(kV1Inputs) + ")");
  return 1;
}

RoundingMode mode_of(const EvalContext& c) {
  try {
    return parse_rounding_mode(c.node().attr_string("rounding_mode", "FLOOR"));
  } catch (const Error& e) {
    c.unsupported(e.what());
  }
}

std::vector<int> bit_widths(const EvalContext& c, size_t input, const char* what) {
  const Tensor& t = c.input(input);
  std::vector<int> bits(static_cast<size_t>(t.size()));
  for (size_t i = 0; i < bits.size(); ++i) {
    double b = t.as_double(static_cast<int64_t>(i));
    if (!(b >= 1 && b <= 63) || b != std::floor(b)) {
      c.fail(std::string(what) + " must be an integer in 1..63, got " + std::to_string(b));
    }
    bits[i] = static_cast<int>(b);
  }
  return bits;
}

// numpy computes a stage in float32 only when all its operands are float32.
bool is_f32(const EvalContext& c, size_t i) {
  return c.input(i).type() != ElemType::kInt64;
}

void eval_v1(EvalContext& c, RoundingMode mode) {
  std::vector<int> in_bits = bit_widths(c, 3, "in_bitwidth");
  std::vector<int> out_bits = bit_widths(c, 4, "out_bitwidth");
  Shape sh[5];
  for (size_t i = 0; i < 5; ++i) sh[i] = c.input(i).shape();
  Shape out_shape = broadcast_shape({sh[0], sh[1], sh[2], sh[3], sh[4]});
  std::array<const Shape*, 5> shapes{&sh[0], &sh[1], &sh[2], &sh[3], &sh[4]};
  if (c.mode() == Mode::kExact) {
    const Tensor& x = c.real_input(0);
    const Tensor& s = c.real_input(1);
    const Tensor& z = c.real_input(2);
    Tensor y(ElemType::kExact, out_shape);
    for_each_broadcast<5>(out_shape, shapes, [&](int64_t o, const std::array<int64_t, 5>& p) {
      y.exact()[o] = trunc_v1_exact(x.exact()[p[0]], s.exact()[p[1]], z.exact()[p[2]],
                                    in_bits[p[3]], out_bits[p[4]], mode);
    });
    return c.set_output(0, std::move(y));
  }
  const Tensor &x = c.input(0), &s = c.input(1), &z = c.input(2);
  TruncDtypes d;
  d.t_f32 = is_f32(c, 0) && is_f32(c, 1) && is_f32(c, 2);
  d.z_f32 = is_f32(c, 2);
  d.k_f32 = is_f32(c, 3) && is_f32(c, 4);
  Tensor y(ElemType::kFloat32, out_shape);
  for_each_broadcast<5>(out_shape, shapes, [&](int64_t o, const std::array<int64_t, 5>& p) {
    y.f32()[o] = trunc_v1_float(x.as_double(p[0]), s.as_double(p[1]), z.as_double(p[2]),
                                in_bits[p[3]], out_bits[p[4]], mode, d);
  });
  c.set_output(0, std::move(y));
}

void eval_v2(EvalContext& c, RoundingMode mode) {
  TruncV2Attrs a;
  a.mode = mode;
  a.is_signed = c.node().attr_int("signed", 1) != 0;
  a.narrow = c.node().attr_int("narrow", 0) != 0;
  bit_widths(c, 3, "in_bitwidth");  // unused by the reference, but must be sane
  std::vector<int> out_bits = bit_widths(c, 5, "out_bitwidth");
  // The input bit width takes no part, so it does not take part in broadcasting.
  Shape sh[5] = {c.input(0).shape(), c.input(1).shape(), c.input(2).shape(), c.input(4).shape(),
                 c.input(5).shape()};
  Shape out_shape = broadcast_shape({sh[0], sh[1], sh[2], sh[3], sh[4]});
  std::array<const Shape*, 5> shapes{&sh[0], &sh[1], &sh[2], &sh[3], &sh[4]};
  if (c.mode() == Mode::kExact) {
    const Tensor& x = c.real_input(0);
    const Tensor& s = c.real_input(1);
    const Tensor& z = c.real_input(2);
    const Tensor& os = c.real_input(4);
    Tensor y(ElemType::kExact, out_shape);
    for_each_broadcast<5>(out_shape, shapes, [&](int64_t o, const std::array<int64_t, 5>& p) {
      y.exact()[o] = trunc_v2_exact(x.exact()[p[0]], s.exact()[p[1]], z.exact()[p[2]],
                                    os.exact()[p[3]], out_bits[p[4]], a);
    });
    return c.set_output(0, std::move(y));
  }
  const Tensor &x = c.input(0), &s = c.input(1), &z = c.input(2), &os = c.input(4);
  TruncDtypes d;
  d.t_f32 = is_f32(c, 0) && is_f32(c, 1) && is_f32(c, 2);
  d.z_f32 = is_f32(c, 2);
  d.k_f32 = is_f32(c, 1) && is_f32(c, 4);
  d.out_bits_f32 = is_f32(c, 5);
  Tensor y(ElemType::kFloat32, out_shape);
  for_each_broadcast<5>(out_shape, shapes, [&](int64_t o, const std::array<int64_t, 5>& p) {
    y.f32()[o] = trunc_v2_float(x.as_double(p[0]), s.as_double(p[1]), z.as_double(p[2]),
                                os.as_double(p[3]), out_bits[p[4]], a, d);
  });
  c.set_output(0, std::move(y));
}

void eval_trunc(EvalContext& c) {
  int version = version_of(c);
  RoundingMode mode = mode_of(c);
  if (version == 2) return eval_v2(c, mode);
  eval_v1(c, mode);
}

bool all_equal(const Tensor& t, double v) {
  for (int64_t i = 0; i < t.size(); ++i) {
    if (t.as_double(i) != v) return false;
  }
  return true;
}

// INT<out_bw> / UINT<out_bw> when the output scale is 1 and the zero point 0, else
// SCALEDINT<out_bw> (the reference says FLOAT32 for every Trunc; the bit width is
// known, so say it). v1 has no signed attribute: it keeps the input's signedness.
DataType trunc_dtype(const EvalContext& c, const std::vector<DataType>& in_types) {
  int version = version_of(c);
  const Tensor& out_bits = c.input(version == 2 ? 5 : 4);
  if (out_bits.size() != 1) return DataType::float32();
  double b = out_bits.as_double(0);
  if (!(b >= 1 && b <= 32)) return DataType::float32();
  int bits = static_cast<int>(b);
  bool is_signed = true;
  if (version == 2) {
    is_signed = c.node().attr_int("signed", 1) != 0;
  } else if (!in_types.empty() && in_types[0].kind() == DataType::Kind::kInt) {
    is_signed = in_types[0].is_signed();
  }
  const Tensor& scale = c.input(version == 2 ? 4 : 1);
  bool unit = all_equal(scale, 1.0) && all_equal(c.input(2), 0.0);
  if (!unit) return DataType::scaled_int(bits);
  return DataType::integer(bits, is_signed);
}

OpDef make() {
  OpDef d;
  d.op_type = "Trunc";
  d.family = OpFamily::kQonnx;
  d.min_inputs = 5;
  d.max_inputs = 6;
  d.eval = eval_trunc;
  d.out_dtype = trunc_dtype;
  return d;
}

const OpRegistrar kTrunc(make());

}  // namespace
}  // namespace bitsmith
