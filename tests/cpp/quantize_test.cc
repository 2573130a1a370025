// The rounding core (core/quantize.h): integer ranges, every rounding mode in float
// meaning (numpy's arithmetic, bit for bit, sign of zero included) and exact
// meaning (decided on the true value), IntQuant, FloatQuant and Trunc helpers.
// Expected values are worked out by hand in the comments.
#include "core/quantize.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"

namespace bitsmith {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

const RoundingMode kAllModes[] = {
    RoundingMode::kHalfEven, RoundingMode::kHalfUp, RoundingMode::kHalfDown, RoundingMode::kCeil,
    RoundingMode::kFloor,    RoundingMode::kUp,     RoundingMode::kDown};

Exact ex(double v) {
  return Exact::from_double(v);
}
Exact frac_of(i128 num, i128 den) {
  return Exact::make(num, den, 0);
}

// Same value and same sign bit (so -0 and +0 differ), NaN equal to NaN.
template <class F>
bool same_bits(F a, F b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return a == b && std::signbit(a) == std::signbit(b);
}

// ------------------------------------------------------------------ int_range

TEST(IntRange, SignedWideAndNarrow) {
  EXPECT_EQ(int_range(8, true, false).min, -128);
  EXPECT_EQ(int_range(8, true, false).max, 127);
  EXPECT_EQ(int_range(8, true, true).min, -127);
  EXPECT_EQ(int_range(8, true, true).max, 127);
  EXPECT_EQ(int_range(2, true, false).min, -2);
  EXPECT_EQ(int_range(2, true, false).max, 1);
  EXPECT_EQ(int_range(2, true, true).min, -1);
  EXPECT_EQ(int_range(2, true, true).max, 1);
  EXPECT_EQ(int_range(1, true, false).min, -1);
  EXPECT_EQ(int_range(1, true, false).max, 0);
  EXPECT_EQ(int_range(32, true, false).min, -2147483648LL);
  EXPECT_EQ(int_range(32, true, false).max, 2147483647LL);
  EXPECT_EQ(int_range(63, true, false).min, std::numeric_limits<int64_t>::min() / 2);
  EXPECT_EQ(int_range(63, true, false).max, std::numeric_limits<int64_t>::max() / 2);
}

TEST(IntRange, UnsignedNarrowAlsoNarrows) {
  // The reference narrows unsigned ranges at the top (SEMANTICS.md table).
  EXPECT_EQ(int_range(8, false, false).min, 0);
  EXPECT_EQ(int_range(8, false, false).max, 255);
  EXPECT_EQ(int_range(8, false, true).min, 0);
  EXPECT_EQ(int_range(8, false, true).max, 254);
  EXPECT_EQ(int_range(1, false, false).max, 1);
  EXPECT_EQ(int_range(1, false, true).max, 0);
  EXPECT_EQ(int_range(4, false, true).max, 14);
  EXPECT_EQ(int_range(32, false, false).max, 4294967295LL);
  EXPECT_EQ(int_range(63, false, false).max, std::numeric_limits<int64_t>::max());
  EXPECT_EQ(int_range(63, false, true).max, std::numeric_limits<int64_t>::max() - 1);
}

TEST(IntRange, RejectsBitWidthsOutside1To63) {
  for (int bits : {0, -1, 64, 1000}) {
    try {
      int_range(bits, true, false);
      ADD_FAILURE() << "no error for " << bits;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
      EXPECT_NE(std::string(e.what()).find(std::to_string(bits)), std::string::npos);
    }
  }
}

// ------------------------------------------------------------ rounding modes

TEST(RoundingMode, ParsesCaseInsensitivelyAndNamesUnknownModes) {
  EXPECT_EQ(parse_rounding_mode("ROUND"), RoundingMode::kHalfEven);
  EXPECT_EQ(parse_rounding_mode("round"), RoundingMode::kHalfEven);
  EXPECT_EQ(parse_rounding_mode("Half_Even"), RoundingMode::kHalfEven);
  EXPECT_EQ(parse_rounding_mode("half_up"), RoundingMode::kHalfUp);
  EXPECT_EQ(parse_rounding_mode("HALF_DOWN"), RoundingMode::kHalfDown);
  EXPECT_EQ(parse_rounding_mode("ceil"), RoundingMode::kCeil);
  EXPECT_EQ(parse_rounding_mode("Floor"), RoundingMode::kFloor);
  EXPECT_EQ(parse_rounding_mode("up"), RoundingMode::kUp);
  EXPECT_EQ(parse_rounding_mode("DOWN"), RoundingMode::kDown);
  for (RoundingMode m : kAllModes) EXPECT_EQ(parse_rounding_mode(rounding_mode_name(m)), m);
  try {
    parse_rounding_mode("STOCHASTIC");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("STOCHASTIC"), std::string::npos);
  }
}

