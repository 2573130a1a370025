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
#include <array>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

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

using Index5 = std::array<int64_t, 5>;

// Trunc's five broadcast operands (v1 and v2 pick different inputs): their shapes
// and the output shape, which is checked on construction.
class Broadcast5 {
 public:
  explicit Broadcast5(std::array<Shape, 5> shapes)
      : sh_(std::move(shapes)), out_(broadcast_shape({sh_[0], sh_[1], sh_[2], sh_[3], sh_[4]})) {}

  // A tensor of the output shape with y[o] = fn(p), where p[k] is the flat index
  // into operand k for output element o.
  template <class T, class Fn>
  Tensor map(Fn&& fn) const {
    std::array<const Shape*, 5> shapes{&sh_[0], &sh_[1], &sh_[2], &sh_[3], &sh_[4]};
    Tensor y(elem_type_of<T>(), out_);
    std::vector<T>& v = y.data<T>();
    for_each_broadcast<5>(out_, shapes, [&](int64_t o, const Index5& p) { v[o] = fn(p); });
    return y;
  }

 private:
  std::array<Shape, 5> sh_;
  Shape out_;
};

void eval_v1(EvalContext& c, RoundingMode mode) {
  std::vector<int> in_bits = bit_widths(c, 3, "in_bitwidth");
  std::vector<int> out_bits = bit_widths(c, 4, "out_bitwidth");
  const Broadcast5 b({c.input(0).shape(), c.input(1).shape(), c.input(2).shape(),
                      c.input(3).shape(), c.input(4).shape()});
  if (c.mode() == Mode::kExact) {
    const Tensor& x = c.real_input(0);
    const Tensor& s = c.real_input(1);
    const Tensor& z = c.real_input(2);
    return c.set_output(0, b.map<Exact>([&](const Index5& p) {
      return trunc_v1_exact(x.exact()[p[0]], s.exact()[p[1]], z.exact()[p[2]], in_bits[p[3]],
                            out_bits[p[4]], mode);
    }));
  }
  const Tensor &x = c.input(0), &s = c.input(1), &z = c.input(2);
  TruncDtypes d;
  d.t_f32 = is_f32(c, 0) && is_f32(c, 1) && is_f32(c, 2);
  d.z_f32 = is_f32(c, 2);
  d.k_f32 = is_f32(c, 3) && is_f32(c, 4);
  c.set_output(0, b.map<float>([&](const Index5& p) {
    return trunc_v1_float(x.as_double(p[0]), s.as_double(p[1]), z.as_double(p[2]), in_bits[p[3]],
                          out_bits[p[4]], mode, d);
  }));
}

void eval_v2(EvalContext& c, RoundingMode mode) {
  TruncV2Attrs a;
  a.mode = mode;
  a.is_signed = c.node().attr_int("signed", 1) != 0;
  a.narrow = c.node().attr_int("narrow", 0) != 0;
  bit_widths(c, 3, "in_bitwidth");  // unused by the reference, but must be sane
  std::vector<int> out_bits = bit_widths(c, 5, "out_bitwidth");
  // The input bit width takes no part, so it does not take part in broadcasting.
  const Broadcast5 b({c.input(0).shape(), c.input(1).shape(), c.input(2).shape(),
                      c.input(4).shape(), c.input(5).shape()});
  if (c.mode() == Mode::kExact) {
    const Tensor& x = c.real_input(0);
    const Tensor& s = c.real_input(1);
    const Tensor& z = c.real_input(2);
    const Tensor& os = c.real_input(4);
    return c.set_output(0, b.map<Exact>([&](const Index5& p) {
      return trunc_v2_exact(x.exact()[p[0]], s.exact()[p[1]], z.exact()[p[2]], os.exact()[p[3]],
                            out_bits[p[4]], a);
    }));
  }
  const Tensor &x = c.input(0), &s = c.input(1), &z = c.input(2), &os = c.input(4);
  TruncDtypes d;
  d.t_f32 = is_f32(c, 0) && is_f32(c, 1) && is_f32(c, 2);
  d.z_f32 = is_f32(c, 2);
  d.k_f32 = is_f32(c, 1) && is_f32(c, 4);
  d.out_bits_f32 = is_f32(c, 5);
  c.set_output(0, b.map<float>([&](const Index5& p) {
    return trunc_v2_float(x.as_double(p[0]), s.as_double(p[1]), z.as_double(p[2]),
                          os.as_double(p[3]), out_bits[p[4]], a, d);
  }));
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
