// Conv, ConvTranspose, pooling and the channels-last wrappers, in float and exact
// mode, on hand-built graphs run through verify() and execute(). Expectations come
// from naive direct loops in double written here (a scatter loop for
// ConvTranspose, so it shares nothing with the gather kernel), and for the shape
// rules that onnxruntime decides (ceil_mode, auto_pad splits, output_shape) from
// vectors printed by onnxruntime 1.32. The data are small dyadic values, so the
// double reference is exact and every comparison is ==.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/exact.h"
#include "ir/graph.h"
#include "op_test_util.h"
#include "runtime/session.h"

namespace bitsmith {
namespace {

using Vec = std::vector<double>;

struct In {
  std::string name;
  Shape shape;
  Vec data;
};

struct Op {
  std::string type;
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  Attrs attrs;
  std::string domain;
};

// Every input is a runtime input (so exact mode converts it to Exact like a feed).
Graph make_graph(const std::vector<In>& ins, const std::vector<Op>& ops,
                 const std::vector<std::string>& outs) {
  Graph g;
  g.source = "conv_test.onnx";
  g.opsets[""] = 19;
  for (const In& in : ins) g.inputs.push_back(graph_input(in.name, in.shape));
  int k = 0;
  for (const Op& op : ops) {
    Node n;
    n.name = "n" + std::to_string(k++);
    n.op_type = op.type;
    n.domain = op.domain;
    n.inputs = op.inputs;
    n.outputs = op.outputs;
    n.attrs = op.attrs;
    g.nodes.push_back(n);
  }
  for (const auto& o : outs) g.outputs.push_back(graph_output(o));
  verify(g);
  return g;
}

TensorMap run(const Graph& g, const std::vector<In>& ins, Mode mode) {
  TensorMap feeds;
  for (const In& in : ins) {
    std::vector<float> f(in.data.begin(), in.data.end());
    feeds[in.name] = Tensor::from_f32(in.shape, f);
  }
  RunOptions opt;
  opt.mode = mode;
  opt.allow_nan = true;
  return execute(g, feeds, opt);
}

// Runs a one-node graph in `mode`; the node reads the inputs in order.
Tensor run_op(const std::string& type, const std::vector<In>& ins, const Attrs& attrs, Mode mode,
              const std::string& domain = "") {
  std::vector<std::string> names;
  for (const In& in : ins) names.push_back(in.name);
  Graph g = make_graph(ins, {{type, names, {"y"}, attrs, domain}}, {"y"});
  return run(g, ins, mode).at("y");
}

// Deterministic dyadic data: multiples of 1/4 in [-2, 2].
Vec data(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(-8, 8);
  Vec v(n);
  for (double& x : v) x = d(rng) / 4.0;
  return v;
}

size_t count(const Shape& s) {
  size_t n = 1;
  for (int64_t d : s) n *= static_cast<size_t>(d);
  return n;
}

void expect_equal(const Tensor& y, const Shape& shape, const Vec& want) {
  ASSERT_EQ(shape_str(y.shape()), shape_str(shape));
  ASSERT_EQ(y.type(), ElemType::kFloat32);
  ASSERT_EQ(y.f32().size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(y.f32()[i], static_cast<float>(want[i])) << "at flat index " << i;
  }
}

// ---- naive references (2-D; 1-D cases run as H == 1) -------------------------

struct Conv2 {
  int64_t group = 1;
  int64_t sh = 1, sw = 1, dh = 1, dw = 1;
  int64_t pt = 0, pl = 0, pb = 0, pr = 0;  // top, left, bottom, right
};

// x (N, C, H, W), w (M, C/group, KH, KW), b (M) or empty; V is double or Exact.
template <class V>
std::vector<V> ref_conv_t(const std::vector<V>& x, const Shape& xs, const std::vector<V>& w,
                          const Shape& ws, const std::vector<V>& b, const Conv2& p,
                          Shape* out_shape) {
  const int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3];
  const int64_t M = ws[0], CG = ws[1], KH = ws[2], KW = ws[3];
  const int64_t OH = (H + p.pt + p.pb - ((KH - 1) * p.dh + 1)) / p.sh + 1;
  const int64_t OW = (W + p.pl + p.pr - ((KW - 1) * p.dw + 1)) / p.sw + 1;
  *out_shape = {N, M, OH, OW};
  std::vector<V> y(static_cast<size_t>(N * M * OH * OW));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          V acc = b.empty() ? V{} : b[static_cast<size_t>(m)];
          const int64_t g = m / (M / p.group);
          for (int64_t cg = 0; cg < CG; ++cg)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t ih = oh * p.sh - p.pt + kh * p.dh;
                const int64_t iw = ow * p.sw - p.pl + kw * p.dw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const int64_t c = g * CG + cg;
                acc = acc + x[static_cast<size_t>(((n * C + c) * H + ih) * W + iw)] *
                                w[static_cast<size_t>(((m * CG + cg) * KH + kh) * KW + kw)];
              }
          y[static_cast<size_t>(((n * M + m) * OH + oh) * OW + ow)] = acc;
        }
  return y;
}