// One row: x and the result in each mode (HALF_EVEN, HALF_UP, HALF_DOWN, CEIL,
// FLOOR, UP, DOWN). Every x here is exact in float32, and none is within float
// rounding of a tie, so float and exact meaning agree.
struct Row {
  double x;
  double want[7];
};
const Row kTable[] = {
    {2.5, {2, 3, 2, 3, 2, 3, 2}},
    {-2.5, {-2, -3, -2, -2, -3, -3, -2}},
    {3.5, {4, 4, 3, 4, 3, 4, 3}},
    {-3.5, {-4, -4, -3, -3, -4, -4, -3}},
    {0.5, {0, 1, 0, 1, 0, 1, 0}},
    {-0.5, {0, -1, 0, 0, -1, -1, 0}},
    {1.5, {2, 2, 1, 2, 1, 2, 1}},
    {-1.5, {-2, -2, -1, -1, -2, -2, -1}},
    {2.25, {2, 2, 2, 3, 2, 3, 2}},
    {-2.25, {-2, -2, -2, -2, -3, -3, -2}},
    {2.75, {3, 3, 3, 3, 2, 3, 2}},
    {-2.75, {-3, -3, -3, -2, -3, -3, -2}},
    {7, {7, 7, 7, 7, 7, 7, 7}},
    {-7, {-7, -7, -7, -7, -7, -7, -7}},
    {0.375, {0, 0, 0, 1, 0, 1, 0}},
    {-0.625, {-1, -1, -1, 0, -1, -1, 0}},
    {1048576.5, {1048576, 1048577, 1048576, 1048577, 1048576, 1048577, 1048576}},
    {-1048577.5, {-1048578, -1048578, -1048577, -1048577, -1048578, -1048578, -1048577}},
    {1e30, {1e30, 1e30, 1e30, 1e30, 1e30, 1e30, 1e30}},
};

TEST(Rounding, TableInFloatDoubleAndExact) {
  for (const Row& r : kTable) {
    for (int m = 0; m < 7; ++m) {
      RoundingMode mode = kAllModes[m];
      SCOPED_TRACE(std::string(rounding_mode_name(mode)) + " x=" + std::to_string(r.x));
      EXPECT_EQ(round_float<float>(static_cast<float>(r.x), mode), static_cast<float>(r.want[m]));
      EXPECT_EQ(round_float<double>(r.x, mode), r.want[m]);
      EXPECT_TRUE(round_exact(ex(r.x), mode) == static_cast<i128>(r.want[m]));
    }
  }
}

TEST(Rounding, NearTiesDecidedOnTheTrueValueInExactMeaning) {
  // 0.49999997 (the float32 just below 0.5): every nearest mode gives 0 exactly,
  // but numpy's HALF_UP computes floor(0.49999997 + 0.5) in float32, and the sum
  // rounds to 1.0, so the float meaning gives 1 (SEMANTICS.md rounding table).
  float below = std::nextafter(0.5f, 0.0f);
  EXPECT_EQ(round_float<float>(below, RoundingMode::kHalfUp), 1.0f);
  EXPECT_EQ(round_float<float>(-below, RoundingMode::kHalfUp), -1.0f);
  EXPECT_EQ(round_float<float>(below, RoundingMode::kHalfEven), 0.0f);
  EXPECT_TRUE(round_exact(ex(below), RoundingMode::kHalfUp) == 0);
  EXPECT_TRUE(round_exact(ex(-below), RoundingMode::kHalfUp) == 0);
  // The same in double: 0.49999999999999994 + 0.5 rounds to 1.0.
  double dbelow = std::nextafter(0.5, 0.0);
  EXPECT_EQ(round_float<double>(dbelow, RoundingMode::kHalfUp), 1.0);
  EXPECT_TRUE(round_exact(ex(dbelow), RoundingMode::kHalfUp) == 0);
  // HALF_DOWN computes ceil(|x| - 0.5): 0.50000006 - 0.5 is exact, so float is right.
  float above = std::nextafter(0.5f, 1.0f);
  EXPECT_EQ(round_float<float>(above, RoundingMode::kHalfDown), 1.0f);
  EXPECT_TRUE(round_exact(ex(above), RoundingMode::kHalfDown) == 1);
  // Non-dyadic values near ties: 5/2 +- 1/3000 and thirds.
  Exact just_below = frac_of(5, 2) - frac_of(1, 3000);
  Exact just_above = frac_of(5, 2) + frac_of(1, 3000);
  for (RoundingMode m : {RoundingMode::kHalfEven, RoundingMode::kHalfUp, RoundingMode::kHalfDown}) {
    EXPECT_TRUE(round_exact(just_below, m) == 2);
    EXPECT_TRUE(round_exact(just_above, m) == 3);
    EXPECT_TRUE(round_exact(-just_below, m) == -2);
    EXPECT_TRUE(round_exact(-just_above, m) == -3);
  }
  EXPECT_TRUE(round_exact(frac_of(7, 3), RoundingMode::kHalfEven) == 2);  // 2.333
  EXPECT_TRUE(round_exact(frac_of(-7, 3), RoundingMode::kCeil) == -2);    // -2.333
  EXPECT_TRUE(round_exact(frac_of(-7, 3), RoundingMode::kFloor) == -3);
  EXPECT_TRUE(round_exact(frac_of(-7, 3), RoundingMode::kUp) == -3);
  EXPECT_TRUE(round_exact(frac_of(-7, 3), RoundingMode::kDown) == -2);
  EXPECT_TRUE(round_exact(frac_of(8, 3), RoundingMode::kHalfDown) == 3);  // 2.667
  EXPECT_TRUE(round_exact(frac_of(-1, 3), RoundingMode::kHalfUp) == 0);
}

