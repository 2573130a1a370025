// Standard ONNX math ops (elementwise, Gemm/MatMul, Softmax, BatchNormalization)
// in float and exact mode. Single ops run straight through their registered
// kernel (so exact outputs can be inspected before the final float32 rounding);
// chains and error paths run through execute().
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <optional>
#include <random>

#include "ir/graph.h"
#include "op_test_util.h"
#include "ops/registry.h"
#include "runtime/session.h"

namespace bitsmith {
namespace {

using Inputs = std::vector<std::optional<Tensor>>;

Exact ex(double v) {
  return Exact::from_double(v);
}
Exact third() {
  return Exact::from_int(1) / Exact::from_int(3);
}

// Runs one op's kernel. In exact mode float32 inputs become Exact, as the
// session does for feeds and initializers; int64 inputs stay int64.
Tensor eval1(const std::string& op, const Inputs& inputs, Mode mode, const Attrs& attrs = {},
             int opset = 13) {
  Node n;
  n.name = "n0";
  n.op_type = op;
  n.version = opset;
  n.attrs = attrs;
  n.outputs = {"y"};
  std::vector<Tensor> held;
  held.reserve(inputs.size());
  std::vector<const Tensor*> ptrs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    n.inputs.push_back(inputs[i] ? "i" + std::to_string(i) : "");
    if (!inputs[i]) {
      ptrs.push_back(nullptr);
      continue;
    }
    const Tensor& t = *inputs[i];
    held.push_back(mode == Mode::kExact && t.type() == ElemType::kFloat32 ? t.to(ElemType::kExact)
                                                                          : t);
    ptrs.push_back(&held.back());
  }
  return eval_kernel(n, ptrs, mode)[0];
}

void expect_f32(const Tensor& t, const Shape& shape, const std::vector<float>& want) {
  ASSERT_EQ(t.type(), ElemType::kFloat32);
  ASSERT_EQ(t.shape(), shape);
  expect_same(t.f32(), want, /*same_sign=*/true);
}

void expect_exact(const Tensor& t, const Shape& shape, const std::vector<Exact>& want) {
  ASSERT_EQ(t.type(), ElemType::kExact);
  ASSERT_EQ(t.shape(), shape);
  ASSERT_EQ(t.exact().size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i].is_nan()) {
      EXPECT_TRUE(t.exact()[i].is_nan()) << "at " << i;
    } else {
      EXPECT_EQ(t.exact()[i], want[i])
          << "at " << i << ": " << t.exact()[i].to_string() << " vs " << want[i].to_string();
    }
  }
}

void expect_i64(const Tensor& t, const Shape& shape, const std::vector<int64_t>& want) {
  ASSERT_EQ(t.type(), ElemType::kInt64);
  ASSERT_EQ(t.shape(), shape);
  EXPECT_EQ(t.i64(), want);
}

// A small graph built by hand; every node gets the default domain's opset.
struct Builder {
  Graph g;
  explicit Builder(int opset = 13) {
    g.source = "math_test.onnx";
    g.name = "t";
    g.opsets[""] = opset;
  }
  Builder& input(const std::string& name, Shape shape, ElemType elem = ElemType::kFloat32) {
    g.inputs.push_back(graph_input(name, std::move(shape), elem));
    return *this;
  }
  Builder& init(const std::string& name, Tensor t) {
    g.initializers[name] = std::move(t);
    return *this;
  }
  Builder& node(const std::string& name, const std::string& op, std::vector<std::string> ins,
                std::vector<std::string> outs, Attrs attrs = {}) {
    Node n;
    n.name = name;
    n.op_type = op;
    n.version = g.opsets[""];
    n.inputs = std::move(ins);
    n.outputs = std::move(outs);
    n.attrs = std::move(attrs);
    g.nodes.push_back(n);
    return *this;
  }
  Builder& output(const std::string& name) {
    g.outputs.push_back(graph_output(name));
    return *this;
  }
  Graph done() {
    verify(g);
    return g;
  }
};

Tensor run1(const Graph& g, const TensorMap& feeds, Mode mode) {
  TensorMap out = execute(g, feeds, RunOptions{mode, false, false});
  return out.at(g.outputs.at(0).name);
}

