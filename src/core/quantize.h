// The one home of rounding, clamping and integer ranges (DESIGN.md, "One source of
// truth for rounding"). Every op, the PyTorch fake-quant forward and the code
// generators call these; nothing else in the project rounds.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "core/exact.h"

namespace bitsmith {

enum class RoundingMode : uint8_t { kHalfEven, kHalfUp, kHalfDown, kCeil, kFloor, kUp, kDown };

// Case-insensitive; ROUND is HALF_EVEN. Throws Error(kUnsupported) naming the mode.
RoundingMode parse_rounding_mode(const std::string& mode);
const char* rounding_mode_name(RoundingMode mode);

struct IntRange {
  int64_t min;
  int64_t max;
};
// SEMANTICS.md "Integer range of a bit width": narrow also narrows unsigned ranges,
// as the qonnx reference does. bits in 1..63.
IntRange int_range(int bits, bool is_signed, bool narrow);

// numpy.sign: -1, +1, +0 for both zeros, NaN for NaN.
template <class F>
F numpy_sign(F x) {
  if (x > 0) return F(1);
  if (x < 0) return F(-1);
  return x == 0 ? F(0) : x;
}

// Float meaning: the rounding exactly as numpy computes it in precision F
// (float or double), including HALF_UP's float addition of 0.5.
template <class F>
F round_float(F x, RoundingMode mode) {
  switch (mode) {
    case RoundingMode::kHalfEven:
      return std::nearbyint(x);
    case RoundingMode::kCeil:
      return std::ceil(x);
    case RoundingMode::kFloor:
      return std::floor(x);
    case RoundingMode::kDown:
      return std::trunc(x);
    // numpy's sign(x) * f(|x|), literally: sign(+-0) is +0, so UP and HALF_UP map -0
    // to +0 and HALF_DOWN maps both zeros to -0 (ceil(-0.5) is -0), as qonnx does.
    case RoundingMode::kUp:
      return numpy_sign(x) * std::ceil(std::fabs(x));
    case RoundingMode::kHalfUp:
      return numpy_sign(x) * std::floor(std::fabs(x) + F(0.5));
    case RoundingMode::kHalfDown:
      return numpy_sign(x) * std::ceil(std::fabs(x) - F(0.5));
  }
  return x;
}

// Exact meaning: the rounding decision taken on the true value. x must be finite.
i128 round_exact(const Exact& x, RoundingMode mode);

// Integer meaning: num / den rounded with `mode`, den > 0, decided on the remainder
// (no overflow for any num, den in i128). Equals round_exact(num / den). The integer
// requantizer IntRequant uses it; generated code must take the same decisions.
i128 round_div(i128 num, i128 den, RoundingMode mode);

// Parameters of one IntQuant element (bit width may vary per element by broadcasting).
struct IntQuantAttrs {
  bool is_signed = true;
  bool narrow = false;
  RoundingMode mode = RoundingMode::kHalfEven;
};

// IntQuant (QONNX Quant) in float meaning, computed in precision F the way the
// qonnx reference computes it in numpy (F is double when numpy promotes, e.g.
// int64 zero points). Signed 1-bit means bipolar: no clamp, no rounding.
// `r` is int_range(bits, a.is_signed, a.narrow), computed once by loops over many elements.
template <class F>
F int_quant_float(F x, F scale, F zero_point, int bits, const IntQuantAttrs& a, IntRange r) {
  F t = x / scale;
  t = t + zero_point;
  if (bits == 1 && a.is_signed) {
    t = t >= F(0) ? F(1) : F(-1);
  } else {
    F hi = static_cast<F>(r.max), lo = static_cast<F>(r.min);
    if (t > hi) t = hi;
    if (t < lo) t = lo;
    t = round_float(t, a.mode);
  }
  return (t - zero_point) * scale;
}

template <class F>
F int_quant_float(F x, F scale, F zero_point, int bits, const IntQuantAttrs& a) {
  return int_quant_float(x, scale, zero_point, bits, a, int_range(bits, a.is_signed, a.narrow));
}

// IntQuant in exact meaning: t = x/scale + zero_point, clamp, round, (q - z) * scale.
Exact int_quant_exact(const Exact& x, const Exact& scale, const Exact& zero_point, int bits,
                      const IntQuantAttrs& a);

// The integer a value quantizes to (before rescaling), in exact meaning. Used by the
// PyTorch front and the code generators to get q itself.
i128 int_quant_level_exact(const Exact& x, const Exact& scale, const Exact& zero_point, int bits,
                           const IntQuantAttrs& a);

// ---------------------------------------------------------------------------
// Float-meaning helpers for the ops qonnx computes in numpy with mixed dtypes.
//
// numpy (2.x, NEP 50) computes a float32 op float32 in float32 and anything with an
// int64 or float64 operand (0-d arrays included) in float64. The helpers below
// take values as doubles and a flag per stage saying whether numpy computes that
// stage in float32. One IEEE +, -, *, / computed in double and rounded once to
// float32 equals the float32 operation (53 >= 2 * 24 + 2 bits), so rounding after
// each step reproduces float32 arithmetic bit for bit.
struct NumpyPrecision {
  bool f32 = true;
  double operator()(double v) const { return f32 ? static_cast<double>(static_cast<float>(v)) : v; }
};

// numpy.round / ceil / floor / ... of v in the stage's precision.
double numpy_round(double v, RoundingMode mode, bool f32);
// numpy.log2 in the stage's precision. For float32 this is log2 in double rounded
// once to float32 (correctly rounded, as numpy's float32 log2 was checked to be
// around every power of two; the reference's floor(log2(.)) depends on it).
double numpy_log2(double v, bool f32);

// floor(log2(v)) for a finite v > 0, exact.
int64_t floor_log2_exact(const Exact& v);
// round(log2(v)) for a finite v > 0, exact. log2 of a rational is never a
// half-integer, so no tie rule is needed.
int64_t round_log2_exact(const Exact& v);

// ---------------------------------------------------------------------------
// FloatQuant (SEMANTICS.md "FloatQuant"): minifloat quantization.

struct MiniFloatFormat {
  int exp_bits = 4;   // E, 1..16
  int mant_bits = 3;  // M, 0..52
  int bias = 7;
};

struct FloatQuantAttrs {
  RoundingMode mode = RoundingMode::kHalfEven;
  bool saturation = true;
  bool has_inf = false;  // saturation == 0: overflow gives +-inf ...
  bool has_nan = false;  // ... or else NaN (has_subnormal is ignored, as in the reference)
};

// Throws Error(kUnsupported / kInvalidModel) for formats outside the ranges above
// and for saturation == 0 without has_inf or has_nan (the reference raises there).
void check_float_quant(const MiniFloatFormat& f, const FloatQuantAttrs& a);

// (2 - 2^-M) * 2^(2^E - 1 - bias), the reference's largest magnitude, exact.
Exact minifloat_max_exact(const MiniFloatFormat& f);
// The same as qonnx's compute_max_val evaluates it: a float64, where 2**max_exponent
// is taken in float32 (and may overflow to +inf) when E and bias are float32.
double minifloat_max_float(const MiniFloatFormat& f, bool exp_and_bias_f32);

// numpy dtypes of one FloatQuant element's operands.
struct FloatQuantDtypes {
  bool x_f32 = true;       // x and scale are float32: x / scale and log2 in float32
  bool params_f32 = true;  // mantissa bits and bias are float32: the internal scale stays float32
  bool exp_and_bias_f32 = true;  // exponent bits and bias are float32 (see minifloat_max_float)
};

// Float meaning, as qonnx's float_quant computes it in numpy, including
// floor(log2(|u| + tiny)) in float32, np.clip in float64 and the final cast to
// float32. max_val is the op's sixth input (numpy.minimum with the formula).
float float_quant_float(double x, double scale, double max_val, const MiniFloatFormat& f,
                        const FloatQuantAttrs& a, const FloatQuantDtypes& d);
// Exact meaning: u = x/s; e = max(floor(log2|u|) - M, 1 - bias - M);
// q = 2^e * R(u / 2^e); clamp to min(formula, max_val) or overflow per the flags;
// y = q * s. NaN stays NaN and +-inf becomes NaN, as in the reference.
Exact float_quant_exact(const Exact& x, const Exact& scale, const Exact& max_val,
                        const MiniFloatFormat& f, const FloatQuantAttrs& a);

// ---------------------------------------------------------------------------
// Trunc (SEMANTICS.md "Trunc"): drop least-significant bits of a quantized value.

// numpy dtypes of one Trunc element's operands.
struct TruncDtypes {
  bool t_f32 = true;  // x, scale and zero point are float32: x/s + z and its rounding in float32
  bool z_f32 = true;  // the zero point is float32 (v2 divides it by the truncation scale)
  bool k_f32 = true;  // v1: both bit widths float32; v2: out_scale and scale float32
  bool out_bits_f32 = true;  // v2: the output bit width is float32 (clamp bounds in float32)
};

// v1: t = round_half_even(x/s + z); q = R(t / 2^(in_bits - out_bits)); y = (q - z) * s.
float trunc_v1_float(double x, double scale, double zero_point, int in_bits, int out_bits,
                     RoundingMode mode, const TruncDtypes& d);
Exact trunc_v1_exact(const Exact& x, const Exact& scale, const Exact& zero_point, int in_bits,
                     int out_bits, RoundingMode mode);

struct TruncV2Attrs {
  bool is_signed = true;
  bool narrow = false;
  RoundingMode mode = RoundingMode::kFloor;
};

// v2: t = round_half_even(x/s + z); k = 2^round(log2(out_scale/s));
// q = R(clamp(t/k, range(out_bits))); y = (q - z/k) * out_scale. The input bit width
// takes no part, as in the reference.
float trunc_v2_float(double x, double scale, double zero_point, double out_scale, int out_bits,
                     const TruncV2Attrs& a, const TruncDtypes& d);
// Throws Error(kInvalidModel) when out_scale/scale is not finite and positive.
Exact trunc_v2_exact(const Exact& x, const Exact& scale, const Exact& zero_point,
                     const Exact& out_scale, int out_bits, const TruncV2Attrs& a);

}  // namespace bitsmith