TEST(Rounding, HugeExactValues) {
  // 2^100 + 1/2: a tie far beyond double precision.
  i128 p100 = static_cast<i128>(1) << 100;
  Exact tie = Exact::make(2 * p100 + 1, 1, -1);
  EXPECT_TRUE(round_exact(tie, RoundingMode::kHalfEven) == p100);
  EXPECT_TRUE(round_exact(tie, RoundingMode::kHalfUp) == p100 + 1);
  EXPECT_TRUE(round_exact(tie, RoundingMode::kHalfDown) == p100);
  EXPECT_TRUE(round_exact(-tie, RoundingMode::kHalfEven) == -p100);
  EXPECT_TRUE(round_exact(-tie, RoundingMode::kHalfUp) == -p100 - 1);
  EXPECT_TRUE(round_exact(-tie, RoundingMode::kFloor) == -p100 - 1);
  EXPECT_TRUE(round_exact(-tie, RoundingMode::kCeil) == -p100);
  // (2^100 + 1) + 1/2 ties to the even 2^100 + 2.
  Exact odd_tie = Exact::make(2 * p100 + 3, 1, -1);
  EXPECT_TRUE(round_exact(odd_tie, RoundingMode::kHalfEven) == p100 + 2);
  // 1e38 < 2^127 still fits a 127-bit integer; 3e38 does not, and the exact engine
  // reports it rather than rounding it.
  EXPECT_TRUE(round_exact(ex(1e38), RoundingMode::kHalfEven) == static_cast<i128>(1e38));
  EXPECT_THROW(round_exact(ex(3e38), RoundingMode::kHalfEven), ExactOverflow);
  // Float meaning keeps huge values (all are integers already).
  for (RoundingMode m : kAllModes) {
    EXPECT_EQ(round_float<float>(3e38f, m), 3e38f);
    EXPECT_EQ(round_float<float>(-3e38f, m), -3e38f);
    EXPECT_EQ(round_float<double>(1e300, m), 1e300);
  }
}

TEST(Rounding, FloatSpecialValuesFollowNumpy) {
  for (RoundingMode m : kAllModes) {
    SCOPED_TRACE(rounding_mode_name(m));
    EXPECT_TRUE(std::isnan(round_float<float>(NAN, m)));
    EXPECT_TRUE(std::isnan(round_float<double>(kNaN, m)));
    EXPECT_EQ(round_float<float>(INFINITY, m), INFINITY);
    EXPECT_EQ(round_float<float>(-INFINITY, m), -INFINITY);
    EXPECT_EQ(round_float<double>(-kInf, m), -kInf);
  }
  // Signs of zero as numpy gives them: sign(x) * f(|x|) with sign(+-0) = +0.
  EXPECT_TRUE(same_bits(round_float<float>(-0.0f, RoundingMode::kHalfUp), 0.0f));
  EXPECT_TRUE(same_bits(round_float<float>(-0.0f, RoundingMode::kUp), 0.0f));
  EXPECT_TRUE(same_bits(round_float<float>(0.0f, RoundingMode::kHalfDown), -0.0f));  // ceil(-0.5)
  EXPECT_TRUE(same_bits(round_float<float>(-0.0f, RoundingMode::kHalfEven), -0.0f));
  EXPECT_TRUE(same_bits(round_float<float>(-0.3f, RoundingMode::kHalfEven), -0.0f));
  EXPECT_TRUE(same_bits(round_float<float>(-0.3f, RoundingMode::kHalfUp), -0.0f));
  EXPECT_TRUE(same_bits(round_float<float>(-0.3f, RoundingMode::kHalfDown), 0.0f));
  EXPECT_TRUE(same_bits(round_float<float>(0.3f, RoundingMode::kHalfDown), -0.0f));
  EXPECT_TRUE(same_bits(round_float<float>(-0.3f, RoundingMode::kCeil), -0.0f));
  EXPECT_TRUE(same_bits(round_float<float>(-0.3f, RoundingMode::kDown), -0.0f));
  EXPECT_TRUE(same_bits(round_float<double>(-0.0, RoundingMode::kHalfUp), 0.0));
  // numpy_round picks the precision: 0.49999997 + 0.5 is 1 in float32 only.
  double below = static_cast<double>(std::nextafter(0.5f, 0.0f));
  EXPECT_EQ(numpy_round(below, RoundingMode::kHalfUp, true), 1.0);
  EXPECT_EQ(numpy_round(below, RoundingMode::kHalfUp, false), 0.0);
}