// Runs fn, which must throw Error of `kind` with every piece in its message.
template <class Fn>
void expect_error(Fn&& fn, ErrorKind kind, std::vector<std::string> pieces) {
  try {
    fn();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    for (const auto& p : pieces)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------
// Add / Sub / Mul / Div

TEST(MathOps, ArithBroadcastsLikeNumpy) {
  Tensor a = f32({2, 3}, {1.5f, 2.0f, -3.0f, 0.1f, 7.0f, 8.5f});
  Tensor b = f32({3}, {0.25f, -1.0f, 3.0f});
  expect_f32(eval1("Add", {a, b}, Mode::kFloat), {2, 3},
             {1.75f, 1.0f, 0.0f, 0.1f + 0.25f, 6.0f, 11.5f});
  expect_f32(eval1("Sub", {b, a}, Mode::kFloat), {2, 3},
             {-1.25f, -3.0f, 6.0f, 0.25f - 0.1f, -8.0f, -5.5f});
  // (2,1) * (1,3): outer product.
  Tensor col = f32({2, 1}, {2.0f, -0.5f});
  Tensor row = f32({1, 3}, {1.0f, 3.0f, 0.1f});
  expect_f32(eval1("Mul", {col, row}, Mode::kFloat), {2, 3},
             {2.0f, 6.0f, 0.2f, -0.5f, -1.5f, -0.05f});
  expect_exact(eval1("Mul", {col, row}, Mode::kExact), {2, 3},
               {ex(2), ex(6), ex(0.1f) * ex(2), ex(-0.5), ex(-1.5), ex(0.1f).ldexp(-1) * ex(-1)});
  // A scalar against a rank-3 tensor; rank-0 output for two scalars.
  Tensor s = f32({}, {4.0f});
  expect_f32(eval1("Div", {f32({1, 2, 1}, {1.0f, 2.0f}), s}, Mode::kFloat), {1, 2, 1},
             {0.25f, 0.5f});
  expect_f32(eval1("Add", {s, s}, Mode::kFloat), {}, {8.0f});
  // Empty dims broadcast to empty.
  expect_f32(eval1("Add", {f32({0, 3}, {}), b}, Mode::kFloat), {0, 3}, {});
}

TEST(MathOps, ExactArithmeticKeepsEveryBit) {
  // 0.1f * 3 is 40265319 * 2^-27: 26 significant bits, more than float32 holds.
  Tensor y = eval1("Mul", {f32({1}, {0.1f}), f32({1}, {3.0f})}, Mode::kExact);
  expect_exact(y, {1}, {Exact::make(40265319, 1, -27)});
  EXPECT_NE(y.exact()[0], ex(0.1f * 3.0f));

  // (0.1f + 0.2f) - 0.3f: float32 rounds the sum onto 0.3f and gives 0; the exact
  // value is -2^-27, which the final float32 output can still show.
  Graph g = Builder()
                .input("x", {1})
                .init("b", f32({1}, {0.2f}))
                .init("c", f32({1}, {0.3f}))
                .node("add", "Add", {"x", "b"}, {"s"})
                .node("sub", "Sub", {"s", "c"}, {"y"})
                .output("y")
                .done();
  TensorMap feeds{{"x", f32({1}, {0.1f})}};
  expect_f32(run1(g, feeds, Mode::kFloat), {1}, {0.0f});
  expect_f32(run1(g, feeds, Mode::kExact), {1}, {-std::ldexp(1.0f, -27)});
}

TEST(MathOps, ExactDivisionCancels) {
  Tensor q = eval1("Div", {f32({1}, {0.1f}), f32({1}, {3.0f})}, Mode::kExact);
  EXPECT_EQ(q.exact()[0].den(), 3);
  EXPECT_EQ(q.exact()[0] * Exact::from_int(3), ex(0.1f));
  Graph g = Builder()
                .input("x", {3})
                .init("three", f32({}, {3.0f}))
                .node("div", "Div", {"x", "three"}, {"q"})
                .node("mul", "Mul", {"q", "three"}, {"y"})
                .output("y")
                .done();
  std::vector<float> x{0.1f, 1.0f, 16777215.0f};
  TensorMap feeds{{"x", f32({3}, x)}};
  expect_f32(run1(g, feeds, Mode::kExact), {3}, x);
  std::vector<float> fl;
  for (float v : x) fl.push_back(v / 3.0f * 3.0f);
  expect_f32(run1(g, feeds, Mode::kFloat), {3}, fl);
  // Division by zero follows IEEE in both modes.
  expect_f32(eval1("Div", {f32({3}, {1.0f, -1.0f, 0.0f}), f32({}, {0.0f})}, Mode::kFloat), {3},
             {INFINITY, -INFINITY, NAN});
  expect_exact(eval1("Div", {f32({3}, {1.0f, -1.0f, 0.0f}), f32({}, {0.0f})}, Mode::kExact), {3},
               {Exact::inf(false), Exact::inf(true), Exact::nan()});
}

TEST(MathOps, Int64ArithmeticStaysInteger) {
  Tensor a = i64({4}, {7, -7, 7, -7});
  Tensor b = i64({4}, {2, 2, -2, -2});
  for (Mode m : {Mode::kFloat, Mode::kExact}) {
    expect_i64(eval1("Div", {a, b}, m), {4}, {3, -3, -3, 3});  // truncation toward zero
    expect_i64(eval1("Mul", {a, i64({}, {3})}, m), {4}, {21, -21, 21, -21});
    expect_i64(eval1("Add", {i64({2, 1}, {1, 2}), i64({3}, {10, 20, 30})}, m), {2, 3},
               {11, 21, 31, 12, 22, 32});
    expect_i64(eval1("Sub", {a, b}, m), {4}, {5, -9, 9, -5});
  }
  expect_error(
      [&] {
        eval1("Div", {a, i64({}, {0})}, Mode::kFloat);
      },
      ErrorKind::kInvalidModel, {"n0", "division by zero"});
  expect_error(
      [&] {
        eval1("Mul", {i64({}, {int64_t{1} << 62}), i64({}, {4})}, Mode::kExact);
      },
      ErrorKind::kInvalidModel, {"overflow"});
  // Mixed int64 and float: the integer side converts to the mode's real type.
  expect_f32(eval1("Add", {i64({2}, {1, 2}), f32({2}, {0.5f, 0.25f})}, Mode::kFloat), {2},
             {1.5f, 2.25f});
  expect_exact(eval1("Add", {i64({2}, {1, 2}), f32({2}, {0.5f, 0.25f})}, Mode::kExact), {2},
               {ex(1.5), ex(2.25)});
}

TEST(MathOps, BadBroadcastNamesTheNode) {
  Graph g = Builder()
                .input("x", {2, 3})
                .init("b", f32({4}, {1, 2, 3, 4}))
                .node("bad_add", "Add", {"x", "b"}, {"y"})
                .output("y")
                .done();
  for (Mode m : {Mode::kFloat, Mode::kExact}) {
    expect_error(
        [&] {
          run1(g, {{"x", Tensor(ElemType::kFloat32, {2, 3})}}, m);
        },
        ErrorKind::kInvalidModel,
        {"math_test.onnx", "bad_add", "(2, 3) and (4,) cannot be broadcast"});
  }
}

// ---------------------------------------------------------------------------
// Activations

TEST(MathOps, Relu) {
  // -0 and NaN pass through, as in onnxruntime.
  Tensor x = f32({5}, {-1.5f, -0.0f, 0.0f, 0.1f, NAN});
  expect_f32(eval1("Relu", {x}, Mode::kFloat), {5}, {0.0f, -0.0f, 0.0f, 0.1f, NAN});
  expect_exact(eval1("Relu", {x}, Mode::kExact), {5},
               {Exact(), Exact(), Exact(), ex(0.1f), Exact::nan()});
  expect_i64(eval1("Relu", {i64({3}, {-4, 0, 9})}, Mode::kExact), {3}, {0, 0, 9});
  // Relu of a non-dyadic exact value passes it through untouched.
  Tensor t = Tensor::from_exact({2}, {third(), -third()});
  Tensor y = eval1("Relu", {t}, Mode::kExact);
  expect_exact(y, {2}, {third(), Exact()});
}

TEST(MathOps, LeakyRelu) {
  Tensor x = f32({3}, {-2.0f, 3.0f, -0.3f});
  Attrs a{{"alpha", af(0.1f)}};
  expect_f32(eval1("LeakyRelu", {x}, Mode::kFloat, a), {3}, {-2.0f * 0.1f, 3.0f, -0.3f * 0.1f});
  // 0.1f = 13421773 * 2^-27, so -2 * 0.1f = -13421773 * 2^-26 exactly.
  expect_exact(eval1("LeakyRelu", {x}, Mode::kExact, a), {3},
               {Exact::make(-13421773, 1, -26), ex(3), ex(-0.3f) * ex(0.1f)});
  // Default alpha 0.01.
  expect_f32(eval1("LeakyRelu", {f32({1}, {-1.0f})}, Mode::kFloat), {1}, {-0.01f});
}

TEST(MathOps, ClipWithInputsAndAttributes) {
  Tensor x = f32({5}, {-3.0f, -0.5f, 0.25f, 6.5f, NAN});
  Tensor lo = f32({}, {-1.0f}), hi = f32({}, {6.0f});
  expect_f32(eval1("Clip", {x, lo, hi}, Mode::kFloat), {5}, {-1.0f, -0.5f, 0.25f, 6.0f, NAN});
  expect_exact(eval1("Clip", {x, lo, hi}, Mode::kExact), {5},
               {ex(-1), ex(-0.5), ex(0.25), ex(6), Exact::nan()});
  // Only a max (min omitted), and no bounds at all.
  expect_f32(eval1("Clip", {x, std::nullopt, hi}, Mode::kFloat), {5},
             {-3.0f, -0.5f, 0.25f, 6.0f, NAN});
  expect_f32(eval1("Clip", {x}, Mode::kFloat), {5}, {-3.0f, -0.5f, 0.25f, 6.5f, NAN});
  // min > max gives max everywhere, as onnxruntime does.
  expect_f32(eval1("Clip", {f32({2}, {0.0f, 9.0f}), hi, lo}, Mode::kFloat), {2}, {-1.0f, -1.0f});
  // Opset 6: attributes.
  Attrs a{{"min", af(0.0f)}, {"max", af(0.5f)}};
  expect_f32(eval1("Clip", {x}, Mode::kFloat, a, 6), {5}, {0.0f, 0.0f, 0.25f, 0.5f, NAN});
  expect_exact(eval1("Clip", {x}, Mode::kExact, a, 6), {5},
               {Exact(), Exact(), ex(0.25), ex(0.5), Exact::nan()});
  expect_f32(eval1("Clip", {f32({1}, {1e38f})}, Mode::kFloat, {}, 6), {1}, {1e38f});
  // int64 input with int64 bounds.
  expect_i64(eval1("Clip", {i64({3}, {-9, 4, 99}), i64({}, {0}), i64({}, {10})}, Mode::kExact), {3},
             {0, 4, 10});
  expect_error(
      [&] {
        eval1("Clip", {x, f32({2}, {0, 1})}, Mode::kFloat);
      },
      ErrorKind::kInvalidModel, {"must be a scalar"});
}

// onnxruntime 1.32 CPU outputs for these inputs (Sigmoid, Tanh, Exp, Erf).
const std::vector<float> kTranscendentalInputs{-100.0f, -20.0f, -9.5f,  -3.3f,    -0.7f,    -1e-3f,
                                               0.0f,    1e-6f,  0.5f,   2.2f,     8.9f,     17.5f,
                                               30.0f,   88.5f,  100.0f, INFINITY, -INFINITY};

TEST(MathOps, TranscendentalsFloatMatchOnnxruntime) {
  Tensor x = f32({17}, kTranscendentalInputs);
  expect_f32(
      eval1("Sigmoid", {x}, Mode::kFloat), {17},
      {0.0f, 0.0f, 0x1.39e000p-14f, 0x1.236620p-5f, 0x1.53c698p-2f, 0x1.ffbe76p-2f, 0x1.000000p-1f,
       0x1.000008p-1f, 0x1.3eb2fcp-1f, 0x1.cced84p-1f, 0x1.ffee20p-1f, 0x1.000000p+0f,
       0x1.000000p+0f, 0x1.000000p+0f, 0x1.000000p+0f, 0x1.000000p+0f, 0.0f});
  expect_f32(eval1("Tanh", {x}, Mode::kFloat), {17},
             {-0x1.000000p+0f, -0x1.000000p+0f, -0x1.000000p+0f, -0x1.fe9bdep-1f, -0x1.356fb2p-1f,
              -0x1.0624d6p-10f, 0.0f, 0x1.0c6f78p-20f, 0x1.d9353ep-2f, 0x1.f3949ep-1f,
              0x1.000000p+0f, 0x1.000000p+0f, 0x1.000000p+0f, 0x1.000000p+0f, 0x1.000000p+0f,
              0x1.000000p+0f, -0x1.000000p+0f});
  expect_f32(eval1("Exp", {x}, Mode::kFloat), {17},
             {0x1.b00000p-145f, 0x1.1b4866p-29f, 0x1.39f38ap-14f, 0x1.2e259cp-5f, 0x1.fc80dcp-2f,
              0x1.ff7cfep-1f, 0x1.000000p+0f, 0x1.000010p+0f, 0x1.a61298p+0f, 0x1.20cceap+3f,
              0x1.ca3f88p+12f, 0x1.2fd6c8p+25f, 0x1.370470p+43f, 0x1.99b988p+127f, INFINITY,
              INFINITY, 0.0f});
  expect_f32(eval1("Erf", {x}, Mode::kFloat), {17},
             {-0x1.000000p+0f, -0x1.000000p+0f, -0x1.000000p+0f, -0x1.ffff9ap-1f, -0x1.5b08c2p-1f,
              -0x1.27cc38p-10f, 0.0f, 0x1.2ee5a0p-20f, 0x1.0a7ef6p-1f, 0x1.ff0bd6p-1f,
              0x1.000000p+0f, 0x1.000000p+0f, 0x1.000000p+0f, 0x1.000000p+0f, 0x1.000000p+0f,
              0x1.000000p+0f, -0x1.000000p+0f});
  for (const char* op : {"Sigmoid", "Tanh", "Exp", "Erf"}) {
    expect_f32(eval1(op, {f32({1}, {NAN})}, Mode::kFloat), {1}, {NAN});
  }
}

TEST(MathOps, TranscendentalsExactModeInDouble) {
  Tensor x = f32({17}, kTranscendentalInputs);
  struct Case {
    const char* op;
    double (*fn)(double);
  };
  const Case cases[] = {
      {"Sigmoid", [](double v) { return 1.0 / (1.0 + std::exp(-v)); }},
      {"Tanh", [](double v) { return std::tanh(v); }},
      {"Exp", [](double v) { return std::exp(v); }},
      {"Erf", [](double v) { return std::erf(v); }},
  };
  for (const Case& k : cases) {
    std::vector<Exact> want;
    for (float v : kTranscendentalInputs) want.push_back(ex(k.fn(v)));
    SCOPED_TRACE(k.op);
    expect_exact(eval1(k.op, {x}, Mode::kExact), {17}, want);
  }
  // From the nearest double of a non-dyadic input.
  Tensor t = Tensor::from_exact({1}, {third()});
  expect_exact(eval1("Sigmoid", {t}, Mode::kExact), {1},
               {ex(1.0 / (1.0 + std::exp(-(1.0 / 3.0))))});
}

// ---------------------------------------------------------------------------
// Other unary math

TEST(MathOps, SqrtNegAbs) {
  Tensor x = f32({4}, {2.25f, 2.0f, -1.0f, 0.0f});
  expect_f32(eval1("Sqrt", {x}, Mode::kFloat), {4}, {1.5f, std::sqrt(2.0f), NAN, 0.0f});
  expect_exact(eval1("Sqrt", {x}, Mode::kExact), {4},
               {ex(1.5), ex(std::sqrt(2.0)), Exact::nan(), Exact()});
  Tensor y = f32({3}, {-1.25f, 0.0f, 3.0f});
  expect_f32(eval1("Neg", {y}, Mode::kFloat), {3}, {1.25f, -0.0f, -3.0f});
  expect_exact(eval1("Neg", {y}, Mode::kExact), {3}, {ex(1.25), Exact(), ex(-3)});
  expect_f32(eval1("Abs", {y}, Mode::kFloat), {3}, {1.25f, 0.0f, 3.0f});
  expect_exact(eval1("Abs", {Tensor::from_exact({1}, {-third()})}, Mode::kExact), {1}, {third()});
  expect_i64(eval1("Neg", {i64({2}, {5, -6})}, Mode::kFloat), {2}, {-5, 6});
  expect_i64(eval1("Abs", {i64({2}, {5, -6})}, Mode::kExact), {2}, {5, 6});
  expect_error([&] { eval1("Neg", {i64({1}, {INT64_MIN})}, Mode::kExact); },
               ErrorKind::kInvalidModel, {"overflow"});
}

TEST(MathOps, FloorCeilRound) {
  Tensor x = f32({8}, {-2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f, 2.7f, -2.7f});
  expect_f32(eval1("Round", {x}, Mode::kFloat), {8},
             {-2.0f, -2.0f, -0.0f, 0.0f, 2.0f, 2.0f, 3.0f, -3.0f});
  expect_exact(eval1("Round", {x}, Mode::kExact), {8},
               {ex(-2), ex(-2), Exact(), Exact(), ex(2), ex(2), ex(3), ex(-3)});
  expect_f32(eval1("Floor", {x}, Mode::kFloat), {8},
             {-3.0f, -2.0f, -1.0f, 0.0f, 1.0f, 2.0f, 2.0f, -3.0f});
  expect_exact(eval1("Ceil", {x}, Mode::kExact), {8},
               {ex(-2), ex(-1), Exact(), ex(1), ex(2), ex(3), ex(3), ex(-2)});
  // The exact decision is on the true value: (1.5 - 2^-30) / 1 rounds to 1, and
  // 5/2 from a Div is an exact tie that goes to even.
  Tensor t = Tensor::from_exact({3}, {ex(1.5) - Exact::make(1, 1, -30),
                                      Exact::from_int(5) / Exact::from_int(2), third() * ex(-7)});
  expect_exact(eval1("Round", {t}, Mode::kExact), {3}, {ex(1), ex(2), ex(-2)});
  expect_exact(eval1("Floor", {t}, Mode::kExact), {3}, {ex(1), ex(2), ex(-3)});
  // Non-finite values and large integers pass through.
  expect_exact(eval1("Round", {f32({3}, {INFINITY, NAN, 3e38f})}, Mode::kExact), {3},
               {Exact::inf(false), Exact::nan(), ex(3e38f)});
  expect_i64(eval1("Round", {i64({1}, {-3})}, Mode::kExact), {1}, {-3});
}

TEST(MathOps, IdentityKeepsTheExactValue) {
  Tensor t = Tensor::from_exact({2}, {third(), ex(0.5)});
  expect_exact(eval1("Identity", {t}, Mode::kExact), {2}, {third(), ex(0.5)});
  expect_i64(eval1("Identity", {i64({1}, {7})}, Mode::kFloat), {1}, {7});
}

// ---------------------------------------------------------------------------
// Cast (to: 1 FLOAT, 2 UINT8, 3 INT8, 6 INT32, 7 INT64, 9 BOOL, 10 FLOAT16, 11 DOUBLE)

TEST(MathOps, Cast) {
  // To FLOAT in exact mode keeps the exact value: it is not rounded to float32.
  Tensor t = Tensor::from_exact({1}, {third()});
  expect_exact(eval1("Cast", {t}, Mode::kExact, {{"to", ai(1)}}), {1}, {third()});
  expect_exact(eval1("Cast", {t}, Mode::kExact, {{"to", ai(11)}}), {1}, {third()});
  // int64 to FLOAT rounds to float32 in float mode, stays exact in exact mode.
  Tensor big = i64({1}, {16777217});
  expect_f32(eval1("Cast", {big}, Mode::kFloat, {{"to", ai(1)}}), {1}, {16777216.0f});
  expect_exact(eval1("Cast", {big}, Mode::kExact, {{"to", ai(1)}}), {1}, {ex(16777217)});
  // Float to integers truncates toward zero, then wraps into the target's width.
  Tensor x = f32({5}, {-2.7f, 2.7f, 1e10f, 200.0f, -129.0f});
  for (Mode m : {Mode::kFloat, Mode::kExact}) {
    expect_i64(eval1("Cast", {x}, m, {{"to", ai(7)}}), {5}, {-2, 2, 10000000000, 200, -129});
    expect_i64(eval1("Cast", {x}, m, {{"to", ai(3)}}), {5}, {-2, 2, 0, -56, 127});
    expect_i64(eval1("Cast", {x}, m, {{"to", ai(2)}}), {5}, {254, 2, 0, 200, 127});
    expect_i64(eval1("Cast", {x}, m, {{"to", ai(6)}}), {5}, {-2, 2, INT32_MIN, 200, -129});
    expect_i64(eval1("Cast", {f32({3}, {0.0f, -0.0f, 0.5f})}, m, {{"to", ai(9)}}), {3}, {0, 0, 1});
  }
  // Out of range: the x86-64 "integer indefinite" of the conversion width, then wrapped
  // (checked against onnxruntime 1.32).
  Tensor odd = f32({4}, {1e19f, -1e19f, 300.5f, -2.7f});
  for (Mode m : {Mode::kFloat, Mode::kExact}) {
    expect_i64(eval1("Cast", {odd}, m, {{"to", ai(7)}}), {4}, {INT64_MIN, INT64_MIN, 300, -2});
    expect_i64(eval1("Cast", {odd}, m, {{"to", ai(3)}}), {4}, {0, 0, 44, -2});
    expect_i64(eval1("Cast", {odd}, m, {{"to", ai(12)}}), {4}, {0, 2147483648, 300, 4294967294});
    expect_i64(eval1("Cast", {f32({3}, {3e9f, 5e9f, 70000.0f})}, m, {{"to", ai(12)}}), {3},
               {3000000000, 0, 70000});
    expect_i64(eval1("Cast", {f32({2}, {70000.0f, -2.7f})}, m, {{"to", ai(4)}}), {2},
               {4464, 65534});
    // UINT64 of 1e19 (about 2^63.1) is stored as the int64 with the same bits.
    expect_i64(eval1("Cast", {f32({2}, {1e19f, -2.7f})}, m, {{"to", ai(13)}}), {2},
               {static_cast<int64_t>(9999999980506447872u), -2});
  }
  expect_i64(eval1("Cast", {Tensor::from_exact({2}, {Exact::nan(), Exact::inf(false)})},
                   Mode::kExact, {{"to", ai(6)}}),
             {2}, {INT32_MIN, INT32_MIN});
  expect_i64(
      eval1("Cast", {Tensor::from_exact({1}, {Exact::nan()})}, Mode::kExact, {{"to", ai(12)}}), {1},
      {2147483648});
  expect_i64(eval1("Cast", {i64({3}, {300, -1, 65535})}, Mode::kFloat, {{"to", ai(2)}}), {3},
             {44, 255, 255});
  // Exact mode truncates the true value: -1/3 -> 0, 7/3 -> 2.
  expect_i64(eval1("Cast", {Tensor::from_exact({2}, {-third(), third() * ex(7)})}, Mode::kExact,
                   {{"to", ai(7)}}),
             {2}, {0, 2});
  expect_error(
      [&] {
        eval1("Cast", {x}, Mode::kFloat, {{"to", ai(10)}});
      },
      ErrorKind::kUnsupported, {"Cast", "10"});
}

// ---------------------------------------------------------------------------
// Gemm and MatMul

// Naive reference: y[m][n] = sum_k A[m][k] * B[k][n] in double for row-major A (M,K), B (K,N).
std::vector<double> ref_matmul(const std::vector<float>& a, const std::vector<float>& b, int64_t M,
                               int64_t K, int64_t N) {
  std::vector<double> y(static_cast<size_t>(M * N), 0.0);
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) {
        s += static_cast<double>(a[static_cast<size_t>(m * K + k)]) *
             b[static_cast<size_t>(k * N + n)];
      }
      y[static_cast<size_t>(m * N + n)] = s;
    }
  }
  return y;
}

