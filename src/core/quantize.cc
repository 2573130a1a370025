#include "core/quantize.h"

#include <algorithm>
#include <cctype>

#include "core/error.h"

namespace bitsmith {

RoundingMode parse_rounding_mode(const std::string& mode) {
  std::string m = mode;
  std::transform(m.begin(), m.end(), m.begin(), [](unsigned char c) { return std::toupper(c); });
  if (m == "ROUND" || m == "HALF_EVEN") return RoundingMode::kHalfEven;
  if (m == "HALF_UP") return RoundingMode::kHalfUp;
  if (m == "HALF_DOWN") return RoundingMode::kHalfDown;
  if (m == "CEIL") return RoundingMode::kCeil;
  if (m == "FLOOR") return RoundingMode::kFloor;
  if (m == "UP") return RoundingMode::kUp;
  if (m == "DOWN") return RoundingMode::kDown;
  fail(ErrorKind::kUnsupported,
       "unknown rounding mode '" + mode +
           "' (expected ROUND, HALF_EVEN, HALF_UP, HALF_DOWN, CEIL, FLOOR, UP or DOWN)");
}

const char* rounding_mode_name(RoundingMode mode) {
  switch (mode) {
    case RoundingMode::kHalfEven: return "ROUND";
    case RoundingMode::kHalfUp: return "HALF_UP";
    case RoundingMode::kHalfDown: return "HALF_DOWN";
    case RoundingMode::kCeil: return "CEIL";
    case RoundingMode::kFloor: return "FLOOR";
    case RoundingMode::kUp: return "UP";
    case RoundingMode::kDown: return "DOWN";
  }
  return "?";
}

IntRange int_range(int bits, bool is_signed, bool narrow) {
  if (bits < 1 || bits > 63) {
    fail(ErrorKind::kUnsupported, "bit width must be 1..63, got " + std::to_string(bits));
  }
  if (is_signed) {
    int64_t half = int64_t{1} << (bits - 1);
    return {narrow ? -half + 1 : -half, half - 1};
  }
  int64_t top = static_cast<int64_t>((uint64_t{1} << bits) - 1);
  return {0, narrow ? top - 1 : top};
}

i128 round_exact(const Exact& x, RoundingMode mode) {
  i128 fl = x.floor();
  Exact fr = x - Exact::from_int(fl);
  if (fr.is_zero()) return fl;
  static const Exact kHalf = Exact::make(1, 1, -1);
  bool positive = x.sign() > 0;
  switch (mode) {
    case RoundingMode::kFloor: return fl;
    case RoundingMode::kCeil: return fl + 1;
    case RoundingMode::kDown: return positive ? fl : fl + 1;
    case RoundingMode::kUp: return positive ? fl + 1 : fl;
    case RoundingMode::kHalfEven:
    case RoundingMode::kHalfUp:
    case RoundingMode::kHalfDown: break;
  }
  if (fr < kHalf) return fl;
  if (kHalf < fr) return fl + 1;
  // An exact tie.
  switch (mode) {
    case RoundingMode::kHalfUp: return positive ? fl + 1 : fl;
    case RoundingMode::kHalfDown: return positive ? fl : fl + 1;
    default: return (fl % 2 == 0) ? fl : fl + 1;
  }
}

// Clamps t to the integer range, then rounds; NaN is the caller's case.
static i128 clamp_round(const Exact& t, int bits, const IntQuantAttrs& a) {
  if (bits == 1 && a.is_signed) return t >= Exact() ? 1 : -1;
  IntRange r = int_range(bits, a.is_signed, a.narrow);
  // Bounds are integers, so clamping before rounding equals rounding before clamping.
  if (t.kind() == Exact::Kind::kPosInf || t > Exact::from_int(r.max)) return r.max;
  if (t.kind() == Exact::Kind::kNegInf || t < Exact::from_int(r.min)) return r.min;
  return round_exact(t, a.mode);
}

i128 int_quant_level_exact(const Exact& x, const Exact& scale, const Exact& zero_point, int bits,
                           const IntQuantAttrs& a) {
  return clamp_round(x / scale + zero_point, bits, a);
}

Exact int_quant_exact(const Exact& x, const Exact& scale, const Exact& zero_point, int bits,
                      const IntQuantAttrs& a) {
  Exact t = x / scale + zero_point;
  if (t.is_nan()) return Exact::nan();
  return (Exact::from_int(clamp_round(t, bits, a)) - zero_point) * scale;
}

}  // namespace bitsmith
