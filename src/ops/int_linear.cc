// IntLinear: the integer layer the lowering pass emits (src/passes/lower.cc).
//
//   IntLinear(q, W[, thresholds, base]) kind="gemm"|"conv"
//
// q holds integer levels in [in_min, in_max] (int64 storage); W is [N, K] integers
// in im2col order (ky, kx, c) for convolutions. The output is the integer
// accumulator sum_k q * W, or, with thresholds [N, L] and base [N], the level
// base[n] + #{j : acc >= thresholds[n, j]}. The layer picks the narrowest kernel
// the value ranges allow: XNOR-popcount for +-1 operands, uint8/int8 x int8,
// int16 x int16 (int32 sums), else int32 x int32 with int64 sums. Ranges are
// checked against the attributes, so a wrong input is an error, never a wrap.
#include <algorithm>
#include <cstring>

#include "ops/registry.h"
#include "runtime/kernels/kernels.h"
#include "runtime/threads.h"

namespace bitsmith {
namespace {

namespace k = kernels;

enum class Path : uint8_t { kU8, kS8, kS16, kXnor, kWide, kI64 };

struct ConvShape {
  int64_t groups = 1, kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pl = 0, pb = 0,
          pr = 0;
  int spatial = 2;
};

struct Prepared {
  Path path = Path::kWide;
  int64_t n = 0, kdim = 0, groups = 1, ng = 0;
  bool depthwise = false;
  std::vector<k::PackedS8> p8;    // per group
  std::vector<k::PackedS16> p16;  // per group
  std::vector<std::vector<uint64_t>> bits;
  std::vector<std::vector<int32_t>> w32;
  std::vector<std::vector<int64_t>> w64t;  // kI64: [K][N] per group
  std::vector<int8_t> dw;                  // depthwise weights [kh][kw][c]
  bool requant = false;                    // thresholds given
  bool acc64 = false;  // int64 accumulators (wide path whose sums may pass int32)
  int64_t levels = 0;
  std::vector<int32_t> thr32, base32;
  std::vector<int64_t> thr64;
};

Prepared prepare(const EvalContext& c, const ConvShape& cs) {
  const Node& node = c.node();
  const Tensor& w = c.input(1);
  Prepared p;
  p.n = w.dim(0);
  p.kdim = w.dim(1);
  p.groups = cs.groups;
  p.ng = p.n / p.groups;
  const auto& wv = w.i64();
  int64_t wmin = 0, wmax = 0;
  bool pm1 = true;
  for (int64_t v : wv) {
    wmin = std::min(wmin, v);
    wmax = std::max(wmax, v);
    pm1 = pm1 && (v == 1 || v == -1);
  }
  const int64_t in_min = node.attr_int("in_min"), in_max = node.attr_int("in_max");
  const int64_t in_abs = std::max(-in_min, in_max);
  // Largest |sum| per channel, for the unsigned offset trick the int8 kernels use too.
  i128 bound = 0;
  for (int64_t r = 0; r < p.n; ++r) {
    i128 s = 0;
    for (int64_t j = 0; j < p.kdim; ++j) s += std::abs(wv[static_cast<size_t>(r * p.kdim + j)]);
    bound = std::max(bound, s);
  }
  const i128 i32 = (i128{1} << 31) - 1;
  if (node.attr_int("bipolar", 0) && pm1 && p.kdim < (int64_t{1} << 30)) {
    p.path = Path::kXnor;
  } else if (wmin >= -128 && wmax <= 127 && in_min >= 0 && in_max <= 255 && bound * 256 <= i32) {
    p.path = Path::kU8;
  } else if (wmin >= -128 && wmax <= 127 && in_min >= -128 && in_max <= 127 && bound * 256 <= i32) {
    p.path = Path::kS8;
  } else if (wmin >= -32768 && wmax <= 32767 && in_min >= -32768 && in_max <= 32767 &&
             bound * in_abs <= i32) {
    p.path = Path::kS16;
  } else if (wmin >= INT32_MIN && wmax <= INT32_MAX && in_min >= INT32_MIN && in_max <= INT32_MAX) {
    p.path = Path::kWide;
  } else if (wmin >= INT32_MIN && wmax <= INT32_MAX && bound * in_abs < (i128{1} << 62)) {
    p.path = Path::kI64;  // fixed-point float inputs: int64 operands, int64 sums
  } else {
    c.unsupported("integer weights or inputs beyond 32 bits");
  }
  const bool wide_acc = (p.path == Path::kWide && bound * in_abs > i32) || p.path == Path::kI64;
  p.depthwise = node.attr_string("kind", "gemm") == "conv" && p.groups > 1 && p.ng == 1 &&
                p.kdim == cs.kh * cs.kw && (p.path == Path::kU8 || p.path == Path::kS8);
  const k::Isa isa = k::active_isa();
  for (int64_t g = 0; g < p.groups; ++g) {
    const int64_t* rows = wv.data() + g * p.ng * p.kdim;
    const size_t count = static_cast<size_t>(p.ng * p.kdim);
    if (p.path == Path::kU8 || p.path == Path::kS8) {
      std::vector<int8_t> w8(rows, rows + count);
      p.p8.push_back(k::pack_s8(w8.data(), p.ng, p.kdim, isa));
    } else if (p.path == Path::kS16) {
      std::vector<int16_t> w16(rows, rows + count);
      p.p16.push_back(k::pack_s16(w16.data(), p.ng, p.kdim, isa));
    } else if (p.path == Path::kXnor) {
      std::vector<int8_t> w8(rows, rows + count);
      std::vector<uint64_t> b(static_cast<size_t>(p.ng * k::bit_words(p.kdim)));
      k::pack_bits(w8.data(), p.ng, p.kdim, b.data());
      p.bits.push_back(std::move(b));
    } else if (p.path == Path::kI64) {  // transposed [K][N], so the inner loop runs along outputs
      std::vector<int64_t> wt(count);
      for (int64_t j = 0; j < p.ng; ++j)
        for (int64_t q = 0; q < p.kdim; ++q)
          wt[static_cast<size_t>(q * p.ng + j)] = rows[j * p.kdim + q];
      p.w64t.push_back(std::move(wt));
    } else {  // kWide
      p.w32.emplace_back(rows, rows + count);
    }
  }
  if (p.depthwise) {
    p.dw.resize(static_cast<size_t>(p.kdim * p.n));
    for (int64_t ch = 0; ch < p.n; ++ch)
      for (int64_t j = 0; j < p.kdim; ++j)
        p.dw[static_cast<size_t>(j * p.n + ch)] =
            static_cast<int8_t>(wv[static_cast<size_t>(ch * p.kdim + j)]);
  }
  p.acc64 = wide_acc;
  if (c.has_input(2)) {
    p.requant = true;
    const Tensor& t = c.input(2);
    p.levels = t.dim(1);
    p.thr64 = t.i64();
    for (int64_t v : c.input(3).i64()) p.base32.push_back(static_cast<int32_t>(v));
    if (!wide_acc) {
      for (int64_t v : p.thr64)
        p.thr32.push_back(static_cast<int32_t>(std::clamp<int64_t>(v, INT32_MIN, INT32_MAX)));
    }
  }
  // Without thresholds the wide paths return their sums as they are, in int64.
  p.acc64 = p.acc64 || ((p.path == Path::kWide || p.path == Path::kI64) && !p.requant);
  return p;
}

// Rows [r0, r1) of the layer as a GEMM operand of type T, from int64 levels.
template <class T>
void narrow_rows(const int64_t* src, int64_t count, T* dst) {
  for (int64_t i = 0; i < count; ++i) dst[i] = static_cast<T>(src[i]);
}

// acc[r][j] = sum_q x[r][q] * wt[q][j] in int64 (sums proven to fit by the lowering).
// The same loop compiled twice: AVX-512DQ has a 64-bit multiply (vpmullq) the
// vectorizer uses along j; the portable copy serves every other CPU.
__attribute__((always_inline)) inline void i64_rows_body(const int64_t* x, const int64_t* wt,
                                                         int64_t rows, int64_t kdim, int64_t n,
                                                         int64_t* acc, int64_t ldc) {
  for (int64_t r = 0; r < rows; ++r) {
    int64_t* out = acc + r * ldc;
    for (int64_t j = 0; j < n; ++j) out[j] = 0;
    for (int64_t q = 0; q < kdim; ++q) {
      const int64_t xv = x[r * kdim + q];
      const int64_t* w = wt + q * n;
      for (int64_t j = 0; j < n; ++j) out[j] += xv * w[j];
    }
  }
}

__attribute__((target("avx2,avx512f,avx512dq,avx512vl"))) void i64_rows_avx512(
    const int64_t* x, const int64_t* wt, int64_t rows, int64_t kdim, int64_t n, int64_t* acc,
    int64_t ldc) {
  i64_rows_body(x, wt, rows, kdim, n, acc, ldc);
}

void i64_rows_portable(const int64_t* x, const int64_t* wt, int64_t rows, int64_t kdim, int64_t n,
                       int64_t* acc, int64_t ldc) {
  i64_rows_body(x, wt, rows, kdim, n, acc, ldc);
}

// Accumulators for `rows` rows of one group's operand a (row-major, lda = kdim).
void gemm_rows(const Prepared& p, int64_t g, const void* a, int64_t rows, int32_t* acc32,
               int64_t* acc64, int64_t ldc) {
  switch (p.path) {
    case Path::kU8:
      return k::gemm_u8s8(static_cast<const uint8_t*>(a), p.kdim, 0, rows,
                          p.p8[static_cast<size_t>(g)], acc32, ldc);
    case Path::kS8:
      return k::gemm_s8s8(static_cast<const int8_t*>(a), p.kdim, 0, rows,
                          p.p8[static_cast<size_t>(g)], acc32, ldc);
    case Path::kS16:
      return k::gemm_s16s16(static_cast<const int16_t*>(a), p.kdim, 0, rows,
                            p.p16[static_cast<size_t>(g)], acc32, ldc);
    case Path::kXnor: {
      const int64_t words = k::bit_words(p.kdim);
      std::vector<uint64_t> bits(static_cast<size_t>(rows * words));
      k::pack_bits(static_cast<const int8_t*>(a), rows, p.kdim, bits.data());
      return k::gemm_xnor(bits.data(), 0, rows, p.bits[static_cast<size_t>(g)].data(), p.ng, p.kdim,
                          acc32, ldc);
    }
    case Path::kI64: {
      // Only first layers fed float inputs (fixed point) take this path.
      const int64_t* x = static_cast<const int64_t*>(a);
      const int64_t* wt = p.w64t[static_cast<size_t>(g)].data();
      static const bool wide_simd =
          k::isa_supported(k::Isa::kAvx512) && k::active_isa() == k::Isa::kAvx512;
      if (wide_simd) return i64_rows_avx512(x, wt, rows, p.kdim, p.ng, acc64, ldc);
      return i64_rows_portable(x, wt, rows, p.kdim, p.ng, acc64, ldc);
    }
    case Path::kWide:
      break;
  }
  if (acc64) {
    return k::gemm_i32_i64(static_cast<const int32_t*>(a), p.kdim, 0, rows,
                           p.w32[static_cast<size_t>(g)].data(), p.ng, p.kdim, acc64, ldc);
  }
  // int32 sums proven to fit: compute in int64 and narrow.
  std::vector<int64_t> wide(static_cast<size_t>(rows * p.ng));
  k::gemm_i32_i64(static_cast<const int32_t*>(a), p.kdim, 0, rows,
                  p.w32[static_cast<size_t>(g)].data(), p.ng, p.kdim, wide.data(), p.ng);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < p.ng; ++j)
      acc32[r * ldc + j] = static_cast<int32_t>(wide[static_cast<size_t>(r * p.ng + j)]);
}

size_t elem_size(Path p) {
  switch (p) {
    case Path::kU8:
    case Path::kS8:
    case Path::kXnor:
      return 1;
    case Path::kS16:
      return 2;
    case Path::kI64:
      return 8;
    case Path::kWide:
      break;
  }
  return 4;
}

template <class Fn>
void with_type(Path p, Fn&& fn) {
  switch (p) {
    case Path::kU8:
      return fn(uint8_t{});
    case Path::kS8:
    case Path::kXnor:
      return fn(int8_t{});
    case Path::kS16:
      return fn(int16_t{});
    case Path::kI64:
      return fn(int64_t{});
    case Path::kWide:
      break;
  }
  fn(int32_t{});
}

// Requantizes (or copies) accumulators of `rows` rows x N into int64 levels.
void finish_rows(const Prepared& p, const int32_t* acc32, const int64_t* acc64, int64_t rows,
                 int64_t* out) {
  const int64_t N = p.n;
  if (p.requant && p.levels == 0) {  // one level: a constant channel
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < N; ++j) out[r * N + j] = p.base32[static_cast<size_t>(j)];
    return;
  }
  if (p.requant) {
    std::vector<int32_t> lv(static_cast<size_t>(rows * N));
    if (acc64) {
      k::threshold_i64(acc64, N, 0, rows, N, p.thr64.data(), p.levels, p.base32.data(), lv.data(),
                       N);
    } else {
      k::threshold_i32(acc32, N, 0, rows, N, p.thr32.data(), p.levels, p.base32.data(), lv.data(),
                       N);
    }
    for (int64_t i = 0; i < rows * N; ++i) out[i] = lv[static_cast<size_t>(i)];
    return;
  }
  for (int64_t i = 0; i < rows * N; ++i) out[i] = acc64 ? acc64[i] : acc32[i];
}