std::vector<float> transpose(const std::vector<float>& v, int64_t rows, int64_t cols) {
  std::vector<float> t(v.size());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c)
      t[static_cast<size_t>(c * rows + r)] = v[static_cast<size_t>(r * cols + c)];
  }
  return t;
}

TEST(MathOps, GemmSmallIntegers) {
  Tensor a = f32({2, 2}, {1, 2, 3, 4});
  Tensor b = f32({2, 2}, {5, 6, 7, 8});
  for (Mode m : {Mode::kFloat, Mode::kExact}) {
    Tensor y = eval1("Gemm", {a, b}, m).to(ElemType::kFloat32);
    expect_f32(y, {2, 2}, {19, 22, 43, 50});
  }
}

TEST(MathOps, GemmTransposesScalesAndBroadcastsC) {
  const int64_t M = 3, K = 4, N = 2;
  std::vector<float> av{0.1f,  -0.7f, 1.3f, 2.0f,  0.25f, 3.5f,
                        -1.1f, 0.9f,  5.0f, -2.2f, 0.01f, 1.0f};
  std::vector<float> bv{0.3f, -0.2f, 1.7f, 0.6f, -0.9f, 2.4f, 0.05f, -1.6f};
  std::vector<float> cv{0.5f, -0.125f};
  const float alpha = 0.75f, beta = -2.0f;
  std::vector<double> prod = ref_matmul(av, bv, M, K, N);
  std::vector<float> want;
  std::vector<Exact> want_x;
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      double p = prod[static_cast<size_t>(m * N + n)];
      want.push_back(
          static_cast<float>(p * alpha + static_cast<double>(beta) * cv[static_cast<size_t>(n)]));
      Exact s;
      for (int64_t k = 0; k < K; ++k) {
        s = s + ex(av[static_cast<size_t>(m * K + k)]) * ex(bv[static_cast<size_t>(k * N + n)]);
      }
      want_x.push_back(s * ex(alpha) + ex(beta) * ex(cv[static_cast<size_t>(n)]));
    }
  }
  Attrs base{{"alpha", af(alpha)}, {"beta", af(beta)}};
  for (int ta = 0; ta < 2; ++ta) {
    for (int tb = 0; tb < 2; ++tb) {
      SCOPED_TRACE("transA=" + std::to_string(ta) + " transB=" + std::to_string(tb));
      Tensor a = ta ? f32({K, M}, transpose(av, M, K)) : f32({M, K}, av);
      Tensor b = tb ? f32({N, K}, transpose(bv, K, N)) : f32({K, N}, bv);
      Attrs at = base;
      at["transA"] = ai(ta);
      at["transB"] = ai(tb);
      Tensor c = f32({N}, cv);
      expect_f32(eval1("Gemm", {a, b, c}, Mode::kFloat, at), {M, N}, want);
      expect_exact(eval1("Gemm", {a, b, c}, Mode::kExact, at), {M, N}, want_x);
    }
  }
  // C as a scalar and as a column (M, 1); no C at all.
  Tensor a = f32({M, K}, av), b = f32({K, N}, bv);
  Tensor y = eval1("Gemm", {a, b, f32({}, {1.0f})}, Mode::kExact);
  Tensor yc = eval1("Gemm", {a, b, f32({M, 1}, {1.0f, 2.0f, 3.0f})}, Mode::kExact);
  Tensor y0 = eval1("Gemm", {a, b, std::nullopt}, Mode::kExact);
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      auto i = static_cast<size_t>(m * N + n);
      EXPECT_EQ(y.exact()[i], y0.exact()[i] + ex(1));
      EXPECT_EQ(yc.exact()[i], y0.exact()[i] + ex(static_cast<double>(m + 1)));
    }
  }
  expect_error(
      [&] {
        eval1("Gemm", {a, b, f32({M}, {1, 2, 3})}, Mode::kFloat);
      },
      ErrorKind::kInvalidModel, {"does not broadcast to (3, 2)"});
  expect_error(
      [&] {
        eval1("Gemm", {a, a}, Mode::kFloat);
      },
      ErrorKind::kInvalidModel, {"inner dimensions"});
}

