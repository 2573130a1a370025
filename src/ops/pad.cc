// ONNX Pad: constant, reflect, edge and wrap modes. Pads come from input 1 since
// opset 11 (with constant_value as input 2 and axes as input 3 since opset 18) and
// from the `pads` (opset 1: `paddings`) and `value` attributes before. Negative pads
// crop. Values are copied unchanged, so every storage type pads the same way.
#include <string>

#include "ops/layout.h"
#include "ops/registry.h"

namespace bitsmith {
namespace {

enum class PadMode { kConstant, kReflect, kEdge, kWrap };

PadMode pad_mode(const EvalContext& c) {
  std::string m = c.node().attr_string("mode", "constant");
  if (m == "constant") return PadMode::kConstant;
  if (m == "reflect") return PadMode::kReflect;
  if (m == "edge") return PadMode::kEdge;
  if (m == "wrap") return PadMode::kWrap;
  c.unsupported("pad mode '" + m + "' is not supported (constant, reflect, edge, wrap)");
}

// Input coordinate read by output coordinate i of an axis of size `dim` padded
// by `before`, or -1 for the constant. Reflect mirrors without repeating the edge
// (numpy 'reflect'), repeatedly when the pad is wider than the axis.
int64_t source(int64_t i, int64_t before, int64_t dim, PadMode mode) {
  int64_t c = i - before;
  if (c >= 0 && c < dim) return c;
  switch (mode) {
    case PadMode::kConstant:
      return -1;
    case PadMode::kEdge:
      return c < 0 ? 0 : dim - 1;
    case PadMode::kWrap:
      return ((c % dim) + dim) % dim;
    case PadMode::kReflect: {
      if (dim == 1) return 0;
      int64_t period = 2 * (dim - 1);
      int64_t m = ((c % period) + period) % period;
      return m < dim ? m : period - m;
    }
  }
  return -1;
}

void eval_pad(EvalContext& c) {
  const Node& n = c.node();
  const Tensor& x = c.input(0);
  const int64_t r = x.rank();
  PadMode mode = pad_mode(c);
  std::vector<int64_t> pads;
  Tensor fill = Tensor::scalar_f32(0.0f);
  if (n.version >= 11) {
    pads = c.int_input(1);
    if (c.has_input(2)) {
      if (c.input(2).size() != 1) c.fail("constant_value must hold one element");
      fill = c.input(2).reshaped({});
    }
  } else {
    pads = n.has_attr("pads") ? n.attr_ints("pads") : n.attr_ints("paddings");
    fill = Tensor::scalar_f32(n.attr_float("value", 0.0f));
  }
  std::vector<int64_t> axes;
  if (c.has_input(3)) {
    for (int64_t a : c.int_input(3)) {
      int64_t k = normalize_axis(a, r);
      if (k < 0)
        c.fail("axis " + std::to_string(a) + " is out of range for rank " + std::to_string(r));
      axes.push_back(k);
    }
  } else {
    for (int64_t a = 0; a < r; ++a) axes.push_back(a);
  }
  const size_t k = axes.size();
  if (pads.size() != 2 * k) {
    c.fail("pads has " + std::to_string(pads.size()) + " entries, expected " +
           std::to_string(2 * k));
  }
  std::vector<int64_t> before(static_cast<size_t>(r), 0), after(static_cast<size_t>(r), 0);
  for (size_t i = 0; i < k; ++i) {
    before[static_cast<size_t>(axes[i])] = pads[i];
    after[static_cast<size_t>(axes[i])] = pads[i + k];
  }
  std::vector<std::vector<int64_t>> maps(static_cast<size_t>(r));
  Shape out(static_cast<size_t>(r));
  for (size_t d = 0; d < maps.size(); ++d) {
    const int64_t dim = x.shape()[d];
    out[d] = dim + before[d] + after[d];
    if (out[d] < 0 || out[d] > kMaxTensorElements) {
      c.fail("pads " + ints_str(pads) + " give an invalid output dimension for input " +
             shape_str(x.shape()));
    }
    if (dim == 0 && out[d] > 0 && mode != PadMode::kConstant) {
      c.fail("cannot pad an empty axis in this mode");
    }
    maps[d].resize(static_cast<size_t>(out[d]));
    for (size_t i = 0; i < maps[d].size(); ++i) {
      maps[d][i] = source(static_cast<int64_t>(i), before[d], dim, mode);
    }
  }
  checked_num_elements(out, x.type());
  Tensor f = fill.type() == x.type() ? fill : fill.to(x.type());
  c.set_output(0, gather_axes(x, maps, &f));
}

// Padding keeps the input's quantized type unless the constant falls outside it.
DataType pad_dtype(const EvalContext& c, const std::vector<DataType>& in) {
  if (in.empty()) return DataType();
  const DataType& t = in[0];
  if (pad_mode(c) != PadMode::kConstant || t.kind() == DataType::Kind::kFloat32) return t;
  double v = 0;
  if (c.node().version >= 11) {
    if (c.has_input(2)) v = c.input(2).as_double(0);
  } else {
    v = c.node().attr_float("value", 0.0f);
  }
  if (v == 0 && t.kind() != DataType::Kind::kBipolar) return t;
  if (t.is_integer() && v == static_cast<double>(static_cast<int64_t>(v)) && v >= t.min() &&
      v <= t.max()) {
    return t;
  }
  return DataType();
}

OpDef make() {
  OpDef d;
  d.op_type = "Pad";
  d.family = OpFamily::kOnnx;
  d.min_inputs = 1;
  d.max_inputs = 4;
  d.eval = eval_pad;
  d.out_dtype = pad_dtype;
  d.preserves_dtype = true;
  return d;
}

const OpRegistrar kPad(make());

}  // namespace
}  // namespace bitsmith
