#include "core/quantize.h"

#include <algorithm>
#include <cctype>
#include <cfloat>
#include <cmath>
#include <limits>

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
    case RoundingMode::kHalfEven:
      return "ROUND";
    case RoundingMode::kHalfUp:
      return "HALF_UP";
    case RoundingMode::kHalfDown:
      return "HALF_DOWN";
    case RoundingMode::kCeil:
      return "CEIL";
    case RoundingMode::kFloor:
      return "FLOOR";
    case RoundingMode::kUp:
      return "UP";
    case RoundingMode::kDown:
      return "DOWN";
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

namespace {

const Exact kHalf = Exact::make(1, 1, -1);

// floor(u + z) for finite u and z with |u + z| known to be moderate, found by
// comparisons only: forming u + z could need thousands of bits when u is tiny
// (2^-1074 + 3), while comparing u with integers minus z never does.
i128 floor_of_sum(const Exact& u, const Exact& z) {
  if (z.is_zero()) return u.floor();
  double d = std::floor(u.to_double() + z.to_double());
  if (!std::isfinite(d)) return (u + z).floor();  // beyond double's range: the exact sum
  auto c = static_cast<i128>(d);
  while (u < Exact::from_int(c) - z) --c;
  while (u >= Exact::from_int(c + 1) - z) ++c;
  return c;
}

// Rounds u + z with the rounding decision taken on the true sum.
i128 round_sum(const Exact& u, const Exact& z, RoundingMode mode) {
  i128 fl = floor_of_sum(u, z);
  Exact at_floor = Exact::from_int(fl) - z;
  if (u == at_floor) return fl;
  bool positive = z.is_zero() ? u.sign() > 0 : u > -z;
  switch (mode) {
    case RoundingMode::kFloor:
      return fl;
    case RoundingMode::kCeil:
      return fl + 1;
    case RoundingMode::kDown:
      return positive ? fl : fl + 1;
    case RoundingMode::kUp:
      return positive ? fl + 1 : fl;
    case RoundingMode::kHalfEven:
    case RoundingMode::kHalfUp:
    case RoundingMode::kHalfDown:
      break;
  }
  Exact mid = at_floor + kHalf;  // u's value at which u + z == fl + 1/2
  if (u < mid) return fl;
  if (mid < u) return fl + 1;
  switch (mode) {  // an exact tie
    case RoundingMode::kHalfUp:
      return positive ? fl + 1 : fl;
    case RoundingMode::kHalfDown:
      return positive ? fl : fl + 1;
    default:
      return (fl % 2 == 0) ? fl : fl + 1;
  }
}

// Clamps u + z to the integer range, then rounds; bounds are integers, so
// clamping first equals rounding first. u must not be NaN.
i128 clamp_round(const Exact& u, const Exact& z, int bits, const IntQuantAttrs& a) {
  if (!u.is_finite() || !z.is_finite()) {
    Exact t = u + z;  // NaN or an infinity: the sum is cheap and exact
    if (t.is_nan()) throw ExactOverflow("the quantizer input x/scale + zero_point is NaN");
    if (bits == 1 && a.is_signed) return t.sign() >= 0 ? 1 : -1;
    IntRange r = int_range(bits, a.is_signed, a.narrow);
    return t.sign() > 0 ? r.max : r.min;
  }
  if (bits == 1 && a.is_signed) return u >= -z ? 1 : -1;
  IntRange r = int_range(bits, a.is_signed, a.narrow);
  if (u > Exact::from_int(r.max) - z) return r.max;
  if (u < Exact::from_int(r.min) - z) return r.min;
  return round_sum(u, z, a.mode);
}

}  // namespace

i128 round_exact(const Exact& x, RoundingMode mode) {
  return round_sum(x, Exact(), mode);
}

