#include <gtest/gtest.h>

#include <cmath>

#include "ir/graph.h"
#include "runtime/session.h"

namespace bitsmith {
namespace {

Tensor run_pow(const Tensor& x, const Tensor& y, Mode mode) {
  Graph g;
  g.source = "pow.onnx";
  ValueInfo in;
  in.name = "x";
  in.shape = x.shape();
  in.has_shape = true;
  g.inputs = {in};
  g.initializers["e"] = y;
  Node n;
  n.name = "p";
  n.op_type = "Pow";
  n.inputs = {"x", "e"};
  n.outputs = {"y"};
  g.nodes = {n};
  ValueInfo out;
  out.name = "y";
  g.outputs = {out};
  verify(g);
  return execute(g, {{"x", x}}, {mode, false, false}).at("y");
}

TEST(Pow, SquareRootMatchesPowfInFloatMode) {
  Tensor x = Tensor::from_f32({3}, {2.0f, 0.3f, 1e-3f});
  Tensor y = run_pow(x, Tensor::scalar_f32(0.5f), Mode::kFloat);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(y.f32()[i], std::pow(x.f32()[i], 0.5f));
}

TEST(Pow, IntegerExponentsAreExact) {
  Tensor x = Tensor::from_f32({2}, {0.1f, -3.0f});
  Tensor y = run_pow(x, Tensor::scalar_f32(3.0f), Mode::kExact);
  Exact a = Exact::from_double(0.1f);
  EXPECT_EQ(y.f32()[0], (a * a * a).to_float());
  EXPECT_EQ(y.f32()[1], -27.0f);
  Tensor inv = run_pow(Tensor::from_f32({1}, {3.0f}), Tensor::scalar_f32(-1.0f), Mode::kExact);
  EXPECT_EQ(inv.f32()[0], 1.0f / 3.0f);
}

TEST(Pow, FractionalExponentsUseDoubleInExactMode) {
  Tensor y = run_pow(Tensor::from_f32({1}, {2.0f}), Tensor::scalar_f32(0.5f), Mode::kExact);
  EXPECT_EQ(y.f32()[0], static_cast<float>(std::sqrt(2.0)));
}

}  // namespace
}  // namespace bitsmith