TEST(MathOps, GemmExactFallbacks) {
  // A non-dyadic operand takes the Exact path: (1/3)*3 + 2*0.5 = 2 exactly.
  Tensor a = Tensor::from_exact({1, 2}, {third(), ex(2)});
  Tensor b = f32({2, 1}, {3.0f, 0.5f});
  expect_exact(eval1("Gemm", {a, b}, Mode::kExact), {1, 1}, {ex(2)});
  // Numerators of 62+ bits skip the 128-bit path but still sum exactly.
  Exact wide = Exact::from_int((static_cast<i128>(1) << 70) + 1);
  Tensor w = Tensor::from_exact({1, 2}, {wide, wide});
  expect_exact(eval1("MatMul", {w, f32({2, 1}, {1.0f, -1.0f})}, Mode::kExact), {1, 1}, {Exact()});
  // Exponents 200 bits apart: the 128-bit path gives up and the exact sum needs more
  // than 127 bits, which Exact holds in its big form: still exact.
  Graph g = Builder()
                .input("x", {1, 2})
                .init("w", f32({2, 1}, {1.0f, 1.0f}))
                .node("fc", "Gemm", {"x", "w"}, {"y"})
                .output("y")
                .done();
  TensorMap feeds{{"x", f32({1, 2}, {std::ldexp(1.0f, 100), std::ldexp(1.0f, -100)})}};
  expect_f32(run1(g, feeds, Mode::kFloat), {1, 1}, {std::ldexp(1.0f, 100)});
  expect_f32(run1(g, feeds, Mode::kExact), {1, 1}, {std::ldexp(1.0f, 100)});
  expect_exact(eval1("Gemm", {feeds.at("x"), f32({2, 1}, {1.0f, 1.0f})}, Mode::kExact), {1, 1},
               {Exact::make(1, 1, 100) + Exact::make(1, 1, -100)});
  // Cancellation within the 128-bit path: 2^60 + 2^-60 - 2^60 = 2^-60.
  Tensor x3 = f32({1, 3}, {std::ldexp(1.0f, 60), std::ldexp(1.0f, -60), -std::ldexp(1.0f, 60)});
  expect_exact(eval1("MatMul", {x3, f32({3, 1}, {1, 1, 1})}, Mode::kExact), {1, 1},
               {Exact::make(1, 1, -60)});
}

