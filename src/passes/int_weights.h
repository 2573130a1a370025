// Integer weights for lowered layers: each output channel's constant row is
// written as scale * integers, the scale being the rational gcd of the row, so the
// integers are the smallest that represent the row exactly.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/exact.h"

namespace bitsmith {

struct IntRows {
  int64_t rows = 0, cols = 0;
  std::vector<int64_t> values;  // row-major [rows][cols]
  std::vector<Exact> scale;     // per row; row r = scale[r] * values[r, :]
  int64_t max_abs = 0;
};

// `data` is row-major [rows][cols]. Fails (nullopt, reason in *why) on NaN or
// infinity, or when the integers would need more than `max_bits` bits with sign.
std::optional<IntRows> integer_rows(const std::vector<Exact>& data, int64_t rows, int64_t cols,
                                    int max_bits, std::string* why);

// gcd of two nonnegative rationals (gcd(0, b) = b).
Exact rational_gcd(Exact a, Exact b);

}  // namespace bitsmith