i128 round_div(i128 num, i128 den, RoundingMode mode) {
  if (den <= 0) fail(ErrorKind::kRuntime, "round_div needs a positive divisor");
  i128 q = num / den, r = num % den;  // C++ truncates: make q the floor, r in [0, den)
  if (r < 0) {
    q -= 1;
    r += den;
  }
  if (r == 0) return q;
  const bool positive = num > 0;
  switch (mode) {
    case RoundingMode::kFloor:
      return q;
    case RoundingMode::kCeil:
      return q + 1;
    case RoundingMode::kDown:
      return positive ? q : q + 1;
    case RoundingMode::kUp:
      return positive ? q + 1 : q;
    case RoundingMode::kHalfEven:
    case RoundingMode::kHalfUp:
    case RoundingMode::kHalfDown:
      break;
  }
  const i128 rest = den - r;  // distance to q + 1; compared with r, never doubled
  if (r < rest) return q;
  if (r > rest) return q + 1;
  switch (mode) {  // an exact tie
    case RoundingMode::kHalfUp:
      return positive ? q + 1 : q;
    case RoundingMode::kHalfDown:
      return positive ? q : q + 1;
    default:
      return (q % 2 == 0) ? q : q + 1;
  }
}

namespace {

// v as a double when the conversion is exact (a dyadic with at most 53
// significant bits and a tame exponent).
bool exact_double(const Exact& v, double& out) {
  if (!v.is_finite() || v.is_big() || v.den() != 1) return false;
  i128 n = v.num();
  if (n > (static_cast<i128>(1) << 53) || n < -(static_cast<i128>(1) << 53)) return false;
  if (v.exp() < -900 || v.exp() > 900) return false;
  out = std::ldexp(static_cast<double>(static_cast<int64_t>(n)), v.exp());
  return true;
}

// A filter in front of the exact decision: t = x/s + z in double carries an
// error below 2^-51 of |x/s| + |z| (rounding x, one division, one addition;
// s and z are exact doubles). When t lies farther than that bound from
// every clamp bound and rounding boundary, the double decision is the exact
// one; otherwise the caller decides exactly. Returns false when undecided.
bool filtered_level(const Exact& x, const Exact& s, const Exact& z, int bits,
                    const IntQuantAttrs& a, i128& level) {
  double sd, zd;
  if (!x.is_finite() || !exact_double(s, sd) || !exact_double(z, zd) || sd == 0) return false;
  // x may carry more than 53 bits: its correctly rounded double adds one more
  // relative error of 2^-53 to u, which the bound below covers.
  double xd = x.to_double();
  double u = xd / sd;
  double t = u + zd;
  double err = std::ldexp(std::fabs(u) + std::fabs(zd), -49) + 1e-300;
  if (!std::isfinite(t) || !std::isfinite(err)) return false;
  if (bits == 1 && a.is_signed) {
    if (std::fabs(t) <= err) return false;
    level = t > 0 ? 1 : -1;
    return true;
  }
  IntRange r = int_range(bits, a.is_signed, a.narrow);
  if (t > static_cast<double>(r.max) + err) {
    level = r.max;
    return true;
  }
  if (t < static_cast<double>(r.min) - err) {
    level = r.min;
    return true;
  }
  if (t > static_cast<double>(r.max) - 0.5 + err || t < static_cast<double>(r.min) + 0.5 - err) {
    return false;  // near a clamp bound: leave it to the exact path
  }
  double fl = std::floor(t);
  double fr = t - fl;  // exact: t and fl are within a factor of two of each other or fl is 0
  bool half_mode = a.mode == RoundingMode::kHalfEven || a.mode == RoundingMode::kHalfUp ||
                   a.mode == RoundingMode::kHalfDown;
  double dist = half_mode ? std::fabs(fr - 0.5) : std::min(fr, 1.0 - fr);
  if (dist <= err) return false;
  auto f = static_cast<i128>(fl);
  switch (a.mode) {
    case RoundingMode::kFloor:
      level = f;
      break;
    case RoundingMode::kCeil:
      level = f + 1;
      break;
    case RoundingMode::kDown:
      level = t > 0 ? f : f + 1;
      break;
    case RoundingMode::kUp:
      level = t > 0 ? f + 1 : f;
      break;
    default:
      level = fr < 0.5 ? f : f + 1;
      break;
  }
  return true;
}

}  // namespace

i128 int_quant_level_exact(const Exact& x, const Exact& scale, const Exact& zero_point, int bits,
                           const IntQuantAttrs& a) {
  i128 level;
  if (filtered_level(x, scale, zero_point, bits, a, level)) return level;
  return clamp_round(x / scale, zero_point, bits, a);
}

