// Data-movement ops (shape_ops.cc, pad.cc, resize.cc, depth_to_space.cc) on
// hand-built graphs. Expected values for Pad, Resize, DepthToSpace and Slice were
// produced by onnxruntime 1.32 on the same inputs (arange data, so each value
// names the input element it came from).
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <numeric>
#include <string>

#include "ir/graph.h"
#include "op_test_util.h"
#include "ops/registry.h"
#include "runtime/session.h"

namespace bitsmith {
namespace {

Tensor arange(Shape shape) {
  Tensor t(ElemType::kFloat32, shape);
  std::iota(t.f32().begin(), t.f32().end(), 0.0f);
  return t;
}

// A one-input graph builder: input "x" of a declared shape, nodes, outputs.
struct TestGraph {
  Graph g;
  explicit TestGraph(Shape x_shape, ElemType elem = ElemType::kFloat32) {
    g.source = "test.onnx";
    g.opsets[""] = 13;
    g.inputs.push_back(graph_input("x", std::move(x_shape), elem));
  }
  Node& node(const std::string& op, std::vector<std::string> ins, std::vector<std::string> outs,
             int version = 13) {
    Node n;
    n.name = outs.empty() ? op : outs[0];
    n.op_type = op;
    n.version = version;
    n.inputs = std::move(ins);
    n.outputs = std::move(outs);
    g.nodes.push_back(n);
    return g.nodes.back();
  }
  void init(const std::string& name, Tensor t) { g.initializers[name] = std::move(t); }
  void output(const std::string& name) { g.outputs.push_back(graph_output(name)); }
  TensorMap run(Tensor x, Mode mode = Mode::kFloat) {
    verify(g);
    TensorMap feeds;
    feeds["x"] = std::move(x);
    return execute(g, feeds, RunOptions{mode, false, false});
  }
};

// Runs a one-node graph in both modes, checks they agree, returns the float result.
Tensor run_both(TestGraph& t, const Tensor& x, const std::string& out = "y") {
  t.output(out);
  TensorMap f = t.run(x, Mode::kFloat);
  TensorMap e = t.run(x, Mode::kExact);
  EXPECT_EQ(f.at(out).shape(), e.at(out).shape());
  EXPECT_EQ(f.at(out).type(), e.at(out).type());
  EXPECT_EQ(f.at(out).f32(), e.at(out).f32());
  EXPECT_EQ(f.at(out).i64(), e.at(out).i64());
  return f.at(out);
}

std::string error_of(TestGraph& t, const Tensor& x, Mode mode = Mode::kFloat) {
  return error_text([&] { t.run(x, mode); });
}

// ------------------------------------------------------------ Reshape

TEST(ShapeOps, ReshapeMinusOneAndZero) {
  TestGraph t({2, 3, 4});
  t.init("s", i64({0, -1, 2}));
  t.node("Reshape", {"x", "s"}, {"y"});
  Tensor y = run_both(t, arange({2, 3, 4}));
  EXPECT_EQ(y.shape(), (Shape{2, 6, 2}));
  EXPECT_EQ(y.f32(), arange({24}).f32());
}

TEST(ShapeOps, ReshapeAllowZeroKeepsLiteralZero) {
  TestGraph t({0, 3});
  t.init("s", i64({3, 0}));
  t.node("Reshape", {"x", "s"}, {"y"}, 14).attrs["allowzero"] = ai(1);
  Tensor y = run_both(t, Tensor(ElemType::kFloat32, {0, 3}));
  EXPECT_EQ(y.shape(), (Shape{3, 0}));
}

TEST(ShapeOps, ReshapeOpset1ShapeAttribute) {
  TestGraph t({2, 6});
  t.node("Reshape", {"x"}, {"y"}, 1).attrs["shape"] = aints({3, 4});
  EXPECT_EQ(run_both(t, arange({2, 6})).shape(), (Shape{3, 4}));
}

TEST(ShapeOps, ReshapeBatchRuleUsesRunBatch) {
  // The file declares batch 1 and hard-codes it in the target (1, -1).
  TestGraph t({1, 3, 4});
  t.init("s", i64({1, -1}));
  t.node("Reshape", {"x", "s"}, {"y"});
  Tensor y = run_both(t, arange({5, 3, 4}));
  EXPECT_EQ(y.shape(), (Shape{5, 12}));
  EXPECT_EQ(y.f32(), arange({60}).f32());
}

TEST(ShapeOps, ReshapeBatchRuleWithoutMinusOne) {
  TestGraph t({1, 2, 6});
  t.init("s", i64({1, 3, 4}));
  t.node("Reshape", {"x", "s"}, {"y"});
  EXPECT_EQ(run_both(t, arange({5, 2, 6})).shape(), (Shape{5, 3, 4}));
  // At the declared batch nothing changes.
  TestGraph u({1, 2, 6});
  u.init("s", i64({1, 3, 4}));
  u.node("Reshape", {"x", "s"}, {"y"});
  EXPECT_EQ(run_both(u, arange({1, 2, 6})).shape(), (Shape{1, 3, 4}));
}

TEST(ShapeOps, ReshapeBatchRuleLeavesConstantsAlone) {
  // A (5, 4) initializer reshaped to (1, 20) is no batch, even when the run batch is 5.
  TestGraph t({1, 4});
  t.init("w", arange({5, 4}));
  t.init("s", i64({1, 20}));
  t.node("Reshape", {"w", "s"}, {"y"});
  t.node("Reshape", {"x", "s4"}, {"z"});
  t.init("s4", i64({-1}));
  t.output("z");
  t.output("y");
  TensorMap out = t.run(arange({5, 4}));
  EXPECT_EQ(out.at("y").shape(), (Shape{1, 20}));
  EXPECT_EQ(out.at("z").shape(), (Shape{20}));
}

TEST(ShapeOps, BadReshapeNamesTheNode) {
  TestGraph t({2, 3});
  t.init("s", i64({4, 2}));
  t.node("Reshape", {"x", "s"}, {"flat"});
  t.output("flat");
  std::string msg = error_of(t, arange({2, 3}));
  EXPECT_NE(msg.find("test.onnx"), std::string::npos) << msg;
  EXPECT_NE(msg.find("node 'flat' (Reshape)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("to [4, 2]"), std::string::npos) << msg;
}

TEST(ShapeOps, ReshapeTwoMinusOnesFails) {
  TestGraph t({2, 3});
  t.init("s", i64({-1, -1}));
  t.node("Reshape", {"x", "s"}, {"y"});
  t.output("y");
  EXPECT_NE(error_of(t, arange({2, 3})).find("more than one -1"), std::string::npos);
}

// ------------------------------------------------------------ Flatten / Transpose

TEST(ShapeOps, FlattenAxes) {
  for (int64_t axis : {2, -2}) {
    TestGraph t({2, 3, 4, 5});
    t.node("Flatten", {"x"}, {"y"}).attrs["axis"] = ai(axis);
    EXPECT_EQ(run_both(t, arange({2, 3, 4, 5})).shape(), (Shape{6, 20}));
  }
  TestGraph t({2, 3, 4});
  t.node("Flatten", {"x"}, {"y"}).attrs["axis"] = ai(0);
  EXPECT_EQ(run_both(t, arange({2, 3, 4})).shape(), (Shape{1, 24}));
}

TEST(ShapeOps, TransposeDefaultReverses) {
  TestGraph t({2, 3});
  t.node("Transpose", {"x"}, {"y"});
  Tensor y = run_both(t, arange({2, 3}));
  EXPECT_EQ(y.shape(), (Shape{3, 2}));
  EXPECT_EQ(y.f32(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
}

TEST(ShapeOps, TransposePerm) {
  TestGraph t({2, 3, 4});
  t.node("Transpose", {"x"}, {"y"}).attrs["perm"] = aints({1, 2, 0});
  Tensor y = run_both(t, arange({2, 3, 4}));
  EXPECT_EQ(y.shape(), (Shape{3, 4, 2}));
  // y[i][j][k] = x[k][i][j]
  EXPECT_EQ(y.f32()[0 * 8 + 1 * 2 + 1], 12 + 1);
  EXPECT_EQ(y.f32()[2 * 8 + 3 * 2 + 0], 2 * 4 + 3);
}

TEST(ShapeOps, TransposeBadPermNamesNode) {
  TestGraph t({2, 3});
  t.node("Transpose", {"x"}, {"tr"}).attrs["perm"] = aints({0, 0});
  t.output("tr");
  EXPECT_NE(error_of(t, arange({2, 3})).find("node 'tr'"), std::string::npos);
}

// ------------------------------------------------------------ Squeeze / Unsqueeze

TEST(ShapeOps, SqueezeUnsqueezeAttributeForm) {
  TestGraph t({1, 3, 1, 2});
  t.node("Squeeze", {"x"}, {"s"}, 11).attrs["axes"] = aints({-2});
  t.node("Unsqueeze", {"s"}, {"y"}, 11).attrs["axes"] = aints({0, -1});
  Tensor y = run_both(t, arange({1, 3, 1, 2}));
  EXPECT_EQ(y.shape(), (Shape{1, 1, 3, 2, 1}));
}

TEST(ShapeOps, SqueezeUnsqueezeInputForm) {
  TestGraph t({1, 3, 1});
  t.init("a", i64({0}));
  t.init("b", i64({-1, 1}));
  t.node("Squeeze", {"x", "a"}, {"s"});
  t.node("Unsqueeze", {"s", "b"}, {"y"});
  EXPECT_EQ(run_both(t, arange({1, 3, 1})).shape(), (Shape{3, 1, 1, 1}));
  TestGraph u({1, 3, 1});
  u.node("Squeeze", {"x"}, {"y"});
  EXPECT_EQ(run_both(u, arange({1, 3, 1})).shape(), (Shape{3}));
}

TEST(ShapeOps, SqueezeNonUnitAxisFails) {
  TestGraph t({2, 3});
  t.init("a", i64({1}));
  t.node("Squeeze", {"x", "a"}, {"sq"});
  t.output("sq");
  std::string msg = error_of(t, arange({2, 3}));
  EXPECT_NE(msg.find("node 'sq' (Squeeze)"), std::string::npos) << msg;
}

// ------------------------------------------------------------ Shape / Constant

TEST(ShapeOps, ShapeWithStartEnd) {
  TestGraph t({2, 3, 4, 5});
  Node& n = t.node("Shape", {"x"}, {"y"}, 15);
  n.attrs["start"] = ai(1);
  n.attrs["end"] = ai(-1);
  Tensor y = run_both(t, arange({2, 3, 4, 5}));
  EXPECT_EQ(y.type(), ElemType::kInt64);
  EXPECT_EQ(y.i64(), (std::vector<int64_t>{3, 4}));
  TestGraph u({2, 3});
  u.node("Shape", {"x"}, {"y"});
  EXPECT_EQ(run_both(u, arange({7, 3})).i64(), (std::vector<int64_t>{7, 3}));
}

TEST(ShapeOps, ShapeGatherConcatReshapeKeepsBatchFree) {
  // The dynamic-shape idiom: Reshape(x, Concat(Gather(Shape(x), 0), [-1])).
  TestGraph t({1, 2, 3});
  t.init("zero", Tensor::scalar_i64(0));
  t.init("minus1", i64({-1}));
  t.node("Shape", {"x"}, {"shape"});
  t.node("Gather", {"shape", "zero"}, {"batch"});
  t.node("Unsqueeze", {"batch", "zero1"}, {"batch1"});
  t.init("zero1", i64({0}));
  t.node("Concat", {"batch1", "minus1"}, {"target"}).attrs["axis"] = ai(0);
  t.node("Reshape", {"x", "target"}, {"y"});
  EXPECT_EQ(run_both(t, arange({4, 2, 3})).shape(), (Shape{4, 6}));
}

TEST(ShapeOps, ConstantForms) {
  TestGraph t({1});
  t.node("Constant", {}, {"a"}).attrs["value"] = atensor(Tensor::from_f32({2}, {0.5f, -2.0f}));
  t.node("Constant", {}, {"b"}).attrs["value_floats"] = afloats({1.5f});
  t.node("Constant", {}, {"c"}).attrs["value_ints"] = aints({3, 4});
  t.node("Constant", {}, {"d"}).attrs["value_float"] = af(0.25f);
  t.node("Concat", {"a", "b", "x"}, {"y"}).attrs["axis"] = ai(0);
  t.output("c");
  t.output("d");
  Tensor y = run_both(t, f32({9}));
  EXPECT_EQ(y.f32(), (std::vector<float>{0.5f, -2.0f, 1.5f, 9}));
  TensorMap out = t.run(f32({9}), Mode::kExact);
  EXPECT_EQ(out.at("c").i64(), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(out.at("d").shape(), Shape{});
  EXPECT_EQ(out.at("d").f32(), (std::vector<float>{0.25f}));
}

TEST(ShapeOps, ConstantOfShape) {
  TestGraph t({2});
  t.init("s", i64({2, 3}));
  t.node("ConstantOfShape", {"s"}, {"y"}).attrs["value"] = atensor(Tensor::from_f32({1}, {1.5f}));
  Tensor y = run_both(t, f32({0, 0}));
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_EQ(y.f32(), std::vector<float>(6, 1.5f));
}

// ------------------------------------------------------------ Gather / Concat / Split

TEST(ShapeOps, GatherNegativeIndicesAndAxis) {
  TestGraph t({3, 4});
  t.init("i", Tensor::from_i64({2, 2}, {-1, 0, 2, -4}));
  t.node("Gather", {"x", "i"}, {"y"}).attrs["axis"] = ai(-1);
  Tensor y = run_both(t, arange({3, 4}));
  EXPECT_EQ(y.shape(), (Shape{3, 2, 2}));
  EXPECT_EQ(y.f32(), (std::vector<float>{3, 0, 2, 0, 7, 4, 6, 4, 11, 8, 10, 8}));
}

TEST(ShapeOps, GatherFloatIndicesAndScalar) {
  TestGraph t({3, 2});
  t.init("i", Tensor::scalar_f32(2.0f));
  t.node("Gather", {"x", "i"}, {"y"});
  Tensor y = run_both(t, arange({3, 2}));
  EXPECT_EQ(y.shape(), (Shape{2}));
  EXPECT_EQ(y.f32(), (std::vector<float>{4, 5}));
}

TEST(ShapeOps, GatherOutOfRangeNamesNode) {
  TestGraph t({3});
  t.init("i", i64({3}));
  t.node("Gather", {"x", "i"}, {"g"});
  t.output("g");
  std::string msg = error_of(t, arange({3}));
  EXPECT_NE(msg.find("node 'g' (Gather)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("out of range"), std::string::npos) << msg;
}

TEST(ShapeOps, ConcatNegativeAxis) {
  TestGraph t({2, 2});
  t.init("c", Tensor::from_f32({2, 1}, {7, 8}));
  t.node("Concat", {"x", "c"}, {"y"}).attrs["axis"] = ai(-1);
  Tensor y = run_both(t, arange({2, 2}));
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_EQ(y.f32(), (std::vector<float>{0, 1, 7, 2, 3, 8}));
}

TEST(ShapeOps, ConcatShapeMismatchNamesNode) {
  TestGraph t({2, 2});
  t.init("c", Tensor::from_f32({3, 1}, {7, 8, 9}));
  t.node("Concat", {"x", "c"}, {"cat"}).attrs["axis"] = ai(1);
  t.output("cat");
  EXPECT_NE(error_of(t, arange({2, 2})).find("node 'cat' (Concat)"), std::string::npos);
}

TEST(ShapeOps, SplitForms) {
  {  // equal split by output count
    TestGraph t({2, 6});
    t.node("Split", {"x"}, {"a", "b", "c"}).attrs["axis"] = ai(1);
    t.output("a");
    t.output("c");
    TensorMap out = t.run(arange({2, 6}), Mode::kExact);
    EXPECT_EQ(out.at("a").f32(), (std::vector<float>{0, 1, 6, 7}));
    EXPECT_EQ(out.at("c").f32(), (std::vector<float>{4, 5, 10, 11}));
  }
  {  // split sizes as input (opset 13), negative axis
    TestGraph t({2, 5});
    t.init("s", i64({1, 4}));
    t.node("Split", {"x", "s"}, {"a", "b"}).attrs["axis"] = ai(-1);
    t.output("b");
    EXPECT_EQ(t.run(arange({2, 5})).at("b").f32(), (std::vector<float>{1, 2, 3, 4, 6, 7, 8, 9}));
  }
  {  // split sizes as attribute (opset 11)
    TestGraph t({5});
    t.node("Split", {"x"}, {"a", "b"}, 11).attrs["split"] = aints({3, 2});
    t.output("a");
    EXPECT_EQ(t.run(arange({5})).at("a").f32(), (std::vector<float>{0, 1, 2}));
  }
  {  // num_outputs (opset 18): chunks of ceil(5/3) = 2, the last smaller
    TestGraph t({5});
    t.node("Split", {"x"}, {"a", "b", "c"}, 18).attrs["num_outputs"] = ai(3);
    t.output("c");
    EXPECT_EQ(t.run(arange({5})).at("c").f32(), (std::vector<float>{4}));
  }
  {  // uneven equal split is an error naming the node
    TestGraph t({5});
    t.node("Split", {"x"}, {"p", "q"});
    t.output("p");
    EXPECT_NE(error_of(t, arange({5})).find("node 'p' (Split)"), std::string::npos);
  }
}

// ------------------------------------------------------------ Slice

TEST(ShapeOps, SliceNegativeStepsAndClamping) {
  TestGraph t({4, 5});
  t.init("st", i64({-1, 100}));
  t.init("en", i64({-100, 0}));
  t.init("ax", i64({0, -1}));
  t.init("sp", i64({-2, -2}));
  t.node("Slice", {"x", "st", "en", "ax", "sp"}, {"y"});
  Tensor y = run_both(t, arange({4, 5}));
  EXPECT_EQ(y.shape(), (Shape{2, 2}));
  EXPECT_EQ(y.f32(), (std::vector<float>{19, 17, 9, 7}));
}

TEST(ShapeOps, SliceInt64MaxEnd) {
  TestGraph t({4, 5});
  t.init("st", i64({1}));
  t.init("en", i64({std::numeric_limits<int64_t>::max()}));
  t.init("ax", i64({-1}));
  t.node("Slice", {"x", "st", "en", "ax"}, {"y"});
  Tensor y = run_both(t, arange({4, 5}));
  EXPECT_EQ(y.shape(), (Shape{4, 4}));
  EXPECT_EQ(y.f32(), (std::vector<float>{1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13, 14, 16, 17, 18, 19}));
}

TEST(ShapeOps, SliceInt64MaxEndWithNegativeStepReachesIndexZero) {
  // onnxruntime reads an end of INT64_MAX as numpy's None in either direction.
  TestGraph t({5});
  t.init("st", i64({-1}));
  t.init("en", i64({std::numeric_limits<int64_t>::max()}));
  t.init("ax", i64({0}));
  t.init("sp", i64({-1}));
  t.node("Slice", {"x", "st", "en", "ax", "sp"}, {"y"});
  EXPECT_EQ(run_both(t, arange({5})).f32(), (std::vector<float>{4, 3, 2, 1, 0}));
}

TEST(ShapeOps, SliceOpset9Attributes) {
  TestGraph t({4, 5});
  Node& n = t.node("Slice", {"x"}, {"y"}, 9);
  n.attrs["starts"] = aints({1, 0});
  n.attrs["ends"] = aints({3, -3});
  Tensor y = run_both(t, arange({4, 5}));
  EXPECT_EQ(y.shape(), (Shape{2, 2}));
  EXPECT_EQ(y.f32(), (std::vector<float>{5, 6, 10, 11}));
}

TEST(ShapeOps, SliceEmptyAndZeroStep) {
  TestGraph t({5});
  t.init("st", i64({3}));
  t.init("en", i64({1}));
  t.node("Slice", {"x", "st", "en"}, {"y"});
  EXPECT_EQ(run_both(t, arange({5})).shape(), (Shape{0}));
  TestGraph u({5});
  u.init("st", i64({0}));
  u.init("en", i64({3}));
  u.init("ax", i64({0}));
  u.init("sp", i64({0}));
  u.node("Slice", {"x", "st", "en", "ax", "sp"}, {"sl"});
  u.output("sl");
  EXPECT_NE(error_of(u, arange({5})).find("node 'sl' (Slice)"), std::string::npos);
}

// ------------------------------------------------------------ Expand / Tile

TEST(ShapeOps, ExpandAndTile) {
  TestGraph t({3, 1});
  t.init("s", i64({2, 1, 2}));
  t.node("Expand", {"x", "s"}, {"y"});
  Tensor y = run_both(t, arange({3, 1}));
  EXPECT_EQ(y.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(y.f32(), (std::vector<float>{0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2}));
  TestGraph u({2, 2});
  u.init("r", i64({1, 2}));
  u.node("Tile", {"x", "r"}, {"y"});
  Tensor z = run_both(u, arange({2, 2}));
  EXPECT_EQ(z.shape(), (Shape{2, 4}));
  EXPECT_EQ(z.f32(), (std::vector<float>{0, 1, 0, 1, 2, 3, 2, 3}));
}

// ------------------------------------------------------------ Pad

TEST(ShapeOps, PadReflect) {
  TestGraph t({1, 1, 3, 4});
  t.init("p", i64({0, 0, 2, 1, 0, 0, 1, 3}));
  t.node("Pad", {"x", "p"}, {"y"}).attrs["mode"] = as("reflect");
  Tensor y = run_both(t, arange({1, 1, 3, 4}));
  EXPECT_EQ(y.shape(), (Shape{1, 1, 6, 8}));
  EXPECT_EQ(y.f32(), (std::vector<float>{9, 8, 9, 10, 11, 10, 9, 8, 5, 4, 5, 6, 7, 6, 5, 4,
                                         1, 0, 1, 2,  3,  2,  1, 0, 5, 4, 5, 6, 7, 6, 5, 4,
                                         9, 8, 9, 10, 11, 10, 9, 8, 5, 4, 5, 6, 7, 6, 5, 4}));
}

TEST(ShapeOps, PadEdge) {
  TestGraph t({1, 1, 3, 4});
  t.init("p", i64({0, 0, 1, 0, 0, 0, 0, 2}));
  t.node("Pad", {"x", "p"}, {"y"}).attrs["mode"] = as("edge");
  Tensor y = run_both(t, arange({1, 1, 3, 4}));
  EXPECT_EQ(y.shape(), (Shape{1, 1, 4, 6}));
  EXPECT_EQ(y.f32(), (std::vector<float>{0, 1, 2, 3, 3, 3, 0, 1, 2,  3,  3,  3,
                                         4, 5, 6, 7, 7, 7, 8, 9, 10, 11, 11, 11}));
}

TEST(ShapeOps, PadConstantWithNegativePad) {
  TestGraph t({1, 1, 3, 4});
  t.init("p", i64({0, 0, 1, -1, 0, 0, 0, 1}));
  t.init("v", Tensor::scalar_f32(7.5f));
  t.node("Pad", {"x", "p", "v"}, {"y"});
  Tensor y = run_both(t, arange({1, 1, 3, 4}));
  EXPECT_EQ(y.shape(), (Shape{1, 1, 4, 4}));
  EXPECT_EQ(y.f32(),
            (std::vector<float>{7.5, 7.5, 7.5, 7.5, 1, 2, 3, 7.5, 5, 6, 7, 7.5, 9, 10, 11, 7.5}));
}

TEST(ShapeOps, PadOpset2Attributes) {
  TestGraph t({2});
  Node& n = t.node("Pad", {"x"}, {"y"}, 2);
  n.attrs["pads"] = aints({1, 2});
  n.attrs["value"] = af(-1.0f);
  EXPECT_EQ(run_both(t, arange({2})).f32(), (std::vector<float>{-1, 0, 1, -1, -1}));
}

TEST(ShapeOps, PadInt64Data) {
  TestGraph t({2}, ElemType::kInt64);
  t.init("p", i64({1, 1}));
  t.node("Pad", {"x", "p"}, {"y"}).attrs["mode"] = as("reflect");
  EXPECT_EQ(run_both(t, i64({4, 9})).i64(), (std::vector<int64_t>{9, 4, 9, 4}));
}

// ------------------------------------------------------------ Resize / Upsample

Tensor resize(Shape in, std::vector<std::pair<std::string, Attribute>> attrs, Tensor* scales,
              Tensor* sizes, int version = 13) {
  TestGraph t(in);
  std::vector<std::string> ins{"x", ""};
  ins.push_back(scales ? "sc" : "");
  if (sizes) ins.push_back("sz");
  if (scales) t.init("sc", *scales);
  if (sizes) t.init("sz", *sizes);
  Node& n = t.node("Resize", ins, {"y"}, version);
  n.attrs["mode"] = as("nearest");
  for (auto& [k, v] : attrs) n.attrs[k] = v;
  return run_both(t, arange(in));
}

TEST(ShapeOps, ResizeHalfPixelUpsample) {
  Tensor s = f32({1, 1, 2, 2});
  Tensor y = resize({1, 1, 2, 3}, {}, &s, nullptr);
  EXPECT_EQ(y.shape(), (Shape{1, 1, 4, 6}));
  EXPECT_EQ(y.f32(), (std::vector<float>{0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2,
                                         3, 3, 4, 4, 5, 5, 3, 3, 4, 4, 5, 5}));
}

TEST(ShapeOps, ResizeSizesAsymmetricFloor) {
  Tensor z = i64({1, 1, 3, 5});
  Tensor y =
      resize({1, 1, 2, 3},
             {{"coordinate_transformation_mode", as("asymmetric")}, {"nearest_mode", as("floor")}},
             nullptr, &z);
  EXPECT_EQ(y.f32(), (std::vector<float>{0, 0, 1, 1, 2, 0, 0, 1, 1, 2, 3, 3, 4, 4, 5}));
}

TEST(ShapeOps, ResizeAlignCornersRoundPreferCeil) {
  Tensor z = i64({1, 1, 3, 5});
  Tensor y = resize({1, 1, 2, 3},
                    {{"coordinate_transformation_mode", as("align_corners")},
                     {"nearest_mode", as("round_prefer_ceil")}},
                    nullptr, &z);
  EXPECT_EQ(y.f32(), (std::vector<float>{0, 1, 1, 2, 2, 3, 4, 4, 5, 5, 3, 4, 4, 5, 5}));
}

TEST(ShapeOps, ResizeDownsampleHalfPixel) {
  Tensor s = f32({1, 1, 0.6f, 0.5f});
  Tensor y = resize({1, 1, 3, 4}, {}, &s, nullptr);
  EXPECT_EQ(y.shape(), (Shape{1, 1, 1, 2}));
  EXPECT_EQ(y.f32(), (std::vector<float>{0, 2}));
}

TEST(ShapeOps, ResizeTfHalfPixelCeilAndPytorch) {
  Tensor s = f32({1, 1, 1.5f, 1.7f});
  Tensor y = resize({1, 1, 2, 3},
                    {{"coordinate_transformation_mode", as("tf_half_pixel_for_nn")},
                     {"nearest_mode", as("ceil")}},
                    &s, nullptr);
  EXPECT_EQ(y.f32(), (std::vector<float>{4, 4, 5, 5, 5, 4, 4, 5, 5, 5, 4, 4, 5, 5, 5}));
  Tensor p = f32({1, 1, 0.5f, 2.5f});
  Tensor z = resize({1, 1, 2, 3}, {{"coordinate_transformation_mode", as("pytorch_half_pixel")}},
                    &p, nullptr);
  EXPECT_EQ(z.shape(), (Shape{1, 1, 1, 7}));
  EXPECT_EQ(z.f32(), (std::vector<float>{0, 0, 0, 1, 1, 2, 2}));
}

TEST(ShapeOps, Resize10AndUpsample) {
  Tensor s10 = f32({1, 1, 0.7f, 0.5f});
  TestGraph t({1, 1, 3, 4});
  t.init("s", s10);
  t.node("Resize", {"x", "s"}, {"y"}, 10).attrs["mode"] = as("nearest");
  EXPECT_EQ(run_both(t, arange({1, 1, 3, 4})).f32(), (std::vector<float>{0, 2, 8, 10}));

  TestGraph u({1, 1, 2, 3});
  u.init("s", f32({1, 1, 2, 1.5f}));
  u.node("Upsample", {"x", "s"}, {"y"}, 9).attrs["mode"] = as("nearest");
  Tensor y = run_both(u, arange({1, 1, 2, 3}));
  EXPECT_EQ(y.shape(), (Shape{1, 1, 4, 4}));
  EXPECT_EQ(y.f32(), (std::vector<float>{0, 0, 1, 2, 0, 0, 1, 2, 3, 3, 4, 5, 3, 3, 4, 5}));

  TestGraph v({1, 1, 2, 3});
  Node& n = v.node("Upsample", {"x"}, {"y"}, 7);
  n.attrs["scales"] = afloats({1, 1, 2, 1.5f});
  EXPECT_EQ(run_both(v, arange({1, 1, 2, 3})).f32(), y.f32());
}

TEST(ShapeOps, ResizeLinearIsUnsupportedNamingNode) {
  TestGraph t({1, 1, 2, 2});
  t.init("s", f32({1, 1, 2, 2}));
  t.node("Resize", {"x", "", "s"}, {"up"}).attrs["mode"] = as("linear");
  t.output("up");
  try {
    t.run(arange({1, 1, 2, 2}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    std::string msg = e.what();
    EXPECT_NE(msg.find("node 'up' (Resize)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("linear"), std::string::npos) << msg;
  }
}

// ------------------------------------------------------------ DepthToSpace / SpaceToDepth

TEST(ShapeOps, DepthToSpaceModes) {
  TestGraph t({1, 8, 2, 2});
  t.node("DepthToSpace", {"x"}, {"y"}).attrs["blocksize"] = ai(2);
  Tensor y = run_both(t, arange({1, 8, 2, 2}));
  EXPECT_EQ(y.shape(), (Shape{1, 2, 4, 4}));
  EXPECT_EQ(y.f32(),
            (std::vector<float>{0, 8,  1, 9,  16, 24, 17, 25, 2, 10, 3, 11, 18, 26, 19, 27,
                                4, 12, 5, 13, 20, 28, 21, 29, 6, 14, 7, 15, 22, 30, 23, 31}));
  TestGraph u({1, 8, 2, 2});
  Node& n = u.node("DepthToSpace", {"x"}, {"y"});
  n.attrs["blocksize"] = ai(2);
  n.attrs["mode"] = as("CRD");
  EXPECT_EQ(run_both(u, arange({1, 8, 2, 2})).f32(),
            (std::vector<float>{0,  4,  1,  5,  8,  12, 9,  13, 2,  6,  3,  7,  10, 14, 11, 15,
                                16, 20, 17, 21, 24, 28, 25, 29, 18, 22, 19, 23, 26, 30, 27, 31}));
}

TEST(ShapeOps, SpaceToDepthInvertsDcr) {
  TestGraph t({1, 1, 4, 4});
  t.node("SpaceToDepth", {"x"}, {"s"}).attrs["blocksize"] = ai(2);
  t.node("DepthToSpace", {"s"}, {"y"}).attrs["blocksize"] = ai(2);
  t.output("s");
  TensorMap out = t.run(arange({1, 1, 4, 4}));
  EXPECT_EQ(out.at("s").f32(),
            (std::vector<float>{0, 2, 8, 10, 1, 3, 9, 11, 4, 6, 12, 14, 5, 7, 13, 15}));
  TestGraph u({1, 1, 4, 4});
  u.node("SpaceToDepth", {"x"}, {"s"}).attrs["blocksize"] = ai(2);
  u.node("DepthToSpace", {"s"}, {"y"}).attrs["blocksize"] = ai(2);
  EXPECT_EQ(run_both(u, arange({1, 1, 4, 4})).f32(), arange({1, 1, 4, 4}).f32());
}

// ------------------------------------------------------------ Exact storage

// Calls an op's eval directly so the Exact output can be inspected before the
// session rounds it to float32.
std::vector<Tensor> eval_op(const Node& node, const std::vector<Tensor>& ins,
                            Mode mode = Mode::kExact) {
  std::vector<const Tensor*> ptrs;
  for (const Tensor& t : ins) ptrs.push_back(&t);
  return eval_kernel(node, ptrs, mode);
}

Node make_node(const std::string& op, size_t n_in, size_t n_out, int version = 13) {
  Node n;
  n.name = "n";
  n.op_type = op;
  n.version = version;
  for (size_t i = 0; i < n_in; ++i) n.inputs.push_back("i" + std::to_string(i));
  for (size_t i = 0; i < n_out; ++i) n.outputs.push_back("o" + std::to_string(i));
  return n;
}

TEST(ShapeOps, ExactValuesPassThrough) {
  // Thirds have no float32 value: they must come out bit for bit as they went in.
  std::vector<Exact> v;
  for (int k = 1; k <= 6; ++k) v.push_back(Exact::from_int(k) / Exact::from_int(3));
  Tensor x = Tensor::from_exact({2, 3}, v);

  Node tr = make_node("Transpose", 1, 1);
  Tensor y = eval_op(tr, {x})[0];
  ASSERT_EQ(y.type(), ElemType::kExact);
  EXPECT_EQ(y.exact()[1], v[3]);
  EXPECT_EQ(y.exact()[4], v[2]);

  Node sl = make_node("Slice", 5, 1);
  y = eval_op(sl, {x, i64({-1}), i64({-10}), i64({1}), i64({-2})})[0];
  ASSERT_EQ(y.type(), ElemType::kExact);
  EXPECT_EQ(y.exact(), (std::vector<Exact>{v[2], v[0], v[5], v[3]}));

  Node pad = make_node("Pad", 3, 1);
  y = eval_op(pad, {x, i64({0, 1, 0, 0}), Tensor::scalar_f32(0.5f)})[0];
  ASSERT_EQ(y.type(), ElemType::kExact);
  EXPECT_EQ(y.exact()[0], Exact::from_double(0.5));
  EXPECT_EQ(y.exact()[1], v[0]);

  Node cat = make_node("Concat", 2, 1);
  cat.attrs["axis"] = ai(0);
  y = eval_op(cat, {x, Tensor::from_f32({1, 3}, {1, 2, 3})})[0];
  ASSERT_EQ(y.type(), ElemType::kExact);
  EXPECT_EQ(y.exact()[5], v[5]);
  EXPECT_EQ(y.exact()[6], Exact::from_int(1));

  Node rs = make_node("Resize", 3, 1);
  rs.attrs["mode"] = as("nearest");
  rs.inputs[1] = "";
  y = eval_op(rs, {x.reshaped({1, 1, 2, 3}), Tensor(), f32({1, 1, 1, 2})})[0];
  ASSERT_EQ(y.type(), ElemType::kExact);
  EXPECT_EQ(y.exact()[0], v[0]);
  EXPECT_EQ(y.exact()[1], v[0]);
  EXPECT_EQ(y.exact()[11], v[5]);

  Node d2s = make_node("SpaceToDepth", 1, 1);
  d2s.attrs["blocksize"] = ai(1);
  EXPECT_EQ(eval_op(d2s, {x.reshaped({1, 2, 3, 1})})[0].exact(), v);

  Node sp = make_node("Split", 1, 3);
  sp.attrs["axis"] = ai(1);
  std::vector<Tensor> parts = eval_op(sp, {x});
  EXPECT_EQ(parts[2].exact(), (std::vector<Exact>{v[2], v[5]}));

  Node re = make_node("Reshape", 2, 1);
  EXPECT_EQ(eval_op(re, {x, i64({-1})})[0].exact(), v);
}

TEST(ShapeOps, ExactModeResizeAgreesWithFloatOffTies) {
  // Sizes 2 -> 7 with half_pixel: coordinates (i + 0.5) * 2/7 - 0.5 never tie,
  // so the exact and float index choices agree (run_both checks it).
  Tensor z = i64({1, 1, 2, 7});
  Tensor y = resize({1, 1, 2, 2}, {}, nullptr, &z);
  EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 7}));
}

TEST(ShapeOps, ResizeIndexMapIsOnnxruntimesInBothModes) {
  // 14 -> 2 with half_pixel + floor: in real arithmetic output 0 maps to exactly
  // 0.5 * 7 - 0.5 = 3, but onnxruntime's float32 gives 2.9999998 and reads element 2.
  // The index map is graph structure, so exact mode copies the same elements.
  TestGraph t({1, 1, 1, 14});
  t.init("sz", i64({1, 1, 1, 2}));
  Node& n = t.node("Resize", {"x", "", "", "sz"}, {"y"});
  n.attrs["mode"] = as("nearest");
  n.attrs["nearest_mode"] = as("floor");
  EXPECT_EQ(run_both(t, arange({1, 1, 1, 14})).f32(), (std::vector<float>{2, 10}));
  // 0.6f lies above 3/5; onnxruntime picks (0, 2) for 4 -> 2 with pytorch_half_pixel + floor.
  Tensor s = f32({1, 1, 1, 0.6f});
  Tensor y = resize(
      {1, 1, 1, 4},
      {{"coordinate_transformation_mode", as("pytorch_half_pixel")}, {"nearest_mode", as("floor")}},
      &s, nullptr);
  EXPECT_EQ(y.f32(), (std::vector<float>{0, 2}));
}

TEST(ShapeOps, QuantizedTypesFlowThroughDataMovement) {
  TestGraph t({1, 4});
  t.init("s", Tensor::scalar_f32(1.0f));
  t.init("z", Tensor::scalar_f32(0.0f));
  t.init("b", Tensor::scalar_f32(4.0f));
  t.init("p", i64({0, 1, 0, 1}));
  t.init("big", Tensor::scalar_f32(100.0f));
  Node& q = t.node("Quant", {"x", "s", "z", "b"}, {"q"});
  q.domain = "qonnx.custom_op.general";
  q.version = 1;
  q.attrs["signed"] = ai(1);
  q.attrs["narrow"] = ai(0);
  t.node("Transpose", {"q"}, {"tr"});
  t.node("Pad", {"q", "p"}, {"pad0"});
  t.node("Pad", {"q", "p", "big"}, {"pad100"});
  t.node("Shape", {"q"}, {"shape"});
  t.output("tr");
  t.output("pad0");
  t.output("pad100");
  t.output("shape");
  verify(t.g);
  infer_shapes_and_types(t.g);
  EXPECT_EQ(t.g.value_info.at("tr").dtype, DataType::integer(4, true));
  EXPECT_EQ(t.g.value_info.at("pad0").dtype, DataType::integer(4, true));
  EXPECT_EQ(t.g.value_info.at("pad100").dtype, DataType::float32());
  EXPECT_EQ(t.g.value_info.at("shape").elem, ElemType::kInt64);
}

}  // namespace
}  // namespace bitsmith