Vec ref_conv(const Vec& x, const Shape& xs, const Vec& w, const Shape& ws, const Vec& b,
             const Conv2& p, Shape* out_shape) {
  return ref_conv_t<double>(x, xs, w, ws, b, p, out_shape);
}

// Scatter form of ConvTranspose: every input element adds its kernel into a full
// output, which is then cropped by the begin pads to (OH, OW).
Vec ref_conv_transpose(const Vec& x, const Shape& xs, const Vec& w, const Shape& ws, const Vec& b,
                       int64_t group, int64_t sh, int64_t sw, int64_t dh, int64_t dw, int64_t pt,
                       int64_t pl, int64_t OH, int64_t OW) {
  const int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3];
  const int64_t MG = ws[1], KH = ws[2], KW = ws[3], M = MG * group, CG = C / group;
  Vec y(static_cast<size_t>(N * M * OH * OW));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m)
      for (size_t i = 0; i < static_cast<size_t>(OH * OW); ++i)
        y[static_cast<size_t>((n * M + m) * OH * OW) + i] =
            b.empty() ? 0 : b[static_cast<size_t>(m)];
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t ih = 0; ih < H; ++ih)
        for (int64_t iw = 0; iw < W; ++iw)
          for (int64_t mg = 0; mg < MG; ++mg)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t oh = ih * sh + kh * dh - pt, ow = iw * sw + kw * dw - pl;
                if (oh < 0 || oh >= OH || ow < 0 || ow >= OW) continue;
                const int64_t m = (c / CG) * MG + mg;
                y[static_cast<size_t>(((n * M + m) * OH + oh) * OW + ow)] +=
                    x[static_cast<size_t>(((n * C + c) * H + ih) * W + iw)] *
                    w[static_cast<size_t>(((c * MG + mg) * KH + kh) * KW + kw)];
              }
  return y;
}

struct Pool2 {
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
  int64_t pt = 0, pl = 0, pb = 0, pr = 0;
  bool ceil = false, include_pad = false, max = false;
};

int64_t pool_out(int64_t in, int64_t k, int64_t s, int64_t d, int64_t p0, int64_t p1, bool ceil) {
  const int64_t span = in + p0 + p1 - ((k - 1) * d + 1);
  int64_t o = (ceil ? (span + s - 1) / s : span / s) + 1;
  if (ceil && (o - 1) * s >= in + p0) --o;  // the window would start in the end padding
  return o;
}

Vec ref_pool(const Vec& x, const Shape& xs, const Pool2& p, Shape* out_shape) {
  const int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3];
  const int64_t OH = pool_out(H, p.kh, p.sh, p.dh, p.pt, p.pb, p.ceil);
  const int64_t OW = pool_out(W, p.kw, p.sw, p.dw, p.pl, p.pr, p.ceil);
  *out_shape = {N, C, OH, OW};
  Vec y;
  for (int64_t nc = 0; nc < N * C; ++nc)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        double best = -INFINITY, sum = 0;
        int64_t valid = 0, padded = 0;
        for (int64_t kh = 0; kh < p.kh; ++kh)
          for (int64_t kw = 0; kw < p.kw; ++kw) {
            const int64_t ih = oh * p.sh - p.pt + kh * p.dh, iw = ow * p.sw - p.pl + kw * p.dw;
            if (ih >= -p.pt && ih < H + p.pb && iw >= -p.pl && iw < W + p.pr) ++padded;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            const double v = x[static_cast<size_t>((nc * H + ih) * W + iw)];
            best = std::max(best, v);
            sum += v;
            ++valid;
          }
        y.push_back(p.max ? best : sum / static_cast<double>(p.include_pad ? padded : valid));
      }
  return y;
}

Attrs conv_attrs(const Conv2& p, bool one_d = false) {
  if (one_d) {
    return {{"group", ai(p.group)},
            {"strides", aints({p.sw})},
            {"dilations", aints({p.dw})},
            {"pads", aints({p.pl, p.pr})}};
  }
  return {{"group", ai(p.group)},
          {"strides", aints({p.sh, p.sw})},
          {"dilations", aints({p.dh, p.dw})},
          {"pads", aints({p.pt, p.pl, p.pb, p.pr})}};
}