Exact int_quant_exact(const Exact& x, const Exact& scale, const Exact& zero_point, int bits,
                      const IntQuantAttrs& a) {
  i128 level;
  if (!filtered_level(x, scale, zero_point, bits, a, level)) {
    Exact u = x / scale;
    if (u.is_nan() || ((!u.is_finite() || !zero_point.is_finite()) && (u + zero_point).is_nan())) {
      return Exact::nan();
    }
    level = clamp_round(u, zero_point, bits, a);
  }
  return (Exact::from_int(level) - zero_point) * scale;
}

// ---------------------------------------------------------------------------
// Float-meaning helpers

double numpy_round(double v, RoundingMode mode, bool f32) {
  if (f32) return round_float<float>(static_cast<float>(v), mode);
  return round_float<double>(v, mode);
}

double numpy_log2(double v, bool f32) {
  double l = std::log2(v);
  return f32 ? static_cast<double>(static_cast<float>(l)) : l;
}

// numpy.maximum / numpy.minimum: NaN in either operand gives NaN.
static double np_maximum(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<double>::quiet_NaN();
  return a < b ? b : a;
}
static double np_minimum(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<double>::quiet_NaN();
  return b < a ? b : a;
}

static int bit_length(u128 v) {
  int n = 0;
  while (v != 0) {
    v >>= 1;
    ++n;
  }
  return n;
}

int64_t floor_log2_exact(const Exact& v) {
  if (!v.is_finite() || v.sign() <= 0) {
    fail(ErrorKind::kRuntime, "log2 of a value that is not finite and positive: " + v.to_string());
  }
  if (v.is_big()) return v.floor_log2();  // num()/den() describe small values only
  auto n = static_cast<u128>(v.num());
  auto d = static_cast<u128>(v.den());
  int bn = bit_length(n), bd = bit_length(d);
  // n/d lies in (2^(bn-1-bd), 2^(bn-bd+1)); it reaches 2^(bn-bd) iff n >= d * 2^(bn-bd).
  // Both shifted operands stay below 2^127.
  bool ge = bn >= bd ? n >= (d << (bn - bd)) : (n << (bd - bn)) >= d;
  return static_cast<int64_t>(v.exp()) + (bn - bd) - (ge ? 0 : 1);
}

int64_t round_log2_exact(const Exact& v) {
  int64_t f = floor_log2_exact(v);
  Exact w = v.ldexp(-f);  // in [1, 2): round up iff w > sqrt(2), i.e. w^2 > 2
  return w * w > Exact::from_int(2) ? f + 1 : f;
}

// ---------------------------------------------------------------------------
// FloatQuant

void check_float_quant(const MiniFloatFormat& f, const FloatQuantAttrs& a) {
  if (f.exp_bits < 1 || f.exp_bits > 16 || f.mant_bits < 0 || f.mant_bits > 52 ||
      f.bias < -100000 || f.bias > 100000) {
    fail(ErrorKind::kUnsupported,
         "minifloat format E=" + std::to_string(f.exp_bits) + " M=" + std::to_string(f.mant_bits) +
             " bias=" + std::to_string(f.bias) + " is outside E 1..16, M 0..52, |bias| <= 100000");
  }
  if (!a.saturation && !a.has_inf && !a.has_nan) {
    fail(ErrorKind::kInvalidModel,
         "saturation=0 needs has_inf=1 or has_nan=1 (overflow has nowhere to go)");
  }
}

Exact minifloat_max_exact(const MiniFloatFormat& f) {
  i128 mant = (static_cast<i128>(1) << (f.mant_bits + 1)) - 1;  // (2 - 2^-M) * 2^M
  int64_t e = (int64_t{1} << f.exp_bits) - 1 - f.bias - f.mant_bits;
  return Exact::from_int(mant).ldexp(e);
}

double minifloat_max_float(const MiniFloatFormat& f, bool exp_and_bias_f32) {
  // max_exponent = 2.0**E - 1.0 - bias is a small integer in either precision.
  double max_exp = std::ldexp(1.0, f.exp_bits) - 1.0 - f.bias;
  double p = NumpyPrecision{exp_and_bias_f32}(std::exp2(max_exp));
  // max_mantissa = sum(2.0 ** arange(0, -M - 1, -1)) = 2 - 2^-M, a float64.
  return (2.0 - std::ldexp(1.0, -f.mant_bits)) * p;
}

