// Softmax. Before opset 13 the input is coerced to 2-D at `axis` (default 1) and
// each row of the flattened trailing dims is normalized; from opset 13 on the
// normalization runs along the single axis `axis` (default -1).
//
// Float mode reproduces onnxruntime's CPU kernel bit for bit: m = max,
// e = exp(x - m) with onnxruntime's float32 exp approximation, s = the sum of e in
// the order its x86-64 kernel adds (ort_math.h), y = e * (1 / s) in float32.
//
// Exact mode has no finite exact value to give: it evaluates the whole softmax in
// double from the inputs' nearest doubles (max, exp(x - max), sum in order,
// divide) and takes each double result as an exact dyadic.
#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/ort_math.h"
#include "ops/registry.h"

namespace bitsmith {
namespace {

// The input viewed as (outer, len, inner); softmax runs along len.
struct Layout {
  int64_t outer = 1, len = 1, inner = 1;
};

Layout layout_of(const EvalContext& c, const Shape& shape) {
  const Node& n = c.node();
  bool coerce = n.version < 13;
  int64_t rank = static_cast<int64_t>(shape.size());
  int64_t axis = n.attr_int("axis", coerce ? 1 : -1);
  if (axis < 0) axis += rank;
  // Opset < 13 accepts axis == rank (everything in the outer part).
  if (axis < 0 || axis > rank || (!coerce && axis == rank)) {
    c.fail("axis " + std::to_string(n.attr_int("axis", 0)) + " is out of range for rank " +
           std::to_string(rank));
  }
  Layout l;
  for (int64_t d = 0; d < axis; ++d) l.outer *= shape[static_cast<size_t>(d)];
  if (coerce) {
    for (int64_t d = axis; d < rank; ++d) l.len *= shape[static_cast<size_t>(d)];
  } else {
    l.len = shape[static_cast<size_t>(axis)];
    for (int64_t d = axis + 1; d < rank; ++d) l.inner *= shape[static_cast<size_t>(d)];
  }
  return l;
}

// Calls fn(offset of element 0, stride) for every softmax slice.
template <class Fn>
void for_each_slice(const Layout& l, Fn&& fn) {
  for (int64_t o = 0; o < l.outer; ++o) {
    for (int64_t i = 0; i < l.inner; ++i) fn(o * l.len * l.inner + i, l.inner);
  }
}

void softmax_float(const std::vector<float>& x, std::vector<float>& y, const Layout& l) {
  for_each_slice(l, [&](int64_t base, int64_t step) {
    auto at = [&](int64_t j) { return static_cast<size_t>(base + j * step); };
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < l.len; ++j) m = std::max(m, x[at(j)]);
    for (int64_t j = 0; j < l.len; ++j) y[at(j)] = ort::softmax_exp(x[at(j)], -m);
    float r = 1.0f / ort::softmax_sum(&y[at(0)], l.len, step);
    for (int64_t j = 0; j < l.len; ++j) y[at(j)] *= r;
  });
}

void softmax_exact(const std::vector<Exact>& x, std::vector<Exact>& y, const Layout& l) {
  std::vector<double> e(static_cast<size_t>(l.len));
  for_each_slice(l, [&](int64_t base, int64_t step) {
    auto at = [&](int64_t j) { return static_cast<size_t>(base + j * step); };
    double m = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < l.len; ++j) m = std::max(m, x[at(j)].to_double());
    double sum = 0;
    for (int64_t j = 0; j < l.len; ++j) {
      e[static_cast<size_t>(j)] = std::exp(x[at(j)].to_double() - m);
      sum += e[static_cast<size_t>(j)];
    }
    for (int64_t j = 0; j < l.len; ++j)
      y[at(j)] = Exact::from_double(e[static_cast<size_t>(j)] / sum);
  });
}

void eval_softmax(EvalContext& c) {
  const Tensor& x = c.real_input(0);
  Layout l = layout_of(c, x.shape());
  Tensor y(x.type(), x.shape());
  if (y.size() == 0) return c.set_output(0, std::move(y));
  if (c.mode() == Mode::kExact) {
    softmax_exact(x.exact(), y.exact(), l);
  } else {
    softmax_float(x.f32(), y.f32(), l);
  }
  c.set_output(0, std::move(y));
}

OpDef make() {
  OpDef d;
  d.op_type = "Softmax";
  d.family = OpFamily::kOnnx;
  d.min_inputs = 1;
  d.max_inputs = 1;
  d.eval = eval_softmax;
  return d;
}

const OpRegistrar kSoftmax(make());

}  // namespace
}  // namespace bitsmith
