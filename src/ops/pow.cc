// Pow: older Brevitas exports spell BatchNorm's square root as Pow(var + eps, 0.5).
//
// Float mode calls powf on float32 operands, as onnxruntime's Pow kernel does.
// Exact mode multiplies exactly for small integer exponents; any other exponent
// has no finite exact result in general, so it is evaluated in double from the
// inputs' nearest doubles and the double taken as exact (like Sqrt and Sigmoid).
#include <cmath>

#include "ops/broadcast.h"
#include "ops/registry.h"

namespace bitsmith {
namespace {

Exact exact_pow(const Exact& x, const Exact& y) {
  if (y.is_integer() && x.is_finite()) {
    i128 n = y.floor();
    if (n >= -64 && n <= 64) {
      Exact r = Exact::from_int(1);
      for (i128 k = 0; k < (n < 0 ? -n : n); ++k) r = r * x;
      return n < 0 ? Exact::from_int(1) / r : r;
    }
  }
  return Exact::from_double(std::pow(x.to_double(), y.to_double()));
}

void eval_pow(EvalContext& c) {
  const Tensor& x = c.real_input(0);
  const Tensor& y = c.real_input(1);
  Shape out = broadcast_shape({x.shape(), y.shape()});
  Tensor r(c.real_type(), out);
  if (c.mode() == Mode::kExact) {
    for_each_broadcast<2>(out, {&x.shape(), &y.shape()},
                          [&](int64_t o, const std::array<int64_t, 2>& p) {
                            r.exact()[o] = exact_pow(x.exact()[p[0]], y.exact()[p[1]]);
                          });
  } else {
    for_each_broadcast<2>(out, {&x.shape(), &y.shape()},
                          [&](int64_t o, const std::array<int64_t, 2>& p) {
                            r.f32()[o] = std::pow(x.f32()[p[0]], y.f32()[p[1]]);
                          });
  }
  c.set_output(0, std::move(r));
}

OpDef make_pow() {
  OpDef d;
  d.op_type = "Pow";
  d.min_inputs = 2;
  d.max_inputs = 2;
  d.eval = eval_pow;
  return d;
}

const OpRegistrar kPow(make_pow());

}  // namespace
}  // namespace bitsmith
