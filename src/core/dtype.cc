#include "core/dtype.h"

#include <cmath>
#include <cstdio>
#include <regex>

#include "core/error.h"

namespace bitsmith {

DataType DataType::integer(int bits, bool is_signed) {
  if (bits < 1 || bits > 32)
    fail(ErrorKind::kUnsupported, "integer bit width must be 1..32, got " + std::to_string(bits));
  DataType t;
  t.kind_ = Kind::kInt;
  t.bits_ = bits;
  t.signed_ = is_signed;
  return t;
}

DataType DataType::bipolar() {
  DataType t;
  t.kind_ = Kind::kBipolar;
  t.bits_ = 1;
  return t;
}

DataType DataType::ternary() {
  DataType t;
  t.kind_ = Kind::kTernary;
  t.bits_ = 2;
  return t;
}

DataType DataType::fixed(int width, int int_bits) {
  if (width < 1 || width > 32 || int_bits > width) {
    fail(ErrorKind::kUnsupported,
         "FIXED<" + std::to_string(width) + "," + std::to_string(int_bits) +
             "> is not a valid fixed-point type (need 1 <= w <= 32, i <= w)");
  }
  DataType t;
  t.kind_ = Kind::kFixed;
  t.bits_ = width;
  t.int_bits_ = int_bits;
  return t;
}

DataType DataType::minifloat(int exp_bits, int mant_bits, int bias) {
  if (exp_bits < 1 || exp_bits > 8 || mant_bits < 0 || mant_bits > 23) {
    fail(ErrorKind::kUnsupported, "FLOAT<" + std::to_string(exp_bits) + "," +
                                      std::to_string(mant_bits) + "," + std::to_string(bias) +
                                      "> is outside E 1..8, M 0..23");
  }
  DataType t;
  t.kind_ = Kind::kMiniFloat;
  t.bits_ = 1 + exp_bits + mant_bits;
  t.exp_bits_ = exp_bits;
  t.mant_bits_ = mant_bits;
  t.bias_ = bias;
  return t;
}

DataType DataType::scaled_int(int bits) {
  DataType t = integer(bits, true);
  t.kind_ = Kind::kScaledInt;
  return t;
}

DataType DataType::parse(const std::string& name) {
  std::smatch m;
  static const std::regex kInt("(U?)INT([0-9]+)");
  static const std::regex kFixed("FIXED<([0-9]+),(-?[0-9]+)>");
  static const std::regex kFloat("FLOAT<([0-9]+),([0-9]+),(-?[0-9]+)>");
  static const std::regex kScaled("SCALEDINT<([0-9]+)>");
  if (name == "FLOAT32") return float32();
  if (name == "BIPOLAR") return bipolar();
  if (name == "TERNARY") return ternary();
  if (name == "BINARY") return integer(1, false);
  if (std::regex_match(name, m, kInt)) return integer(std::stoi(m[2]), m[1].length() == 0);
  if (std::regex_match(name, m, kFixed)) return fixed(std::stoi(m[1]), std::stoi(m[2]));
  if (std::regex_match(name, m, kFloat))
    return minifloat(std::stoi(m[1]), std::stoi(m[2]), std::stoi(m[3]));
  if (std::regex_match(name, m, kScaled)) return scaled_int(std::stoi(m[1]));
  fail(ErrorKind::kUnsupported, "unknown data type '" + name + "'");
}

bool DataType::is_integer() const {
  return kind_ == Kind::kInt || kind_ == Kind::kBipolar || kind_ == Kind::kTernary;
}

double DataType::min() const {
  switch (kind_) {
    case Kind::kInt:
    case Kind::kScaledInt:
      return signed_ ? -std::ldexp(1.0, bits_ - 1) : 0.0;
    case Kind::kBipolar:
    case Kind::kTernary:
      return -1.0;
    case Kind::kFixed:
      return -std::ldexp(1.0, bits_ - 1);
    case Kind::kMiniFloat:
      return -max();
    case Kind::kFloat32:
      break;
  }
  return -3.4028234663852886e38;
}

double DataType::max() const {
  switch (kind_) {
    case Kind::kInt:
    case Kind::kScaledInt:
      return signed_ ? std::ldexp(1.0, bits_ - 1) - 1 : std::ldexp(1.0, bits_) - 1;
    case Kind::kBipolar:
    case Kind::kTernary:
      return 1.0;
    case Kind::kFixed:
      return std::ldexp(1.0, bits_ - 1) - 1;
    case Kind::kMiniFloat:
      return (2.0 - std::ldexp(1.0, -mant_bits_)) * std::ldexp(1.0, (1 << exp_bits_) - 1 - bias_);
    case Kind::kFloat32:
      break;
  }
  return 3.4028234663852886e38;
}

std::string DataType::name() const {
  switch (kind_) {
    case Kind::kFloat32:
      return "FLOAT32";
    case Kind::kInt:
      if (bits_ == 1 && !signed_) return "BINARY";
      return (signed_ ? "INT" : "UINT") + std::to_string(bits_);
    case Kind::kBipolar:
      return "BIPOLAR";
    case Kind::kTernary:
      return "TERNARY";
    case Kind::kFixed:
      return "FIXED<" + std::to_string(bits_) + "," + std::to_string(int_bits_) + ">";
    case Kind::kMiniFloat:
      return "FLOAT<" + std::to_string(exp_bits_) + "," + std::to_string(mant_bits_) + "," +
             std::to_string(bias_) + ">";
    case Kind::kScaledInt:
      return "SCALEDINT<" + std::to_string(bits_) + ">";
  }
  return "?";
}

}  // namespace bitsmith
