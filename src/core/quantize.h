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

// Float meaning: the rounding exactly as numpy computes it in precision F
// (float or double), including HALF_UP's float addition of 0.5.
template <class F>
F round_float(F x, RoundingMode mode) {
  switch (mode) {
    case RoundingMode::kHalfEven: return std::nearbyint(x);
    case RoundingMode::kCeil: return std::ceil(x);
    case RoundingMode::kFloor: return std::floor(x);
    case RoundingMode::kDown: return std::trunc(x);
    case RoundingMode::kUp: return x < 0 ? -std::ceil(-x) : std::ceil(x);
    case RoundingMode::kHalfUp: {
      F a = std::floor(std::fabs(x) + F(0.5));
      return x < 0 ? -a : (x > 0 ? a : x * F(0));
    }
    case RoundingMode::kHalfDown: {
      F a = std::ceil(std::fabs(x) - F(0.5));
      return x < 0 ? -a : (x > 0 ? a : x * F(0));
    }
  }
  return x;
}

// Exact meaning: the rounding decision taken on the true value. x must be finite.
i128 round_exact(const Exact& x, RoundingMode mode);

// Parameters of one IntQuant element (bit width may vary per element by broadcasting).
struct IntQuantAttrs {
  bool is_signed = true;
  bool narrow = false;
  RoundingMode mode = RoundingMode::kHalfEven;
};

// IntQuant (QONNX Quant) in float meaning, computed in precision F the way the
// qonnx reference computes it in numpy (F is double when numpy promotes, e.g.
// int64 zero points). Signed 1-bit means bipolar: no clamp, no rounding.
template <class F>
F int_quant_float(F x, F scale, F zero_point, int bits, const IntQuantAttrs& a) {
  F t = x / scale;
  t = t + zero_point;
  if (bits == 1 && a.is_signed) {
    t = t >= F(0) ? F(1) : F(-1);
  } else {
    IntRange r = int_range(bits, a.is_signed, a.narrow);
    F hi = static_cast<F>(r.max), lo = static_cast<F>(r.min);
    if (t > hi) t = hi;
    if (t < lo) t = lo;
    t = round_float(t, a.mode);
  }
  return (t - zero_point) * scale;
}

// IntQuant in exact meaning: t = x/scale + zero_point, clamp, round, (q - z) * scale.
Exact int_quant_exact(const Exact& x, const Exact& scale, const Exact& zero_point, int bits,
                      const IntQuantAttrs& a);

// The integer a value quantizes to (before rescaling), in exact meaning. Used by the
// PyTorch front and the code generators to get q itself.
i128 int_quant_level_exact(const Exact& x, const Exact& scale, const Exact& zero_point, int bits,
                           const IntQuantAttrs& a);

}  // namespace bitsmith
