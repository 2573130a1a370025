#include "core/exact.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

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

TEST(Exact, FormerOverflowsAreExact) {
  // Results past 127 bits move to the big form and stay exact; results that fit
  // again come back small, with the same fields as if computed directly.
  Exact big = Exact::from_int(kI128Max);
  EXPECT_EQ(big + Exact::from_int(1), pow2(127));
  EXPECT_FALSE((big + Exact::from_int(1)).is_big());
  Exact past = big + Exact::from_int(2);  // 2^127 + 1
  EXPECT_TRUE(past.is_big());
  EXPECT_EQ(past - Exact::from_int(2), big);
  EXPECT_EQ(-big - Exact::from_int(2), -past);
  Exact p100 = Exact::from_int((static_cast<i128>(1) << 100) + 1);
  Exact sq = p100 * p100;
  EXPECT_TRUE(sq.is_big());
  EXPECT_TRUE(sq.is_integer());
  EXPECT_EQ(sq / p100, p100);
  EXPECT_FALSE((sq / p100).is_big());
  EXPECT_EQ(sq - pow2(200) - pow2(101), Exact::from_int(1));
  // Odd denominators that do not cancel multiply out past 127 bits.
  Exact a = q(1, (static_cast<i128>(1) << 100) + 1), b = q(1, (static_cast<i128>(1) << 100) + 3);
  Exact ab = a * b;
  EXPECT_TRUE(ab.is_big());
  EXPECT_EQ(ab.den(), 0);  // a big value never passes a `den() == 1` test
  Exact back = ab * Exact::from_int((static_cast<i128>(1) << 100) + 3);
  EXPECT_FALSE(back.is_big());
  EXPECT_EQ(back.num(), 1);
  EXPECT_EQ(back.den(), (static_cast<i128>(1) << 100) + 1);
  EXPECT_EQ((a + b) - b, a);
  EXPECT_EQ(ab / a, b);
  // Aligning binary points 600 bits apart needs a 600-bit numerator.
  Exact wide = Exact::from_double(1e100) + Exact::from_double(1e-100);
  EXPECT_TRUE(wide.is_big());
  EXPECT_EQ(wide - Exact::from_double(1e100), Exact::from_double(1e-100));
  EXPECT_EQ(wide.to_double(), 1e100);
  // Exponents beyond 32 bits still throw.
  EXPECT_THROW(Exact::from_int(1).ldexp(int64_t{1} << 40), ExactOverflow);
  EXPECT_THROW(Exact::make(1, 0, 0), std::invalid_argument);
  // Powers of two alone never leave the small form.
  EXPECT_EQ(pow2(100000) * pow2(-100000), Exact::from_int(1));
  EXPECT_FALSE(pow2(100000).is_big());
}

TEST(Exact, OnePlusTinyIsBig) {
  const Exact one = Exact::from_int(1), tiny = pow2(-200);
  Exact s = one + tiny;
  EXPECT_TRUE(s.is_big());
  EXPECT_EQ(s.num(), 1);  // the sign
  EXPECT_EQ(s - one, tiny);
  EXPECT_FALSE((s - one).is_big());
  EXPECT_EQ(s, tiny + one);
  EXPECT_NE(s, one);
  EXPECT_EQ(s.sign(), 1);
  EXPECT_EQ((-s).sign(), -1);
  EXPECT_TRUE((s - s).is_zero());
  EXPECT_TRUE((-s + s).is_zero());
  EXPECT_FALSE(s.is_zero());
  EXPECT_FALSE(s.is_integer());
  EXPECT_EQ(s.floor(), 1);
  EXPECT_EQ(s.ceil(), 2);
  EXPECT_EQ((-s).floor(), -2);
  EXPECT_EQ((-s).ceil(), -1);
  EXPECT_EQ(frac(s), tiny);
  EXPECT_EQ(frac(-s), one - tiny);
  EXPECT_EQ(s.floor_log2(), 0);
  EXPECT_EQ((one - tiny).floor_log2(), -1);
  EXPECT_EQ(s.to_double(), 1.0);
  EXPECT_EQ(s.to_float(), 1.0f);
  EXPECT_EQ(s.to_string(), "1");
  EXPECT_EQ((s * s - one - tiny.ldexp(1)), pow2(-400));
  EXPECT_EQ(s / s, one);
  EXPECT_EQ((s * q(1, 3)) * Exact::from_int(3), s);
  EXPECT_EQ((s * q(1, 3)).to_double(), 1.0 / 3.0);
  EXPECT_NE((s * q(1, 3)).to_string().find("inexact"), std::string::npos);
  EXPECT_EQ(s.ldexp(5) - pow2(5), pow2(-195));
  EXPECT_TRUE((s * Exact::inf(true)).is_inf());
  EXPECT_TRUE((s * Exact::nan()).is_nan());
  EXPECT_TRUE((s / Exact()).is_inf());
  EXPECT_TRUE((s + Exact::inf(false)).is_inf());
  // Copies share one immutable big value.
  std::vector<Exact> v(64, s);
  std::vector<Exact> w = v;
  v.clear();
  for (const Exact& e : w) EXPECT_EQ(e, s);
  Exact moved = std::move(w[0]);
  EXPECT_EQ(moved, s);
  w[1] = moved;
  w[2] = one;
  EXPECT_EQ(w[1], s);
  EXPECT_EQ(w[2], one);
}