void check_range(const EvalContext& c, const Tensor& q) {
  if (q.type() != ElemType::kInt64) c.fail("input 0 must hold integer levels");
  const int64_t lo = c.node().attr_int("in_min"), hi = c.node().attr_int("in_max");
  for (int64_t v : q.i64()) {
    if (v < lo || v > hi)
      c.fail("input level " + std::to_string(v) + " outside [" + std::to_string(lo) + ", " +
             std::to_string(hi) + "]");
  }
}

void eval_gemm(EvalContext& c, const Prepared& p) {
  const Tensor& q = c.input(0);
  const int64_t K = p.kdim, N = p.n;
  if (q.rank() < 1 || q.shape().back() != K)
    c.fail("input's last dimension must be " + std::to_string(K));
  const int64_t M = K ? q.size() / K : 0;
  Shape os = q.shape();
  os.back() = N;
  Tensor out(ElemType::kInt64, os);
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(1, K * N));
  parallel_for(M, grain, [&](int64_t m0, int64_t m1) {
    const int64_t rows = m1 - m0;
    std::vector<unsigned char> a(static_cast<size_t>(rows * K) * elem_size(p.path));
    with_type(p.path, [&](auto t) {
      narrow_rows(q.i64().data() + m0 * K, rows * K, reinterpret_cast<decltype(t)*>(a.data()));
    });
    std::vector<int32_t> acc32;
    std::vector<int64_t> acc64;
    if (p.acc64) {
      acc64.resize(static_cast<size_t>(rows * N));
    } else {
      acc32.resize(static_cast<size_t>(rows * N));
    }
    gemm_rows(p, 0, a.data(), rows, acc32.data(), acc64.empty() ? nullptr : acc64.data(), N);
    finish_rows(p, acc32.data(), acc64.empty() ? nullptr : acc64.data(), rows,
                out.i64().data() + m0 * N);
  });
  c.set_output(0, std::move(out));
}