// Runs Conv in both modes against ref_conv.
void check_conv(const Shape& xs, const Shape& ws, bool bias, const Conv2& p, unsigned seed) {
  Vec x = data(count(xs), seed), w = data(count(ws), seed + 1);
  Vec b = bias ? data(static_cast<size_t>(ws[0]), seed + 2) : Vec{};
  Shape ys;
  Vec want = ref_conv(x, xs, w, ws, b, p, &ys);
  std::vector<In> ins{{"x", xs, x}, {"w", ws, w}};
  if (bias) ins.push_back({"b", {ws[0]}, b});
  for (Mode mode : {Mode::kFloat, Mode::kExact}) {
    SCOPED_TRACE(mode_name(mode));
    expect_equal(run_op("Conv", ins, conv_attrs(p), mode), ys, want);
  }
}

TEST(Conv, Plain2dWithBias) {
  Conv2 p;
  p.pt = p.pl = p.pb = p.pr = 1;
  check_conv({2, 3, 5, 6}, {4, 3, 3, 3}, true, p, 1);
}

TEST(Conv, GroupsStridesAsymmetricPadsDilations) {
  Conv2 p;
  p.group = 2;
  p.sh = 2;
  p.sw = 1;
  p.dh = 2;
  p.dw = 1;
  p.pt = 0;
  p.pl = 1;
  p.pb = 1;
  p.pr = 2;
  check_conv({1, 4, 7, 6}, {6, 2, 2, 3}, true, p, 11);
}

TEST(Conv, Depthwise) {
  Conv2 p;
  p.group = 3;
  p.dh = p.dw = 2;
  p.pt = p.pl = p.pb = p.pr = 2;
  check_conv({2, 3, 6, 5}, {3, 1, 3, 3}, false, p, 21);
  // Channel multiplier 2: each input channel feeds two outputs.
  check_conv({1, 3, 4, 4}, {6, 1, 2, 2}, true, p, 22);
}

TEST(Conv, KernelShapeMayBeGivenAndMustMatch) {
  Vec x = data(16, 3), w = data(4, 4);
  std::vector<In> ins{{"x", {1, 1, 4, 4}, x}, {"w", {1, 1, 2, 2}, w}};
  Shape ys;
  Vec want = ref_conv(x, {1, 1, 4, 4}, w, {1, 1, 2, 2}, {}, Conv2{}, &ys);
  expect_equal(run_op("Conv", ins, {{"kernel_shape", aints({2, 2})}}, Mode::kExact), ys, want);
  EXPECT_THROW(run_op("Conv", ins, {{"kernel_shape", aints({3, 3})}}, Mode::kExact), Error);
}

// auto_pad resolved by the ONNX formulas: out = ceil(in / s) for SAME, pads
// split with the odd element at the end (SAME_UPPER) or the begin (SAME_LOWER).
TEST(Conv, EveryAutoPad) {
  const Shape xs{1, 2, 5, 6}, ws{3, 2, 3, 2};
  Vec x = data(count(xs), 31), w = data(count(ws), 32);
  std::vector<In> ins{{"x", xs, x}, {"w", ws, w}};
  for (const char* mode_s : {"NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"}) {
    SCOPED_TRACE(mode_s);
    const std::string ap = mode_s;
    Conv2 p;
    p.sh = p.sw = 2;
    if (ap == "NOTSET") p.pt = p.pl = p.pb = p.pr = 1;
    if (ap.rfind("SAME", 0) == 0) {
      auto split = [&](int64_t in, int64_t k, int64_t s, int64_t* b, int64_t* e) {
        const int64_t out = (in + s - 1) / s;
        const int64_t need = std::max<int64_t>(0, (out - 1) * s + k - in);
        *b = ap == "SAME_UPPER" ? need / 2 : need - need / 2;
        *e = need - *b;
      };
      split(5, 3, 2, &p.pt, &p.pb);
      split(6, 2, 2, &p.pl, &p.pr);
    }
    Shape ys;
    Vec want = ref_conv(x, xs, w, ws, {}, p, &ys);
    Attrs a{{"strides", aints({2, 2})}, {"auto_pad", as(ap)}};
    if (ap == "NOTSET") a["pads"] = aints({1, 1, 1, 1});
    for (Mode mode : {Mode::kFloat, Mode::kExact})
      expect_equal(run_op("Conv", ins, a, mode), ys, want);
  }
}

TEST(Conv, OneDimensional) {
  Conv2 p;
  p.sw = 2;
  p.dw = 2;
  p.pl = 1;
  p.pr = 0;
  const Shape xs{2, 2, 9}, ws{3, 2, 3};
  Vec x = data(count(xs), 41), w = data(count(ws), 42), b = data(3, 43);
  Shape ys;
  Vec want = ref_conv(x, {2, 2, 1, 9}, w, {3, 2, 1, 3}, b, p, &ys);
  std::vector<In> ins{{"x", xs, x}, {"w", ws, w}, {"b", {3}, b}};
  for (Mode mode : {Mode::kFloat, Mode::kExact}) {
    expect_equal(run_op("Conv", ins, conv_attrs(p, true), mode), {ys[0], ys[1], ys[3]}, want);
  }
}

