// float32 values in their total order as uint32 keys: key(a) < key(b) iff a < b for
// finite values, with -0 just below +0. Thresholds over the float32 line are kept
// as keys, so comparing them never depends on the sign of zero.
#pragma once
#include <cstdint>
#include <cstring>

namespace bitsmith {

inline uint32_t float_key(float x) {
  uint32_t b;
  std::memcpy(&b, &x, 4);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

inline float float_of_key(uint32_t key) {
  uint32_t b = (key & 0x80000000u) ? (key & 0x7fffffffu) : ~key;
  float x;
  std::memcpy(&x, &b, 4);
  return x;
}

}  // namespace bitsmith
