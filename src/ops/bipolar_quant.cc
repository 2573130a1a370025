// QONNX BipolarQuant: y = (x >= 0 ? +1 : -1) * s (SEMANTICS.md "BipolarQuant").
//
// No rounding takes place, so float and exact meaning agree on every finite input.
// They differ on NaN: the reference's np.where(x >= 0, 1, -1) sends NaN to -s, which
// float mode reproduces; exact mode keeps NaN as NaN, like Quant's exact mode.
#include <cmath>

#include "ops/broadcast.h"
#include "ops/registry.h"

namespace bitsmith {
namespace {

void eval_float(EvalContext& c) {
  const Tensor& x = c.input(0);
  const Tensor& s = c.input(1);
  Shape out_shape = broadcast_shape({x.shape(), s.shape()});
  Tensor y(ElemType::kFloat32, out_shape);
  // +-1 times the scale is exact in float32 and in float64 (an int64 scale makes
  // numpy compute in float64); the one rounding is the cast to float32.
  for_each_broadcast<2>(out_shape, {&x.shape(), &s.shape()},
                        [&](int64_t o, const std::array<int64_t, 2>& p) {
                          double sign = x.as_double(p[0]) >= 0 ? 1.0 : -1.0;
                          y.f32()[o] = static_cast<float>(sign * s.as_double(p[1]));
                        });
  c.set_output(0, std::move(y));
}

void eval_exact(EvalContext& c) {
  const Tensor& x = c.real_input(0);
  const Tensor& s = c.real_input(1);
  Shape out_shape = broadcast_shape({x.shape(), s.shape()});
  Tensor y(ElemType::kExact, out_shape);
  const Exact zero;
  for_each_broadcast<2>(out_shape, {&x.shape(), &s.shape()},
                        [&](int64_t o, const std::array<int64_t, 2>& p) {
                          const Exact& v = x.exact()[p[0]];
                          const Exact& sc = s.exact()[p[1]];
                          y.exact()[o] = v.is_nan() ? Exact::nan() : (v >= zero ? sc : -sc);
                        });
  c.set_output(0, std::move(y));
}

void eval_bipolar(EvalContext& c) {
  if (c.mode() == Mode::kExact) return eval_exact(c);
  eval_float(c);
}

// BIPOLAR when every scale is 1, else FLOAT32, as the reference infers.
DataType bipolar_dtype(const EvalContext& c, const std::vector<DataType>&) {
  const Tensor& s = c.input(1);
  for (int64_t i = 0; i < s.size(); ++i) {
    if (s.as_double(i) != 1.0) return DataType::float32();
  }
  return DataType::bipolar();
}

OpDef make() {
  OpDef d;
  d.op_type = "BipolarQuant";
  d.family = OpFamily::kQonnx;
  d.min_inputs = 2;
  d.max_inputs = 2;
  d.eval = eval_bipolar;
  d.out_dtype = bipolar_dtype;
  return d;
}

const OpRegistrar kBipolarQuant(make());

}  // namespace
}  // namespace bitsmith
