// bitsmith_rt.h: the few helpers generated models share. Standard C++17 headers
// only; no heap, no exceptions. bitsmith copies this file into every generated
// project, and its own tests compile it directly, so both use the same text.
#ifndef BITSMITH_RT_H_
#define BITSMITH_RT_H_

#include <cmath>
#include <cstdint>
#include <cstring>

namespace bitsmith_rt {

__extension__ typedef __int128 i128;
__extension__ typedef unsigned __int128 u128;

// float32 values in their total order as unsigned keys (-0 just below +0), so
// thresholds on the float line are integer comparisons.
inline uint32_t float_key(float x) {
  uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

// #{j < n : t[j] <= v} for ascending t: the level above the base.
template <class T, class V>
inline int count_at_most(V v, const T* t, int n) {
  if (n <= 8) {  // few levels: a branch-free count
    int c = 0;
    for (int j = 0; j < n; ++j) c += t[j] <= v;
    return c;
  }
  int lo = 0, hi = n;  // binary search for the first t[j] > v
  while (lo < hi) {
    const int mid = lo + (hi - lo) / 2;
    if (t[mid] <= v) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

// Packed weights (the cpp target stores 1-, 2- and 4-bit weights several to a
// byte): field k of a row, little end first. Fields never straddle bytes.
template <int kBits>
inline int unpack_signed(const uint8_t* row, int k) {
  const int bit = k * kBits;
  const int v = (row[bit >> 3] >> (bit & 7)) & ((1 << kBits) - 1);
  return v >= (1 << (kBits - 1)) ? v - (1 << kBits) : v;
}

// +-1 weights, one bit each: 1 is +1, 0 is -1.
inline int unpack_pm1(const uint8_t* row, int k) {
  return (row[k >> 3] >> (k & 7)) & 1 ? 1 : -1;
}

inline int bit_length(u128 v) {
  int n = 0;
  while (v) {
    v >>= 1;
    ++n;
  }
  return n;
}

// An i128 constant from its two 64-bit halves (C++ has no 128-bit literals).
constexpr i128 make_i128(int64_t high, uint64_t low) {
  return static_cast<i128>((static_cast<u128>(static_cast<uint64_t>(high)) << 64) | low);
}

// num / den * 2^exp (0 < den < 2^125, |num| < 2^125) rounded once to the nearest F
// (float or double), ties to even, with subnormals; magnitudes beyond the format
// give infinity. Exact integer arithmetic: binary long division yields the
// significand and a sticky bit, so rounding never depends on an intermediate float.
template <class F>
F round_ratio(i128 num, i128 den, int exp) {
  constexpr int kBits = sizeof(F) == 4 ? 24 : 53;         // significand bits
  constexpr int kMinExp = sizeof(F) == 4 ? -149 : -1074;  // exponent of the smallest subnormal
  if (num == 0) return F(0);
  const bool neg = num < 0;
  u128 r = neg ? u128(0) - u128(num) : u128(num);
  u128 d = static_cast<u128>(den);
  // Align so that d <= r < 2d; the quotient's leading bit then has weight 2^lead.
  int lead = exp;
  const int shift = bit_length(r) - bit_length(d);
  if (shift > 0) {
    d <<= shift;
  } else {
    r <<= -shift;
  }
  lead += shift;
  if (r < d) {
    r <<= 1;
    --lead;
  }
  // kBits + 2 quotient bits (guard and round), then the rest as a sticky bit.
  uint64_t q = 0;
  for (int i = 0; i < kBits + 2; ++i) {
    q <<= 1;
    if (r >= d) {
      r -= d;
      q |= 1;
    }
    r <<= 1;
  }
  bool sticky = r != 0;
  int lsb = lead - (kBits + 1);  // weight of q's last bit
  int drop = 2;
  if (lsb + drop < kMinExp) drop = kMinExp - lsb;  // subnormal: fewer significand bits
  if (drop > kBits + 3) return neg ? -F(0) : F(0);
  const uint64_t rest = q & ((uint64_t(1) << drop) - 1), half = uint64_t(1) << (drop - 1);
  q >>= drop;
  if (rest > half || (rest == half && (sticky || (q & 1)))) ++q;
  lsb += drop;
  const F v = std::ldexp(static_cast<F>(q), lsb);
  return neg ? -v : v;
}

}  // namespace bitsmith_rt

#endif  // BITSMITH_RT_H_