TEST(Conv, ThreeDimensionalMatchesOnnxruntime) {
  // x = 1..24 as (1, 1, 2, 3, 4), w = 1..8 as (1, 1, 2, 2, 2), pads 1 on the last axis,
  // strides (1, 1, 2); expected printed by onnxruntime 1.32.
  Vec x(24), w(8);
  for (size_t i = 0; i < 24; ++i) x[i] = static_cast<double>(i + 1);
  for (size_t i = 0; i < 8; ++i) w[i] = static_cast<double>(i + 1);
  std::vector<In> ins{{"x", {1, 1, 2, 3, 4}, x}, {"w", {1, 1, 2, 2, 2}, w}};
  Attrs a{{"pads", aints({0, 0, 1, 0, 0, 1})}, {"strides", aints({1, 1, 2})}};
  Vec want{236, 492, 248, 316, 636, 312};
  for (Mode mode : {Mode::kFloat, Mode::kExact}) {
    expect_equal(run_op("Conv", ins, a, mode), {1, 1, 1, 2, 3}, want);
  }
}

// 2^60 + 1 - 2^60: float mode sums in double and loses the 1; exact mode keeps it
// (i128 accumulator: the aligned operands need 61 + 1 bits plus the sum's 2).
TEST(Conv, ExactModeKeepsWhatDoubleLoses) {
  const double big = std::ldexp(1.0, 60);
  std::vector<In> ins{{"x", {1, 1, 3}, {big, 1, -big}}, {"w", {1, 1, 3}, {1, 1, 1}}};
  expect_equal(run_op("Conv", ins, {}, Mode::kExact), {1, 1, 1}, {1});
  expect_equal(run_op("Conv", ins, {}, Mode::kFloat), {1, 1, 1}, {0});
}

// Arbitrary float32 operands spread over 2^spread (or 16-bit integers times such
// floats): the exact kernel picks a double, int64 or i128 accumulator from the
// operands' widths (each of the three is taken here); each output must be the
// true sum (computed here with Exact in a naive loop) rounded once to float32.
TEST(Conv, ExactModeIsTheTrueSumForArbitraryFloats) {
  const Shape xs{1, 4, 5, 5}, ws{4, 2, 3, 3};
  Conv2 p;
  p.group = 2;
  p.pt = p.pl = p.pb = p.pr = 1;
  std::mt19937 rng(7);
  std::normal_distribution<float> nd;
  std::uniform_int_distribution<int> wide(-32768, 32767);
  for (int spread : {-1, 0, 8, 16}) {  // -1: 16-bit integer activations
    SCOPED_TRACE(spread);
    std::uniform_int_distribution<int> ed(0, spread < 0 ? 8 : spread);
    auto make = [&](size_t n) {
      Vec v(n);
      for (double& e : v) e = std::ldexp(nd(rng), ed(rng));  // float32 values
      return v;
    };
    Vec x = make(count(xs)), w = make(count(ws)), b = make(4);
    if (spread < 0) {
      for (double& v : x) v = wide(rng);
    }
    auto exact = [](const Vec& v) {
      std::vector<Exact> e;
      for (double d : v) e.push_back(Exact::from_double(d));
      return e;
    };
    Shape ys;
    std::vector<Exact> want = ref_conv_t<Exact>(exact(x), xs, exact(w), ws, exact(b), p, &ys);
    Vec want_f;
    for (const Exact& e : want) want_f.push_back(e.to_float());
    expect_equal(
        run_op("Conv", {{"x", xs, x}, {"w", ws, w}, {"b", {4}, b}}, conv_attrs(p), Mode::kExact),
        ys, want_f);
  }
}

// Per-channel weight scales (different odd mantissas per output channel) on
// integer activations times one scale: the common factors come out per row.
// (Short mantissas keep q * s exact in float32, as for power-of-two-like scales.)
TEST(Conv, ExactModeWithPerChannelScales) {
  const Shape xs{2, 3, 4, 4}, ws{3, 3, 2, 2};
  const double sx = 3.0 / 128, sw[3] = {5.0 / 64, 7.0 / 1024, 9.0 / 16384};
  std::mt19937 rng(9);
  std::uniform_int_distribution<int> q(-128, 127);
  Vec x(count(xs)), w(count(ws));
  for (double& v : x) v = static_cast<float>(q(rng) * sx);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(q(rng) * sw[i / 12]);
  std::vector<Exact> xe, we;
  for (double d : x) xe.push_back(Exact::from_double(d));
  for (double d : w) we.push_back(Exact::from_double(d));
  Shape ys;
  std::vector<Exact> want = ref_conv_t<Exact>(xe, xs, we, ws, {}, Conv2{}, &ys);
  Vec want_f;
  for (const Exact& e : want) want_f.push_back(e.to_float());
  expect_equal(run_op("Conv", {{"x", xs, x}, {"w", ws, w}}, {}, Mode::kExact), ys, want_f);
}