TEST(Rounding, TinyNegativeValuesInExactMeaning) {
  // x - floor(x) for x = -1e-40 would need ~160 bits; rounding must not need it.
  for (double v : {-1e-40, -1e-30, -std::ldexp(1.0, -149), -std::ldexp(1.0, -1074)}) {
    SCOPED_TRACE(v);
    EXPECT_TRUE(round_exact(ex(v), RoundingMode::kHalfEven) == 0);
    EXPECT_TRUE(round_exact(ex(v), RoundingMode::kHalfUp) == 0);
    EXPECT_TRUE(round_exact(ex(v), RoundingMode::kHalfDown) == 0);
    EXPECT_TRUE(round_exact(ex(v), RoundingMode::kFloor) == -1);
    EXPECT_TRUE(round_exact(ex(v), RoundingMode::kCeil) == 0);
    EXPECT_TRUE(round_exact(ex(v), RoundingMode::kUp) == -1);
    EXPECT_TRUE(round_exact(ex(v), RoundingMode::kDown) == 0);
  }
  EXPECT_TRUE(round_exact(frac_of(-1, 3).ldexp(-140), RoundingMode::kFloor) == -1);
  IntQuantAttrs a;
  EXPECT_EQ(int_quant_exact(ex(-1e-40), ex(0.5), ex(0), 8, a), Exact());
  EXPECT_EQ(float_quant_exact(ex(-1e-40), ex(1), ex(448), {4, 3, 7}, {}), Exact());
}

TEST(Rounding, ZeroIsZeroInExactMeaning) {
  for (RoundingMode m : kAllModes) EXPECT_TRUE(round_exact(Exact(), m) == 0);
}

// ------------------------------------------------------------------ IntQuant

TEST(IntQuant, ExactHandComputedValues) {
  IntQuantAttrs a;  // signed, wide, ROUND
  // 1.25 / 0.5 = 2.5 -> ties to even 2 -> 2 * 0.5 = 1.0
  EXPECT_EQ(int_quant_exact(ex(1.25), ex(0.5), ex(0), 4, a), ex(1.0));
  a.mode = RoundingMode::kHalfUp;  // -> 3 -> 1.5
  EXPECT_EQ(int_quant_exact(ex(1.25), ex(0.5), ex(0), 4, a), ex(1.5));
  // Clamping: 100 -> 7; -100 -> -8, or -7 when narrow.
  a.mode = RoundingMode::kHalfEven;
  EXPECT_EQ(int_quant_exact(ex(100), ex(1), ex(0), 4, a), ex(7));
  EXPECT_EQ(int_quant_exact(ex(-100), ex(1), ex(0), 4, a), ex(-8));
  a.narrow = true;
  EXPECT_EQ(int_quant_exact(ex(-100), ex(1), ex(0), 4, a), ex(-7));
  // Unsigned narrow 4-bit: [0, 14]; scale 0.25: 100 -> 14 * 0.25 = 3.5, -3 -> 0.
  a.is_signed = false;
  EXPECT_EQ(int_quant_exact(ex(100), ex(0.25), ex(0), 4, a), ex(3.5));
  EXPECT_EQ(int_quant_exact(ex(-3), ex(0.25), ex(0), 4, a), ex(0));
  // A non-integer zero point: t = 1/1 + 0.5 = 1.5 -> 2 -> (2 - 0.5) * 1 = 1.5.
  IntQuantAttrs s;
  EXPECT_EQ(int_quant_exact(ex(1), ex(1), ex(0.5), 8, s), ex(1.5));
  // Zero point 3, UINT8: x = -1, s = 0.5: t = -2 + 3 = 1 -> (1 - 3) * 0.5 = -1.
  IntQuantAttrs u;
  u.is_signed = false;
  EXPECT_EQ(int_quant_exact(ex(-1), ex(0.5), ex(3), 8, u), ex(-1));
  EXPECT_TRUE(int_quant_level_exact(ex(-1), ex(0.5), ex(3), 8, u) == 1);
  // 0.3 / 0.1 in doubles is 2.9999999999999997...: FLOOR gives 2 in exact meaning,
  // while float32 arithmetic rounds 0.3f / 0.1f to exactly 3 first.
  IntQuantAttrs f;
  f.mode = RoundingMode::kFloor;
  EXPECT_TRUE(int_quant_level_exact(ex(0.3), ex(0.1), ex(0), 8, f) == 2);
  EXPECT_EQ(int_quant_float<float>(0.3f, 0.1f, 0.0f, 8, f), 3.0f * 0.1f);
  // A scale of 1/3 exactly (non-dyadic): 1 / (1/3) = 3 exactly.
  EXPECT_EQ(int_quant_exact(ex(1), frac_of(1, 3), ex(0), 8, f), ex(1));
}