TEST(MathOps, MatMulExactTiersEqualExactSums) {
  // Quantized-looking values (integers times 2^e). Narrow exponent ranges take the
  // common-exponent integer path (int64 for small integers, 128-bit for larger),
  // wide ones the realigning 128-bit path; all must equal the plain Exact sum.
  struct Case {
    int mant_bits, exp_lo, exp_hi;
  };
  const Case cases[] = {{8, -4, 0}, {28, -6, 2}, {20, -30, 10}};
  std::mt19937_64 rng(1234);  // fixed seed: reproducible
  for (const Case& c : cases) {
    SCOPED_TRACE("mantissa bits " + std::to_string(c.mant_bits));
    std::uniform_int_distribution<int64_t> mant(-(int64_t{1} << c.mant_bits),
                                                int64_t{1} << c.mant_bits);
    std::uniform_int_distribution<int> expo(c.exp_lo, c.exp_hi);
    const int64_t M = 4, K = 37, N = 5;
    auto make = [&](int64_t n) {
      std::vector<Exact> v;
      for (int64_t i = 0; i < n; ++i) v.push_back(Exact::from_int(mant(rng)).ldexp(expo(rng)));
      return v;
    };
    std::vector<Exact> a = make(M * K), b = make(K * N);
    a[3] = Exact();  // zeros are skipped
    Tensor y = eval1("MatMul", {Tensor::from_exact({M, K}, a), Tensor::from_exact({K, N}, b)},
                     Mode::kExact);
    Tensor yt =
        eval1("Gemm", {Tensor::from_exact({M, K}, a), Tensor::from_exact({K, N}, b)}, Mode::kExact);
    std::vector<Exact> want;
    for (int64_t m = 0; m < M; ++m) {
      for (int64_t n = 0; n < N; ++n) {
        Exact s;
        for (int64_t k = 0; k < K; ++k) {
          s = s + a[static_cast<size_t>(m * K + k)] * b[static_cast<size_t>(k * N + n)];
        }
        want.push_back(s);
      }
    }
    expect_exact(y, {M, N}, want);
    expect_exact(yt, {M, N}, want);
  }
}