// AveragePool over 3 gives thirds (odd denominators, the Exact path of Conv);
// a Conv with weight 3 and a tiny bias brings back the exact integer sums.
TEST(Conv, OddDenominatorsCancelInExactMode) {
  Vec x{1, 2, 4, 8, 16, 32, 64};
  std::vector<In> ins{{"x", {1, 1, 7}, x}, {"w", {1, 1, 1}, {3}}, {"b", {1}, {0.5}}};
  Graph g = make_graph(ins,
                       {{"AveragePool", {"x"}, {"a"}, {{"kernel_shape", aints({3})}}, ""},
                        {"Conv", {"a", "w", "b"}, {"y"}, {}, ""}},
                       {"y"});
  Vec want{7.5, 14.5, 28.5, 56.5, 112.5};
  expect_equal(run(g, ins, Mode::kExact).at("y"), {1, 1, 5}, want);
}

TEST(Conv, InfinityTimesZeroIsNaN) {
  const double inf = INFINITY;
  std::vector<In> ins{{"x", {1, 1, 3}, {inf, 1, 2}}, {"w", {1, 1, 2}, {0, 1}}};
  for (Mode mode : {Mode::kFloat, Mode::kExact}) {
    Tensor y = run_op("Conv", ins, {}, mode);
    EXPECT_TRUE(std::isnan(y.f32()[0]));
    EXPECT_EQ(y.f32()[1], 2.0f);
  }
}

TEST(Conv, RejectsBadGroupsAndAutoPad) {
  std::vector<In> ins{{"x", {1, 3, 4, 4}, data(48, 5)}, {"w", {2, 3, 1, 1}, data(6, 6)}};
  EXPECT_THROW(run_op("Conv", ins, {{"group", ai(3)}}, Mode::kFloat), Error);
  EXPECT_THROW(run_op("Conv", ins, {{"auto_pad", as("SAME")}}, Mode::kFloat), Error);
  try {
    run_op("Conv", ins, {{"pads", aints({1, 1})}}, Mode::kFloat);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("pads"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("n0"), std::string::npos) << e.what();
  }
}

// ---- ConvTranspose ------------------------------------------------------------

TEST(ConvTranspose, GroupsStridesDilationsOutputPadding) {
  const Shape xs{2, 4, 3, 2}, ws{4, 3, 2, 3};  // group 2: M = 3 * 2
  Vec x = data(count(xs), 51), w = data(count(ws), 52), b = data(6, 53);
  const int64_t sh = 2, sw = 3, dh = 1, dw = 2, pt = 1, pl = 0, pb = 0, pr = 2, oph = 1, opw = 1;
  const int64_t OH = (3 - 1) * sh + (2 - 1) * dh + 1 + oph - pt - pb;
  const int64_t OW = (2 - 1) * sw + (3 - 1) * dw + 1 + opw - pl - pr;
  Vec want = ref_conv_transpose(x, xs, w, ws, b, 2, sh, sw, dh, dw, pt, pl, OH, OW);
  std::vector<In> ins{{"x", xs, x}, {"w", ws, w}, {"b", {6}, b}};
  Attrs a{{"group", ai(2)},
          {"strides", aints({sh, sw})},
          {"dilations", aints({dh, dw})},
          {"pads", aints({pt, pl, pb, pr})},
          {"output_padding", aints({oph, opw})}};
  for (Mode mode : {Mode::kFloat, Mode::kExact}) {
    expect_equal(run_op("ConvTranspose", ins, a, mode), {2, 6, OH, OW}, want);
  }
}

