// Every kernel path (ref, AVX2, AVX-512) against plain loops written here, over
// sweeps of shapes, extreme values, strides and row sub-ranges. Paths the CPU
// lacks are skipped with a message.
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <random>
#include <vector>

#include "core/error.h"
#include "runtime/kernels/kernel_table.h"

namespace bitsmith::kernels {
namespace {

const int64_t kMs[] = {1, 2, 3, 5, 17, 64};
const int64_t kNs[] = {1, 3, 10, 16, 33, 64};
const int64_t kKs[] = {1, 2, 3, 7, 31, 64, 65, 127, 300};

// A quarter each of lo and hi, the rest uniform: extremes meet extremes often.
template <class T>
std::vector<T> values(std::mt19937& rng, int64_t count, int64_t lo, int64_t hi) {
  std::uniform_int_distribution<int64_t> pick(0, 3), any(lo, hi);
  std::vector<T> v(static_cast<size_t>(count));
  for (T& x : v) {
    const int64_t p = pick(rng);
    x = static_cast<T>(p == 0 ? lo : p == 1 ? hi : any(rng));
  }
  return v;
}

// The true sums modulo 2^32, which is the kernels' contract (exact when the
// sum fits int32).
template <class A, class W>
std::vector<int32_t> naive_gemm(const std::vector<A>& a, int64_t lda, const std::vector<W>& w,
                                int64_t m, int64_t n, int64_t k) {
  std::vector<int32_t> c(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      int64_t s = 0;
      for (int64_t x = 0; x < k; ++x) s += int64_t{a[i * lda + x]} * int64_t{w[j * k + x]};
      c[i * n + j] = static_cast<int32_t>(static_cast<uint32_t>(s));
    }
  return c;
}

class KernelsTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!isa_supported(GetParam()))
      GTEST_SKIP() << "this CPU lacks the " << isa_name(GetParam()) << " kernels";
  }
  const Table& table() const { return table_for(GetParam()); }
};

enum class Kind { kU8S8, kS8S8, kS16 };

// One GEMM sweep point: full rows with strided a/acc, then a row sub-range
// with the other rows left untouched, then accumulate onto the result.
template <class A, class W>
void check_gemm(Isa isa, Kind kind, std::mt19937& rng, int64_t m, int64_t n, int64_t k, int64_t lo,
                int64_t hi, int64_t wlo, int64_t whi) {
  const int64_t lda = k + 3, ldc = n + 2;
  const auto a = values<A>(rng, m * lda, lo, hi);
  const auto w = values<W>(rng, n * k, wlo, whi);
  const auto want = naive_gemm(a, lda, w, m, n, k);
  const Table& t = table_for(isa);
  auto run = [&](std::vector<int32_t>& c, int64_t m0, int64_t m1, bool accumulate) {
    if constexpr (sizeof(W) == 1) {
      const PackedS8 p = pack_s8(w.data(), n, k, isa);
      if (kind == Kind::kU8S8)
        t.gemm_u8s8(reinterpret_cast<const uint8_t*>(a.data()), lda, m0, m1, p, c.data(), ldc,
                    accumulate);
      else
        t.gemm_s8s8(reinterpret_cast<const int8_t*>(a.data()), lda, m0, m1, p, c.data(), ldc,
                    accumulate);
    } else {
      const PackedS16 p = pack_s16(w.data(), n, k, isa);
      t.gemm_s16s16(a.data(), lda, m0, m1, p, c.data(), ldc, accumulate);
    }
  };
  const int32_t sentinel = 0x5a5a5a5a;
  std::vector<int32_t> c(static_cast<size_t>(m * ldc), sentinel);
  run(c, 0, m, false);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j)
      ASSERT_EQ(c[i * ldc + j], want[i * n + j])
          << isa_name(isa) << " m=" << m << " n=" << n << " k=" << k << " at " << i << "," << j;
    for (int64_t j = n; j < ldc; ++j) ASSERT_EQ(c[i * ldc + j], sentinel) << "wrote past n";
  }
  const int64_t m0 = m / 3, m1 = m - m / 4;
  std::vector<int32_t> sub(static_cast<size_t>(m * ldc), sentinel);
  run(sub, m0, m1, false);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      ASSERT_EQ(sub[i * ldc + j], i >= m0 && i < m1 ? want[i * n + j] : sentinel)
          << "rows [" << m0 << "," << m1 << ") m=" << m << " n=" << n << " k=" << k;
  run(c, 0, m, true);  // c + a*w = 2 * want (mod 2^32)
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      ASSERT_EQ(c[i * ldc + j], static_cast<int32_t>(2u * static_cast<uint32_t>(want[i * n + j])))
          << "accumulate m=" << m << " n=" << n << " k=" << k;
}

