// The helpers generated code carries (src/codegen/rt): exact output rounding
// against Exact's own rounding, and integer division rounding against the core's.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "codegen/rt/bitsmith_int.h"
#include "codegen/rt/bitsmith_rt.h"
#include "core/exact.h"
#include "core/float_order.h"
#include "core/quantize.h"

namespace bitsmith {
namespace {

// num / den * 2^exp through the generated code's routine and through Exact.
void check_ratio(i128 num, i128 den, int exp) {
  const Exact v = Exact::make(num, den, exp);
  const float f = bitsmith_rt::round_ratio<float>(num, den, exp);
  const double d = bitsmith_rt::round_ratio<double>(num, den, exp);
  const float ef = v.to_float();
  const double ed = v.to_double();
  ASSERT_EQ(float_key(f), float_key(ef))
      << "float " << static_cast<double>(num) << "/" << static_cast<double>(den) << "*2^" << exp;
  ASSERT_TRUE(d == ed || (d == 0 && ed == 0))
      << "double " << static_cast<double>(num) << "/" << static_cast<double>(den) << "*2^" << exp;
}

TEST(CodegenRt, RoundRatioEdgeCases) {
  // Ties, near ties, powers of two, subnormals, overflow to infinity, zero.
  for (int exp : {-200, -160, -149, -126, -30, -1, 0, 1, 30, 100, 127, 128}) {
    for (i128 den :
         {i128{1}, i128{3}, i128{7}, i128{255}, i128{1309169396498741}, (i128{1} << 100) + 1}) {
      for (i128 num : {i128{0}, i128{1}, i128{-1}, i128{2}, i128{3}, i128{(1 << 24) + 1},
                       i128{(1 << 24) + 3}, i128{(1 << 25) - 1}, i128{-(1 << 25) + 1},
                       (i128{1} << 53) + 1, (i128{1} << 60) - 1, -(i128{1} << 120) + 7}) {
        check_ratio(num, den, exp);
      }
    }
  }
}

TEST(CodegenRt, RoundRatioRandom) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200000; ++i) {
    const int nbits = static_cast<int>(rng() % 120) + 1, dbits = static_cast<int>(rng() % 100) + 1;
    i128 num = (static_cast<i128>(rng()) << 64 | rng()) & ((i128{1} << nbits) - 1);
    i128 den = ((static_cast<i128>(rng()) << 64 | rng()) & ((i128{1} << dbits) - 1)) | 1;
    if (rng() & 1) num = -num;
    const int exp = static_cast<int>(rng() % 400) - 250;
    check_ratio(num, den, exp);
  }
}

template <int kMode>
void check_div(RoundingMode mode) {
  for (int64_t den = 1; den <= 12; ++den) {
    for (int64_t num = -100; num <= 100; ++num) {
      ASSERT_EQ(bitsmith_int::round_div<kMode>(num, den),
                static_cast<int64_t>(round_div(num, den, mode)))
          << num << "/" << den << " mode " << kMode;
      const i128 big = (i128{num} << 90) + num, bden = (i128{den} << 80) + 1;
      ASSERT_EQ(bitsmith_int::round_div<kMode>(big, bden), round_div(big, bden, mode));
    }
  }
}

TEST(CodegenRt, RoundDivMatchesCore) {
  check_div<bitsmith_int::kHalfEven>(RoundingMode::kHalfEven);
  check_div<bitsmith_int::kHalfUp>(RoundingMode::kHalfUp);
  check_div<bitsmith_int::kHalfDown>(RoundingMode::kHalfDown);
  check_div<bitsmith_int::kCeil>(RoundingMode::kCeil);
  check_div<bitsmith_int::kFloor>(RoundingMode::kFloor);
  check_div<bitsmith_int::kUp>(RoundingMode::kUp);
  check_div<bitsmith_int::kDown>(RoundingMode::kDown);
}

TEST(CodegenRt, FloatKeyAndCounts) {
  const float xs[] = {-1e30f, -1.0f, -0.0f, 0.0f, 1e-45f, 1.0f, 3e38f};
  for (size_t i = 0; i + 1 < sizeof xs / sizeof xs[0]; ++i)
    EXPECT_LT(bitsmith_rt::float_key(xs[i]), bitsmith_rt::float_key(xs[i + 1]));
  const int t[] = {-5, -1, 0, 0, 3, 9, 9, 12, 20, 31};
  for (int v = -10; v <= 40; ++v) {
    int all = 0, first5 = 0;
    for (int j = 0; j < 10; ++j) {
      all += t[j] <= v;
      first5 += j < 5 && t[j] <= v;
    }
    EXPECT_EQ(bitsmith_rt::count_at_most(v, t, 10), all);    // binary search
    EXPECT_EQ(bitsmith_rt::count_at_most(v, t, 5), first5);  // linear count
  }
}

// Packing as the cpp emitter writes it (little end first, two's complement fields).
template <int kBits>
void check_unpack() {
  std::mt19937 rng(kBits);
  for (int len = 1; len < 40; ++len) {
    std::vector<int> w(static_cast<size_t>(len));
    std::vector<uint8_t> row(static_cast<size_t>((len * kBits + 7) / 8), 0);
    for (int k = 0; k < len; ++k) {
      w[static_cast<size_t>(k)] = static_cast<int>(rng() % (1u << kBits)) - (1 << (kBits - 1));
      row[static_cast<size_t>(k * kBits / 8)] |=
          static_cast<uint8_t>((w[static_cast<size_t>(k)] & ((1 << kBits) - 1)) << (k * kBits % 8));
    }
    for (int k = 0; k < len; ++k)
      ASSERT_EQ(bitsmith_rt::unpack_signed<kBits>(row.data(), k), w[static_cast<size_t>(k)]);
  }
}

TEST(CodegenRt, UnpackWeights) {
  check_unpack<2>();
  check_unpack<4>();
  const uint8_t row[2] = {0b10100101, 0b00000001};
  const int want[9] = {1, -1, 1, -1, -1, 1, -1, 1, 1};
  for (int k = 0; k < 9; ++k) EXPECT_EQ(bitsmith_rt::unpack_pm1(row, k), want[k]);
}

}  // namespace
}  // namespace bitsmith
