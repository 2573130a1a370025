// QONNX Quant / IntQuant: uniform integer quantization with scale, zero point and
// bit width inputs (SEMANTICS.md "Quant").
#include <cmath>

#include "core/quantize.h"
#include "ops/broadcast.h"
#include "ops/registry.h"

namespace bitsmith {
namespace {

IntQuantAttrs attrs_of(const EvalContext& c) {
  IntQuantAttrs a;
  const Node& n = c.node();
  // The reference requires both flags; files from older exporters still carry them.
  a.is_signed = n.attr_int("signed", 1) != 0;
  a.narrow = n.attr_int("narrow", 0) != 0;
  try {
    a.mode = parse_rounding_mode(n.attr_string("rounding_mode", "ROUND"));
  } catch (const Error& e) {
    c.unsupported(e.what());
  }
  return a;
}

std::vector<int> bit_widths(const EvalContext& c, size_t input) {
  const Tensor& t = c.input(input);
  std::vector<int> bits(static_cast<size_t>(t.size()));
  for (size_t i = 0; i < bits.size(); ++i) {
    double b = t.as_double(static_cast<int64_t>(i));
    if (!(b >= 1 && b <= 32) || b != std::floor(b)) {
      c.fail("bit width must be an integer in 1..32, got " + std::to_string(b));
    }
    bits[i] = static_cast<int>(b);
  }
  return bits;
}

template <class F>
void eval_float(EvalContext& c, const IntQuantAttrs& a) {
  const Tensor& x = c.real_input(0);
  const Tensor& s = c.real_input(1);
  const Tensor& z = c.real_input(2);
  std::vector<int> bits = bit_widths(c, 3);
  Shape out_shape = broadcast_shape({x.shape(), s.shape(), z.shape(), c.input(3).shape()});
  Tensor y(ElemType::kFloat32, out_shape);
  Shape bshape = c.input(3).shape();
  for_each_broadcast<4>(out_shape, {&x.shape(), &s.shape(), &z.shape(), &bshape},
                        [&](int64_t o, const std::array<int64_t, 4>& p) {
                          F v = int_quant_float<F>(x.f32()[p[0]], s.f32()[p[1]], z.f32()[p[2]],
                                                   bits[p[3]], a);
                          y.f32()[o] = static_cast<float>(v);
                        });
  c.set_output(0, std::move(y));
}

void eval_exact(EvalContext& c, const IntQuantAttrs& a) {
  const Tensor& x = c.real_input(0);
  const Tensor& s = c.real_input(1);
  const Tensor& z = c.real_input(2);
  std::vector<int> bits = bit_widths(c, 3);
  Shape out_shape = broadcast_shape({x.shape(), s.shape(), z.shape(), c.input(3).shape()});
  Tensor y(ElemType::kExact, out_shape);
  Shape bshape = c.input(3).shape();
  for_each_broadcast<4>(out_shape, {&x.shape(), &s.shape(), &z.shape(), &bshape},
                        [&](int64_t o, const std::array<int64_t, 4>& p) {
                          y.exact()[o] = int_quant_exact(x.exact()[p[0]], s.exact()[p[1]],
                                                         z.exact()[p[2]], bits[p[3]], a);
                        });
  c.set_output(0, std::move(y));
}

void eval_quant(EvalContext& c) {
  IntQuantAttrs a = attrs_of(c);
  if (c.mode() == Mode::kExact) return eval_exact(c, a);
  // numpy promotes float32 with an int64 scale or zero point to float64, and the
  // qonnx reference then computes the whole quantizer in double.
  bool wide = c.input(1).type() == ElemType::kInt64 || c.input(2).type() == ElemType::kInt64;
  if (wide) return eval_float<double>(c, a);
  eval_float<float>(c, a);
}

DataType quant_dtype(const EvalContext& c, const std::vector<DataType>&) {
  const Tensor& b = c.input(3);
  if (b.size() != 1) return DataType();
  int bits = static_cast<int>(b.as_double(0));
  bool is_signed = c.node().attr_int("signed", 1) != 0;
  if (bits == 1 && is_signed) return DataType::bipolar();
  const Tensor& s = c.input(1);
  const Tensor& z = c.input(2);
  bool unit = true;
  for (int64_t i = 0; i < s.size(); ++i) unit = unit && s.as_double(i) == 1.0;
  for (int64_t i = 0; i < z.size(); ++i) unit = unit && z.as_double(i) == 0.0;
  return unit ? DataType::integer(bits, is_signed) : DataType::scaled_int(bits);
}

OpDef make(const char* name) {
  OpDef d;
  d.op_type = name;
  d.family = OpFamily::kQonnx;
  d.min_inputs = 4;
  d.max_inputs = 4;
  d.eval = eval_quant;
  d.out_dtype = quant_dtype;
  return d;
}

const OpRegistrar kQuant(make("Quant"));
const OpRegistrar kIntQuant(make("IntQuant"));

}  // namespace
}  // namespace bitsmith