TEST_P(KernelsTest, GemmU8S8Sweep) {
  std::mt19937 rng(1);
  for (int64_t m : kMs)
    for (int64_t n : kNs)
      for (int64_t k : kKs)
        check_gemm<uint8_t, int8_t>(GetParam(), Kind::kU8S8, rng, m, n, k, 0, 255, -128, 127);
}

TEST_P(KernelsTest, GemmS8S8Sweep) {
  std::mt19937 rng(2);
  for (int64_t m : kMs)
    for (int64_t n : kNs)
      for (int64_t k : kKs)
        check_gemm<int8_t, int8_t>(GetParam(), Kind::kS8S8, rng, m, n, k, -128, 127, -128, 127);
}

TEST_P(KernelsTest, GemmS16Sweep) {
  // Full int16 range: sums of many extreme products leave int32, so this also
  // checks the documented modulo-2^32 behaviour; the test below stays in range.
  std::mt19937 rng(3);
  for (int64_t m : kMs)
    for (int64_t n : kNs)
      for (int64_t k : kKs)
        check_gemm<int16_t, int16_t>(GetParam(), Kind::kS16, rng, m, n, k, -32768, 32767, -32768,
                                     32767);
}

TEST_P(KernelsTest, GemmS16ExtremePairFitsInt32) {
  // (-32768)^2 * 2 = 2^31 is one vpmaddwd pair that wraps; the total 2^31 - 1 fits.
  const std::vector<int16_t> a = {-32768, -32768, 1}, w = {-32768, -32768, -1};
  const PackedS16 p = pack_s16(w.data(), 1, 3, GetParam());
  int32_t c = 0;
  table().gemm_s16s16(a.data(), 3, 0, 1, p, &c, 1, false);
  EXPECT_EQ(c, std::numeric_limits<int32_t>::max());
}

TEST_P(KernelsTest, GemmU8S8ExtremesFitInt32) {
  // 255 * -128 everywhere over k = 300: -9792000, and 255 * 127: 9715500.
  const int64_t k = 300;
  std::vector<uint8_t> a(k, 255);
  std::vector<int8_t> w(2 * k, -128);
  std::fill(w.begin() + k, w.end(), 127);
  const PackedS8 p = pack_s8(w.data(), 2, k, GetParam());
  int32_t c[2] = {0, 0};
  table().gemm_u8s8(a.data(), k, 0, 1, p, c, 2, false);
  EXPECT_EQ(c[0], -255 * 128 * k);
  EXPECT_EQ(c[1], 255 * 127 * k);
  std::vector<int8_t> s(k, -128);
  table().gemm_s8s8(s.data(), k, 0, 1, p, c, 2, false);
  EXPECT_EQ(c[0], 128 * 128 * k);
  EXPECT_EQ(c[1], -128 * 127 * k);
}

TEST_P(KernelsTest, XnorSweep) {
  std::mt19937 rng(4);
  for (int64_t m : kMs)
    for (int64_t n : kNs)
      for (int64_t k : {1, 2, 3, 7, 31, 64, 65, 127, 300, 511, 512, 1000}) {
        std::vector<int8_t> av = values<int8_t>(rng, m * k, -1, 1),
                            wv = values<int8_t>(rng, n * k, -1, 1);
        for (int8_t& x : av) x = x > 0 ? 1 : -1;
        for (int8_t& x : wv) x = x > 0 ? 1 : -1;
        const auto want = naive_gemm(av, k, wv, m, n, k);
        std::vector<uint64_t> a(static_cast<size_t>(m * bit_words(k))),
            w(static_cast<size_t>(n * bit_words(k)));
        pack_bits(av.data(), m, k, a.data());
        pack_bits(wv.data(), n, k, w.data());
        const int64_t ldc = n + 1;
        std::vector<int32_t> c(static_cast<size_t>(m * ldc), -7);
        const int64_t m0 = m / 3;
        table().gemm_xnor(a.data(), m0, m, w.data(), n, k, c.data(), ldc);
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < ldc; ++j)
            ASSERT_EQ(c[i * ldc + j], i >= m0 && j < n ? want[i * n + j] : -7)
                << "m=" << m << " n=" << n << " k=" << k << " at " << i << "," << j;
      }
}

