// Exact rationals over one denominator: x_i = num_i / den * 2^exp with a single odd
// den and a single exp, so integer code can compute with them (the code generator's
// output dequantization, the engine's direct float32 outputs) and round once at the
// end.
#pragma once
#include <string>
#include <vector>

#include "core/exact.h"

namespace bitsmith {

struct CommonRational {
  std::vector<i128> num;
  i128 den = 1;
  int exp = 0;
};

// False (with the reason in *why) when a value is not a finite rational of at most
// 127 bits, or when den or a numerator would need more than max_bits bits.
bool common_rational(const std::vector<Exact>& xs, int max_bits, CommonRational* out,
                     std::string* why);

int bit_length(i128 v);  // of |v|

}  // namespace bitsmith
