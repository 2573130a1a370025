// Exact numbers for the `exact` execution mode (SEMANTICS.md, level 2).
//
// A finite value is num * 2^exp / den with den odd and positive, gcd(num, den) == 1
// and num odd (or zero). Quantized values times float32 scales are dyadic (den == 1),
// so most arithmetic stays on the cheap path; odd denominators appear only where the
// graph divides by something that is not a power of two (averaging, Div, x / scale
// inside a Quant) and cancel again when the graph multiplies back.
//
// The numerator and denominator are 127-bit integers held inline: that is the hot
// path (no allocation). A result that does not fit moves to a shared, immutable
// arbitrary-precision form (GMP integers behind a reference-counted pointer); a big
// result that fits 127 bits again is stored small, so the form stays canonical and
// equal values have equal fields. Only exponents beyond int32 (or operands so far
// apart that aligning them needs more than 2^24 bits) throw ExactOverflow; the engine
// turns it into an error naming the node, so an exact answer is never silently
// replaced by an approximate one.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

namespace bitsmith {

__extension__ typedef __int128 i128;
__extension__ typedef unsigned __int128 u128;

class ExactOverflow : public std::overflow_error {
 public:
  using std::overflow_error::overflow_error;
};

struct ExactBig;  // defined in exact.cc: GMP numerator and denominator

// An intrusive reference to an immutable ExactBig. Null for every small value, so
// copying or destroying a small Exact costs one predictable test and no atomics.
class ExactBigRef {
 public:
  ExactBigRef() = default;
  explicit ExactBigRef(const ExactBig* p) : p_(p) {}  // adopts one reference
  ExactBigRef(const ExactBigRef& o) : p_(o.p_) {
    if (p_) [[unlikely]]
      retain(p_);
  }
  ExactBigRef(ExactBigRef&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  ExactBigRef& operator=(const ExactBigRef& o) {
    ExactBigRef t(o);
    std::swap(p_, t.p_);
    return *this;
  }
  ExactBigRef& operator=(ExactBigRef&& o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~ExactBigRef() {
    if (p_) [[unlikely]]
      release(p_);
  }
  const ExactBig* get() const { return p_; }

 private:
  static void retain(const ExactBig* p);
  static void release(const ExactBig* p);
  const ExactBig* p_ = nullptr;
};

class Exact {
 public:
  enum class Kind : uint8_t { kFinite, kNaN, kPosInf, kNegInf };

  Exact() = default;  // zero
  static Exact from_int(i128 v);
  static Exact from_double(double v);  // exact: every double is a dyadic rational
  static Exact nan() { return special(Kind::kNaN); }
  static Exact inf(bool negative) { return special(negative ? Kind::kNegInf : Kind::kPosInf); }
  // num * 2^exp / den in lowest terms; den must be positive.
  static Exact make(i128 num, i128 den, int64_t exp);

  Kind kind() const { return kind_; }
  bool is_finite() const { return kind_ == Kind::kFinite; }
  bool is_nan() const { return kind_ == Kind::kNaN; }
  bool is_inf() const { return kind_ == Kind::kPosInf || kind_ == Kind::kNegInf; }
  bool is_zero() const { return is_finite() && num_ == 0; }
  bool is_integer() const {
    return is_finite() && (den_ == 1 ? num_ == 0 || exp_ >= 0 : is_big() && big_is_integer());
  }
  int sign() const;  // -1, 0, +1 (NaN gives 0)
  // True when the numerator or denominator needs more than 127 bits. num() and den()
  // describe small values only: a big value reads num() == sign() and den() == 0, so
  // fast paths that test `den() == 1` never take it for a small dyadic.
  bool is_big() const { return big_.get() != nullptr; }
  i128 num() const { return num_; }
  i128 den() const { return den_; }
  int32_t exp() const { return exp_; }
  // floor(log2(|value|)) for a finite nonzero value.
  int64_t floor_log2() const;

  // Largest integer <= value, and smallest >= value; throws ExactOverflow beyond 2^126.
  i128 floor() const;
  i128 ceil() const;
  // Correctly rounded (to nearest, ties to even) conversions.
  double to_double() const;
  float to_float() const;
  std::string to_string() const;

  friend Exact operator+(const Exact& a, const Exact& b);
  friend Exact operator-(const Exact& a, const Exact& b);
  friend Exact operator*(const Exact& a, const Exact& b);
  friend Exact operator/(const Exact& a, const Exact& b);
  Exact operator-() const;
  Exact& operator+=(const Exact& b) { return *this = *this + b; }
  Exact& operator*=(const Exact& b) { return *this = *this * b; }

  // Three-way comparison; NaN compares unordered (every relation false).
  friend bool operator==(const Exact& a, const Exact& b);
  friend bool operator<(const Exact& a, const Exact& b);
  friend bool operator<=(const Exact& a, const Exact& b) { return a < b || a == b; }
  friend bool operator>(const Exact& a, const Exact& b) { return b < a; }
  friend bool operator>=(const Exact& a, const Exact& b) { return b <= a; }

  // Multiplies by 2^k exactly.
  Exact ldexp(int64_t k) const;

 private:
  static Exact special(Kind k) {
    Exact e;
    e.kind_ = k;
    return e;
  }
  // Rounds |value| to `precision` significant bits (fewer below 2^emin, as IEEE
  // subnormals do); returns a double holding the rounded magnitude with sign.
  double round_to_binary(int precision, int emin, int emax) const;
  bool big_is_integer() const;
  friend struct ExactImpl;  // the big-integer paths, in exact.cc
  friend Exact frac(const Exact& v);

  i128 num_ = 0;  // big values: the sign (+-1)
  i128 den_ = 1;  // big values: 0
  int32_t exp_ = 0;
  Kind kind_ = Kind::kFinite;
  ExactBigRef big_;  // non-null exactly when the value is big
};

// Comparison of an exact value with (a + 1/2) style boundaries is done by the
// rounding code in quantize.h; this helper returns value - floor(value) in [0, 1).
Exact frac(const Exact& v);

}  // namespace bitsmith