// x = 1..5, w = (1, 10, 100): output_shape and auto_pad choose where the full
// output is cropped; expected vectors printed by onnxruntime 1.32.
TEST(ConvTranspose, OutputShapeAndAutoPadMatchOnnxruntime) {
  std::vector<In> ins{{"x", {1, 1, 5}, {1, 2, 3, 4, 5}}, {"w", {1, 1, 3}, {1, 10, 100}}};
  // Full output of stride 2, output_padding 1 (length 12), for cropping.
  Vec full = ref_conv_transpose({1, 2, 3, 4, 5}, {1, 1, 1, 5}, {1, 10, 100}, {1, 1, 1, 3}, {}, 1, 1,
                                2, 1, 1, 0, 0, 1, 12);
  auto crop = [&](size_t head, size_t len) {
    return Vec(full.begin() + static_cast<std::ptrdiff_t>(head),
               full.begin() + static_cast<std::ptrdiff_t>(head + len));
  };
  struct Case {
    const char* auto_pad;
    int64_t out_shape;  // 0: none
    size_t len, head;   // onnxruntime's output length and crop offset
  };
  const Case cases[] = {{"NOTSET", 0, 9, 1},     {"NOTSET", 9, 9, 2},      {"NOTSET", 10, 10, 1},
                        {"VALID", 0, 12, 0},     {"VALID", 9, 9, 2},       {"SAME_UPPER", 0, 10, 1},
                        {"SAME_UPPER", 9, 9, 1}, {"SAME_LOWER", 0, 10, 1}, {"SAME_LOWER", 9, 9, 2}};
  for (const Case& k : cases) {
    SCOPED_TRACE(std::string(k.auto_pad) + " " + std::to_string(k.out_shape));
    Attrs a{{"strides", aints({2})}, {"output_padding", aints({1})}, {"auto_pad", as(k.auto_pad)}};
    if (std::string(k.auto_pad) == "NOTSET") a["pads"] = aints({1, 2});
    if (k.out_shape) a["output_shape"] = aints({k.out_shape});
    for (Mode mode : {Mode::kFloat, Mode::kExact}) {
      expect_equal(run_op("ConvTranspose", ins, a, mode), {1, 1, static_cast<int64_t>(k.len)},
                   crop(k.head, k.len));
    }
  }
  // SAME pads toward in * stride, but a shorter full output stays unpadded (kernel 1: 9, not 10).
  for (Mode mode : {Mode::kFloat, Mode::kExact}) {
    Attrs a{{"strides", aints({2})}, {"auto_pad", as("SAME_UPPER")}};
    expect_equal(run_op("ConvTranspose", {ins[0], {"w", {1, 1, 1}, {3}}}, a, mode), {1, 1, 9},
                 {3, 0, 6, 0, 9, 0, 12, 0, 15});
  }
  // Onnxruntime: [1, 10, 102, 20, 203, 30, 304, 40, 405, 50, 500, 0] is the full output.
  EXPECT_EQ(full, (Vec{1, 10, 102, 20, 203, 30, 304, 40, 405, 50, 500, 0}));
}

// ---- pooling -------------------------------------------------------------------

void check_pool(const Shape& xs, const Pool2& p, unsigned seed) {
  Vec x = data(count(xs), seed);
  Shape ys;
  Vec want = ref_pool(x, xs, p, &ys);
  Attrs a{{"kernel_shape", aints({p.kh, p.kw})},
          {"strides", aints({p.sh, p.sw})},
          {"dilations", aints({p.dh, p.dw})},
          {"pads", aints({p.pt, p.pl, p.pb, p.pr})},
          {"ceil_mode", ai(p.ceil)}};
  if (!p.max) a["count_include_pad"] = ai(p.include_pad);
  for (Mode mode : {Mode::kFloat, Mode::kExact}) {
    SCOPED_TRACE(mode_name(mode));
    expect_equal(run_op(p.max ? "MaxPool" : "AveragePool", {{"x", xs, x}}, a, mode), ys, want);
  }
}

TEST(Pool, MaxPoolCeilModePadsStridesDilations) {
  Pool2 p;
  p.max = true;
  p.kh = 3;
  p.kw = 2;
  p.sh = 2;
  p.sw = 2;
  p.pt = 1;
  p.pl = 1;
  p.pb = 1;
  p.pr = 0;
  for (bool ceil : {false, true}) {
    p.ceil = ceil;
    check_pool({2, 3, 7, 6}, p, 61);
  }
  p.dh = 2;
  p.ceil = true;
  check_pool({1, 2, 8, 7}, p, 62);
}

TEST(Pool, AveragePoolCountIncludePadAndCeilMode) {
  Pool2 p;
  p.kh = p.kw = 3;
  p.sh = p.sw = 2;
  p.pt = p.pl = p.pb = p.pr = 1;
  for (bool ceil : {false, true}) {
    for (bool inc : {false, true}) {
      p.ceil = ceil;
      p.include_pad = inc;
      check_pool({1, 2, 6, 5}, p, 71);  // averages over 9, 6 and 4: odd denominators
    }
  }
  Pool2 q;  // ceil_mode windows running past the end padding
  q.kh = q.kw = 2;
  q.sh = q.sw = 2;
  q.ceil = true;
  q.include_pad = true;
  check_pool({1, 1, 5, 5}, q, 72);
  q.dw = 2;
  q.pl = q.pr = 1;
  check_pool({1, 1, 5, 6}, q, 73);
}

