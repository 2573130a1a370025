// Helpers shared by the op tests (math, qonnx, shape and conv ops): attribute
// and tensor builders, graph value declarations, a runner that calls one kernel
// without a session, and comparisons. Each test file keeps its own graph
// builder, since each builds a different kind of graph.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "ir/graph.h"
#include "ops/registry.h"

namespace bitsmith {

using Attrs = std::map<std::string, Attribute>;

// ---- attributes

inline Attribute ai(int64_t v) {
  return Attribute::of_int(v);
}
inline Attribute af(float v) {
  return Attribute::of_float(v);
}
inline Attribute as(const std::string& v) {
  return Attribute::of_string(v);
}
inline Attribute aints(std::vector<int64_t> v) {
  return Attribute::of_ints(std::move(v));
}
inline Attribute afloats(std::vector<float> v) {
  return Attribute::of_floats(std::move(v));
}
inline Attribute atensor(Tensor t) {
  return Attribute::of_tensor(std::move(t));
}

// ---- tensors: one argument makes a 1-D tensor, (shape, values) any shape

inline Tensor f32(std::vector<float> v) {
  Shape s{static_cast<int64_t>(v.size())};
  return Tensor::from_f32(std::move(s), std::move(v));
}
inline Tensor f32(Shape s, std::vector<float> v) {
  return Tensor::from_f32(std::move(s), std::move(v));
}
inline Tensor i64(std::vector<int64_t> v) {
  Shape s{static_cast<int64_t>(v.size())};
  return Tensor::from_i64(std::move(s), std::move(v));
}
inline Tensor i64(Shape s, std::vector<int64_t> v) {
  return Tensor::from_i64(std::move(s), std::move(v));
}

// ---- graph values

// A graph input with a declared shape.
inline ValueInfo graph_input(const std::string& name, Shape shape,
                             ElemType elem = ElemType::kFloat32) {
  ValueInfo v;
  v.name = name;
  v.elem = elem;
  v.shape = std::move(shape);
  v.has_shape = true;
  return v;
}

// A graph output, left for inference to describe.
inline ValueInfo graph_output(const std::string& name) {
  ValueInfo v;
  v.name = name;
  return v;
}

// ---- running

// Calls the registered ONNX kernel of node.op_type directly, not through the
// session, so Exact outputs can be inspected before the session rounds them to
// float32. A null input is an absent optional input. Inputs are passed as they
// are: the caller converts float32 to Exact where exact mode needs it.
inline std::vector<Tensor> eval_kernel(const Node& node, std::vector<const Tensor*> inputs,
                                       Mode mode) {
  static Graph g;  // EvalContext names it in errors; one-node tests need no more
  g.source = "test.onnx";
  const OpDef* def = find_op(OpFamily::kOnnx, node.op_type);
  EXPECT_NE(def, nullptr) << "op not registered: " << node.op_type;
  if (!def) throw std::runtime_error("op not registered: " + node.op_type);
  EvalContext ctx(g, node, mode, std::move(inputs), 1, 1);
  def->eval(ctx);
  return ctx.outputs();
}

// What fn throws as Error, or "" when it throws nothing.
template <class Fn>
std::string error_text(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// ---- comparisons

// Element-wise ==, where a NaN wanted matches any NaN. With same_sign, zeros
// must also agree in sign (== alone lets -0 match +0).
inline void expect_same(const std::vector<float>& got, const std::vector<float>& want,
                        bool same_sign = false) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << "element " << i << ": " << got[i];
    } else {
      EXPECT_EQ(got[i], want[i]) << "element " << i;
      if (same_sign) {
        EXPECT_EQ(std::signbit(got[i]), std::signbit(want[i])) << "sign of " << i;
      }
    }
  }
}

}  // namespace bitsmith
