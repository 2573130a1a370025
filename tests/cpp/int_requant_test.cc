// Integer requantization: round_div against the exact rounding of quantize.h, the
// IntRequant parameters, and small lowered graphs (IntRequant, IntSumPool, Concat
// alignment) against the reference executor, output bits compared with ==.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "core/quantize.h"
#include "op_test_util.h"
#include "passes/lower.h"
#include "passes/requant_params.h"
#include "runtime/session.h"

namespace bitsmith {
namespace {

const RoundingMode kModes[] = {
    RoundingMode::kHalfEven, RoundingMode::kHalfUp, RoundingMode::kHalfDown, RoundingMode::kCeil,
    RoundingMode::kFloor,    RoundingMode::kUp,     RoundingMode::kDown};

Exact ratio(i128 n, i128 d) {
  return Exact::from_int(n) / Exact::from_int(d);
}

TEST(RoundDiv, EqualsExactRoundingOverASweep) {
  for (RoundingMode m : kModes) {
    for (int64_t den = 1; den <= 12; ++den) {
      for (int64_t num = -60; num <= 60; ++num) {
        ASSERT_EQ(round_div(num, den, m), round_exact(ratio(num, den), m))
            << rounding_mode_name(m) << " " << num << "/" << den;
      }
    }
  }
}

TEST(RoundDiv, TiesAndHugeOperands) {
  EXPECT_EQ(round_div(5, 2, RoundingMode::kHalfEven), 2);
  EXPECT_EQ(round_div(-5, 2, RoundingMode::kHalfEven), -2);
  EXPECT_EQ(round_div(-5, 2, RoundingMode::kHalfUp), -3);
  EXPECT_EQ(round_div(-5, 2, RoundingMode::kHalfDown), -2);
  EXPECT_EQ(round_div(-7, 2, RoundingMode::kHalfEven), -4);
  EXPECT_EQ(round_div(-1, 3, RoundingMode::kUp), -1);
  EXPECT_EQ(round_div(-1, 3, RoundingMode::kDown), 0);
  std::mt19937_64 rng(3);
  for (int i = 0; i < 2000; ++i) {
    // Numerators up to 2^120 and divisors up to 2^62 (IntRequant's products and divisors).
    i128 num = (i128{static_cast<int64_t>(rng())} << 56) + static_cast<int64_t>(rng() >> 8);
    i128 den = static_cast<int64_t>(rng() >> (2 + rng() % 60)) + 1;
    if (i % 3 == 0) num = (num / den) * den + (den / 2) * (i % 2 ? 1 : -1);  // near ties
    for (RoundingMode m : kModes) {
      ASSERT_EQ(round_div(num, den, m), round_exact(ratio(num, den), m)) << rounding_mode_name(m);
    }
  }
  EXPECT_THROW(round_div(1, 0, RoundingMode::kFloor), Error);
}

TEST(RequantParams, SmallestExactIntegers) {
  std::string why;
  // t = (3/4) acc + 5/6 = (9 acc + 10) / 12.
  auto p = requant_params(ratio(3, 4), ratio(5, 6), &why);
  ASSERT_TRUE(p) << why;
  EXPECT_EQ(p->multiplier, 9);
  EXPECT_EQ(p->addend, 10);
  EXPECT_EQ(p->divisor, 12);
  EXPECT_EQ(p->bias, 0);
  // t = acc / 3 - 7/2 = (2 acc + 3 - 5 * 6) / 6: the integer part of the offset is the bias.
  p = requant_params(ratio(1, 3), ratio(-7, 2), &why);
  ASSERT_TRUE(p) << why;
  EXPECT_EQ(p->multiplier, 2);
  EXPECT_EQ(p->addend, 3);
  EXPECT_EQ(p->divisor, 6);
  EXPECT_EQ(p->bias, -4);
  // An offset of 2^40 over a divisor of 2^40: 2^80 as addend would not fit int64.
  p = requant_params(Exact::from_int(1).ldexp(-40), Exact::from_int(1).ldexp(40), &why);
  ASSERT_TRUE(p) << why;
  EXPECT_EQ(p->addend, 0);
  EXPECT_EQ(p->bias, int64_t{1} << 40);
  // A power-of-two slope: a shift.
  p = requant_params(Exact::from_int(3).ldexp(-20), Exact::from_int(0), &why);
  ASSERT_TRUE(p) << why;
  EXPECT_EQ(p->divisor, int64_t{1} << 20);
  EXPECT_FALSE(requant_params(Exact::from_int(1).ldexp(-70), Exact::from_int(0), &why));
  EXPECT_EQ(signed_bits(0), 1);
  EXPECT_EQ(signed_bits(-1), 1);
  EXPECT_EQ(signed_bits(127), 8);
  EXPECT_EQ(signed_bits(-128), 8);
  EXPECT_EQ(signed_bits(128), 9);
}

// ---- small graphs, lowered and run against the reference

const char* kQ = "qonnx.custom_op.general";

struct G {
  Graph g;
  int k = 0;
  G() {
    g.source = "int_requant_test.onnx";
    g.opsets[""] = 19;
  }
  G& input(const std::string& name, Shape s) {
    g.inputs.push_back(graph_input(name, std::move(s)));
    return *this;
  }
  G& init(const std::string& name, Tensor t) {
    g.initializers[name] = std::move(t);
    return *this;
  }
  G& node(const std::string& type, std::vector<std::string> ins, std::vector<std::string> outs,
          Attrs attrs = {}, const std::string& domain = "") {
    Node n;
    n.name = "n" + std::to_string(k++);
    n.op_type = type;
    n.domain = domain;
    n.inputs = std::move(ins);
    n.outputs = std::move(outs);
    n.attrs = std::move(attrs);
    g.nodes.push_back(std::move(n));
    return *this;
  }
  // Quant with scalar scale / zero point / bits given as initializers named after `out`.
  G& quant(const std::string& in, const std::string& out, Tensor scale, float zp, int bits,
           bool sgn, bool narrow = false, const std::string& mode = "ROUND") {
    init(out + "_s", std::move(scale));
    init(out + "_z", f32({}, {zp}));
    init(out + "_b", f32({}, {static_cast<float>(bits)}));
    return node("Quant", {in, out + "_s", out + "_z", out + "_b"}, {out},
                {{"signed", ai(sgn)}, {"narrow", ai(narrow)}, {"rounding_mode", as(mode)}}, kQ);
  }
  Graph done(const std::string& out) {
    g.outputs.push_back(graph_output(out));
    verify(g);
    infer_shapes_and_types(g);
    return g;
  }
};

int count_ops(const Graph& g, const std::string& op) {
  int n = 0;
  for (const Node& node : g.nodes) n += node.op_type == op;
  return n;
}

// Lowers with the given threshold limit and compares both graphs on random inputs
// (normal, scaled by `spread` so clamps and every rounding case are reached).
Graph check_lowered(const Graph& ref, int64_t max_levels, float spread, int batch = 64) {
  LowerOptions o;
  o.max_threshold_levels = max_levels;
  LowerReport report;
  auto low = lower_to_integers(ref, o, &report);
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, spread);
  for (int rep = 0; rep < 3; ++rep) {
    TensorMap feeds;
    for (const auto& in : ref.inputs) {
      Shape s = in.shape;
      s[0] = batch;
      Tensor t(ElemType::kFloat32, s);
      for (auto& x : t.f32()) x = normal(rng);
      feeds[in.name] = std::move(t);
    }
    RunOptions opt;
    TensorMap want = execute(ref, feeds, opt);
    TensorMap got = execute(*low, feeds, opt);
    for (const auto& [name, t] : want) {
      EXPECT_EQ(got.at(name).f32(), t.f32()) << name;
      std::set<float> distinct(t.f32().begin(), t.f32().end());
      EXPECT_GE(distinct.size(), 4u) << "inputs too narrow to test " << name;
    }
  }
  std::string text;
  for (const auto& l : report.lowered) text += "lowered: " + l + "\n";
  for (const auto& l : report.left) text += "left: " + l + "\n";
  low->name = text;  // the report travels with the graph for the callers' messages
  return *low;
}

TEST(IntRequant, WideQuantizerAfterAGemmEqualsTheReference) {
  for (const char* mode : {"ROUND", "HALF_UP", "HALF_DOWN", "CEIL", "FLOOR", "UP", "DOWN"}) {
    for (bool sgn : {false, true}) {
      G b;
      b.input("x", {1, 5});
      b.quant("x", "xq", f32({}, {0.0371f}), 0.0f, 8, true);
      b.init("w", f32({5, 3}, {0.25f, -0.5f, 0.125f, 0.75f, 1.0f, -0.375f, 0.5f, 0.3f, -0.2f, -1.0f,
                               0.0625f, 0.9f, 0.1f, -0.7f, 0.45f}));
      b.init("bias", f32({3}, {0.013f, -0.2f, 0.07f}));
      b.node("MatMul", {"xq", "w"}, {"mm"});
      b.node("Add", {"mm", "bias"}, {"add"});
      b.node("Relu", {"add"}, {"relu"});
      b.quant("relu", "y", f32({}, {0.00123f}), sgn ? 3.0f : 0.0f, 12, sgn, sgn, mode);
      Graph ref = b.done("y");
      Graph low = check_lowered(ref, 256, 2.0f);
      EXPECT_EQ(count_ops(low, "IntRequant"), 1) << mode << "\n" << low.name;
      // Forced for every quantizer size.
      low = check_lowered(ref, 0, 2.0f);
      EXPECT_EQ(count_ops(low, "IntRequant"), 1) << mode << "\n" << low.name;
    }
  }
}

TEST(IntRequant, PerChannelConvWithClipEqualsTheReference) {
  G b;
  b.input("x", {1, 2, 5, 5});
  b.quant("x", "xq", f32({}, {0.05f}), 0.0f, 6, true);
  std::vector<float> w(3 * 2 * 3 * 3);
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = static_cast<float>(static_cast<int>(i * 7 % 11) - 5) / 8.0f;
  b.init("w", f32({3, 2, 3, 3}, w));
  b.init("mul", f32({1, 3, 1, 1}, {0.7f, -1.3f, 2.1f}));
  b.init("lo", f32({}, {-0.4f}));
  b.init("hi", f32({}, {1.7f}));
  b.node("Conv", {"xq", "w"}, {"conv"}, {{"pads", aints({1, 1, 1, 1})}});
  b.node("Mul", {"conv", "mul"}, {"mul_out"});
  b.node("Clip", {"mul_out", "lo", "hi"}, {"clip"});
  b.quant("clip", "y", f32({1, 3, 1, 1}, {0.001f, 0.0013f, 0.0007f}), 0.0f, 11, true, false,
          "HALF_UP");
  Graph ref = b.done("y");
  Graph low = check_lowered(ref, 256, 3.0f, 4);
  EXPECT_EQ(count_ops(low, "IntRequant"), 1) << low.name;
}

TEST(IntRequant, NonAffineChainIsRefusedWithAMessage) {
  G b;
  b.input("x", {1, 4});
  b.quant("x", "xq", f32({}, {0.1f}), 0.0f, 8, true);
  b.init("w", f32({4, 2}, {0.5f, 0.25f, -0.5f, 1.0f, 0.75f, -0.25f, 0.125f, 0.5f}));
  b.init("m", f32({}, {3.0f}));
  b.node("MatMul", {"xq", "w"}, {"mm"});
  b.node("Relu", {"mm"}, {"r"});
  b.node("Mul", {"r", "m"}, {"rm"});  // affine after Relu: not a clamp of the level
  b.quant("rm", "y", f32({}, {0.001f}), 0.0f, 12, false);
  Graph ref = b.done("y");
  Graph low = check_lowered(ref, 256, 2.0f);
  EXPECT_EQ(count_ops(low, "IntRequant"), 0);
  EXPECT_NE(low.name.find("neither affine nor Relu/Clip"), std::string::npos) << low.name;
}

// The trunc_avgpool zoo pattern: Quant -> AveragePool -> Trunc (v2) -> Quant becomes
// window sums of the levels and thresholds; GlobalAveragePool likewise.
TEST(IntSumPool, AveragePoolTruncQuantEqualsTheReference) {
  for (bool global : {false, true}) {
    G b;
    b.g.opsets[kQ] = 2;
    b.input("x", {1, 2, 6, 6});
    b.quant("x", "xq", f32({}, {0.0452f}), 0.0f, 8, true);
    std::vector<float> w(3 * 2 * 3 * 3);
    for (size_t i = 0; i < w.size(); ++i)
      w[i] = static_cast<float>(static_cast<int>(i * 5 % 13) - 6) * 0.0268f;
    b.init("w", f32({3, 2, 3, 3}, w));
    b.node("Conv", {"xq", "w"}, {"conv"}, {{"pads", aints({1, 1, 1, 1})}});
    b.node("Relu", {"conv"}, {"relu"});
    const float s = 0.051391225f;
    b.quant("relu", "a", f32({}, {s}), 0.0f, 6, false);
    if (global) {
      b.node("GlobalAveragePool", {"a"}, {"pool"});
    } else {
      b.node("AveragePool", {"a"}, {"pool"},
             {{"kernel_shape", aints({2, 2})}, {"strides", aints({2, 2})}});
    }
    b.init("ts", f32({}, {s / 4}))
        .init("tz", f32({}, {0.0f}))
        .init("tib", f32({}, {8.0f}))
        .init("tos", f32({}, {s}))
        .init("tob", f32({}, {6.0f}));
    b.node("Trunc", {"pool", "ts", "tz", "tib", "tos", "tob"}, {"trunc"},
           {{"signed", ai(0)}, {"narrow", ai(0)}, {"rounding_mode", as("ROUND")}}, kQ);
    b.quant(global ? "pool" : "trunc", "y", f32({}, {0.0116f}), 0.0f, 8, true);
    if (global) b.g.nodes.erase(b.g.nodes.end() - 2);  // GlobalAveragePool -> Quant directly
    Graph ref = b.done("y");
    Graph low = check_lowered(ref, 256, 2.0f, 8);
    EXPECT_EQ(count_ops(low, "IntSumPool"), 1) << low.name;
    EXPECT_EQ(count_ops(low, "IntThreshold"), 1) << low.name;
    EXPECT_EQ(low.name.find("left"), std::string::npos) << low.name;
    // With IntRequant forced, the Trunc (not affine) keeps the pooled chain on the
    // reference path (for the AveragePool), while the sums stay integer.
    low = check_lowered(ref, 0, 2.0f, 8);
    EXPECT_EQ(count_ops(low, "IntSumPool"), 1) << low.name;
  }
}

// Padded average pooling: with count_include_pad = 1 the padded taps read the level
// of real 0 (a nonzero zero point here); without it the border windows average fewer
// taps, which is refused with a reason.
TEST(IntSumPool, PaddingCountsRealZero) {
  for (int64_t include : {1, 0}) {
    G b;
    b.input("x", {1, 2, 5, 6});
    b.quant("x", "a", f32({}, {0.07f}), 5.0f, 6, false);
    b.node("AveragePool", {"a"}, {"pool"},
           {{"kernel_shape", aints({3, 3})},
            {"strides", aints({2, 1})},
            {"pads", aints({1, 1, 1, 0})},
            {"count_include_pad", ai(include)}});
    b.quant("pool", "y", f32({}, {0.013f}), 0.0f, 7, true, false, "HALF_DOWN");
    Graph ref = b.done("y");
    Graph low = check_lowered(ref, 256, 2.0f, 8);
    if (include) {
      EXPECT_EQ(count_ops(low, "IntSumPool"), 1) << low.name;
      EXPECT_EQ(low.name.find("left"), std::string::npos) << low.name;
    } else {
      EXPECT_NE(low.name.find("without count_include_pad"), std::string::npos) << low.name;
    }
  }
}

// TruncAvgPool at the end of a CNN: the Trunc is the quantizer of the pooled sums, and
// its levels feed Flatten and a linear layer.
TEST(IntSumPool, TruncWithoutQuantIsTheQuantizer) {
  G b;
  b.g.opsets[kQ] = 2;
  b.input("x", {1, 3, 4, 4});
  const float s = 0.0625f * 1.3f;
  b.quant("x", "a", f32({}, {s}), 0.0f, 5, false);
  b.node("AveragePool", {"a"}, {"pool"},
         {{"kernel_shape", aints({2, 2})}, {"strides", aints({2, 2})}});
  b.init("ts", f32({}, {s / 4}))
      .init("tz", f32({}, {0.0f}))
      .init("tib", f32({}, {7.0f}))
      .init("tos", f32({}, {s}))
      .init("tob", f32({}, {5.0f}));
  b.node("Trunc", {"pool", "ts", "tz", "tib", "tos", "tob"}, {"trunc"},
         {{"signed", ai(0)}, {"narrow", ai(0)}, {"rounding_mode", as("FLOOR")}}, kQ);
  b.node("Flatten", {"trunc"}, {"flat"});
  std::vector<float> w(12 * 2);
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = static_cast<float>(static_cast<int>(i * 5 % 9) - 4) * 0.125f;
  b.init("w", f32({12, 2}, w));
  b.node("MatMul", {"flat", "w"}, {"mm"});
  b.quant("mm", "y", f32({}, {0.05f}), 0.0f, 8, true);
  Graph ref = b.done("y");
  Graph low = check_lowered(ref, 256, 2.0f, 16);
  EXPECT_EQ(count_ops(low, "IntSumPool"), 1) << low.name;
  EXPECT_EQ(count_ops(low, "IntLinear"), 1) << low.name;
  EXPECT_EQ(low.name.find("left"), std::string::npos) << low.name;
}

// Pooling a per-channel twin (a layer requantized with per-channel scales).
TEST(IntSumPool, PerChannelScalesPoolPerChannel) {
  G b;
  b.input("x", {1, 2, 5, 5});
  b.quant("x", "xq", f32({}, {0.05f}), 0.0f, 8, true);
  std::vector<float> w(3 * 2 * 3 * 3);
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = static_cast<float>(static_cast<int>(i * 5 % 13) - 6) * 0.03f;
  b.init("w", f32({3, 2, 3, 3}, w));
  b.node("Conv", {"xq", "w"}, {"conv"}, {{"pads", aints({1, 1, 1, 1})}});
  b.quant("conv", "a", f32({1, 3, 1, 1}, {0.05f, 0.0731f, 0.11f}), 0.0f, 6, true);
  b.node("GlobalAveragePool", {"a"}, {"pool"});
  b.quant("pool", "y", f32({}, {0.0123f}), 0.0f, 8, true);
  Graph ref = b.done("y");
  Graph low = check_lowered(ref, 256, 2.0f, 16);
  EXPECT_EQ(count_ops(low, "IntSumPool"), 1) << low.name;
  EXPECT_EQ(count_ops(low, "IntThreshold"), 1) << low.name;
  EXPECT_EQ(low.name.find("left"), std::string::npos) << low.name;
}

// The concat zoo pattern: two branches quantized with different scales, joined on the
// channel axis and fed to a convolution.
TEST(IntConcat, DifferentScalesAlignToTheirGcd) {
  for (bool same_offset : {true, false}) {
    G b;
    b.input("x", {1, 2, 5, 5});
    b.quant("x", "xa", f32({}, {0.096633680f}), 0.0f, 6, true);
    b.init("two", f32({}, {2.0f}));
    b.node("Mul", {"x", "two"}, {"x2"});
    b.quant("x2", "xb", f32({}, {0.114647478f}), same_offset ? 0.0f : 3.0f, 6, true);
    b.node("Concat", {"xa", "xb"}, {"cat"}, {{"axis", ai(1)}});
    std::vector<float> w(2 * 4 * 3 * 3);
    for (size_t i = 0; i < w.size(); ++i)
      w[i] = static_cast<float>(static_cast<int>(i * 7 % 15) - 7) * 0.0206f;
    b.init("w", f32({2, 4, 3, 3}, w));
    b.node("Conv", {"cat", "w"}, {"conv"});
    b.node("Relu", {"conv"}, {"relu"});
    b.quant("relu", "y", f32({}, {0.1066f}), 0.0f, 4, false);
    Graph ref = b.done("y");
    Graph low = check_lowered(ref, 256, 2.0f, 8);
    if (same_offset) {
      EXPECT_EQ(count_ops(low, "IntScale"), 2) << low.name;
      EXPECT_EQ(count_ops(low, "IntLinear"), 1) << low.name;
      EXPECT_EQ(low.name.find("left"), std::string::npos) << low.name;
    } else {
      EXPECT_NE(low.name.find("offsets (zero point times scale) differ"), std::string::npos)
          << low.name;
    }
  }
}

// ConvTranspose (strides, pads, output_padding, groups, 1-D and 2-D, a nonzero input
// zero point and a per-channel chain that decreases in some channels).
TEST(IntConvTranspose, EqualsTheReference) {
  struct Case {
    bool one_d;
    int64_t group;
    float zp;
    int bits;
  };
  for (const Case& k : {Case{false, 1, 0.0f, 6}, Case{false, 2, 3.0f, 4}, Case{true, 1, -2.0f, 6},
                        Case{false, 1, 0.0f, 12}}) {
    G b;
    const int64_t cin = 4, cg = k.group == 1 ? 3 : 2, taps = k.one_d ? 3 : 9;
    b.input("x", k.one_d ? Shape{1, cin, 7} : Shape{1, cin, 4, 5});
    b.quant("x", "xq", f32({}, {0.0452f}), k.zp, 8, true);
    std::vector<float> w(static_cast<size_t>(cin * cg * taps));
    for (size_t i = 0; i < w.size(); ++i)
      w[i] = static_cast<float>(static_cast<int>(i * 7 % 15) - 7) * 0.0238f;
    b.init("w", f32(k.one_d ? Shape{cin, cg, 3} : Shape{cin, cg, 3, 3}, w));
    const int64_t cout = cg * k.group;
    std::vector<float> bias, mul;
    for (int64_t o = 0; o < cout; ++o) {
      bias.push_back(0.031f * static_cast<float>(o) - 0.05f);
      mul.push_back(o % 2 ? -1.5f : 0.75f);
    }
    b.init("bias", f32({cout}, bias));
    b.init("mul", f32(k.one_d ? Shape{1, cout, 1} : Shape{1, cout, 1, 1}, mul));
    Attrs a = {{"strides", k.one_d ? aints({2}) : aints({2, 2})},
               {"pads", k.one_d ? aints({1, 0}) : aints({1, 1, 0, 1})},
               {"output_padding", k.one_d ? aints({1}) : aints({1, 0})},
               {"group", ai(k.group)}};
    b.node("ConvTranspose", {"xq", "w", "bias"}, {"ct"}, a);
    b.node("Mul", {"ct", "mul"}, {"m"});
    b.quant("m", "y", f32({}, {0.0687f / (k.bits > 8 ? 64 : 1)}), 0.0f, k.bits, true);
    Graph ref = b.done("y");
    Graph low = check_lowered(ref, 256, 2.0f, 8);
    EXPECT_EQ(count_ops(low, "IntConvTranspose"), 1) << low.name;
    EXPECT_EQ(count_ops(low, k.bits > 8 ? "IntRequant" : "IntThreshold"), 1) << low.name;
    EXPECT_EQ(low.name.find("left"), std::string::npos) << low.name;
  }
}

// A sweep of transposed-convolution geometries (strides, dilations, pads,
// output_padding below the stride or dilation, groups) on 1-D inputs, where every
// combination is cheap; the 2-D index arithmetic is the same per axis.
TEST(IntConvTranspose, GeometrySweepEqualsTheReference) {
  int checked = 0;
  for (int64_t stride : {1, 2, 3})
    for (int64_t dil : {1, 2})
      for (int64_t p0 : {0, 1, 2})
        for (int64_t p1 : {0, 2})
          for (int64_t opad : {0, 1})
            for (int64_t group : {1, 2}) {
              if (opad >= std::max(stride, dil)) continue;  // ONNX requires it smaller
              G b;
              b.input("x", {1, 2, 5});
              b.quant("x", "xq", f32({}, {0.1f}), 1.0f, 4, true);
              std::vector<float> w(2 * 2 * 3);
              for (size_t i = 0; i < w.size(); ++i)
                w[i] = static_cast<float>(static_cast<int>(i * 5 % 7) - 3) * 0.25f;
              b.init("w", f32({2, 2, 3}, w));
              b.node("ConvTranspose", {"xq", "w"}, {"ct"},
                     {{"strides", aints({stride})},
                      {"dilations", aints({dil})},
                      {"pads", aints({p0, p1})},
                      {"output_padding", aints({opad})},
                      {"group", ai(group)}});
              b.quant("ct", "y", f32({}, {0.07f}), 0.0f, 5, true);
              Graph ref = b.done("y");
              Graph low = check_lowered(ref, 256, 1.0f, 8);
              ASSERT_EQ(count_ops(low, "IntConvTranspose"), 1) << low.name;
              ++checked;
            }
  EXPECT_GT(checked, 100);
}

}  // namespace
}  // namespace bitsmith
