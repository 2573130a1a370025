#include "passes/int_weights.h"

#include <algorithm>

namespace bitsmith {

Exact rational_gcd(Exact a, Exact b) {
  // Euclid's algorithm works over the rationals: every step keeps both values
  // integer multiples of the gcd, and the denominators cannot grow.
  while (!b.is_zero()) {
    Exact q = Exact::from_int((a / b).floor());
    Exact r = a - q * b;
    a = b;
    b = r;
  }
  return a;
}

std::optional<IntRows> integer_rows(const std::vector<Exact>& data, int64_t rows, int64_t cols,
                                    int max_bits, std::string* why) {
  IntRows out;
  out.rows = rows;
  out.cols = cols;
  out.values.resize(static_cast<size_t>(rows * cols));
  out.scale.resize(static_cast<size_t>(rows));
  const i128 limit = (i128{1} << (max_bits - 1)) - 1;
  try {
    for (int64_t r = 0; r < rows; ++r) {
      Exact g = Exact::from_int(0);
      for (int64_t k = 0; k < cols; ++k) {
        const Exact& v = data[static_cast<size_t>(r * cols + k)];
        if (!v.is_finite()) {
          *why = "a weight is NaN or infinite";
          return std::nullopt;
        }
        Exact a = v.sign() < 0 ? -v : v;
        if (!a.is_zero()) g = rational_gcd(g, a);
      }
      if (g.is_zero()) g = Exact::from_int(1);
      out.scale[static_cast<size_t>(r)] = g;
      for (int64_t k = 0; k < cols; ++k) {
        Exact q = data[static_cast<size_t>(r * cols + k)] / g;
        i128 iv = q.floor();
        if (iv > limit || iv < -limit) {
          *why = "weights of output channel " + std::to_string(r) + " need more than " +
                 std::to_string(max_bits) + " bits as integers";
          return std::nullopt;
        }
        out.values[static_cast<size_t>(r * cols + k)] = static_cast<int64_t>(iv);
        out.max_abs = std::max<int64_t>(out.max_abs, static_cast<int64_t>(iv < 0 ? -iv : iv));
      }
    }
  } catch (const ExactOverflow&) {
    *why = "weights have no common scale within exact arithmetic's range";
    return std::nullopt;
  }
  return out;
}

}  // namespace bitsmith