TEST(MathOps, MatMulShapes) {
  Tensor v3 = f32({3}, {1, 2, 3});
  Tensor w3 = f32({3}, {4, -5, 6});
  for (Mode m : {Mode::kFloat, Mode::kExact}) {
    SCOPED_TRACE(mode_name(m));
    // 1-D x 1-D: a scalar.
    expect_f32(eval1("MatMul", {v3, w3}, m).to(ElemType::kFloat32), {}, {12});
    // 1-D x 2-D and 2-D x 1-D drop the promoted dim.
    Tensor mat = f32({3, 2}, {1, 0, 0, 1, 2, 2});
    expect_f32(eval1("MatMul", {v3, mat}, m).to(ElemType::kFloat32), {2}, {7, 8});
    expect_f32(eval1("MatMul", {f32({2, 3}, {1, 0, 2, 0, 1, 2}), w3}, m).to(ElemType::kFloat32),
               {2}, {16, 7});
    // Batch dims broadcast: (2,1,2,3) x (3,3,2) -> (2,3,2,2).
    std::vector<float> av(12), bv(18);
    for (size_t i = 0; i < av.size(); ++i) av[i] = static_cast<float>(i) - 5.0f;
    for (size_t i = 0; i < bv.size(); ++i) bv[i] = static_cast<float>(i % 7) * 0.5f;
    Tensor y =
        eval1("MatMul", {f32({2, 1, 2, 3}, av), f32({3, 3, 2}, bv)}, m).to(ElemType::kFloat32);
    ASSERT_EQ(y.shape(), (Shape{2, 3, 2, 2}));
    for (int64_t i = 0; i < 2; ++i) {
      for (int64_t j = 0; j < 3; ++j) {
        std::vector<float> a2(av.begin() + i * 6, av.begin() + i * 6 + 6);
        std::vector<float> b2(bv.begin() + j * 6, bv.begin() + j * 6 + 6);
        std::vector<double> r = ref_matmul(a2, b2, 2, 3, 2);
        for (size_t k = 0; k < 4; ++k) {
          EXPECT_EQ(y.f32()[static_cast<size_t>((i * 3 + j) * 4) + k], static_cast<float>(r[k]));
        }
      }
    }
  }
  expect_i64(eval1("MatMul", {i64({2}, {3, 4}), i64({2, 1}, {5, 6})}, Mode::kExact), {1}, {39});
  Graph g = Builder()
                .input("x", {2, 3})
                .init("w", f32({2, 2}, {1, 2, 3, 4}))
                .node("proj", "MatMul", {"x", "w"}, {"y"})
                .output("y")
                .done();
  expect_error(
      [&] {
        run1(g, {{"x", Tensor(ElemType::kFloat32, {2, 3})}}, Mode::kExact);
      },
      ErrorKind::kInvalidModel, {"node 'proj'", "inner dimensions differ"});
}

TEST(MathOps, MatMulFloatRoundsOnceFromDouble) {
  // 1 + 2^-30 - 1 in float32 steps would give 0; the double sum rounds once.
  Tensor a = f32({1, 3}, {1.0f, std::ldexp(1.0f, -30), -1.0f});
  Tensor b = f32({3, 1}, {1.0f, 1.0f, 1.0f});
  expect_f32(eval1("MatMul", {a, b}, Mode::kFloat), {1, 1}, {std::ldexp(1.0f, -30)});
}

// ---------------------------------------------------------------------------
// Softmax

// The exact-mode algorithm (double), written out per slice of `len` values at `step`.
void ref_softmax(const std::vector<float>& x, size_t base, size_t len, size_t step,
                 std::vector<Exact>& yx) {
  double md = -INFINITY;
  for (size_t j = 0; j < len; ++j) md = std::max(md, static_cast<double>(x[base + j * step]));
  std::vector<double> ed(len);
  double sd = 0;
  for (size_t j = 0; j < len; ++j) {
    ed[j] = std::exp(static_cast<double>(x[base + j * step]) - md);
    sd += ed[j];
  }
  for (size_t j = 0; j < len; ++j) yx[base + j * step] = ex(ed[j] / sd);
}

TEST(MathOps, SoftmaxAxes) {
  std::vector<float> x{0.5f, -1.0f, 2.0f, 3.0f, 0.1f, -0.3f, 1.0f, 1.0f, 4.0f, -2.0f, 0.0f, 0.7f};
  struct Case {
    int opset;
    int64_t axis;
    size_t outer, len, inner;
  };
  // Shape (2, 2, 3).
  const Case cases[] = {
      {13, -1, 4, 3, 1},                    // along the last axis
      {13, 1, 2, 2, 3},                     // along the middle axis only
      {13, 0, 1, 2, 6},  {11, 1, 2, 6, 1},  // opset < 13: flattened to (2, 6)
      {11, 0, 1, 12, 1}, {11, -1, 4, 3, 1},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE("opset " + std::to_string(k.opset) + " axis " + std::to_string(k.axis));
    std::vector<Exact> wx(x.size());
    for (size_t o = 0; o < k.outer; ++o) {
      for (size_t i = 0; i < k.inner; ++i) {
        ref_softmax(x, o * k.len * k.inner + i, k.len, k.inner, wx);
      }
    }
    Attrs a{{"axis", ai(k.axis)}};
    // Float mode: the same slices as the last axis of a reshaped copy.
    if (k.inner == 1) {
      Shape flat{static_cast<int64_t>(k.outer), static_cast<int64_t>(k.len)};
      Tensor want = eval1("Softmax", {f32(flat, x)}, Mode::kFloat);
      expect_f32(eval1("Softmax", {f32({2, 2, 3}, x)}, Mode::kFloat, a, k.opset), {2, 2, 3},
                 want.f32());
    }
    expect_exact(eval1("Softmax", {f32({2, 2, 3}, x)}, Mode::kExact, a, k.opset), {2, 2, 3}, wx);
  }
  // Defaults: axis -1 from opset 13, axis 1 before.
  Tensor two = f32({2, 2}, {0.0f, 0.0f, 1.0f, 1.0f});
  expect_f32(eval1("Softmax", {two}, Mode::kFloat), {2, 2}, {0.5f, 0.5f, 0.5f, 0.5f});
  expect_exact(eval1("Softmax", {two}, Mode::kExact, {}, 11), {2, 2},
               {ex(0.5), ex(0.5), ex(0.5), ex(0.5)});
  // Empty tensors stay empty.
  expect_f32(eval1("Softmax", {f32({2, 0}, {})}, Mode::kFloat), {2, 0}, {});
  expect_f32(eval1("Softmax", {f32({0, 3}, {})}, Mode::kExact).to(ElemType::kFloat32), {0, 3}, {});
  expect_error(
      [&] {
        eval1("Softmax", {two}, Mode::kFloat, {{"axis", ai(2)}});
      },
      ErrorKind::kInvalidModel, {"axis 2 is out of range"});
}

