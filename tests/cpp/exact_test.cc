#include "core/exact.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace bitsmith {
namespace {

TEST(Exact, RoundTripsDoubles) {
  for (double v : {0.0, 1.0, -1.5, 0.1, 3.4028234663852886e38, 1e-45, -7.0 / 3.0}) {
    EXPECT_EQ(Exact::from_double(v).to_double(), v);
  }
}

TEST(Exact, ThirdsCancel) {
  Exact third = Exact::from_int(1) / Exact::from_int(3);
  EXPECT_EQ(third * Exact::from_int(3), Exact::from_int(1));
  EXPECT_EQ((third + third + third), Exact::from_int(1));
  EXPECT_EQ(third.to_double(), 1.0 / 3.0);
  EXPECT_EQ(third.to_float(), 1.0f / 3.0f);
}

// ---------------------------------------------------------------- helpers

Exact q(i128 num, i128 den) {
  return Exact::make(num, den, 0);
}
Exact pow2(int64_t k) {
  return Exact::from_int(1).ldexp(k);
}
constexpr i128 kI128Max = static_cast<i128>(~static_cast<u128>(0) >> 1);

// ---------------------------------------------------------------- arithmetic

TEST(Exact, ArithmeticWithOddDenominators) {
  EXPECT_EQ(q(1, 3) + q(1, 6), q(1, 2));
  EXPECT_EQ(q(1, 3) - q(1, 2), q(-1, 6));
  EXPECT_EQ(q(2, 3) * q(9, 4), q(3, 2));
  EXPECT_EQ(q(7, 3) / q(7, 3), Exact::from_int(1));
  EXPECT_EQ(Exact::from_int(-6) / Exact::from_int(4), Exact::from_double(-1.5));
  EXPECT_EQ(q(5, 7) - q(5, 7), Exact());
  EXPECT_TRUE((q(5, 7) - q(5, 7)).is_zero());
  // Representations are canonical: 2/4 == 1/2 == 0.5 == 2^-1.
  EXPECT_EQ(q(2, 4), q(1, 2));
  EXPECT_EQ(q(2, 4), Exact::from_double(0.5));
  EXPECT_EQ(q(2, 4), pow2(-1));
  EXPECT_EQ(q(6, -9), q(-2, 3));
  EXPECT_EQ(q(3, 1).ldexp(-2), Exact::from_double(0.75));
  EXPECT_TRUE(Exact().ldexp(1000).is_zero());
}

TEST(Exact, DoublesAreExactNotRounded) {
  // 0.1 (double) * 10 is 1 + 2^-54 * 1.0000000000000000555..., not 1; it rounds to 1.
  Exact tenth = Exact::from_double(0.1);
  Exact ten_tenths = tenth * Exact::from_int(10);
  EXPECT_FALSE(ten_tenths == Exact::from_int(1));
  EXPECT_TRUE(Exact::from_int(1) < ten_tenths);
  EXPECT_EQ(ten_tenths.to_double(), 1.0);
  EXPECT_EQ(Exact::from_double(-0.0), Exact());
  EXPECT_EQ(Exact::from_double(std::ldexp(1.0, -1074)), pow2(-1074));
  EXPECT_EQ(Exact::from_double(-DBL_MAX).to_double(), -DBL_MAX);
}

TEST(Exact, SpecialValues) {
  Exact inf = Exact::inf(false), ninf = Exact::inf(true), nan = Exact::nan();
  Exact one = Exact::from_int(1), zero;
  EXPECT_TRUE((inf + ninf).is_nan());
  EXPECT_TRUE((inf - inf).is_nan());
  EXPECT_EQ(inf + inf, inf);
  EXPECT_EQ(inf + one, inf);
  EXPECT_EQ(ninf - one, ninf);
  EXPECT_TRUE((inf * zero).is_nan());
  EXPECT_TRUE((zero * ninf).is_nan());
  EXPECT_EQ(inf * Exact::from_int(-2), ninf);
  EXPECT_EQ(one / zero, inf);
  EXPECT_EQ(-one / zero, ninf);
  EXPECT_TRUE((zero / zero).is_nan());
  EXPECT_TRUE((inf / inf).is_nan());
  EXPECT_TRUE((one / inf).is_zero());
  EXPECT_EQ(ninf / Exact::from_int(-3), inf);
  EXPECT_EQ(-inf, ninf);
  EXPECT_TRUE((nan + one).is_nan());
  EXPECT_TRUE((nan * zero).is_nan());
  EXPECT_TRUE((one / nan).is_nan());
  EXPECT_EQ(inf.sign(), 1);
  EXPECT_EQ(ninf.sign(), -1);
  EXPECT_EQ(nan.sign(), 0);
  EXPECT_TRUE(std::isnan(nan.to_double()));
  EXPECT_EQ(ninf.to_float(), -INFINITY);
}

// ---------------------------------------------------------------- comparisons

TEST(Exact, ComparisonsOrderEverythingButNaN) {
  // An increasing chain; every pair must compare consistently.
  const Exact chain[] = {Exact::inf(true),
                         Exact::from_double(-1e300),
                         Exact::from_int(-1),
                         q(-1, 3),
                         Exact(),
                         pow2(-1074),
                         Exact::from_double(1.0 / 3.0),  // just below 1/3
                         q(1, 3),
                         q(1, 3) + pow2(-120),
                         Exact::from_double(0.5),
                         Exact::from_double(1e300),
                         Exact::inf(false)};
  const size_t n = sizeof(chain) / sizeof(chain[0]);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) {
      SCOPED_TRACE(std::to_string(i) + " vs " + std::to_string(j));
      EXPECT_EQ(chain[i] < chain[j], i < j);
      EXPECT_EQ(chain[i] <= chain[j], i <= j);
      EXPECT_EQ(chain[i] > chain[j], i > j);
      EXPECT_EQ(chain[i] >= chain[j], i >= j);
      EXPECT_EQ(chain[i] == chain[j], i == j);
    }
  }
}