ConvShape conv_shape(const EvalContext& c) {
  const Node& n = c.node();
  ConvShape s;
  s.groups = n.attr_int("group", 1);
  auto ks = n.attr_ints("kernel_shape"), st = n.attr_ints("strides"), pd = n.attr_ints("pads"),
       dl = n.attr_ints("dilations");
  if (ks.size() != 2 || st.size() != 2 || pd.size() != 4 || dl.size() != 2)
    c.fail("bad convolution attributes");
  s.kh = ks[0];
  s.kw = ks[1];
  s.sh = st[0];
  s.sw = st[1];
  s.dh = dl[0];
  s.dw = dl[1];
  s.pt = pd[0];
  s.pl = pd[1];
  s.pb = pd[2];
  s.pr = pd[3];
  s.spatial = static_cast<int>(n.attr_int("spatial_rank", 2));
  return s;
}

void eval_conv(EvalContext& c, const Prepared& p, const ConvShape& cs) {
  const Tensor& q = c.input(0);
  if (q.rank() != cs.spatial + 2) c.fail("input rank must be " + std::to_string(cs.spatial + 2));
  const int64_t B = q.dim(0), C = q.dim(1), H = cs.spatial == 2 ? q.dim(2) : 1,
                W = q.shape().back();
  const int64_t cin_g = C / p.groups;
  if (C % p.groups || (!p.depthwise && cin_g * cs.kh * cs.kw != p.kdim))
    c.fail("input channels do not match");
  k::Conv2dGeom g{B,     H,     W,     C,     0,     cin_g, cs.kh, cs.kw,
                  cs.sh, cs.sw, cs.dh, cs.dw, cs.pt, cs.pl, cs.pb, cs.pr};
  const int64_t OH = g.out_h(), OW = g.out_w();
  if (OH <= 0 || OW <= 0) c.fail("the kernel does not fit the input");
  const int64_t P = B * OH * OW, N = p.n;
  Shape os = cs.spatial == 2 ? Shape{B, N, OH, OW} : Shape{B, N, OW};
  Tensor out(ElemType::kInt64, os);
  const int64_t pad = c.node().attr_int("in_pad", 0);
  with_type(p.path, [&](auto tag) {
    using T = decltype(tag);
    // NHWC copy of the input in the kernel's element type.
    std::vector<T> nhwc(static_cast<size_t>(B * H * W * C));
    parallel_for(B * H * W, 256, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t b = i / (H * W), hw = i % (H * W);
        for (int64_t ch = 0; ch < C; ++ch)
          nhwc[static_cast<size_t>(i * C + ch)] =
              static_cast<T>(q.i64()[static_cast<size_t>((b * C + ch) * H * W + hw)]);
      }
    });
    const int64_t grain =
        std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(1, p.kdim * N));
    std::vector<int32_t> dw_acc(p.depthwise ? static_cast<size_t>(P * N) : 0);
    parallel_for(P, grain, [&](int64_t p0, int64_t p1) {
      const int64_t rows = p1 - p0;
      std::vector<int32_t> acc32(p.acc64 ? 0 : static_cast<size_t>(rows * N));
      std::vector<int64_t> acc64(p.acc64 ? static_cast<size_t>(rows * N) : 0);
      if (p.depthwise) {
        // The depthwise kernel indexes its output by absolute pixel.
        if constexpr (std::is_same_v<T, uint8_t> || std::is_same_v<T, int8_t>) {
          k::depthwise_nhwc<T>(nhwc.data(), g, p.dw.data(), static_cast<T>(pad), p0, p1,
                               dw_acc.data());
          std::copy(dw_acc.begin() + p0 * N, dw_acc.begin() + p1 * N, acc32.begin());
        }
      } else {
        std::vector<T> cols(static_cast<size_t>(rows * p.kdim));
        std::vector<int32_t> g32(p.groups > 1 && !p.acc64 ? static_cast<size_t>(rows * p.ng) : 0);
        std::vector<int64_t> g64(p.groups > 1 && p.acc64 ? static_cast<size_t>(rows * p.ng) : 0);
        for (int64_t gi = 0; gi < p.groups; ++gi) {
          k::Conv2dGeom gg = g;
          gg.group_c0 = gi * cin_g;
          k::im2col_nhwc<T>(nhwc.data(), gg, p0, p1, static_cast<T>(pad), cols.data());
          if (p.groups == 1) {
            gemm_rows(p, 0, cols.data(), rows, acc32.data(), p.acc64 ? acc64.data() : nullptr, N);
            continue;
          }
          gemm_rows(p, gi, cols.data(), rows, g32.data(), p.acc64 ? g64.data() : nullptr, p.ng);
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < p.ng; ++j) {
              const size_t dst = static_cast<size_t>(r * N + gi * p.ng + j),
                           src = static_cast<size_t>(r * p.ng + j);
              if (p.acc64) {
                acc64[dst] = g64[src];
              } else {
                acc32[dst] = g32[src];
              }
            }
        }
      }
      std::vector<int64_t> res(static_cast<size_t>(rows * N));
      finish_rows(p, acc32.data(), p.acc64 ? acc64.data() : nullptr, rows, res.data());
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t pix = p0 + r, b = pix / (OH * OW), o = pix % (OH * OW);
        for (int64_t j = 0; j < N; ++j)
          out.i64()[static_cast<size_t>((b * N + j) * OH * OW + o)] =
              res[static_cast<size_t>(r * N + j)];
      }
    });
  });
  c.set_output(0, std::move(out));
}

void eval_int_linear(EvalContext& c) {
  if (c.mode() != Mode::kExact) c.fail("lowered integer ops run in exact mode only");
  const bool conv = c.node().attr_string("kind", "gemm") == "conv";
  ConvShape cs = conv ? conv_shape(c) : ConvShape{};
  auto p = c.cached<Prepared>("prepared", [&] { return prepare(c, cs); });
  check_range(c, c.input(0));
  if (conv) return eval_conv(c, *p, cs);
  eval_gemm(c, *p);
}

OpDef make() {
  OpDef d;
  d.op_type = "IntLinear";
  d.family = OpFamily::kLowered;
  d.min_inputs = 2;
  d.max_inputs = 4;
  d.eval = eval_int_linear;
  return d;
}

const OpRegistrar kIntLinear(make());

}  // namespace

}  // namespace bitsmith