TEST_P(KernelsTest, ThresholdSweep) {
  std::mt19937 rng(5);
  const int32_t lo = std::numeric_limits<int32_t>::min(), hi = std::numeric_limits<int32_t>::max();
  for (int64_t levels : {0, 1, 2, 3, 7, 15, 16, 17, 64, 255})
    for (int64_t n : {1, 3, 10, 16, 33}) {
      const int64_t m = 9;
      // Ascending thresholds with duplicates and extremes, drawn from a small
      // pool so accumulators often equal a threshold exactly.
      std::vector<int32_t> pool = values<int32_t>(rng, 40, -1000, 1000);
      pool.push_back(lo);
      pool.push_back(hi);
      std::uniform_int_distribution<size_t> pick(0, pool.size() - 1);
      std::vector<int32_t> thr(static_cast<size_t>(n * levels));
      for (int64_t j = 0; j < n; ++j) {
        for (int64_t l = 0; l < levels; ++l) thr[j * levels + l] = pool[pick(rng)];
        std::sort(thr.begin() + j * levels, thr.begin() + (j + 1) * levels);
      }
      std::vector<int32_t> acc(static_cast<size_t>(m * n));
      for (int32_t& v : acc) {  // a pool value or one off, kept in int32
        const int64_t x = int64_t{pool[pick(rng)]} + static_cast<int64_t>(pick(rng) % 3) - 1;
        v = static_cast<int32_t>(std::clamp<int64_t>(x, lo, hi));
      }
      acc[0] = lo;
      acc.back() = hi;
      const auto base = values<int32_t>(rng, n, -5, 5);
      std::vector<int32_t> out(static_cast<size_t>(m * n), 99), out64(out);
      table().threshold_i32(acc.data(), n, 1, m, n, thr.data(), levels, base.data(), out.data(), n);
      const std::vector<int64_t> acc64(acc.begin(), acc.end()), thr64(thr.begin(), thr.end());
      threshold_i64(acc64.data(), n, 1, m, n, thr64.data(), levels, base.data(), out64.data(), n);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          int32_t want = 99;
          if (i >= 1) {
            want = base[j];
            for (int64_t l = 0; l < levels; ++l) want += acc[i * n + j] >= thr[j * levels + l];
          }
          ASSERT_EQ(out[i * n + j], want)
              << "levels=" << levels << " n=" << n << " at " << i << "," << j;
          ASSERT_EQ(out64[i * n + j], want) << "i64 levels=" << levels;
        }
    }
}

// Naive NHWC window walk shared by the pooling and depthwise checks.
template <class F>
void for_window(const Conv2dGeom& g, int64_t pix, F f) {
  const int64_t oh = g.out_h(), ow = g.out_w();
  const int64_t b = pix / (oh * ow), oy = pix / ow % oh, ox = pix % ow;
  for (int64_t ky = 0; ky < g.kh; ++ky)
    for (int64_t kx = 0; kx < g.kw; ++kx) {
      const int64_t iy = oy * g.sh - g.pt + ky * g.dh, ix = ox * g.sw - g.pl + kx * g.dw;
      const bool inside = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w;
      f(ky, kx, inside ? ((b * g.h + iy) * g.w + ix) * g.c : -1);
    }
}

