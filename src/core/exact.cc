#include "core/exact.h"

#include <gmp.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <sstream>

namespace bitsmith {
namespace {

// An mpz_t with value semantics, for the big paths only.
class Z {
 public:
  Z() { mpz_init(v_); }
  Z(const Z& o) { mpz_init_set(v_, o.v_); }
  Z& operator=(const Z& o) {
    mpz_set(v_, o.v_);
    return *this;
  }
  ~Z() { mpz_clear(v_); }
  mpz_ptr get() { return v_; }
  mpz_srcptr get() const { return v_; }

 private:
  mpz_t v_;
};

}  // namespace

// Canonical like the small form: num odd, den odd and positive, gcd 1, and at least
// one of them needs more than 127 bits. Immutable once shared.
struct ExactBig {
  mutable std::atomic<int64_t> refs{1};
  Z num, den;
};

void ExactBigRef::retain(const ExactBig* p) {
  p->refs.fetch_add(1, std::memory_order_relaxed);
}

void ExactBigRef::release(const ExactBig* p) {
  if (p->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete p;
}

namespace {

constexpr i128 kMax = static_cast<i128>(~static_cast<u128>(0) >> 1);
// Aligning operands whose exponents lie further apart than this many bits is refused
// rather than allocating without bound (exponents are int32).
constexpr int64_t kMaxBits = int64_t{1} << 24;

[[noreturn]] void overflow() {
  throw ExactOverflow("exact value does not fit the result type");
}

void check_bits(int64_t bits) {
  if (bits > kMaxBits) throw ExactOverflow("exact value needs more than 2^24 bits");
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

// Checked 127-bit steps of the small path: false when the result leaves the range
// (the caller then redoes the operation with big integers).
bool mul_ok(i128 a, i128 b, i128& r) {
  return !__builtin_mul_overflow(a, b, &r) && r != -kMax - 1;
}

bool add_ok(i128 a, i128 b, i128& r) {
  return !__builtin_add_overflow(a, b, &r) && r != -kMax - 1;
}

bool shl_ok(i128 v, int64_t s, i128& r) {
  if (v == 0 || s == 0) {
    r = v;
    return true;
  }
  if (s >= 127 || uabs(v) > static_cast<u128>(kMax >> s)) return false;
  r = v * (static_cast<i128>(1) << s);
  return true;
}

i128 shl(i128 v, int64_t s) {
  i128 r;
  if (!shl_ok(v, s, r)) overflow();
  return r;
}

i128 floordiv(i128 a, i128 b) {  // b > 0
  i128 q = a / b;
  if (a % b != 0 && a < 0) q -= 1;
  return q;
}

int32_t checked_exp(int64_t e) {
  if (e > std::numeric_limits<int32_t>::max() || e < std::numeric_limits<int32_t>::min()) {
    throw ExactOverflow("exact value's binary exponent leaves the int32 range");
  }
  return static_cast<int32_t>(e);
}

void set_i128(mpz_ptr z, i128 v) {
  u128 m = uabs(v);
  const uint64_t w[2] = {static_cast<uint64_t>(m), static_cast<uint64_t>(m >> 64)};
  mpz_import(z, 2, -1, sizeof(uint64_t), 0, 0, w);
  if (v < 0) mpz_neg(z, z);
}

i128 get_i128(mpz_srcptr z) {  // |z| < 2^127
  uint64_t w[2] = {0, 0};
  size_t count = 0;
  mpz_export(w, &count, -1, sizeof(uint64_t), 0, 0, z);
  auto v = static_cast<i128>((static_cast<u128>(w[1]) << 64) | w[0]);
  return mpz_sgn(z) < 0 ? -v : v;
}

int64_t zbits(mpz_srcptr z) {
  return mpz_sgn(z) == 0 ? 0 : static_cast<int64_t>(mpz_sizeinbase(z, 2));
}

// Rounds the magnitude q * 2^qe (+ sticky: a nonzero part below q's last bit) to
// `precision` bits, as IEEE does; q has exactly precision + 2 bits.
double round_tail(u128 q, int64_t qe, bool sticky, bool negative, int precision, int emin,
                  int emax) {
  const int kp = precision + 2;
  int64_t e_lead = qe + kp - 1;  // value lies in [2^e_lead, 2^(e_lead+1))
  double sgn = negative ? -1.0 : 1.0;
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

// num * 2^exp / den with unbounded num and den.
struct Wide {
  Z num, den;
  int64_t exp = 0;
};

}  // namespace

// The big-integer side of every operation. Results go through make(), which
// returns the small form whenever it fits.
struct ExactImpl {
  static Wide wide(const Exact& x) {
    Wide w;
    if (const ExactBig* b = x.big_.get()) {
      mpz_set(w.num.get(), b->num.get());
      mpz_set(w.den.get(), b->den.get());
    } else {
      set_i128(w.num.get(), x.num_);
      set_i128(w.den.get(), x.den_);
    }
    w.exp = x.exp_;
    return w;
  }

  static Exact make(Wide& w) {
    mpz_ptr n = w.num.get();
    mpz_ptr d = w.den.get();
    if (mpz_sgn(d) == 0) throw std::invalid_argument("Exact with zero denominator");
    if (mpz_sgn(n) == 0) return Exact();
    if (mpz_sgn(d) < 0) {
      mpz_neg(n, n);
      mpz_neg(d, d);
    }
    mp_bitcnt_t tz = mpz_scan1(n, 0);  // two's complement view: same as |n|'s
    mpz_tdiv_q_2exp(n, n, tz);
    mp_bitcnt_t dz = mpz_scan1(d, 0);
    mpz_tdiv_q_2exp(d, d, dz);
    int64_t e = w.exp + static_cast<int64_t>(tz) - static_cast<int64_t>(dz);
    if (mpz_cmp_ui(d, 1) != 0) {
      Z g;
      mpz_gcd(g.get(), n, d);
      if (mpz_cmp_ui(g.get(), 1) != 0) {
        mpz_divexact(n, n, g.get());
        mpz_divexact(d, d, g.get());
      }
    }
    Exact r;
    r.exp_ = checked_exp(e);
    if (mpz_sizeinbase(n, 2) <= 127 && mpz_sizeinbase(d, 2) <= 127) {
      r.num_ = get_i128(n);
      r.den_ = get_i128(d);
      return r;
    }
    auto* b = new ExactBig;
    mpz_swap(b->num.get(), n);
    mpz_swap(b->den.get(), d);
    r.big_ = ExactBigRef(b);
    r.num_ = mpz_sgn(b->num.get());
    r.den_ = 0;
    return r;
  }

  static Exact add(const Exact& a, const Exact& b) {  // finite, nonzero
    Wide x = wide(a), y = wide(b);
    int64_t e = std::min(x.exp, y.exp);
    check_bits(zbits(x.num.get()) + (x.exp - e));
    check_bits(zbits(y.num.get()) + (y.exp - e));
    mpz_mul_2exp(x.num.get(), x.num.get(), static_cast<mp_bitcnt_t>(x.exp - e));
    mpz_mul_2exp(y.num.get(), y.num.get(), static_cast<mp_bitcnt_t>(y.exp - e));
    Wide r;
    r.exp = e;
    mpz_mul(r.num.get(), x.num.get(), y.den.get());
    mpz_addmul(r.num.get(), y.num.get(), x.den.get());
    mpz_mul(r.den.get(), x.den.get(), y.den.get());
    return make(r);
  }

  static Exact mul(const Exact& a, const Exact& b) {  // finite
    Wide x = wide(a), y = wide(b);
    Wide r;
    mpz_mul(r.num.get(), x.num.get(), y.num.get());
    mpz_mul(r.den.get(), x.den.get(), y.den.get());
    r.exp = x.exp + y.exp;
    return make(r);
  }

  static Exact div(const Exact& a, const Exact& b) {  // finite, b nonzero
    Wide x = wide(a), y = wide(b);
    Wide r;
    mpz_mul(r.num.get(), x.num.get(), y.den.get());
    mpz_mul(r.den.get(), x.den.get(), y.num.get());
    r.exp = x.exp - y.exp;
    return make(r);
  }

  static Exact neg(const Exact& a) {  // a big
    auto* b = new ExactBig;
    mpz_neg(b->num.get(), a.big_.get()->num.get());
    mpz_set(b->den.get(), a.big_.get()->den.get());
    Exact r;
    r.exp_ = a.exp_;
    r.num_ = -a.num_;
    r.den_ = 0;
    r.big_ = ExactBigRef(b);
    return r;
  }

  static bool eq(const Exact& a, const Exact& b) {  // finite, one big
    if (!a.is_big() || !b.is_big()) return false;   // canonical: a big never equals a small
    const ExactBig* x = a.big_.get();
    const ExactBig* y = b.big_.get();
    return a.exp_ == b.exp_ && mpz_cmp(x->num.get(), y->num.get()) == 0 &&
           mpz_cmp(x->den.get(), y->den.get()) == 0;
  }

  // |value| lies in (2^(lead-1), 2^(lead+1)).
  static int64_t lead(const Exact& x) {
    if (const ExactBig* b = x.big_.get()) {
      return zbits(b->num.get()) + static_cast<int64_t>(x.exp_) - zbits(b->den.get());
    }
    return bitlen(uabs(x.num_)) + static_cast<int64_t>(x.exp_) - bitlen(static_cast<u128>(x.den_));
  }

  static i128 floor(const Exact& x) {  // finite, big
    int64_t l = lead(x);
    if (l > 128) overflow();
    if (l < -1) return x.num_ < 0 ? -1 : 0;  // |value| < 1/2
    Wide w = wide(x);
    // The shifts are bounded by the operands' sizes, given the leading checks above.
    if (w.exp >= 0) {
      mpz_mul_2exp(w.num.get(), w.num.get(), static_cast<mp_bitcnt_t>(w.exp));
    } else {
      mpz_mul_2exp(w.den.get(), w.den.get(), static_cast<mp_bitcnt_t>(-w.exp));
    }
    Z q;
    mpz_fdiv_q(q.get(), w.num.get(), w.den.get());
    if (zbits(q.get()) > 127) overflow();
    return get_i128(q.get());
  }

  static Exact frac(const Exact& x) {  // finite, big
    Wide w = wide(x);
    if (w.exp >= 0) {
      if (mpz_cmp_ui(w.den.get(), 1) == 0) return Exact();
      Z p;  // 2^exp mod den keeps a huge exponent cheap
      mpz_set_ui(p.get(), 2);
      mpz_powm_ui(p.get(), p.get(), static_cast<unsigned long>(w.exp), w.den.get());
      mpz_mul(w.num.get(), w.num.get(), p.get());
    } else {
      if (lead(x) < -1) return x.num_ < 0 ? x + Exact::from_int(1) : x;
      mpz_mul_2exp(w.den.get(), w.den.get(), static_cast<mp_bitcnt_t>(-w.exp));
    }
    mpz_fdiv_r(w.num.get(), w.num.get(), w.den.get());
    w.exp = 0;
    return make(w);
  }

  static double round(const Exact& x, int precision, int emin, int emax) {  // finite, big
    const int kp = precision + 2;
    Wide w = wide(x);
    bool negative = mpz_sgn(w.num.get()) < 0;
    mpz_abs(w.num.get(), w.num.get());
    // q = floor(|num| * 2^s / den) gets kp + 1 or kp + 2 bits.
    int64_t s = kp + 1 + zbits(w.den.get()) - zbits(w.num.get());
    bool sticky = false;
    if (s >= 0) {
      mpz_mul_2exp(w.num.get(), w.num.get(), static_cast<mp_bitcnt_t>(s));
    } else {
      auto drop = static_cast<mp_bitcnt_t>(-s);
      sticky = mpz_scan1(w.num.get(), 0) < drop;
      mpz_tdiv_q_2exp(w.num.get(), w.num.get(), drop);
    }
    Z q, r;
    mpz_tdiv_qr(q.get(), r.get(), w.num.get(), w.den.get());
    sticky = sticky || mpz_sgn(r.get()) != 0;
    uint64_t parts[2] = {0, 0};
    size_t count = 0;
    mpz_export(parts, &count, -1, sizeof(uint64_t), 0, 0, q.get());
    u128 qv = (static_cast<u128>(parts[1]) << 64) | parts[0];
    int64_t qe = w.exp - s;
    int sh = bitlen(qv) - kp;
    sticky = sticky || (qv & ((static_cast<u128>(1) << sh) - 1)) != 0;
    return round_tail(qv >> sh, qe + sh, sticky, negative, precision, emin, emax);
  }
};

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
  return num_ > 0 ? 1 : (num_ < 0 ? -1 : 0);  // big values keep their sign in num_
}

bool Exact::big_is_integer() const {
  return exp_ >= 0 && mpz_cmp_ui(big_.get()->den.get(), 1) == 0;
}

int64_t Exact::floor_log2() const {
  if (!is_finite() || num_ == 0) throw std::invalid_argument("floor_log2 of zero or non-finite");
  Wide w = ExactImpl::wide(*this);
  mpz_abs(w.num.get(), w.num.get());
  int64_t bn = zbits(w.num.get()), bd = zbits(w.den.get());
  // n/d lies in (2^(bn-1-bd), 2^(bn-bd+1)); it reaches 2^(bn-bd) iff n >= d * 2^(bn-bd).
  if (bn >= bd) {
    mpz_mul_2exp(w.den.get(), w.den.get(), static_cast<mp_bitcnt_t>(bn - bd));
  } else {
    mpz_mul_2exp(w.num.get(), w.num.get(), static_cast<mp_bitcnt_t>(bd - bn));
  }
  bool ge = mpz_cmp(w.num.get(), w.den.get()) >= 0;
  return w.exp + (bn - bd) - (ge ? 0 : 1);
}

Exact Exact::operator-() const {
  if (kind_ == Kind::kPosInf) return inf(true);
  if (kind_ == Kind::kNegInf) return inf(false);
  if (is_big()) [[unlikely]]
    return ExactImpl::neg(*this);
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
  if (a.is_big() || b.is_big()) [[unlikely]]
    return ExactImpl::add(a, b);
  int64_t e = std::min(a.exp_, b.exp_);
  i128 an, bn, r;
  if (shl_ok(a.num_, a.exp_ - e, an) && shl_ok(b.num_, b.exp_ - e, bn)) {
    if (a.den_ == 1 && b.den_ == 1) {
      if (add_ok(an, bn, r)) return Exact::make(r, 1, e);
    } else {
      auto g = static_cast<i128>(gcd(static_cast<u128>(a.den_), static_cast<u128>(b.den_)));
      i128 den, x, y;
      if (mul_ok(a.den_ / g, b.den_, den) && mul_ok(an, b.den_ / g, x) &&
          mul_ok(bn, a.den_ / g, y) && add_ok(x, y, r)) {
        return Exact::make(r, den, e);
      }
    }
  }
  return ExactImpl::add(a, b);
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
  if (a.is_big() || b.is_big()) [[unlikely]]
    return ExactImpl::mul(a, b);
  if (a.den_ == 1 && b.den_ == 1) {
    Exact r;  // odd times odd stays odd: already normalized
    if (!mul_ok(a.num_, b.num_, r.num_)) return ExactImpl::mul(a, b);
    r.exp_ = checked_exp(static_cast<int64_t>(a.exp_) + b.exp_);
    return r;
  }
  // Cross-reduce first so intermediate products stay small.
  auto g1 = static_cast<i128>(gcd(uabs(a.num_), static_cast<u128>(b.den_)));
  auto g2 = static_cast<i128>(gcd(uabs(b.num_), static_cast<u128>(a.den_)));
  i128 n, d;
  if (!mul_ok(a.num_ / g1, b.num_ / g2, n) || !mul_ok(a.den_ / g2, b.den_ / g1, d)) {
    return ExactImpl::mul(a, b);
  }
  return Exact::make(n, d, static_cast<int64_t>(a.exp_) + b.exp_);
}

Exact operator/(const Exact& a, const Exact& b) {
  if (a.is_nan() || b.is_nan()) return Exact::nan();
  if (a.is_inf())
    return b.is_inf() ? Exact::nan() : Exact::inf(a.sign() * (b.sign() < 0 ? -1 : 1) < 0);
  if (b.is_inf()) return Exact();
  if (b.num_ == 0) return a.num_ == 0 ? Exact::nan() : Exact::inf(a.num_ < 0);
  if (a.num_ == 0) return Exact();
  if (a.is_big() || b.is_big()) [[unlikely]]
    return ExactImpl::div(a, b);
  i128 bn = b.num_ < 0 ? -b.num_ : b.num_;
  i128 an = b.num_ < 0 ? -a.num_ : a.num_;
  auto g1 = static_cast<i128>(gcd(uabs(an), static_cast<u128>(bn)));
  auto g2 = static_cast<i128>(gcd(static_cast<u128>(b.den_), static_cast<u128>(a.den_)));
  i128 n, d;
  if (!mul_ok(an / g1, b.den_ / g2, n) || !mul_ok(a.den_ / g2, bn / g1, d)) {
    return ExactImpl::div(a, b);
  }
  return Exact::make(n, d, static_cast<int64_t>(a.exp_) - b.exp_);
}

bool operator==(const Exact& a, const Exact& b) {
  if (a.is_nan() || b.is_nan()) return false;
  if (a.kind_ != b.kind_) return false;
  if (!a.is_finite()) return true;
  if (a.is_big() || b.is_big()) [[unlikely]]
    return ExactImpl::eq(a, b);
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
  int64_t ma = ExactImpl::lead(a);
  int64_t mb = ExactImpl::lead(b);
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
  if (is_big()) [[unlikely]]
    return ExactImpl::floor(*this);
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
  if (v.is_big()) return ExactImpl::frac(v);
  return v - Exact::from_int(v.floor());
}

double Exact::round_to_binary(int precision, int emin, int emax) const {
  if (is_big()) [[unlikely]]
    return ExactImpl::round(*this, precision, emin, emax);
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
  return round_tail(q, qe, sticky, num_ < 0, precision, emin, emax);
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
  if (is_inf()) return kind_ == Kind::kNegInf ? "-inf" : "inf";
  std::ostringstream os;
  os.precision(17);
  os << to_double();
  bool dyadic = is_big() ? mpz_cmp_ui(big_.get()->den.get(), 1) == 0 : den_ == 1;
  if (!dyadic) os << " (inexact in binary)";
  return os.str();
}

}  // namespace bitsmith