TEST(Exact, ComparisonsAcrossBigAndSmall) {
  const Exact one = Exact::from_int(1);
  Exact s = one + pow2(-200), t = one + pow2(-199);
  EXPECT_LT(one, s);
  EXPECT_GT(s, one);
  EXPECT_LT(s, t);
  EXPECT_LE(s, s);
  EXPECT_FALSE(s < s);
  EXPECT_LT(-s, -one);
  EXPECT_LT(-t, -s);
  EXPECT_LT(s, Exact::from_int(2));
  EXPECT_LT(Exact(), s);
  EXPECT_LT(-s, Exact());
  EXPECT_LT(s, Exact::inf(false));
  EXPECT_FALSE(s < Exact::nan());
  Exact third = q(1, 3);
  EXPECT_LT(third, third + pow2(-300));
  EXPECT_GT(third, third - pow2(-300));
  EXPECT_NE(third + pow2(-300), third);
  EXPECT_LT(pow2(-300) + pow2(-600), pow2(-299));
  EXPECT_GT(pow2(300) + one, pow2(300));
}

TEST(Exact, BigFloorCeilFrac) {
  Exact x = pow2(120) + pow2(-20);
  EXPECT_TRUE(x.is_big());
  EXPECT_EQ(x.floor(), static_cast<i128>(1) << 120);
  EXPECT_EQ(x.ceil(), (static_cast<i128>(1) << 120) + 1);
  EXPECT_EQ((-x).floor(), -(static_cast<i128>(1) << 120) - 1);
  EXPECT_EQ((-x).ceil(), -(static_cast<i128>(1) << 120));
  EXPECT_EQ(frac(x), pow2(-20));
  EXPECT_THROW((pow2(130) + pow2(-20)).floor(), ExactOverflow);
  Exact tiny = pow2(-300) + pow2(-600);
  EXPECT_EQ(tiny.floor(), 0);
  EXPECT_EQ(tiny.ceil(), 1);
  EXPECT_EQ((-tiny).floor(), -1);
  EXPECT_EQ(frac(-tiny), Exact::from_int(1) - tiny);
  // (2^300 + 1)/3 * 2^5: an integer part of ~300 bits and a fraction of 1/3.
  Exact big_third = (pow2(300) + Exact::from_int(1)) * q(1, 3) * Exact::from_int(32);
  EXPECT_TRUE(big_third.is_big());
  EXPECT_EQ(frac(big_third), q(1, 3));
  EXPECT_FALSE(big_third.is_integer());
  EXPECT_THROW(big_third.floor(), ExactOverflow);
  Exact big_int = (pow2(300) + Exact::from_int(1)) * Exact::from_int(3);
  EXPECT_TRUE(big_int.is_integer());
  EXPECT_TRUE(frac(big_int).is_zero());
  EXPECT_TRUE(frac(big_int.ldexp(40)).is_zero());
}

