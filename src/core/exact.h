// Exact numbers for the `exact` execution mode (SEMANTICS.md, level 2).
//
// A finite value is num * 2^exp / den with den odd and positive, gcd(num, den) == 1
// and num odd (or zero). Quantized values times float32 scales are dyadic (den == 1),
// so most arithmetic stays on the cheap path; odd denominators appear only where the
// graph divides by something that is not a power of two (averaging, Div, x / scale
// inside a Quant) and cancel again when the graph multiplies back.
//
// The numerator and denominator are 127-bit integers. A result that does not fit
// throws ExactOverflow; the engine turns it into an error naming the node, so an
// exact answer is never silently replaced by an approximate one.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace bitsmith {

__extension__ typedef __int128 i128;
__extension__ typedef unsigned __int128 u128;

class ExactOverflow : public std::overflow_error {
 public:
  using std::overflow_error::overflow_error;
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
  bool is_integer() const { return is_finite() && den_ == 1 && (num_ == 0 || exp_ >= 0); }
  int sign() const;  // -1, 0, +1 (NaN gives 0)
  i128 num() const { return num_; }
  i128 den() const { return den_; }
  int32_t exp() const { return exp_; }

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

  i128 num_ = 0;
  i128 den_ = 1;
  int32_t exp_ = 0;
  Kind kind_ = Kind::kFinite;
};

// Comparison of an exact value with (a + 1/2) style boundaries is done by the
// rounding code in quantize.h; this helper returns value - floor(value) in [0, 1).
Exact frac(const Exact& v);

}  // namespace bitsmith
