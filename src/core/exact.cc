#include "core/exact.h"

#include <cmath>
#include <limits>
#include <sstream>

namespace bitsmith {
namespace {

constexpr i128 kMax = static_cast<i128>(~static_cast<u128>(0) >> 1);

[[noreturn]] void overflow() {
  throw ExactOverflow("exact value needs more than 127 bits of numerator or denominator");
}

int bitlen(u128 v) {
  int n = 0;
  while (v >> 64) {
    v >>= 64;
    n += 64;
  }
  auto lo = static_cast<uint64_t>(v);
  return lo ? n + 64 - __builtin_clzll(lo) : n;
}

int ctz(u128 v) {  // v != 0
  auto lo = static_cast<uint64_t>(v);
  if (lo) return __builtin_ctzll(lo);
  return 64 + __builtin_ctzll(static_cast<uint64_t>(v >> 64));
}

u128 uabs(i128 v) {
  return v < 0 ? static_cast<u128>(0) - static_cast<u128>(v) : static_cast<u128>(v);
}

u128 gcd(u128 a, u128 b) {
  if (a == 0) return b;
  if (b == 0) return a;
  int shift = ctz(a | b);
  a >>= ctz(a);
  do {
    b >>= ctz(b);
    if (a > b) std::swap(a, b);
    b -= a;
  } while (b != 0);
  return a << shift;
}

i128 mul(i128 a, i128 b) {
  i128 r;
  if (__builtin_mul_overflow(a, b, &r) || r == -kMax - 1) overflow();
  return r;
}

i128 add(i128 a, i128 b) {
  i128 r;
  if (__builtin_add_overflow(a, b, &r) || r == -kMax - 1) overflow();
  return r;
}

i128 shl(i128 v, int64_t s) {
  if (v == 0 || s == 0) return v;
  if (s >= 127 || uabs(v) > static_cast<u128>(kMax >> s)) overflow();
  return v * (static_cast<i128>(1) << s);
}

i128 floordiv(i128 a, i128 b) {  // b > 0
  i128 q = a / b;
  if (a % b != 0 && a < 0) q -= 1;
  return q;
}

int32_t checked_exp(int64_t e) {
  if (e > std::numeric_limits<int32_t>::max() || e < std::numeric_limits<int32_t>::min())
    overflow();
  return static_cast<int32_t>(e);
}

}  // namespace

Exact Exact::make(i128 num, i128 den, int64_t exp) {
  if (den <= 0) {
    if (den == 0) throw std::invalid_argument("Exact::make with zero denominator");
    num = -num;
    den = -den;
  }
  Exact r;
  if (num == 0) return r;
  int tz = ctz(uabs(num));
  num >>= tz;  // exact (num is divisible by 2^tz); C++20 shifts negatives arithmetically
  exp += tz;
  int dz = ctz(static_cast<u128>(den));
  den >>= dz;
  exp -= dz;
  if (den != 1) {
    auto g = static_cast<i128>(gcd(uabs(num), static_cast<u128>(den)));
    num /= g;
    den /= g;
  }
  r.num_ = num;
  r.den_ = den;
  r.exp_ = checked_exp(exp);
  return r;
}

Exact Exact::from_int(i128 v) {
  return make(v, 1, 0);
}

Exact Exact::from_double(double v) {
  if (std::isnan(v)) return nan();
  if (std::isinf(v)) return inf(v < 0);
  if (v == 0) return Exact();
  int e = 0;
  double m = std::frexp(v, &e);
  auto mi = static_cast<int64_t>(std::ldexp(m, 53));
  return make(mi, 1, static_cast<int64_t>(e) - 53);
}

int Exact::sign() const {
  switch (kind_) {
    case Kind::kNaN:
      return 0;
    case Kind::kPosInf:
      return 1;
    case Kind::kNegInf:
      return -1;
    case Kind::kFinite:
      break;
  }
  return num_ > 0 ? 1 : (num_ < 0 ? -1 : 0);
}

Exact Exact::operator-() const {
  if (kind_ == Kind::kPosInf) return inf(true);
  if (kind_ == Kind::kNegInf) return inf(false);
  Exact r = *this;
  r.num_ = -num_;
  return r;
}

Exact operator+(const Exact& a, const Exact& b) {
  if (!a.is_finite() || !b.is_finite()) {
    if (a.is_nan() || b.is_nan()) return Exact::nan();
    if (a.is_inf() && b.is_inf()) return a.kind_ == b.kind_ ? a : Exact::nan();
    return a.is_inf() ? a : b;
  }
  if (a.num_ == 0) return b;
  if (b.num_ == 0) return a;
  int64_t e = std::min(a.exp_, b.exp_);
  i128 an = shl(a.num_, a.exp_ - e);
  i128 bn = shl(b.num_, b.exp_ - e);
  if (a.den_ == 1 && b.den_ == 1) return Exact::make(add(an, bn), 1, e);
  auto g = static_cast<i128>(gcd(static_cast<u128>(a.den_), static_cast<u128>(b.den_)));
  i128 den = mul(a.den_ / g, b.den_);
  return Exact::make(add(mul(an, b.den_ / g), mul(bn, a.den_ / g)), den, e);
}

Exact operator-(const Exact& a, const Exact& b) {
  return a + (-b);
}

Exact operator*(const Exact& a, const Exact& b) {
  if (!a.is_finite() || !b.is_finite()) {
    if (a.is_nan() || b.is_nan() || a.is_zero() || b.is_zero()) return Exact::nan();
    return Exact::inf(a.sign() * b.sign() < 0);
  }
  if (a.num_ == 0 || b.num_ == 0) return Exact();
  if (a.den_ == 1 && b.den_ == 1) {
    Exact r;  // odd times odd stays odd: already normalized
    r.num_ = mul(a.num_, b.num_);
    r.exp_ = checked_exp(static_cast<int64_t>(a.exp_) + b.exp_);
    return r;
  }
  // Cross-reduce first so intermediate products stay small.
  auto g1 = static_cast<i128>(gcd(uabs(a.num_), static_cast<u128>(b.den_)));
  auto g2 = static_cast<i128>(gcd(uabs(b.num_), static_cast<u128>(a.den_)));
  return Exact::make(mul(a.num_ / g1, b.num_ / g2), mul(a.den_ / g2, b.den_ / g1),
                     static_cast<int64_t>(a.exp_) + b.exp_);
}

Exact operator/(const Exact& a, const Exact& b) {
  if (a.is_nan() || b.is_nan()) return Exact::nan();
  if (a.is_inf())
    return b.is_inf() ? Exact::nan() : Exact::inf(a.sign() * (b.sign() < 0 ? -1 : 1) < 0);
  if (b.is_inf()) return Exact();
  if (b.num_ == 0) return a.num_ == 0 ? Exact::nan() : Exact::inf(a.num_ < 0);
  if (a.num_ == 0) return Exact();
  i128 bn = b.num_ < 0 ? -b.num_ : b.num_;
  i128 an = b.num_ < 0 ? -a.num_ : a.num_;
  auto g1 = static_cast<i128>(gcd(uabs(an), static_cast<u128>(bn)));
  auto g2 = static_cast<i128>(gcd(static_cast<u128>(b.den_), static_cast<u128>(a.den_)));
  return Exact::make(mul(an / g1, b.den_ / g2), mul(a.den_ / g2, bn / g1),
                     static_cast<int64_t>(a.exp_) - b.exp_);
}

bool operator==(const Exact& a, const Exact& b) {
  if (a.is_nan() || b.is_nan()) return false;
  if (a.kind_ != b.kind_) return false;
  if (!a.is_finite()) return true;
  return a.num_ == b.num_ && a.den_ == b.den_ && (a.num_ == 0 || a.exp_ == b.exp_);
}

bool operator<(const Exact& a, const Exact& b) {
  if (a.is_nan() || b.is_nan()) return false;
  if (!a.is_finite() || !b.is_finite()) {
    if (a.kind_ == b.kind_) return false;
    return a.kind_ == Exact::Kind::kNegInf || b.kind_ == Exact::Kind::kPosInf;
  }
  int sa = a.sign(), sb = b.sign();
  if (sa != sb) return sa < sb;
  if (sa == 0) return false;
  // Same sign: compare magnitudes by their binary exponent first, which avoids
  // building a difference when the values are far apart.
  int64_t ma =
      bitlen(uabs(a.num_)) + static_cast<int64_t>(a.exp_) - bitlen(static_cast<u128>(a.den_));
  int64_t mb =
      bitlen(uabs(b.num_)) + static_cast<int64_t>(b.exp_) - bitlen(static_cast<u128>(b.den_));
  if (ma > mb + 1) return sa < 0;
  if (mb > ma + 1) return sa > 0;
  return (a - b).sign() < 0;
}

Exact Exact::ldexp(int64_t k) const {
  if (!is_finite() || num_ == 0) return *this;
  Exact r = *this;
  r.exp_ = checked_exp(exp_ + k);
  return r;
}

i128 Exact::floor() const {
  if (!is_finite()) throw ExactOverflow("floor of a non-finite value");
  if (num_ == 0) return 0;
  if (exp_ >= 0) return floordiv(shl(num_, exp_), den_);
  int64_t s = -static_cast<int64_t>(exp_);
  if (s >= 127 || static_cast<u128>(den_) > (static_cast<u128>(kMax) >> s)) {
    return num_ >= 0 ? 0 : -1;  // |value| < 1: the divisor exceeds any numerator
  }
  return floordiv(num_, den_ << s);
}

i128 Exact::ceil() const {
  return -(-*this).floor();
}

Exact frac(const Exact& v) {
  return v - Exact::from_int(v.floor());
}

double Exact::round_to_binary(int precision, int emin, int emax) const {
  const int kp = precision + 2;  // precision plus guard and round bits
  u128 a = uabs(num_);
  auto d = static_cast<u128>(den_);
  u128 q = d == 1 ? a : a / d;  // 128-bit division is slow; dyadics skip it
  u128 r = d == 1 ? 0 : a % d;
  int64_t qe = exp_;
  bool sticky = false;
  int len = bitlen(q);
  if (len > kp) {
    int sh = len - kp;
    sticky = (q & ((static_cast<u128>(1) << sh) - 1)) != 0;
    q >>= sh;
    qe += sh;
  } else {
    while (bitlen(q) < kp) {
      r <<= 1;  // r < d <= 2^127, so this cannot overflow
      bool bit = r >= d;
      if (bit) r -= d;
      q = (q << 1) | static_cast<u128>(bit);
      qe -= 1;
    }
  }
  sticky = sticky || r != 0;
  int64_t e_lead = qe + kp - 1;  // value lies in [2^e_lead, 2^(e_lead+1))
  double sgn = num_ < 0 ? -1.0 : 1.0;
  if (e_lead > emax) return sgn * std::numeric_limits<double>::infinity();
  int64_t ulp_exp = std::max<int64_t>(e_lead, emin) - precision + 1;
  int64_t shift = ulp_exp - qe;      // >= 2
  if (shift > kp) return sgn * 0.0;  // below half of the smallest step
  u128 keep = q >> shift;
  u128 rem = q & ((static_cast<u128>(1) << shift) - 1);
  u128 half = static_cast<u128>(1) << (shift - 1);
  if (rem > half || (rem == half && (sticky || (keep & 1)))) keep += 1;
  if (static_cast<int64_t>(bitlen(keep)) + ulp_exp - 1 > emax) {
    return sgn * std::numeric_limits<double>::infinity();
  }
  return sgn *
         std::ldexp(static_cast<double>(static_cast<uint64_t>(keep)), static_cast<int>(ulp_exp));
}

double Exact::to_double() const {
  switch (kind_) {
    case Kind::kNaN:
      return std::numeric_limits<double>::quiet_NaN();
    case Kind::kPosInf:
      return std::numeric_limits<double>::infinity();
    case Kind::kNegInf:
      return -std::numeric_limits<double>::infinity();
    case Kind::kFinite:
      break;
  }
  if (num_ == 0) return 0.0;
  if (den_ == 1 && uabs(num_) <= (static_cast<u128>(1) << 53) && exp_ > -1000 && exp_ < 900) {
    return std::ldexp(static_cast<double>(static_cast<int64_t>(num_)), exp_);  // exact
  }
  return round_to_binary(53, -1022, 1023);
}

float Exact::to_float() const {
  switch (kind_) {
    case Kind::kNaN:
      return std::numeric_limits<float>::quiet_NaN();
    case Kind::kPosInf:
      return std::numeric_limits<float>::infinity();
    case Kind::kNegInf:
      return -std::numeric_limits<float>::infinity();
    case Kind::kFinite:
      break;
  }
  if (num_ == 0) return 0.0f;
  return static_cast<float>(round_to_binary(24, -126, 127));
}

std::string Exact::to_string() const {
  if (is_nan()) return "nan";
  if (is_inf()) return num_ < 0 || kind_ == Kind::kNegInf ? "-inf" : "inf";
  std::ostringstream os;
  os.precision(17);
  os << to_double();
  if (den_ != 1) os << " (inexact in binary)";
  return os.str();
}

}  // namespace bitsmith