TEST(MathOps, SoftmaxFloatMatchesOnnxruntime) {
  // Rows of 5 and 25 (25 exercises every step of the kernel's summation order);
  // expected values are onnxruntime 1.32's CPU outputs.
  auto input = [](int64_t rows, int64_t len) {
    std::vector<float> v;
    for (int64_t k = 0; k < rows * len; ++k)
      v.push_back(static_cast<float>(k * 7 % 13 - 6) * 0.37f);
    return f32({rows, len}, v);
  };
  expect_f32(eval1("Softmax", {input(2, 5)}, Mode::kFloat), {2, 5},
             {0x1.b8c4d0p-6f, 0x1.6f3590p-2f, 0x1.3f0ee0p-5f, 0x1.09cf8ep-1f, 0x1.cde958p-5f,
              0x1.a9d28ap-3f, 0x1.71fc4cp-6f, 0x1.343d2ap-2f, 0x1.0bd206p-5f, 0x1.be3f88p-2f});
  expect_f32(eval1("Softmax", {input(2, 25)}, Mode::kFloat), {2, 25},
             {0x1.ea647cp-10f, 0x1.988d20p-6f, 0x1.62faa6p-9f, 0x1.27bca6p-5f,  0x1.00f532p-8f,
              0x1.ac260ap-5f,  0x1.7401b8p-8f, 0x1.35ec3ap-4f, 0x1.0d4892p-7f,  0x1.c0af98p-4f,
              0x1.85d9d8p-7f,  0x1.44ca00p-3f, 0x1.1a334cp-6f, 0x1.ea647cp-10f, 0x1.988d20p-6f,
              0x1.62faa6p-9f,  0x1.27bca6p-5f, 0x1.00f532p-8f, 0x1.ac260ap-5f,  0x1.7401b8p-8f,
              0x1.35ec3ap-4f,  0x1.0d4892p-7f, 0x1.c0af98p-4f, 0x1.85d9d8p-7f,  0x1.44ca00p-3f,
              0x1.48a950p-6f,  0x1.1d90a2p-9f, 0x1.dbd080p-6f, 0x1.9d6c18p-9f,  0x1.586d32p-5f,
              0x1.2b434cp-8f,  0x1.f2a364p-5f, 0x1.b140d6p-8f, 0x1.68f2aap-4f,  0x1.399e2ap-7f,
              0x1.054744p-3f,  0x1.c6090ep-7f, 0x1.7a4304p-3f, 0x1.48a950p-6f,  0x1.1d90a2p-9f,
              0x1.dbd080p-6f,  0x1.9d6c18p-9f, 0x1.586d32p-5f, 0x1.2b434cp-8f,  0x1.f2a364p-5f,
              0x1.b140d6p-8f,  0x1.68f2aap-4f, 0x1.399e2ap-7f, 0x1.054744p-3f,  0x1.c6090ep-7f});
  // Along the middle axis of (2, 5, 3), opset 13.
  std::vector<float> v;
  for (int k = 0; k < 30; ++k) v.push_back(static_cast<float>(k * 5 % 11 - 5) * 0.61f);
  expect_f32(eval1("Softmax", {f32({2, 5, 3}, v)}, Mode::kFloat, {{"axis", ai(1)}}), {2, 5, 3},
             {0x1.884a96p-8f, 0x1.cc5d28p-6f,  0x1.a9d34cp-1f, 0x1.194c66p-4f, 0x1.4a1c64p-2f,
              0x1.7d0afap-7f, 0x1.936b26p-1f,  0x1.2764fep-8f, 0x1.113b8ep-3f, 0x1.68fe22p-7f,
              0x1.a7a258p-5f, 0x1.e8fee4p-10f, 0x1.02daf0p-3f, 0x1.2fc5f4p-1f, 0x1.5ea446p-6f,
              0x1.50c7b4p-2f, 0x1.cc5d28p-6f,  0x1.50c7b8p-2f, 0x1.2d5cc2p-8f, 0x1.4a1c66p-2f,
              0x1.2d5cc2p-8f, 0x1.b0315cp-5f,  0x1.2764fep-8f, 0x1.b0315cp-5f, 0x1.35e90ep-1f,
              0x1.a7a258p-5f, 0x1.35e90ep-1f,  0x1.155178p-7f, 0x1.2fc5f4p-1f, 0x1.155182p-7f});
}

// ---------------------------------------------------------------------------
// BatchNormalization

TEST(MathOps, BatchNormFloatMatchesOnnxruntime) {
  Tensor x = f32({1, 2, 3}, {0.1f, -1.7f, 2.3f, 3.3f, 0.77f, -0.01f});
  Tensor sc = f32({2}, {0.9f, -1.3f}), b = f32({2}, {0.05f, 0.2f});
  Tensor mean = f32({2}, {0.3f, -0.4f}), var = f32({2}, {0.7f, 2.1f});
  // onnxruntime 1.32 CPU output for these inputs, epsilon 1e-3.
  std::vector<float> ort{-0x1.51e50ep-3f, -0x1.0cc8c2p+1f, 0x1.19958ep+1f,
                         -0x1.8f2890p+1f, -0x1.b2dcaep-1f, -0x1.32bfdap-3f};
  Attrs a{{"epsilon", af(1e-3f)}};
  expect_f32(eval1("BatchNormalization", {x, sc, b, mean, var}, Mode::kFloat, a, 15), {1, 2, 3},
             ort);
  // Exact mode: factor = scale / sqrt(var + eps) in double, the rest exact.
  std::vector<Exact> want;
  for (size_t k = 0; k < 6; ++k) {
    size_t c = k / 3;
    Exact factor = ex(static_cast<double>(sc.f32()[c]) /
                      std::sqrt(static_cast<double>(var.f32()[c]) + static_cast<double>(1e-3f)));
    want.push_back((ex(x.f32()[k]) - ex(mean.f32()[c])) * factor + ex(b.f32()[c]));
  }
  expect_exact(eval1("BatchNormalization", {x, sc, b, mean, var}, Mode::kExact, a, 15), {1, 2, 3},
               want);
}