// Printed by onnxruntime 1.32 for x = 1..25 as (1, 1, 5, 5).
TEST(Pool, CeilModeMatchesOnnxruntime) {
  Vec x(25);
  for (size_t i = 0; i < 25; ++i) x[i] = static_cast<double>(i + 1);
  std::vector<In> ins{{"x", {1, 1, 5, 5}, x}};
  Attrs a{{"kernel_shape", aints({2, 2})},
          {"strides", aints({2, 2})},
          {"pads", aints({1, 1, 1, 1})},
          {"ceil_mode", ai(1)}};
  for (Mode mode : {Mode::kFloat, Mode::kExact}) {
    // ONNX's formula gives 4x4; onnxruntime drops the window starting in the padding.
    expect_equal(run_op("MaxPool", ins, a, mode), {1, 1, 3, 3}, {1, 3, 5, 11, 13, 15, 21, 23, 25});
    Attrs b{{"kernel_shape", aints({2, 2})},
            {"strides", aints({2, 2})},
            {"ceil_mode", ai(1)},
            {"count_include_pad", ai(1)}};
    expect_equal(run_op("AveragePool", ins, b, mode), {1, 1, 3, 3},
                 {4, 6, 7.5, 14, 16, 17.5, 21.5, 23.5, 25});
  }
}

TEST(Pool, AutoPadMatchesOnnxruntime) {
  std::vector<In> ins{{"x", {1, 1, 6}, {1, 2, 3, 4, 5, 6}}};
  for (Mode mode : {Mode::kFloat, Mode::kExact}) {
    Attrs a{{"kernel_shape", aints({3})},
            {"strides", aints({2})},
            {"count_include_pad", ai(1)},
            {"auto_pad", as("SAME_UPPER")}};
    Tensor y = run_op("AveragePool", ins, a, mode);
    expect_equal(y, {1, 1, 3}, {2, 4, 11.0 / 3.0});
    a["auto_pad"] = as("SAME_LOWER");
    expect_equal(run_op("AveragePool", ins, a, mode), {1, 1, 3}, {1, 3, 5});
    a["auto_pad"] = as("VALID");
    expect_equal(run_op("AveragePool", ins, a, mode), {1, 1, 2}, {2, 4});
    // Stride above kernel: onnxruntime's negative SAME padding skips inputs.
    Attrs n{{"kernel_shape", aints({1})}, {"strides", aints({3})}, {"auto_pad", as("SAME_UPPER")}};
    expect_equal(run_op("AveragePool", ins, n, mode), {1, 1, 2}, {2, 5});
    n["auto_pad"] = as("SAME_LOWER");
    expect_equal(run_op("AveragePool", ins, n, mode), {1, 1, 2}, {1, 4});
    // onnxruntime computes SAME pads from the undilated kernel.
    Attrs m{
        {"kernel_shape", aints({2})}, {"dilations", aints({2})}, {"auto_pad", as("SAME_UPPER")}};
    expect_equal(run_op("MaxPool", ins, m, mode), {1, 1, 5}, {3, 4, 5, 6, 5});
  }
}

TEST(Pool, MaxPoolIndices) {
  // Onnxruntime: values and flat indices; storage_order 1 counts column-major.
  Vec x{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3};  // (1, 2, 3, 3)
  std::vector<In> ins{{"x", {1, 2, 3, 3}, x}};
  for (int64_t order : {0, 1}) {
    Attrs a{{"kernel_shape", aints({2, 2})}, {"storage_order", ai(order)}};
    Graph g = make_graph(ins, {{"MaxPool", {"x"}, {"y", "i"}, a, ""}}, {"y", "i"});
    for (Mode mode : {Mode::kFloat, Mode::kExact}) {
      TensorMap out = run(g, ins, mode);
      expect_equal(out.at("y"), {1, 2, 2, 2}, {5, 9, 6, 9, 9, 9, 9, 9});
      const Tensor& i = out.at("i");
      ASSERT_EQ(i.type(), ElemType::kInt64);
      std::vector<int64_t> want = order == 0 ? std::vector<int64_t>{4, 5, 7, 5, 12, 14, 12, 14}
                                             : std::vector<int64_t>{4, 7, 5, 7, 10, 16, 10, 16};
      EXPECT_EQ(i.i64(), want);
    }
  }
}

TEST(Pool, GlobalPools) {
  const Shape xs{2, 3, 3, 3};
  Vec x = data(count(xs), 81);
  Vec avg, mx;
  for (size_t pl = 0; pl < 6; ++pl) {
    double s = 0, m = -INFINITY;
    for (size_t i = 0; i < 9; ++i) {
      s += x[pl * 9 + i];
      m = std::max(m, x[pl * 9 + i]);
    }
    avg.push_back(s / 9);
    mx.push_back(m);
  }
  for (Mode mode : {Mode::kFloat, Mode::kExact}) {
    expect_equal(run_op("GlobalAveragePool", {{"x", xs, x}}, {}, mode), {2, 3, 1, 1}, avg);
    expect_equal(run_op("GlobalMaxPool", {{"x", xs, x}}, {}, mode), {2, 3, 1, 1}, mx);
  }
}

