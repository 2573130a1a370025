// Quantized data types as QONNX/FINN name them (finn_datatype annotations and the
// types the Quant ops produce). Storage is separate: see tensor.h.
#pragma once

#include <cstdint>
#include <string>

namespace bitsmith {

class DataType {
 public:
  enum class Kind : uint8_t { kFloat32, kInt, kBipolar, kTernary, kFixed, kMiniFloat, kScaledInt };

  DataType() = default;  // FLOAT32
  static DataType float32() { return DataType(); }
  static DataType integer(int bits,
                          bool is_signed);  // INT<n> / UINT<n>, n = 1..32; UINT1 is BINARY
  static DataType bipolar();
  static DataType ternary();
  static DataType fixed(int width,
                        int int_bits);  // FIXED<w,i>: signed, w total bits, i integer bits
  static DataType minifloat(int exp_bits, int mant_bits, int bias);  // FLOAT<E,M,bias>
  static DataType scaled_int(int bits);  // an integer of `bits` bits times a non-unit scale
  // Parses the names qonnx writes: FLOAT32, INT4, UINT8, BINARY, BIPOLAR, TERNARY,
  // FIXED<8,3>, FLOAT<4,3,7>, SCALEDINT<8>. Throws Error(kUnsupported) otherwise.
  static DataType parse(const std::string& name);

  Kind kind() const { return kind_; }
  int bits() const { return bits_; }
  bool is_signed() const { return signed_; }
  int int_bits() const { return int_bits_; }
  int exp_bits() const { return exp_bits_; }
  int mant_bits() const { return mant_bits_; }
  int bias() const { return bias_; }
  bool is_integer() const;  // every value is an integer (INT, UINT, BIPOLAR, TERNARY)
  // Smallest and largest value; for FIXED these are in units of 2^-(w-i).
  double min() const;
  double max() const;
  std::string name() const;

  friend bool operator==(const DataType&, const DataType&) = default;

 private:
  Kind kind_ = Kind::kFloat32;
  int bits_ = 32;
  bool signed_ = true;
  int int_bits_ = 0;
  int exp_bits_ = 8;
  int mant_bits_ = 23;
  int bias_ = 127;
};

}  // namespace bitsmith