TEST(Exact, ProductsOfFloat32Extremes) {
  // FLT_MAX, the smallest subnormal, the neighbours of 1 and 0.1f, three times over:
  // a 285-bit numerator. Python's Fraction gives the correctly rounded conversions.
  const float vals[] = {FLT_MAX, std::ldexp(1.0f, -149), 1.0f - std::ldexp(1.0f, -24),
                        1.0f + std::ldexp(1.0f, -23), 0.1f};
  Exact p = Exact::from_int(1);
  for (int i = 0; i < 3; ++i) {
    for (float v : vals) p *= Exact::from_double(v);
  }
  EXPECT_TRUE(p.is_big());
  EXPECT_EQ(p.to_double(), 0x1.0624ddf3b63cap-73);
  EXPECT_EQ(p.to_float(), 0x1.0624dep-73f);
  EXPECT_EQ((-p).to_float(), -0x1.0624dep-73f);
  for (int i = 0; i < 3; ++i) {
    for (float v : vals) p = p / Exact::from_double(v);
  }
  EXPECT_EQ(p, Exact::from_int(1));
  EXPECT_FALSE(p.is_big());
  // FLT_MAX^8 is big and finite as a double, infinite as a float.
  Exact m = Exact::from_int(1);
  for (int i = 0; i < 8; ++i) m *= Exact::from_double(FLT_MAX);
  EXPECT_TRUE(m.is_big());
  EXPECT_EQ(m.to_double(), 0x1.fffff00000380p+1023);
  EXPECT_EQ(m.to_float(), INFINITY);
  EXPECT_EQ((-m).to_float(), -INFINITY);
  // (1 + 2^-23)^8 = 1 + 2^-20 + 28 * 2^-46 + ...: rounds to 1 + 2^-20.
  Exact n = Exact::from_int(1);
  for (int i = 0; i < 8; ++i) n *= Exact::from_double(1.0 + std::ldexp(1.0, -23));
  EXPECT_TRUE(n.is_big());
  EXPECT_EQ(n.to_float(), 1.0f + std::ldexp(1.0f, -20));
  EXPECT_EQ(n.to_double(), 0x1.0000100000700p+0);
}

TEST(Exact, BigToFloatRoundsNearTies) {
  const Exact one = Exact::from_int(1), eps = pow2(-300);
  const Exact tie = one + pow2(-24);  // halfway between 1 and 1 + 2^-23
  const float up = 1.0f + std::ldexp(1.0f, -23);
  EXPECT_EQ(tie.to_float(), 1.0f);  // exact tie: to even
  EXPECT_EQ((tie + eps).to_float(), up);
  EXPECT_EQ((tie - eps).to_float(), 1.0f);
  EXPECT_EQ((tie + eps * q(1, 3)).to_float(), up);
  EXPECT_EQ((tie - eps * q(1, 3)).to_float(), 1.0f);
  EXPECT_EQ((-(tie + eps)).to_float(), -up);
  const Exact odd_tie = one + Exact::make(3, 1, -24);  // between 1 + 2^-23 and 1 + 2^-22
  EXPECT_EQ(odd_tie.to_float(), 1.0f + std::ldexp(1.0f, -22));
  EXPECT_EQ((odd_tie - eps).to_float(), up);
  EXPECT_EQ((odd_tie + eps).to_float(), 1.0f + std::ldexp(1.0f, -22));
  // Doubles: halfway between 1 and 1 + 2^-52.
  const Exact dtie = one + pow2(-53);
  EXPECT_EQ((dtie + eps).to_double(), 1.0 + std::ldexp(1.0, -52));
  EXPECT_EQ((dtie - eps).to_double(), 1.0);
  // Subnormal ties: 2^-150 is halfway between 0 and the smallest subnormal.
  const float denorm_min = std::numeric_limits<float>::denorm_min();
  EXPECT_EQ((pow2(-150) + pow2(-400)).to_float(), denorm_min);
  EXPECT_EQ((pow2(-150) - pow2(-400)).to_float(), 0.0f);
  EXPECT_EQ((Exact::make(3, 1, -150) - pow2(-400)).to_float(), denorm_min);
  EXPECT_EQ((Exact::make(3, 1, -150) + pow2(-400)).to_float(), 2 * denorm_min);
  // The overflow threshold: FLT_MAX + half an ulp rounds to infinity.
  const Exact flt_max = Exact::from_double(FLT_MAX);
  EXPECT_EQ((flt_max + pow2(103) - eps).to_float(), FLT_MAX);
  EXPECT_EQ((flt_max + pow2(103) + eps).to_float(), INFINITY);
  EXPECT_EQ((flt_max + pow2(103) + eps).to_double(), static_cast<double>(FLT_MAX) + 0x1p103);
}

}  // namespace
}  // namespace bitsmith
