#include "core/common_rational.h"

#include <algorithm>
#include <cstdint>
#include <utility>

namespace bitsmith {

int bit_length(i128 v) {
  if (v < 0) v = -v;
  int n = 0;
  for (; v; v >>= 1) ++n;
  return n;
}

namespace {
i128 gcd128(i128 a, i128 b) {
  a = a < 0 ? -a : a;
  b = b < 0 ? -b : b;
  while (b) a = std::exchange(b, a % b);
  return a;
}
}  // namespace

bool common_rational(const std::vector<Exact>& xs, int max_bits, CommonRational* out,
                     std::string* why) {
  i128 den = 1;
  int64_t e = INT64_MAX;
  for (const Exact& x : xs) {
    if (!x.is_finite() || x.is_big()) {
      *why = "a value is not a finite rational of at most 127 bits";
      return false;
    }
    if (x.is_zero()) continue;
    const i128 g = gcd128(den, x.den());
    if (bit_length(den / g) + bit_length(x.den()) > max_bits) {
      *why = "the values need a common denominator above 2^" + std::to_string(max_bits);
      return false;
    }
    den = den / g * x.den();
    e = std::min<int64_t>(e, x.exp());
  }
  if (e == INT64_MAX) e = 0;
  out->den = den;
  out->exp = static_cast<int>(e);
  out->num.assign(xs.size(), 0);
  for (size_t i = 0; i < xs.size(); ++i) {
    const Exact& x = xs[i];
    if (x.is_zero()) continue;
    const i128 f = den / x.den();
    const int64_t shift = x.exp() - e;
    if (bit_length(x.num()) + bit_length(f) + shift > max_bits) {
      *why = "a value needs more than " + std::to_string(max_bits) + " bits";
      return false;
    }
    out->num[i] = (x.num() * f) << shift;
  }
  return true;
}

}  // namespace bitsmith