TEST(IntQuant, InfinitiesClampAndNaNStaysNaN) {
  IntQuantAttrs a;
  EXPECT_EQ(int_quant_exact(Exact::inf(false), ex(0.5), ex(0), 8, a), ex(63.5));
  EXPECT_EQ(int_quant_exact(Exact::inf(true), ex(0.5), ex(0), 8, a), ex(-64));
  EXPECT_TRUE(int_quant_exact(Exact::nan(), ex(0.5), ex(0), 8, a).is_nan());
  EXPECT_EQ(int_quant_float<float>(INFINITY, 0.5f, 0.0f, 8, a), 63.5f);
  EXPECT_EQ(int_quant_float<float>(-INFINITY, 0.5f, 0.0f, 8, a), -64.0f);
  EXPECT_TRUE(std::isnan(int_quant_float<float>(NAN, 0.5f, 0.0f, 8, a)));
  EXPECT_EQ(int_quant_float<double>(kInf, 1.0, 0.0, 32, a), 2147483647.0);
}

TEST(IntQuant, SignedOneBitIsBipolar) {
  IntQuantAttrs a;
  EXPECT_EQ(int_quant_exact(ex(0), ex(0.5), ex(0), 1, a), ex(0.5));
  EXPECT_EQ(int_quant_exact(ex(-0.001), ex(0.5), ex(0), 1, a), ex(-0.5));
  EXPECT_EQ(int_quant_exact(ex(7), ex(2), ex(0), 1, a), ex(2));
  EXPECT_EQ(int_quant_float<float>(0.0f, 0.5f, 0.0f, 1, a), 0.5f);
  EXPECT_EQ(int_quant_float<float>(-3.0f, 0.5f, 0.0f, 1, a), -0.5f);
}

// ------------------------------------------------------------------ log2 helpers

TEST(ExactLog2, FloorAndRound) {
  EXPECT_EQ(floor_log2_exact(ex(1)), 0);
  EXPECT_EQ(floor_log2_exact(ex(8)), 3);
  EXPECT_EQ(floor_log2_exact(ex(std::nextafter(8.0, 0.0))), 2);
  EXPECT_EQ(floor_log2_exact(ex(0.75)), -1);
  EXPECT_EQ(floor_log2_exact(ex(std::ldexp(1.0, -1074))), -1074);
  EXPECT_EQ(floor_log2_exact(frac_of(1, 3)), -2);  // 0.333 in [1/4, 1/2)
  EXPECT_EQ(floor_log2_exact(frac_of(2, 3)), -1);  // 0.667
  EXPECT_EQ(floor_log2_exact(frac_of(4, 3)), 0);
  EXPECT_EQ(floor_log2_exact(frac_of(1000, 7)), 7);  // 142.9
  EXPECT_THROW(floor_log2_exact(Exact()), Error);
  EXPECT_THROW(floor_log2_exact(ex(-1)), Error);
  // round(log2): sqrt(2) = 1.41421356...
  EXPECT_EQ(round_log2_exact(ex(1.4142)), 0);
  EXPECT_EQ(round_log2_exact(ex(1.41422)), 1);
  EXPECT_EQ(round_log2_exact(ex(16)), 4);
  EXPECT_EQ(round_log2_exact(ex(0.7)), -1);        // log2 0.7 = -0.51
  EXPECT_EQ(round_log2_exact(ex(0.71)), 0);        // -0.494
  EXPECT_EQ(round_log2_exact(frac_of(1, 3)), -2);  // -1.585
}