const Conv2dGeom kGeoms[] = {
    // n, h, w, c, c0, cin, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr
    {1, 5, 5, 3, 0, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {2, 7, 6, 17, 0, 17, 3, 2, 2, 1, 1, 2, 0, 2, 1, 0},
    {1, 4, 9, 40, 0, 40, 2, 3, 2, 3, 2, 1, 1, 0, 2, 1},
    {1, 3, 3, 64, 0, 64, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},
};

TEST_P(KernelsTest, PoolsMatchNaive) {
  std::mt19937 rng(6);
  for (const Conv2dGeom& g : kGeoms) {
    const Pool2d p{g.n, g.h, g.w, g.c, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl, g.pb, g.pr, g.dh, g.dw};
    const auto in = values<int32_t>(rng, g.n * g.h * g.w * g.c, std::numeric_limits<int32_t>::min(),
                                    std::numeric_limits<int32_t>::max());
    const int64_t pixels = g.n * g.out_h() * g.out_w();
    std::vector<int32_t> mx(static_cast<size_t>(pixels * g.c));
    std::vector<int64_t> sm(mx.size());
    const int32_t pad = -3;
    table().max_pool_i32(in.data(), p, pad, mx.data());
    table().sum_pool_i32(in.data(), p, pad, sm.data());
    for (int64_t pix = 0; pix < pixels; ++pix)
      for (int64_t ch = 0; ch < g.c; ++ch) {
        int64_t want_max = std::numeric_limits<int64_t>::min(), want_sum = 0;
        for_window(g, pix, [&](int64_t, int64_t, int64_t at) {
          const int64_t v = at < 0 ? pad : in[at + ch];
          want_max = std::max(want_max, v);
          want_sum += v;
        });
        ASSERT_EQ(mx[pix * g.c + ch], want_max) << "pixel " << pix << " channel " << ch;
        ASSERT_EQ(sm[pix * g.c + ch], want_sum) << "pixel " << pix << " channel " << ch;
      }
  }
}

template <class T>
void check_depthwise(const Table& t, std::mt19937& rng, int64_t lo, int64_t hi) {
  for (const Conv2dGeom& g : kGeoms) {
    const auto in = values<T>(rng, g.n * g.h * g.w * g.c, lo, hi);
    const auto w = values<int8_t>(rng, g.kh * g.kw * g.c, -128, 127);
    const int64_t pixels = g.n * g.out_h() * g.out_w();
    const T pad = static_cast<T>(hi);
    std::vector<int32_t> out(static_cast<size_t>(pixels * g.c), 77);
    const int64_t p0 = 1;
    if constexpr (sizeof(T) == 1 && std::is_unsigned_v<T>)
      t.depthwise_u8(in.data(), g, w.data(), pad, p0, pixels, out.data());
    else
      t.depthwise_s8(in.data(), g, w.data(), pad, p0, pixels, out.data());
    for (int64_t pix = 0; pix < pixels; ++pix)
      for (int64_t ch = 0; ch < g.c; ++ch) {
        int64_t want = 0;
        for_window(g, pix, [&](int64_t ky, int64_t kx, int64_t at) {
          want += int64_t{at < 0 ? pad : in[at + ch]} * w[(ky * g.kw + kx) * g.c + ch];
        });
        ASSERT_EQ(out[pix * g.c + ch], pix < p0 ? 77 : want)
            << "pixel " << pix << " channel " << ch;
      }
  }
}

TEST_P(KernelsTest, DepthwiseMatchesNaive) {
  std::mt19937 rng(7);
  check_depthwise<uint8_t>(table(), rng, 0, 255);
  check_depthwise<int8_t>(table(), rng, -128, 127);
}

INSTANTIATE_TEST_SUITE_P(AllIsas, KernelsTest,
                         ::testing::Values(Isa::kRef, Isa::kAvx2, Isa::kAvx512),
                         [](const ::testing::TestParamInfo<Isa>& param_info) {
                           return std::string(isa_name(param_info.param));
                         });

TEST(KernelsIm2col, GroupedConvThroughGemm) {
  // im2col of one group then the reference GEMM equals a direct convolution.
  std::mt19937 rng(8);
  const Conv2dGeom g{2, 6, 5, 6, 2, 3, 3, 2, 2, 1, 1, 2, 1, 0, 2, 1};
  const auto in = values<int8_t>(rng, g.n * g.h * g.w * g.c, -128, 127);
  const int64_t cols = g.kh * g.kw * g.group_cin, rows = g.n * g.out_h() * g.out_w(), nout = 4;
  const auto w = values<int8_t>(rng, nout * cols, -128, 127);  // [out][ky][kx][cin]
  const int64_t r0 = 3;
  std::vector<int8_t> buf(static_cast<size_t>((rows - r0) * cols));
  im2col_nhwc<int8_t>(in.data(), g, r0, rows, int8_t{-5}, buf.data());
  const PackedS8 p = pack_s8(w.data(), nout, cols, Isa::kRef);
  std::vector<int32_t> c(static_cast<size_t>((rows - r0) * nout));
  gemm_s8s8(buf.data(), cols, 0, rows - r0, p, c.data(), nout);
  for (int64_t pix = r0; pix < rows; ++pix)
    for (int64_t o = 0; o < nout; ++o) {
      int64_t want = 0;
      for_window(g, pix, [&](int64_t ky, int64_t kx, int64_t at) {
        for (int64_t ci = 0; ci < g.group_cin; ++ci)
          want += int64_t{at < 0 ? int8_t{-5} : in[at + g.group_c0 + ci]} *
                  w[o * cols + (ky * g.kw + kx) * g.group_cin + ci];
      });
      ASSERT_EQ(c[(pix - r0) * nout + o], want) << "pixel " << pix << " out " << o;
    }
}

TEST(KernelsIsa, DetectAndNames) {
  EXPECT_TRUE(isa_supported(Isa::kRef));
  EXPECT_TRUE(isa_supported(detect_isa()));
  EXPECT_TRUE(isa_supported(active_isa()));
  EXPECT_STREQ(isa_name(Isa::kAvx512), "avx512");
  if (!isa_supported(Isa::kAvx512)) {
    EXPECT_THROW(table_for(Isa::kAvx512), Error);
  }
}

TEST(KernelsIsa, WideGemm) {
  const std::vector<int32_t> a = {2147483647, -2147483647 - 1, 3}, w = {2147483647, 1, -5, 2, 2, 2};
  std::vector<int64_t> c(2);
  gemm_i32_i64(a.data(), 3, 0, 1, w.data(), 2, 3, c.data(), 2);
  EXPECT_EQ(c[0], int64_t{2147483647} * 2147483647 - 2147483648LL - 15);
  EXPECT_EQ(c[1], 2 * (int64_t{2147483647} - 2147483648LL + 3));
}

}  // namespace
}  // namespace bitsmith::kernels