TEST(Exact, NaNIsUnordered) {
  Exact nan = Exact::nan();
  for (const Exact& v : {nan, Exact(), Exact::from_int(1), Exact::inf(false), Exact::inf(true)}) {
    EXPECT_FALSE(nan == v);
    EXPECT_FALSE(v == nan);
    EXPECT_FALSE(nan < v);
    EXPECT_FALSE(v < nan);
    EXPECT_FALSE(nan <= v);
    EXPECT_FALSE(v >= nan);
  }
}

// ---------------------------------------------------------------- floor / ceil

TEST(Exact, FloorAndCeil) {
  struct Case {
    Exact v;
    i128 floor, ceil;
  };
  const Case cases[] = {
      {Exact::from_double(2.5), 2, 3},
      {Exact::from_double(-2.5), -3, -2},
      {q(7, 3), 2, 3},
      {q(-7, 3), -3, -2},
      {Exact::from_int(5), 5, 5},
      {Exact::from_int(-5), -5, -5},
      {Exact(), 0, 0},
      {pow2(-200), 0, 1},
      {-pow2(-200), -1, 0},
      {q(1, (static_cast<i128>(1) << 100) + 1), 0, 1},
      {pow2(126), static_cast<i128>(1) << 126, static_cast<i128>(1) << 126},
      {-pow2(126), -(static_cast<i128>(1) << 126), -(static_cast<i128>(1) << 126)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.v.to_string());
    EXPECT_TRUE(c.v.floor() == c.floor);
    EXPECT_TRUE(c.v.ceil() == c.ceil);
  }
  EXPECT_EQ(frac(q(-7, 3)), q(2, 3));
  EXPECT_EQ(frac(Exact::from_double(2.75)), Exact::from_double(0.75));
  EXPECT_THROW(pow2(127).floor(), ExactOverflow);
  EXPECT_THROW(Exact::inf(false).floor(), ExactOverflow);
  EXPECT_THROW(Exact::nan().ceil(), ExactOverflow);
}

// ---------------------------------------------------------------- conversions

TEST(Exact, ToFloatRoundsToNearestEven) {
  // 1 + 2^-24 is halfway between 1 and 1 + 2^-23: ties to the even 1.
  EXPECT_EQ(Exact::make((1 << 24) + 1, 1, -24).to_float(), 1.0f);
  // 1 + 3 * 2^-24 is halfway between 1 + 2^-23 and 1 + 2^-22: ties to even 1 + 2^-22.
  EXPECT_EQ(Exact::make((1 << 24) + 3, 1, -24).to_float(), 1.0f + std::ldexp(1.0f, -22));
  // A hair above the tie rounds up.
  i128 above = (static_cast<i128>(1) << 70) + (static_cast<i128>(1) << 46) + 1;
  EXPECT_EQ(Exact::make(above, 1, -70).to_float(), 1.0f + std::ldexp(1.0f, -23));
  EXPECT_EQ((-Exact::make(above, 1, -70)).to_float(), -1.0f - std::ldexp(1.0f, -23));
  // Odd denominators: IEEE division is correctly rounded, so it is the reference.
  EXPECT_EQ(q(1, 3).to_float(), 1.0f / 3.0f);
  EXPECT_EQ(q(2, 3).to_float(), 2.0f / 3.0f);
  EXPECT_EQ(q(-10, 7).to_float(), -10.0f / 7.0f);
  EXPECT_EQ(q(1, 3).to_double(), 1.0 / 3.0);
  EXPECT_EQ(q(22, 7).to_double(), 22.0 / 7.0);
  EXPECT_EQ(q(-1, 10).to_double(), -0.1);
  EXPECT_EQ(q(1, 10).to_float(), 0.1f);
}

