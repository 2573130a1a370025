// Integer parameters of IntRequant (src/ops/int_requant.cc): the quantizer's
// x/s + z as an exact rational function of an integer accumulator,
// t = (acc * multiplier + addend + bias * divisor) / divisor, all four int64, with
// 0 <= addend < divisor (the integer part of the offset goes to bias, so offsets
// far larger than the slope, e.g. a bias over a tiny scale, still fit int64).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "core/exact.h"

namespace bitsmith {

struct RequantParams {
  int64_t multiplier = 0, addend = 0, divisor = 1, bias = 0;
};

// slope = A/s and intercept = B/s + z of t = slope * acc + intercept, both finite.
// divisor = lcm of the two reduced denominators, so the three integers are the
// smallest exact ones. nullopt (reason in *why) when one does not fit int64.
std::optional<RequantParams> requant_params(const Exact& slope, const Exact& intercept,
                                            std::string* why);

// Signed bits (with sign) |v| needs: 1 for 0 and -1, 64 for INT64_MIN.
int signed_bits(i128 v);

}  // namespace bitsmith