float float_quant_float(double x, double scale, double max_val, const MiniFloatFormat& f,
                        const FloatQuantAttrs& a, const FloatQuantDtypes& d) {
  NumpyPrecision ta{d.x_f32};
  NumpyPrecision t1{d.x_f32 && d.params_f32};
  double u = ta(x / scale);
  double tiny = d.x_f32 ? static_cast<double>(FLT_MIN) : DBL_MIN;  // np.finfo(dtype).tiny
  double w = ta(std::fabs(u) + tiny);
  // floor(log2(.)) is an integer (or +-inf / NaN); subtracting M and taking the
  // maximum with 1 - bias - M stays exact in either precision.
  double e =
      np_maximum(std::floor(numpy_log2(w, ta.f32)) - f.mant_bits, 1.0 - f.bias - f.mant_bits);
  double sc = t1(std::exp2(e));
  double q = t1(sc * numpy_round(t1(u / sc), a.mode, t1.f32));
  double maxv = np_minimum(minifloat_max_float(f, d.exp_and_bias_f32), max_val);
  bool was_inf = std::isinf(q);
  bool over = q > maxv;
  bool under = q < -maxv;
  // np.clip(q, -maxv, maxv) in float64 (max_value is a numpy float64 scalar).
  double c = np_minimum(np_maximum(q, -maxv), maxv);
  if (!a.saturation) {
    if (a.has_inf) {
      if (over) c = std::numeric_limits<double>::infinity();
      if (under) c = -std::numeric_limits<double>::infinity();
    } else if (a.has_nan) {
      if (over || under || was_inf) c = std::numeric_limits<double>::quiet_NaN();
    } else {
      fail(ErrorKind::kInvalidModel, "saturation=0 needs has_inf=1 or has_nan=1");
    }
  }
  // x_q (float64 after the clip) * scale in float64, then astype(float32).
  return static_cast<float>(c * scale);
}

Exact float_quant_exact(const Exact& x, const Exact& scale, const Exact& max_val,
                        const MiniFloatFormat& f, const FloatQuantAttrs& a) {
  Exact u = x / scale;
  if (!u.is_finite()) return Exact::nan();
  Exact q;
  if (!u.is_zero()) {
    Exact mag = u.sign() < 0 ? -u : u;
    int64_t e =
        std::max<int64_t>(floor_log2_exact(mag) - f.mant_bits, int64_t{1} - f.bias - f.mant_bits);
    // |u / 2^e| < 2^(M+1): the rounded level always fits.
    q = Exact::from_int(round_exact(u.ldexp(-e), a.mode)).ldexp(e);
  }
  Exact maxv = minifloat_max_exact(f);
  if (max_val.is_nan()) fail(ErrorKind::kInvalidModel, "FloatQuant max_val is NaN");
  if (max_val < maxv) maxv = max_val;
  bool over = q > maxv, under = q < -maxv;
  if (over || under) {
    if (a.saturation) {
      q = over ? maxv : -maxv;
    } else if (a.has_inf) {
      return Exact::inf(under);
    } else if (a.has_nan) {
      return Exact::nan();
    } else {
      fail(ErrorKind::kInvalidModel, "saturation=0 needs has_inf=1 or has_nan=1");
    }
  }
  return q * scale;
}

// ---------------------------------------------------------------------------
// Trunc

// round_half_even(x/s + z) as the reference computes it in numpy.
static double trunc_input_level(double x, double scale, double zero_point, NumpyPrecision t) {
  double y = t(x / scale);
  y = t(y + zero_point);
  return numpy_round(y, RoundingMode::kHalfEven, t.f32);
}

// round_half_even(u + z), Trunc's first stage. round_sum decides without forming
// u + z (a tiny u would need a huge numerator) but wants moderate operands; large
// values form the sum directly (and overflow past 2^127 is reported).
static i128 trunc_level(const Exact& u, const Exact& z) {
  static const Exact kBig = Exact::from_int(int64_t{1} << 52);
  if (u < kBig && -kBig < u && z < kBig && -kBig < z) {
    return round_sum(u, z, RoundingMode::kHalfEven);
  }
  return round_exact(u + z, RoundingMode::kHalfEven);
}

