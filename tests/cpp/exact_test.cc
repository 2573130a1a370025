#include "core/exact.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace bitsmith
