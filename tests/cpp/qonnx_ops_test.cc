// QONNX quantization ops other than Quant (bipolar_quant.cc, trunc.cc,
// float_quant.cc, multithreshold.cc) on hand-built one-node graphs, in float and
// exact mode. Expected values are worked out by hand in the comments (the core
// functions they call were also checked against qonnx's numpy code bit for bit).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/exact.h"
#include "ir/graph.h"
#include "op_test_util.h"
#include "ops/registry.h"
#include "runtime/session.h"

namespace bitsmith {
namespace {

constexpr const char* kDomain = "qonnx.custom_op.general";
const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

Tensor sf(float v) {
  return Tensor::scalar_f32(v);
}
Tensor si(int64_t v) {
  return Tensor::scalar_i64(v);
}

// One QONNX node "y = op(x, params...)"; parameters are initializers p1, p2, ...
struct QGraph {
  Graph g;
  Node* n = nullptr;
  QGraph(const std::string& op, Shape x_shape, std::vector<Tensor> params, int version = 1) {
    g.source = "test.onnx";
    g.opsets[""] = 13;
    g.opsets[kDomain] = version;
    g.inputs.push_back(graph_input("x", std::move(x_shape)));
    Node node;
    node.name = "q";
    node.op_type = op;
    node.domain = kDomain;
    node.version = version;
    node.inputs = {"x"};
    for (size_t i = 0; i < params.size(); ++i) {
      std::string name = "p" + std::to_string(i + 1);
      g.initializers[name] = std::move(params[i]);
      node.inputs.push_back(name);
    }
    node.outputs = {"y"};
    g.nodes.push_back(node);
    n = &g.nodes.back();
    g.outputs.push_back(graph_output("y"));
  }
  QGraph& attr(const std::string& key, Attribute a) {
    n->attrs[key] = std::move(a);
    return *this;
  }
  std::vector<float> run(const Tensor& x, Mode mode, bool allow_nan = false) {
    Graph copy = g;
    verify(copy);
    TensorMap feeds;
    feeds["x"] = x;
    TensorMap out = execute(copy, feeds, RunOptions{mode, false, allow_nan});
    return out.at("y").f32();
  }
  std::string error(const Tensor& x, Mode mode) {
    return error_text([&] { run(x, mode); });
  }
  DataType dtype() {
    Graph copy = g;
    verify(copy);
    infer_shapes_and_types(copy);
    return copy.value_info.at("y").dtype;
  }
};

void expect_both(QGraph& q, const Tensor& x, const std::vector<float>& want) {
  expect_same(q.run(x, Mode::kFloat), want);
  expect_same(q.run(x, Mode::kExact), want);
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// ---------------------------------------------------------------- BipolarQuant

TEST(BipolarQuant, SignTimesScale) {
  QGraph q("BipolarQuant", {6}, {sf(0.5f)});
  // Zero (either sign) maps to +1.
  expect_both(q, f32({-2, -0.0f, 0, 0.3f, -1e-30f, 5}), {-0.5f, 0.5f, 0.5f, 0.5f, -0.5f, 0.5f});
}

TEST(BipolarQuant, PerChannelScaleBroadcasts) {
  QGraph q("BipolarQuant", {2, 3}, {f32({2, 1}, {1, 0.25f})});
  expect_both(q, f32({2, 3}, {-1, 2, 0, 3, -4, 0}), {-1, 1, 1, 0.25f, -0.25f, 0.25f});
}

TEST(BipolarQuant, NaNFollowsTheReferenceInFloatModeOnly) {
  QGraph q("BipolarQuant", {2}, {sf(2)});
  // np.where(NaN >= 0, 1, -1) is -1; exact mode keeps NaN.
  expect_same(q.run(f32({kNaN, 1}), Mode::kFloat, true), {-2, 2});
  expect_same(q.run(f32({kNaN, 1}), Mode::kExact, true), {kNaN, 2});
}

TEST(BipolarQuant, OutputType) {
  EXPECT_EQ(QGraph("BipolarQuant", {2}, {sf(1)}).dtype(), DataType::bipolar());
  EXPECT_EQ(QGraph("BipolarQuant", {2}, {sf(0.5f)}).dtype(), DataType::float32());
}

// ---------------------------------------------------------------- Trunc

TEST(Trunc, V1DropsBitsAndKeepsTheScale) {
  // x/1 + 0 rounded, then / 2^(8-4): 200 -> 12.5, -200 -> -12.5, 13 -> 0.8125, 40 -> 2.5.
  QGraph floor("Trunc", {4}, {sf(1), sf(0), sf(8), sf(4)});
  expect_both(floor, f32({200, -200, 13, 40}), {12, -13, 0, 2});
  QGraph half_up("Trunc", {4}, {sf(1), sf(0), sf(8), sf(4)});
  half_up.attr("rounding_mode", as("HALF_UP"));
  expect_both(half_up, f32({200, -200, 13, 40}), {13, -13, 1, 3});
  QGraph even("Trunc", {4}, {sf(1), sf(0), sf(8), sf(4)});
  even.attr("rounding_mode", as("round"));
  expect_both(even, f32({200, -200, 13, 40}), {12, -12, 1, 2});
}

TEST(Trunc, V1WithScaleAndZeroPoint) {
  // s = 0.25, z = 1, 6 -> 4 bits (divide by 4), FLOOR:
  //  3.3 -> 13.2 + 1 = 14.2 -> 14 -> 3.5 -> 3 -> (3 - 1) * 0.25 = 0.5
  // -1.2 -> -4.8 + 1 = -3.8 -> -4 -> -1 -> -1 -> -0.5
  //   10 -> 41 -> 10.25 -> 10 -> 2.25
  QGraph q("Trunc", {3}, {sf(0.25f), sf(1), sf(6), sf(4)});
  expect_both(q, f32({3.3f, -1.2f, 10}), {0.5f, -0.5f, 2.25f});
  // int64 parameters (numpy then works in float64) give the same values here.
  QGraph w("Trunc", {3}, {sf(0.25f), si(1), si(6), si(4)});
  expect_both(w, f32({3.3f, -1.2f, 10}), {0.5f, -0.5f, 2.25f});
}

TEST(Trunc, V2ClampsAndRescales) {
  // s = 1, out_scale 16 -> k = 16, INT4 [-8, 7], FLOOR:
  // 200 -> 12.5 -> 7 -> 112; -300 -> -18.75 -> -8 -> -128; 37 -> 2.3125 -> 2 -> 32;
  // -20 -> -1.25 -> -2 -> -32.
  QGraph q("Trunc", {4}, {sf(1), sf(0), sf(8), sf(16), sf(4)}, 2);
  q.attr("signed", ai(1)).attr("narrow", ai(0)).attr("rounding_mode", as("FLOOR"));
  expect_both(q, f32({200, -300, 37, -20}), {112, -128, 32, -32});
  // UINT4 narrow [0, 14]: 12.5 -> 12 -> 192; -18.75 -> 0; 2.3125 -> 2; -1.25 -> 0.
  QGraph u("Trunc", {4}, {sf(1), sf(0), sf(8), sf(16), sf(4)}, 2);
  u.attr("signed", ai(0)).attr("narrow", ai(1));
  expect_both(u, f32({200, -300, 37, -20}), {192, 0, 32, 0});
  // Infinity clamps in v2.
  expect_both(q, f32({kInf, -kInf, 0, 1}), {112, -128, 0, 0});
}

TEST(Trunc, V2NonPowerOfTwoScaleRatio) {
  // out_scale / scale = 23 -> k = 2^round(log2 23 = 4.52) = 32; y = q * 23.
  // 100 -> 3.125 -> 3 -> 69; 64 -> 2 -> 46.
  QGraph q("Trunc", {2}, {sf(1), sf(0), sf(8), sf(23), sf(8)}, 2);
  expect_both(q, f32({100, 64}), {69, 46});
}

TEST(Trunc, SixInputsMeanV2WhateverTheVersion) {
  QGraph q("Trunc", {1}, {sf(1), sf(0), sf(8), sf(16), sf(4)}, 1);
  expect_both(q, f32({200}), {112});
}

TEST(Trunc, FiveInputsUnderV2IsAnError) {
  QGraph q("Trunc", {1}, {sf(1), sf(0), sf(8), sf(4)}, 2);
  std::string msg = q.error(f32({200}), Mode::kFloat);
  EXPECT_TRUE(contains(msg, "6 inputs")) << msg;
  EXPECT_TRUE(contains(msg, "node 'q'")) << msg;
  EXPECT_TRUE(contains(q.error(f32({200}), Mode::kExact), "6 inputs"));
}

TEST(Trunc, BadParametersAreErrors) {
  QGraph frac("Trunc", {1}, {sf(1), sf(0), sf(8.5f), sf(4)});
  EXPECT_TRUE(contains(frac.error(f32({1}), Mode::kFloat), "in_bitwidth"));
  QGraph mode("Trunc", {1}, {sf(1), sf(0), sf(8), sf(4)});
  mode.attr("rounding_mode", as("NEAREST"));
  EXPECT_TRUE(contains(mode.error(f32({1}), Mode::kExact), "NEAREST"));
  QGraph neg("Trunc", {1}, {sf(1), sf(0), sf(8), sf(-16), sf(4)}, 2);
  EXPECT_TRUE(contains(neg.error(f32({1}), Mode::kExact), "out_scale"));
}

TEST(Trunc, OutputTypes) {
  QGraph v1("Trunc", {1}, {sf(1), sf(0), sf(8), sf(4)});
  EXPECT_EQ(v1.dtype(), DataType::integer(4, true));
  QGraph v1s("Trunc", {1}, {sf(0.5f), sf(0), sf(8), sf(4)});
  EXPECT_EQ(v1s.dtype(), DataType::scaled_int(4));
  QGraph v2("Trunc", {1}, {sf(16), sf(0), sf(8), sf(1), sf(4)}, 2);
  v2.attr("signed", ai(0));
  EXPECT_EQ(v2.dtype(), DataType::integer(4, false));
  QGraph v2s("Trunc", {1}, {sf(1), sf(0), sf(8), sf(16), sf(4)}, 2);
  EXPECT_EQ(v2s.dtype(), DataType::scaled_int(4));
}

// ---------------------------------------------------------------- FloatQuant

// E4M3 with the OCP maximum 448: s, E, M, bias, max_val.
std::vector<Tensor> e4m3(float scale = 1) {
  return {sf(scale), sf(4), sf(3), sf(7), sf(448)};
}

TEST(FloatQuant, E4M3) {
  QGraph q("FloatQuant", {9}, e4m3());
  // 0.3 -> e = -5: 9.6 -> 10 -> 0.3125; 17 -> e = 1: 8.5 -> 8 (even) -> 16;
  // 19 -> 9.5 -> 10 -> 20; 460 -> 14.375 -> 448; 470 -> 15 -> 480 -> 448;
  // 2^-9 * 1.4 (subnormal range, e = -9) -> 1 -> 2^-9; 2^-11 -> 0.25 -> 0.
  expect_both(
      q, f32({0.3f, -0.3f, 17, 19, 460, 470, -1e6f, std::ldexp(1.4f, -9), std::ldexp(1.0f, -11)}),
      {0.3125f, -0.3125f, 16, 20, 448, 448, -448, std::ldexp(1.0f, -9), 0});
}

TEST(FloatQuant, ScaleDividesFirst) {
  // u = x / 0.5: 0.3 -> 0.6 -> e = -4: 9.6 -> 10 -> 0.625 -> 0.3125; 300 -> 600 -> 448 -> 224.
  QGraph q("FloatQuant", {2}, e4m3(0.5f));
  expect_both(q, f32({0.3f, 300}), {0.3125f, 224});
}

TEST(FloatQuant, OverflowWithoutSaturation) {
  QGraph inf("FloatQuant", {3}, e4m3());
  inf.attr("saturation", ai(0)).attr("has_inf", ai(1));
  expect_both(inf, f32({470, -470, 460}), {kInf, -kInf, 448});
  QGraph nan("FloatQuant", {3}, e4m3());
  nan.attr("saturation", ai(0)).attr("has_nan", ai(1));
  expect_both(nan, f32({470, -470, 460}), {kNaN, kNaN, 448});
  QGraph none("FloatQuant", {1}, e4m3());
  none.attr("saturation", ai(0));
  EXPECT_TRUE(contains(none.error(f32({1}), Mode::kFloat), "saturation"));
  EXPECT_TRUE(contains(none.error(f32({1}), Mode::kExact), "saturation"));
}

TEST(FloatQuant, InfinityBecomesNaN) {
  QGraph q("FloatQuant", {3}, e4m3());
  expect_both(q, f32({kInf, -kInf, 1}), {kNaN, kNaN, 1});
}

TEST(FloatQuant, Float32Log2QuirkInFloatModeOnly) {
  // 7.9999995 with FLOOR: the reference's float32 log2 rounds up to 3, so it uses
  // e = 0 and gives floor(7.9999995) = 7; the true exponent gives e = -1 and
  // floor(15.999999) * 0.5 = 7.5.
  float x = std::nextafter(8.0f, 0.0f);
  QGraph q("FloatQuant", {1}, e4m3());
  q.attr("rounding_mode", as("FLOOR"));
  expect_same(q.run(f32({x}), Mode::kFloat), {7});
  expect_same(q.run(f32({x}), Mode::kExact), {7.5f});
  // An int64 scale makes numpy work in float64, where log2 is right: 7.5 there too.
  QGraph w("FloatQuant", {1}, {si(1), sf(4), sf(3), sf(7), sf(448)});
  w.attr("rounding_mode", as("FLOOR"));
  expect_same(w.run(f32({x}), Mode::kFloat), {7.5f});
}

TEST(FloatQuant, OutputType) {
  EXPECT_EQ(QGraph("FloatQuant", {1}, e4m3()).dtype(), DataType::minifloat(4, 3, 7));
  EXPECT_EQ(QGraph("FloatQuant", {1}, e4m3(0.5f)).dtype(), DataType::float32());
}

// ---------------------------------------------------------------- MultiThreshold

TEST(MultiThreshold, CountsPerChannelNCHW) {
  // Channel 0 thresholds {0, 1, 2}; channel 1 {2.5, 0.5, 1.5} (unsorted). x >= T counts.
  QGraph q("MultiThreshold", {1, 2, 2, 2}, {f32({2, 3}, {0, 1, 2, 2.5f, 0.5f, 1.5f})});
  q.attr("out_dtype", as("UINT2"));
  expect_both(q, f32({1, 2, 2, 2}, {-1, 0, 1.5f, 5, 0.5f, 1.49f, 2.5f, 3}),
              {0, 1, 2, 3, 1, 1, 3, 3});
}

TEST(MultiThreshold, ScaleBiasAndGlobalThresholds) {
  // One row for every channel; y = 0.5 * n - 1.
  QGraph q("MultiThreshold", {1, 3}, {f32({1, 3}, {-1, 0, 1})});
  q.attr("out_scale", af(0.5f)).attr("out_bias", af(-1));
  expect_both(q, f32({1, 3}, {-5, 0, 1}), {-1, 0, 0.5f});
}

TEST(MultiThreshold, LayoutPicksTheChannelAxis) {
  // Rank 3 with no layout is NWC: the channel is the last axis (size 2).
  QGraph nwc("MultiThreshold", {1, 3, 2}, {f32({2, 1}, {0, 10})});
  expect_both(nwc, f32({1, 3, 2}, {5, 5, -1, 10, 0, 9}), {1, 0, 0, 1, 1, 0});
  // NHWC given explicitly on rank 4.
  QGraph nhwc("MultiThreshold", {1, 1, 2, 2}, {f32({2, 1}, {0, 10})});
  nhwc.attr("data_layout", as("NHWC"));
  expect_both(nhwc, f32({1, 1, 2, 2}, {5, 5, 10, 10}), {1, 0, 1, 1});
  // Rank 4 with no layout is NCHW: channel axis 1 has size 1 -> shape mismatch.
  QGraph bad("MultiThreshold", {1, 1, 2, 2}, {f32({2, 1}, {0, 10})});
  std::string msg = bad.error(f32({1, 1, 2, 2}, {5, 5, 10, 10}), Mode::kFloat);
  EXPECT_TRUE(contains(msg, "channels")) << msg;
}

TEST(MultiThreshold, NaNInputsAndThresholds) {
  QGraph q("MultiThreshold", {1, 2}, {f32({1, 3}, {0, kNaN, 1})});
  // A NaN threshold is never reached; a NaN input reaches none.
  expect_same(q.run(f32({1, 2}, {kNaN, 1}), Mode::kFloat, true), {0, 2});
  expect_same(q.run(f32({1, 2}, {kNaN, 1}), Mode::kExact, true), {0, 2});
}

TEST(MultiThreshold, AffineStepRoundsTwiceInFloatModeOnly) {
  QGraph q("MultiThreshold", {1, 1}, {f32({1, 3}, {0, 1, 2})});
  q.attr("out_scale", af(0.1f)).attr("out_bias", af(-0.3f));
  // n = 3. numpy: float32(0.1f * 3) = 0.3f exactly cancels -0.3f, giving 0; the exact
  // value 3 * 0.1f - 0.3f is -2^-27 = -7.45e-9 (0.1f is 0.1 + 1.49e-9, 0.3f is
  // 0.3 + 1.19e-8).
  volatile float prod = 0.1f * 3.0f;
  float want_float = prod + -0.3f;
  Exact exact = Exact::from_double(0.1f) * Exact::from_int(3) + Exact::from_double(-0.3f);
  EXPECT_EQ(want_float, 0.0f);
  EXPECT_EQ(exact, Exact::make(-1, 1, -27));
  expect_same(q.run(f32({1, 1}, {5}), Mode::kFloat), {want_float});
  expect_same(q.run(f32({1, 1}, {5}), Mode::kExact), {exact.to_float()});
}

TEST(MultiThreshold, OutputType) {
  QGraph q("MultiThreshold", {1, 2}, {f32({1, 3}, {0, 1, 2})});
  q.attr("out_dtype", as("UINT2"));
  EXPECT_EQ(q.dtype(), DataType::integer(2, false));
  q.attr("out_bias", af(-2));
  q.attr("out_dtype", as("INT2"));
  EXPECT_EQ(q.dtype(), DataType::integer(2, true));
  q.attr("out_scale", af(0.5f));
  EXPECT_EQ(q.dtype(), DataType::float32());
}

}  // namespace
}  // namespace bitsmith