TEST(Exact, ToFloatSubnormals) {
  const float denorm_min = std::numeric_limits<float>::denorm_min();
  EXPECT_EQ(pow2(-149).to_float(), denorm_min);
  EXPECT_EQ(pow2(-150).to_float(), 0.0f);  // halfway to 0: ties to even 0
  EXPECT_EQ((pow2(-150) + pow2(-200)).to_float(), denorm_min);
  EXPECT_EQ(Exact::make(3, 1, -150).to_float(), 2 * denorm_min);  // tie to even 2
  EXPECT_EQ(Exact::make(5, 1, -150).to_float(), 2 * denorm_min);  // 2.5 -> 2
  EXPECT_EQ(Exact::make(-3, 1, -150).to_float(), -2 * denorm_min);
  EXPECT_EQ(pow2(-151).to_float(), 0.0f);
  EXPECT_EQ(pow2(-126).to_float(), FLT_MIN);
  EXPECT_EQ((pow2(-126) - pow2(-149)).to_float(), FLT_MIN - denorm_min);
  // 2^-140 / 3 = 170.67 * 2^-149 -> 171 * 2^-149.
  EXPECT_EQ(q(1, 3).ldexp(-140).to_float(), 171 * denorm_min);
  const double ddenorm = std::numeric_limits<double>::denorm_min();
  EXPECT_EQ(pow2(-1074).to_double(), ddenorm);
  EXPECT_EQ(pow2(-1075).to_double(), 0.0);
  EXPECT_EQ(Exact::make(3, 1, -1075).to_double(), 2 * ddenorm);
  EXPECT_EQ(q(1, 3).ldexp(-1070).to_double(), 5 * ddenorm);  // 5.33 -> 5
}

TEST(Exact, ToFloatOverflowsToInfinity) {
  // FLT_MAX = (2^24 - 1) * 2^104; FLT_MAX + 2^103 is the tie with 2^128 and rounds
  // to the even neighbour, 2^128, which is infinity.
  Exact flt_max = Exact::make((1 << 24) - 1, 1, 104);
  EXPECT_EQ(flt_max.to_float(), FLT_MAX);
  EXPECT_EQ((flt_max + pow2(103)).to_float(), INFINITY);
  EXPECT_EQ((flt_max + pow2(103) - pow2(50)).to_float(), FLT_MAX);
  EXPECT_EQ((-(flt_max + pow2(103))).to_float(), -INFINITY);
  EXPECT_EQ(pow2(128).to_float(), INFINITY);
  EXPECT_EQ(pow2(1024).to_double(), std::numeric_limits<double>::infinity());
  Exact dbl_max = Exact::from_double(DBL_MAX);
  EXPECT_EQ(dbl_max.to_double(), DBL_MAX);
  EXPECT_EQ((dbl_max + pow2(970)).to_double(), std::numeric_limits<double>::infinity());
  EXPECT_EQ((dbl_max + pow2(969)).to_double(), DBL_MAX);
  EXPECT_EQ(dbl_max.to_float(), INFINITY);
}

// ---------------------------------------------------------------- overflow

TEST(Exact, OverflowThrowsInsteadOfRounding) {
  Exact big = Exact::from_int(kI128Max);
  EXPECT_THROW(big + Exact::from_int(1), ExactOverflow);
  EXPECT_THROW(-big - Exact::from_int(2), ExactOverflow);
  Exact p100 = Exact::from_int((static_cast<i128>(1) << 100) + 1);
  EXPECT_THROW(p100 * p100, ExactOverflow);
  // Odd denominators that do not cancel multiply out past 127 bits.
  Exact a = q(1, (static_cast<i128>(1) << 100) + 1), b = q(1, (static_cast<i128>(1) << 100) + 3);
  EXPECT_THROW(a * b, ExactOverflow);
  EXPECT_THROW(a + b, ExactOverflow);
  // Aligning binary points 600 bits apart needs a 600-bit numerator.
  EXPECT_THROW(Exact::from_double(1e100) + Exact::from_double(1e-100), ExactOverflow);
  // Exponents beyond 32 bits.
  EXPECT_THROW(Exact::from_int(1).ldexp(int64_t{1} << 40), ExactOverflow);
  EXPECT_THROW(Exact::make(1, 0, 0), std::invalid_argument);
  // Powers of two alone never overflow the numerator.
  EXPECT_EQ(pow2(100000) * pow2(-100000), Exact::from_int(1));
}

}  // namespace
}  // namespace bitsmith