// An average over 9 is a ninth in exact mode; times 9 it is the integer window sum
// again. In float mode the ninth is rounded first, and some sums come back off.
TEST(Pool, AverageIsExactInExactMode) {
  const Shape xs{1, 1, 5, 5};
  Vec x(25);
  for (size_t i = 0; i < 25; ++i) x[i] = static_cast<double>((i * 7919) % 101) + 0.25;
  std::vector<In> ins{{"x", xs, x}, {"w", {1, 1, 1, 1}, {9}}};
  Graph g = make_graph(ins,
                       {{"AveragePool", {"x"}, {"a"}, {{"kernel_shape", aints({3, 3})}}, ""},
                        {"Conv", {"a", "w"}, {"y"}, {}, ""}},
                       {"y"});
  Pool2 p;
  p.kh = p.kw = 3;
  Shape ys;
  Vec sums = ref_pool(x, xs, p, &ys);
  for (double& s : sums) s *= 9;  // the exact window sums (a multiple of 1/4)
  expect_equal(run(g, ins, Mode::kExact).at("y"), ys, sums);
}

// ---- channels-last wrappers -----------------------------------------------------

Vec to_last(const Vec& v, const Shape& s) {  // (N, C, rest) -> (N, rest, C)
  const size_t n = static_cast<size_t>(s[0]), c = static_cast<size_t>(s[1]);
  const size_t inner = count(s) / (n * c);
  Vec out(v.size());
  for (size_t b = 0; b < n; ++b)
    for (size_t k = 0; k < c; ++k)
      for (size_t i = 0; i < inner; ++i) out[(b * inner + i) * c + k] = v[(b * c + k) * inner + i];
  return out;
}

Shape last_shape(const Shape& s) {
  Shape r{s[0]};
  r.insert(r.end(), s.begin() + 2, s.end());
  r.push_back(s[1]);
  return r;
}

const char* kChannelsLast = "qonnx.custom_op.channels_last";

TEST(ChannelsLast, ConvTransposesInputWeightAndOutput) {
  const Shape xs{2, 4, 5, 6}, ws{6, 2, 3, 2};
  Vec x = data(count(xs), 91), w = data(count(ws), 92), b = data(6, 93);
  Conv2 p;
  p.group = 2;
  p.sh = 2;
  p.pt = p.pb = 1;
  p.pl = 0;
  p.pr = 1;
  Shape ys;
  Vec want = to_last(ref_conv(x, xs, w, ws, b, p, &ys), ys);
  Attrs a = conv_attrs(p);
  a["kernel_shape"] = aints({3, 2});
  std::vector<In> ins{
      {"x", last_shape(xs), to_last(x, xs)}, {"w", last_shape(ws), to_last(w, ws)}, {"b", {6}, b}};
  for (Mode mode : {Mode::kFloat, Mode::kExact}) {
    expect_equal(run_op("Conv", ins, a, mode, kChannelsLast), last_shape(ys), want);
  }
}

TEST(ChannelsLast, MaxPool) {
  const Shape xs{1, 3, 5, 4};
  Vec x = data(count(xs), 94);
  Pool2 p;
  p.max = true;
  p.kh = p.kw = 2;
  p.sh = p.sw = 2;
  p.pt = p.pl = p.pb = p.pr = 1;
  Shape ys;
  Vec want = to_last(ref_pool(x, xs, p, &ys), ys);
  Attrs a{
      {"kernel_shape", aints({2, 2})}, {"strides", aints({2, 2})}, {"pads", aints({1, 1, 1, 1})}};
  for (Mode mode : {Mode::kFloat, Mode::kExact}) {
    expect_equal(run_op("MaxPool", {{"x", last_shape(xs), to_last(x, xs)}}, a, mode, kChannelsLast),
                 last_shape(ys), want);
  }
}

// The wrapper must mean exactly what the NCHW op means on transposed data.
TEST(ChannelsLast, BatchNormalizationEqualsNchwOp) {
  const Shape xs{2, 3, 2, 2};
  Vec x = data(count(xs), 95);
  Vec scale{0.5, 1.25, -2}, bias{0.25, -1, 3}, mean{0.5, -0.25, 1}, var{1, 0.3, 2.5};
  std::vector<In> nchw{
      {"x", xs, x}, {"s", {3}, scale}, {"b", {3}, bias}, {"m", {3}, mean}, {"v", {3}, var}};
  std::vector<In> nhwc = nchw;
  nhwc[0] = {"x", last_shape(xs), to_last(x, xs)};
  Attrs a{{"epsilon", af(1e-3f)}, {"momentum", af(0.9f)}};
  for (Mode mode : {Mode::kFloat, Mode::kExact}) {
    Tensor ref = run_op("BatchNormalization", nchw, {{"epsilon", af(1e-3f)}}, mode);
    Vec want(ref.f32().begin(), ref.f32().end());
    expect_equal(run_op("BatchNormalization", nhwc, a, mode, kChannelsLast), last_shape(xs),
                 to_last(want, xs));
  }
}

}  // namespace
}  // namespace bitsmith