// ------------------------------------------------------------------ FloatQuant

TEST(FloatQuant, MaxValues) {
  EXPECT_EQ(minifloat_max_exact({4, 3, 7}), ex(480));  // E4M3 by the formula
  // The reference's formula uses the all-ones exponent as a normal binade, so E5M2
  // gives 1.75 * 2^16 (OCP's 57344 needs max_val), and FLOAT<8,23,127> gives
  // (2 - 2^-23) * 2^128, which is beyond float32.
  EXPECT_EQ(minifloat_max_exact({5, 2, 15}), ex(114688));
  EXPECT_EQ(minifloat_max_exact({2, 1, 1}), ex(6));  // E2M1 (FP4)
  EXPECT_EQ(minifloat_max_exact({8, 23, 127}), ex(std::ldexp(2.0 - std::ldexp(1.0, -23), 128)));
  EXPECT_EQ(minifloat_max_float({4, 3, 7}, true), 480.0);
  EXPECT_EQ(minifloat_max_float({8, 23, 127}, true), kInf);  // 2**128 in float32
  EXPECT_EQ(minifloat_max_float({8, 23, 128}, true), static_cast<double>(FLT_MAX));
  // max_exponent 129: 2**129 overflows in float32 but not in float64.
  EXPECT_EQ(minifloat_max_float({8, 23, 126}, true), kInf);
  EXPECT_EQ(minifloat_max_float({8, 23, 126}, false), std::ldexp(2.0 - std::ldexp(1.0, -23), 129));
}

TEST(FloatQuant, E4M3HandComputed) {
  MiniFloatFormat f{4, 3, 7};
  FloatQuantAttrs a;
  Exact mv = ex(448);
  auto q = [&](double x) { return float_quant_exact(ex(x), ex(1), mv, f, a); };
  // 0.3: floor(log2) = -2, e = -5, 0.3 * 32 = 9.6 -> 10 -> 0.3125
  EXPECT_EQ(q(0.3), ex(0.3125));
  EXPECT_EQ(q(-0.3), ex(-0.3125));
  // 2^-9 (smallest subnormal): e = max(-12, 1 - 7 - 3 = -9) = -9.
  EXPECT_EQ(q(std::ldexp(1.4, -9)), ex(std::ldexp(1.0, -9)));
  EXPECT_EQ(q(std::ldexp(1.5, -9)), ex(std::ldexp(1.0, -8)));  // tie to even 2
  EXPECT_EQ(q(std::ldexp(1.0, -11)), ex(0));                   // 0.25 -> 0
  // 17 -> e = 4 - 3 = 1: 8.5 ties to 8 -> 16; 19 -> 9.5 -> 10 -> 20.
  EXPECT_EQ(q(17), ex(16));
  EXPECT_EQ(q(19), ex(20));
  // Beyond 448: 460 -> 14.375 -> 14 -> 448; 470 -> 15 -> 480 > 448 -> saturates.
  EXPECT_EQ(q(460), ex(448));
  EXPECT_EQ(q(470), ex(448));
  EXPECT_EQ(q(-1e6), ex(-448));
  EXPECT_EQ(q(0), ex(0));
  EXPECT_TRUE(q(kNaN).is_nan());
  EXPECT_TRUE(q(kInf).is_nan());  // the reference turns infinities into NaN
  // Scale 0.5: u = 0.3 / 0.5 = 0.6 -> e = -4: 9.6 -> 10 -> 0.625 -> times 0.5.
  EXPECT_EQ(float_quant_exact(ex(0.3), ex(0.5), mv, f, a), ex(0.3125));
  // Other modes on 0.3 (9.6): FLOOR 9 -> 0.28125, UP 10.
  a.mode = RoundingMode::kFloor;
  EXPECT_EQ(q(0.3), ex(0.28125));
  a.mode = RoundingMode::kDown;
  EXPECT_EQ(q(-0.3), ex(-0.28125));
}

