// IntRequant: requantization of an integer accumulator by an exact rational
// multiplier, emitted by the lowering pass (src/passes/lower.cc) where thresholds
// would need too many levels (a 16-bit quantizer after a layer).
//
//   IntRequant(acc, multiplier, addend, divisor, bias, level_min, level_max)
//     attrs: axis (int, the channel axis of acc), rounding_mode (QONNX name),
//            product_bits, shift (informative, below)
//
// acc is an int64 tensor; the six parameters are 1-D int64 tensors with one entry
// per channel along `axis` (or a single entry for all channels); divisor > 0 and
// 0 <= addend < divisor. For every element, with c its channel:
//
//   num   = acc * multiplier[c] + addend[c] + bias[c] * divisor[c]      (exact integer)
//   level = min(max(R(num / divisor[c]), level_min[c]), level_max[c])
//
// where R is round_div (src/core/quantize.h): the exact quotient rounded with
// rounding_mode (ROUND = half to even, HALF_UP / HALF_DOWN = ties away from /
// toward zero, CEIL, FLOOR, UP, DOWN). num is taken in 128-bit integers; an
// overflow there is an error, never a wrap (the pass proves |num| fits over the
// accumulator's range). `product_bits` is how many bits (with sign) |num| needs
// over that range, so generated code may use int64 when it is at most 63; `shift`
// = 1 says every divisor is a power of two, where R of num / 2^k is an arithmetic
// shift plus the rounding decision on the k low bits. (bias * divisor is kept apart
// from addend only so that every parameter fits int64: R(b + x) != b + R(x) for
// half-even or sign-dependent modes, so the bias must stay inside the rounding.)
//
// Meaning: the layer's real output A_c * acc + B_c reaches a QONNX Quant with
// scale s_c and zero point z_c through affine ops; with A_c / s_c = n/d and
// B_c / s_c + z_c = m/e in lowest terms, divisor = lcm(d, e), multiplier =
// divisor * n/d and bias * divisor + addend = divisor * m/e, so num / divisor is
// exactly the Quant's x/s + z. level_min and level_max are the quantizer's integer
// range, narrowed by Relu/Clip nodes between the affine ops and the quantizer (a
// monotone quantizer commutes with max and min: Q(max(u, 0)) = max(Q(u), Q(0))).
#include <algorithm>

#include "core/quantize.h"
#include "ops/registry.h"

namespace bitsmith {
namespace {

void eval_int_requant(EvalContext& c) {
  if (c.mode() != Mode::kExact) c.fail("lowered integer ops run in exact mode only");
  const Tensor& acc = c.input(0);
  if (acc.type() != ElemType::kInt64) c.fail("input 0 must hold integers");
  const int64_t rank = acc.rank();
  int64_t axis = c.node().attr_int("axis", 1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) c.fail("axis out of range");
  const RoundingMode mode = parse_rounding_mode(c.node().attr_string("rounding_mode", "ROUND"));
  const int64_t C = acc.dim(static_cast<int>(axis));
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < rank; ++d) inner *= acc.dim(static_cast<int>(d));
  const std::vector<int64_t>* p[6];
  for (int k = 0; k < 6; ++k) {
    const Tensor& t = c.input(k + 1);
    if (t.type() != ElemType::kInt64 || t.rank() != 1 || (t.size() != 1 && t.size() != C))
      c.fail("parameter " + std::to_string(k + 1) + " must be int64 with 1 or " +
             std::to_string(C) + " entries");
    p[k] = &t.i64();
  }
  auto at = [&](int k, int64_t ch) {
    const std::vector<int64_t>& v = *p[k];
    return v[v.size() == 1 ? 0 : static_cast<size_t>(ch)];
  };
  for (int64_t ch = 0; ch < C; ++ch) {
    if (at(2, ch) <= 0 || at(1, ch) < 0 || at(1, ch) >= at(2, ch))
      c.fail("divisors must be positive and addends in [0, divisor)");
  }
  Tensor out(ElemType::kInt64, acc.shape());
  const int64_t* a = acc.i64().data();
  int64_t* o = out.i64().data();
  const int64_t n = acc.size();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t ch = (i / inner) % C;
    // |int64 * int64| < 2^126 and |addend| < 2^63: only the bias term can overflow.
    i128 num = i128{a[i]} * at(0, ch) + at(1, ch);
    if (__builtin_add_overflow(num, i128{at(3, ch)} * at(2, ch), &num))
      c.fail("the requantization numerator overflows 128 bits");
    i128 level = round_div(num, at(2, ch), mode);
    level = std::max<i128>(level, at(4, ch));
    level = std::min<i128>(level, at(5, ch));
    o[i] = static_cast<int64_t>(level);
  }
  c.set_output(0, std::move(out));
}

OpDef int_requant_def() {
  OpDef d;
  d.op_type = "IntRequant";
  d.family = OpFamily::kLowered;
  d.min_inputs = 7;
  d.max_inputs = 7;
  d.eval = eval_int_requant;
  return d;
}

const OpRegistrar kIntRequant(int_requant_def());

}  // namespace
}  // namespace bitsmith