float trunc_v1_float(double x, double scale, double zero_point, int in_bits, int out_bits,
                     RoundingMode mode, const TruncDtypes& d) {
  NumpyPrecision ta{d.t_f32};
  NumpyPrecision t1{d.t_f32 && d.k_f32};
  double y = trunc_input_level(x, scale, zero_point, ta);
  // 2.0 ** (in - out): an exact power of two in either precision.
  double k = NumpyPrecision{d.k_f32}(std::ldexp(1.0, in_bits - out_bits));
  y = numpy_round(t1(y / k), mode, t1.f32);
  y = t1(y - zero_point);
  return static_cast<float>(t1(y * scale));
}

Exact trunc_v1_exact(const Exact& x, const Exact& scale, const Exact& zero_point, int in_bits,
                     int out_bits, RoundingMode mode) {
  Exact u = x / scale;
  if (!u.is_finite()) return (u + zero_point - zero_point) * scale;  // NaN; +-inf passes
  i128 level = trunc_level(u, zero_point);
  i128 q = round_exact(Exact::from_int(level).ldexp(out_bits - in_bits), mode);
  return (Exact::from_int(q) - zero_point) * scale;
}

float trunc_v2_float(double x, double scale, double zero_point, double out_scale, int out_bits,
                     const TruncV2Attrs& a, const TruncDtypes& d) {
  NumpyPrecision ta{d.t_f32};
  NumpyPrecision tk{d.k_f32};
  NumpyPrecision t1{d.t_f32 && d.k_f32};
  NumpyPrecision tz{d.z_f32 && d.k_f32};
  double y = trunc_input_level(x, scale, zero_point, ta);
  // trunc_scale = 2 ** round(log2(out_scale / scale)) in the scales' precision.
  double m =
      numpy_round(numpy_log2(tk(out_scale / scale), tk.f32), RoundingMode::kHalfEven, tk.f32);
  double k = tk(std::exp2(m));
  y = t1(y / k);
  // min_int / max_int are computed from the bit width tensor, so in float32 when it
  // is float32 (2^31 - 1 becomes 2^31 there); the comparison is exact in numpy.
  IntRange r = int_range(out_bits, a.is_signed, a.narrow);
  NumpyPrecision tb{d.out_bits_f32};
  double hi = tb(static_cast<double>(r.max)), lo = tb(static_cast<double>(r.min));
  if (y > hi) y = t1(hi);
  if (y < lo) y = t1(lo);
  y = numpy_round(y, a.mode, t1.f32);
  double out_zero_point = tz(zero_point / k);
  y = t1(y - out_zero_point);
  return static_cast<float>(t1(y * out_scale));
}

Exact trunc_v2_exact(const Exact& x, const Exact& scale, const Exact& zero_point,
                     const Exact& out_scale, int out_bits, const TruncV2Attrs& a) {
  Exact ratio = out_scale / scale;
  if (!ratio.is_finite() || ratio.sign() <= 0) {
    fail(ErrorKind::kInvalidModel,
         "Trunc out_scale / scale must be finite and positive, got " + ratio.to_string());
  }
  int64_t m = round_log2_exact(ratio);
  Exact u = x / scale;
  Exact t = u.is_finite() ? Exact() : u + zero_point;  // only the kind matters here
  if (t.is_nan()) return Exact::nan();
  IntRange r = int_range(out_bits, a.is_signed, a.narrow);
  i128 q = 0;
  if (t.kind() == Exact::Kind::kPosInf) {
    q = r.max;
  } else if (t.kind() == Exact::Kind::kNegInf) {
    q = r.min;
  } else {
    Exact v = Exact::from_int(trunc_level(u, zero_point)).ldexp(-m);
    // Integer bounds: clamping before rounding equals rounding before clamping.
    if (v > Exact::from_int(r.max)) {
      q = r.max;
    } else if (v < Exact::from_int(r.min)) {
      q = r.min;
    } else {
      q = round_exact(v, a.mode);
    }
  }
  return (Exact::from_int(q) - zero_point.ldexp(-m)) * out_scale;
}

}  // namespace bitsmith