TEST(FloatQuant, OverflowFlags) {
  MiniFloatFormat f{4, 3, 7};
  FloatQuantAttrs a;
  a.saturation = false;
  a.has_inf = true;
  EXPECT_TRUE(float_quant_exact(ex(470), ex(1), ex(448), f, a) == Exact::inf(false));
  EXPECT_TRUE(float_quant_exact(ex(-470), ex(1), ex(448), f, a) == Exact::inf(true));
  EXPECT_EQ(float_quant_exact(ex(460), ex(1), ex(448), f, a), ex(448));
  EXPECT_EQ(float_quant_float(470, 1, 448, f, a, {}), INFINITY);
  EXPECT_EQ(float_quant_float(-470, 1, 448, f, a, {}), -INFINITY);
  a.has_inf = false;
  a.has_nan = true;
  EXPECT_TRUE(float_quant_exact(ex(470), ex(1), ex(448), f, a).is_nan());
  EXPECT_TRUE(std::isnan(float_quant_float(470, 1, 448, f, a, {})));
  a.has_nan = false;
  EXPECT_THROW(check_float_quant(f, a), Error);
  EXPECT_THROW(check_float_quant({17, 3, 7}, FloatQuantAttrs{}), Error);
  EXPECT_NO_THROW(check_float_quant(f, FloatQuantAttrs{}));
}

TEST(FloatQuant, FloatMeaningFollowsFloat32Log2) {
  MiniFloatFormat f{4, 3, 7};
  FloatQuantAttrs a;
  a.mode = RoundingMode::kFloor;
  // 7.9999995 (just below 8): log2 in float32 rounds to 3.0, so the reference uses
  // e = 0 and floor(7.9999995) = 7; the true exponent 2 gives e = -1 and
  // floor(15.999999) = 15 -> 7.5.
  float x = std::nextafter(8.0f, 0.0f);
  EXPECT_EQ(float_quant_float(x, 1, 448, f, a, {}), 7.0f);
  EXPECT_EQ(float_quant_exact(ex(x), ex(1), ex(448), f, a), ex(7.5));
  // In float64 (an int64 scale) log2 is accurate enough here: 15 * 2^-1.
  FloatQuantDtypes wide;
  wide.x_f32 = false;
  EXPECT_EQ(float_quant_float(x, 1, 448, f, a, wide), 7.5f);
  // -0 stays -0 in float meaning (x_q * scale of a signed zero).
  EXPECT_TRUE(same_bits(float_quant_float(-0.0, 1, 448, f, FloatQuantAttrs{}, {}), -0.0f));
  EXPECT_TRUE(std::isnan(float_quant_float(kInf, 1, 448, f, FloatQuantAttrs{}, {})));
}

// ------------------------------------------------------------------ Trunc

TEST(Trunc, V1HandComputed) {
  // 200 with 8 -> 4 bits: 200 / 16 = 12.5.
  EXPECT_EQ(trunc_v1_exact(ex(200), ex(1), ex(0), 8, 4, RoundingMode::kFloor), ex(12));
  EXPECT_EQ(trunc_v1_exact(ex(200), ex(1), ex(0), 8, 4, RoundingMode::kHalfEven), ex(12));
  EXPECT_EQ(trunc_v1_exact(ex(200), ex(1), ex(0), 8, 4, RoundingMode::kHalfUp), ex(13));
  EXPECT_EQ(trunc_v1_exact(ex(-200), ex(1), ex(0), 8, 4, RoundingMode::kFloor), ex(-13));
  // Scale 0.5 and zero point 2: t = round(7.3 / 0.5 + 2) = round(16.6) = 17;
  // 17 / 4 = 4.25 -> FLOOR 4 -> (4 - 2) * 0.5 = 1 (the output keeps the input scale).
  EXPECT_EQ(trunc_v1_exact(ex(7.3), ex(0.5), ex(2), 6, 4, RoundingMode::kFloor), ex(1));
  EXPECT_EQ(trunc_v1_float(7.3, 0.5, 2, 6, 4, RoundingMode::kFloor, {}), 1.0f);
  EXPECT_TRUE(trunc_v1_exact(Exact::nan(), ex(1), ex(0), 8, 4, RoundingMode::kFloor).is_nan());
  EXPECT_TRUE(trunc_v1_exact(Exact::inf(true), ex(1), ex(0), 8, 4, RoundingMode::kFloor) ==
              Exact::inf(true));
}