TEST(MathOps, BatchNormExactIsDyadic) {
  // var 4, eps 0, scale 1: factor 1/2 exactly, so y = (x - mean) / 2 + bias exactly.
  Tensor x = f32({2, 1, 2}, {0.1f, 3.0f, -0.3f, 1.0f});
  Tensor one = f32({1}, {1.0f}), zero = f32({1}, {0.0f}), four = f32({1}, {4.0f});
  Tensor y = eval1("BatchNormalization", {x, one, f32({1}, {0.25f}), f32({1}, {0.5f}), four},
                   Mode::kExact, {{"epsilon", af(0.0f)}});
  expect_exact(y, {2, 1, 2},
               {(ex(0.1f) - ex(0.5)).ldexp(-1) + ex(0.25), ex(1.5),
                (ex(-0.3f) - ex(0.5)).ldexp(-1) + ex(0.25), ex(0.5)});
  // (0.1f - 0.5) / 2 + 0.25 is 0.1f / 2: all of 0.1f's bits survive.
  EXPECT_EQ(y.exact()[0], Exact::make(13421773, 1, -28));
  // Rank-2 input (N, C).
  Tensor y2 = eval1("BatchNormalization", {f32({2, 1}, {2.0f, 4.0f}), one, zero, zero, four},
                    Mode::kExact, {{"epsilon", af(0.0f)}});
  expect_exact(y2, {2, 1}, {ex(1), ex(2)});
}

TEST(MathOps, BatchNormErrors) {
  Tensor x = f32({1, 2, 2}, {1, 2, 3, 4});
  Tensor p2 = f32({2}, {1, 1}), p3 = f32({3}, {1, 1, 1});
  expect_error(
      [&] {
        eval1("BatchNormalization", {x, p2, p3, p2, p2}, Mode::kFloat);
      },
      ErrorKind::kInvalidModel, {"B has shape (3,)", "2 channels"});
  expect_error(
      [&] {
        eval1("BatchNormalization", {x, p2, p2, p2, p2}, Mode::kExact, {{"training_mode", ai(1)}});
      },
      ErrorKind::kUnsupported, {"training_mode"});
}

// ---------------------------------------------------------------------------
// Whole graphs: chains and quantized types

TEST(MathOps, DenseLayerChainBothModes) {
  // x (1,3) -> Gemm(W^T, b) -> Relu -> Clip(0, 6) -> Softmax; small dyadic numbers,
  // so float and exact agree before the Softmax and after it (both via double exp).
  Graph g = Builder()
                .input("x", {1, 3})
                .init("w", f32({2, 3}, {0.5f, -1.0f, 0.25f, 2.0f, 0.125f, -0.5f}))
                .init("b", f32({2}, {0.0625f, -0.25f}))
                .init("lo", f32({}, {0.0f}))
                .init("hi", f32({}, {6.0f}))
                .node("fc", "Gemm", {"x", "w", "b"}, {"h"}, {{"transB", ai(1)}})
                .node("act", "Relu", {"h"}, {"r"})
                .node("clip", "Clip", {"r", "lo", "hi"}, {"c"})
                .node("sm", "Softmax", {"c"}, {"y"})
                .output("c")
                .output("y")
                .done();
  TensorMap feeds{{"x", f32({1, 3}, {1.0f, -2.0f, 4.0f})}};
  // h = [0.5 + 2 + 1 + 0.0625, 2 - 0.25 - 2 - 0.25] = [3.5625, -0.5]
  for (Mode m : {Mode::kFloat, Mode::kExact}) {
    TensorMap out = execute(g, feeds, RunOptions{m, false, false});
    expect_f32(out.at("c"), {1, 2}, {3.5625f, 0.0f});
    double e0 = 1.0, e1 = std::exp(0.0 - 3.5625);
    if (m == Mode::kExact) {
      expect_f32(out.at("y"), {1, 2},
                 {static_cast<float>(e0 / (e0 + e1)), static_cast<float>(e1 / (e0 + e1))});
    }
  }
}

TEST(MathOps, QuantizedTypesFlowThrough) {
  Builder b;
  b.input("x", {1, 4}).input("bp", {1, 4});
  b.init("lo", f32({}, {-2.0f})).init("half", f32({}, {0.5f})).init("far", f32({}, {-20.0f}));
  b.init("one", f32({}, {1.0f}));
  struct Out {
    std::string op, in, name;
    Attrs attrs;
    std::vector<std::string> extra;
    std::string want;
  };
  const std::vector<Out> outs = {
      {"Relu", "x", "relu", {}, {}, "UINT3"},
      {"Relu", "bp", "relu_bp", {}, {}, "BINARY"},
      {"Clip", "x", "clip", {}, {"lo"}, "INT4"},
      {"Clip", "x", "clip_open", {}, {}, "INT4"},
      {"Clip", "x", "clip_half", {}, {"half"}, "FLOAT32"},  // 0.5 is not an INT4 value
      {"Clip", "x", "clip_far", {}, {"far"}, "FLOAT32"},    // -20 is outside INT4
      {"Identity", "x", "id", {}, {}, "INT4"},
      {"Abs", "x", "abs", {}, {}, "UINT4"},
      {"Neg", "x", "neg", {}, {}, "INT5"},
      {"Neg", "bp", "neg_bp", {}, {}, "BIPOLAR"},
      {"Round", "x", "round", {}, {}, "INT4"},
      {"Cast", "x", "cast8", {{"to", ai(3)}}, {}, "INT4"},  // fits INT8: keeps the tighter type
      {"Cast", "x", "castu8", {{"to", ai(2)}}, {}, "UINT8"},
      {"Cast", "x", "castf", {{"to", ai(1)}}, {}, "INT4"},
      {"Add", "x", "add", {}, {"one"}, "FLOAT32"},
  };
  for (const Out& o : outs) {
    std::vector<std::string> ins{o.in};
    ins.insert(ins.end(), o.extra.begin(), o.extra.end());
    b.node(o.name + "_node", o.op, ins, {o.name}, o.attrs).output(o.name);
  }
  Graph g = b.done();
  g.annotations["x"] = DataType::integer(4, true);
  g.annotations["bp"] = DataType::bipolar();
  infer_shapes_and_types(g);
  for (const Out& o : outs) EXPECT_EQ(g.value_info.at(o.name).dtype.name(), o.want) << o.name;
  EXPECT_EQ(g.value_info.at("cast8").elem, ElemType::kInt64);
  // Opset 6 Clip takes its bounds from attributes.
  Builder b6(6);
  b6.input("x", {2}).output("y").node("c", "Clip", {"x"}, {"y"},
                                      {{"min", af(0.0f)}, {"max", af(7.0f)}});
  Graph g6 = b6.done();
  g6.annotations["x"] = DataType::integer(4, true);
  infer_shapes_and_types(g6);
  EXPECT_EQ(g6.value_info.at("y").dtype.name(), "INT4");
}

}  // namespace
}  // namespace bitsmith
