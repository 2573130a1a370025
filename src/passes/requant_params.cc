#include "passes/requant_params.h"

namespace bitsmith {
namespace {

constexpr i128 kInt64Max = (i128{1} << 63) - 1;

// v as n / d with d > 0, both within int64 (in lowest terms, since Exact is).
bool as_fraction(const Exact& v, i128* n, i128* d) {
  if (!v.is_finite() || v.is_big()) return false;
  i128 num = v.num(), den = v.den();
  const int64_t e = v.exp();
  if (e > 62 || e < -62) return num == 0 ? (*n = 0, *d = 1, true) : false;
  if (e >= 0) {
    if (num > (kInt64Max >> e) || num < -(kInt64Max >> e)) return false;
    num <<= e;
  } else {
    if (den > (kInt64Max >> -e)) return false;
    den <<= -e;
  }
  if (num > kInt64Max || num < -kInt64Max || den > kInt64Max) return false;
  *n = num;
  *d = den;
  return true;
}

i128 gcd128(i128 a, i128 b) {
  if (a < 0) a = -a;
  if (b < 0) b = -b;
  while (b != 0) {
    i128 t = a % b;
    a = b;
    b = t;
  }
  return a;
}

}  // namespace

std::optional<RequantParams> requant_params(const Exact& slope, const Exact& intercept,
                                            std::string* why) {
  i128 n1 = 0, d1 = 1, n2 = 0, d2 = 1;
  if (!as_fraction(slope, &n1, &d1) || !as_fraction(intercept, &n2, &d2)) {
    *why = "the requantization multiplier or offset needs more than 63 bits";
    return std::nullopt;
  }
  // Both fit int64, so these products fit i128.
  const i128 div = d1 / gcd128(d1, d2) * d2;
  if (div > kInt64Max) {
    *why = "the requantization divisor needs more than 63 bits";
    return std::nullopt;
  }
  const i128 mult = n1 * (div / d1);
  // intercept = n2 / d2 = bias + addend / div with 0 <= addend < div.
  i128 bias = n2 / d2, rest = n2 % d2;
  if (rest < 0) {
    bias -= 1;
    rest += d2;
  }
  const i128 add = rest * (div / d2);  // < d2 * (div / d2) = div
  for (i128 v : {mult, bias}) {
    if (v > kInt64Max || v < -kInt64Max) {
      *why = "the requantization multiplier or offset needs more than 63 bits";
      return std::nullopt;
    }
  }
  return RequantParams{static_cast<int64_t>(mult), static_cast<int64_t>(add),
                       static_cast<int64_t>(div), static_cast<int64_t>(bias)};
}

int signed_bits(i128 v) {
  if (v < 0) v = -v - 1;  // -2^k needs as many bits as 2^k - 1
  int bits = 1;
  while (v > 0) {
    v >>= 1;
    ++bits;
  }
  return bits;
}

}  // namespace bitsmith