TEST(Trunc, V2HandComputed) {
  TruncV2Attrs a;  // signed, wide, FLOOR
  // 200 / 1, out_scale 16 -> k = 16: 12.5 clamps to 7 -> 7 * 16 = 112.
  EXPECT_EQ(trunc_v2_exact(ex(200), ex(1), ex(0), ex(16), 4, a), ex(112));
  EXPECT_EQ(trunc_v2_float(200, 1, 0, 16, 4, a, {}), 112.0f);
  a.is_signed = false;  // UINT4: 12.5 -> 12 -> 192
  EXPECT_EQ(trunc_v2_exact(ex(200), ex(1), ex(0), ex(16), 4, a), ex(192));
  a.narrow = true;  // [0, 14]: 300/16 = 18.75 -> 14 -> 224
  EXPECT_EQ(trunc_v2_exact(ex(300), ex(1), ex(0), ex(16), 4, a), ex(224));
  // out_scale / scale = 23 -> k = 2^round(4.52) = 32: 100 / 32 = 3.125 -> 3 -> 69.
  TruncV2Attrs s;
  EXPECT_EQ(trunc_v2_exact(ex(100), ex(1), ex(0), ex(23), 8, s), ex(69));
  EXPECT_EQ(trunc_v2_float(100, 1, 0, 23, 8, s, {}), 69.0f);
  // Zero point rescaled by k: z = 4, k = 4: t = 10 + 4 = 14 -> 3.5 -> 3; (3 - 1) * 4 = 8.
  EXPECT_EQ(trunc_v2_exact(ex(10), ex(1), ex(4), ex(4), 8, s), ex(8));
  // Infinities clamp in v2.
  EXPECT_EQ(trunc_v2_exact(Exact::inf(false), ex(1), ex(0), ex(16), 4, s), ex(112));
  EXPECT_EQ(trunc_v2_exact(Exact::inf(true), ex(1), ex(0), ex(16), 4, s), ex(-128));
  EXPECT_THROW(trunc_v2_exact(ex(1), ex(1), ex(0), ex(-2), 4, s), Error);
}

TEST(Trunc, TinyInputsWithAZeroPoint) {
  // -1e-40 / 1 + 3 rounds to 3 without forming a 140-bit sum.
  EXPECT_EQ(trunc_v1_exact(ex(-1e-40), ex(1), ex(3), 8, 8, RoundingMode::kFloor), ex(0));
  // v1 8 -> 6 bits: level 3 / 4 = 0.75, CEIL 1 -> (1 - 3) * 1 = -2.
  EXPECT_EQ(trunc_v1_exact(ex(-1e-40), ex(1), ex(3), 8, 6, RoundingMode::kCeil), ex(-2));
  TruncV2Attrs a;
  // v2, k = 1: level 3 -> (3 - 3) * 1 = 0.
  EXPECT_EQ(trunc_v2_exact(ex(-1e-40), ex(1), ex(3), ex(1), 8, a), ex(0));
  // 2.5 + tiny: the tie is broken by the tiny part in the true value.
  EXPECT_EQ(trunc_v1_exact(ex(1e-40), ex(1), ex(2.5), 8, 8, RoundingMode::kFloor), ex(0.5));
  EXPECT_EQ(trunc_v1_exact(ex(-1e-40), ex(1), ex(2.5), 8, 8, RoundingMode::kFloor), ex(-0.5));
}

TEST(Trunc, V2BoundsInFloat32ForWideBitWidths) {
  // INT32 bounds computed from a float32 bit width are +-2^31 (2^31 - 1 rounds up),
  // so 3e9 clamps to 2^31 in float meaning; with an int64 bit width the bound is
  // 2^31 - 1, whose float32 cast is 2^31 too. Exact meaning clamps to 2^31 - 1.
  TruncV2Attrs a;
  EXPECT_EQ(trunc_v2_float(3e9, 1, 0, 1, 32, a, {}), 2147483648.0f);
  TruncDtypes d;
  d.out_bits_f32 = false;
  EXPECT_EQ(trunc_v2_float(3e9, 1, 0, 1, 32, a, d), 2147483648.0f);
  EXPECT_EQ(trunc_v2_exact(ex(3e9), ex(1), ex(0), ex(1), 32, a), ex(2147483647.0));
}

}  // namespace
}  // namespace bitsmith

namespace bitsmith {
namespace {

// Found by the loader fuzzer: a NaN or infinite zero point reached the rounding
// code, which converted NaN to an integer. NaN must give NaN, infinities clamp.
TEST(QuantizeSpecials, NonFiniteZeroPoints) {
  IntQuantAttrs a{true, false, RoundingMode::kHalfEven};
  Exact one = Exact::from_int(1), x = Exact::from_double(0.3);
  EXPECT_TRUE(int_quant_exact(x, one, Exact::nan(), 4, a).is_nan());
  EXPECT_EQ(int_quant_level_exact(x, one, Exact::inf(false), 4, a), 7);
  EXPECT_EQ(int_quant_level_exact(x, one, Exact::inf(true), 4, a), -8);
  EXPECT_TRUE(int_quant_exact(Exact::inf(false), one, Exact::inf(true), 4, a).is_nan());
  EXPECT_THROW(int_quant_level_exact(Exact::nan(), one, Exact(), 4, a), ExactOverflow);
}

}  // namespace
}  // namespace bitsmith
