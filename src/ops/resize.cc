// ONNX Resize and Upsample in nearest mode (the only mode whose output is a copy
// of input values, so quantized tensors stay on their grid). Linear and cubic
// modes are refused with an error naming the node.
//
// Output shapes and the index map follow onnxruntime step for step in float32:
// floor(float32(scale) * float32(in)) or the `sizes` input, and the coordinate
// transform plus nearest rounding computed in float32. Both modes use that same
// map. It is a property of the graph (shapes and constant scales), not of the
// data: nearest copies values without changing them, so there is no value
// rounding for exact mode to decide differently. Computing the coordinate on the
// true value of a float32 scale would even move away from the model's intent:
// 0.6f is slightly above 3/5, so (1 + 0.5) / 0.6f - 0.5 lies just below 2 and a
// floor would pick 1 where onnxruntime (and the intended 3/5) pick 2.
#include <algorithm>
#include <cmath>
#include <string>

#include "ops/layout.h"
#include "ops/registry.h"

namespace bitsmith {
namespace {

enum class Transform {
  kHalfPixel,
  kAsymmetric,
  kAlignCorners,
  kPytorchHalfPixel,
  kTfHalfPixelForNn
};
// kSimple: Resize-10 and Upsample (truncate, or ceil when downsampling).
enum class Nearest { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil, kSimple };

struct ResizeAttrs {
  Transform transform = Transform::kAsymmetric;
  Nearest nearest = Nearest::kSimple;
};

ResizeAttrs attrs_of(const EvalContext& c, bool is_resize) {
  const Node& n = c.node();
  std::string mode = n.attr_string("mode", "nearest");
  if (mode != "nearest") {
    c.unsupported(n.op_type + " mode '" + mode + "' is not supported (only 'nearest')");
  }
  ResizeAttrs a;
  if (!is_resize || n.version < 11) return a;  // asymmetric + simple rounding before opset 11
  std::string t = n.attr_string("coordinate_transformation_mode", "half_pixel");
  if (t == "half_pixel") {
    a.transform = Transform::kHalfPixel;
  } else if (t == "asymmetric") {
    a.transform = Transform::kAsymmetric;
  } else if (t == "align_corners") {
    a.transform = Transform::kAlignCorners;
  } else if (t == "pytorch_half_pixel") {
    a.transform = Transform::kPytorchHalfPixel;
  } else if (t == "tf_half_pixel_for_nn") {
    a.transform = Transform::kTfHalfPixelForNn;
  } else {
    c.unsupported("coordinate_transformation_mode '" + t + "' is not supported");
  }
  std::string m = n.attr_string("nearest_mode", "round_prefer_floor");
  if (m == "round_prefer_floor") {
    a.nearest = Nearest::kRoundPreferFloor;
  } else if (m == "round_prefer_ceil") {
    a.nearest = Nearest::kRoundPreferCeil;
  } else if (m == "floor") {
    a.nearest = Nearest::kFloor;
  } else if (m == "ceil") {
    a.nearest = Nearest::kCeil;
  } else {
    c.unsupported("nearest_mode '" + m + "' is not supported");
  }
  std::string policy = n.attr_string("keep_aspect_ratio_policy", "stretch");
  if (policy != "stretch")
    c.unsupported("keep_aspect_ratio_policy '" + policy + "' is not supported");
  return a;
}

// Input coordinate in float32, step for step as onnxruntime computes it.
int64_t nearest_coordinate(const ResizeAttrs& a, int64_t x_out, float scale, int64_t len_out,
                           int64_t len_in) {
  auto x = static_cast<float>(x_out);
  float lo = static_cast<float>(len_out), li = static_cast<float>(len_in);
  float o = 0;
  switch (a.transform) {
    case Transform::kHalfPixel:
      o = (x + 0.5f) / scale - 0.5f;
      break;
    case Transform::kAsymmetric:
      o = x / scale;
      break;
    case Transform::kPytorchHalfPixel:
      o = lo > 1 ? (x + 0.5f) / scale - 0.5f : 0.0f;
      break;
    case Transform::kTfHalfPixelForNn:
      o = (x + 0.5f) / scale;
      break;
    case Transform::kAlignCorners:
      o = lo == 1 ? 0.0f : x * (li - 1) / (lo - 1);
      break;
  }
  switch (a.nearest) {
    case Nearest::kSimple:
      return scale < 1 ? static_cast<int64_t>(std::ceil(o)) : static_cast<int64_t>(o);
    case Nearest::kRoundPreferCeil:
      return static_cast<int64_t>(std::round(o));
    case Nearest::kFloor:
      return static_cast<int64_t>(std::floor(o));
    case Nearest::kCeil:
      return static_cast<int64_t>(std::ceil(o));
    case Nearest::kRoundPreferFloor:
      if (o == static_cast<float>(static_cast<int64_t>(o)) + 0.5f) {
        return static_cast<int64_t>(std::floor(o));
      }
      return static_cast<int64_t>(std::round(o));
  }
  return 0;
}

// Reads scales (as float32, which is what every file stores) from input i.
std::vector<float> float_values(const Tensor& t) {
  std::vector<float> v(static_cast<size_t>(t.size()));
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = static_cast<float>(t.as_double(static_cast<int64_t>(i)));
  return v;
}

void eval_nearest(EvalContext& c, bool is_resize) {
  const Node& n = c.node();
  const Tensor& x = c.input(0);
  const auto r = static_cast<size_t>(x.rank());
  if (r == 0) c.fail("cannot resize a scalar");
  ResizeAttrs a = attrs_of(c, is_resize);

  // Which inputs hold scales and sizes depends on the op and its opset.
  int scales_at = -1, sizes_at = -1;
  if (is_resize && n.version >= 11) {
    scales_at = 2;
    sizes_at = 3;
  } else if (n.version >= 9 || is_resize) {
    scales_at = 1;
  }
  std::vector<float> scales;
  std::vector<int64_t> sizes;
  if (scales_at > 0 && c.has_input(static_cast<size_t>(scales_at)) &&
      c.input(static_cast<size_t>(scales_at)).size() > 0) {
    scales = float_values(c.input(static_cast<size_t>(scales_at)));
  } else if (sizes_at > 0 && c.has_input(static_cast<size_t>(sizes_at))) {
    sizes = c.int_input(static_cast<size_t>(sizes_at));
  } else if (scales_at < 0 && n.has_attr("scales")) {
    scales = n.attr_floats("scales");
  } else {
    c.fail("needs scales or sizes");
  }

  // Resize-18 may name the axes that scales/sizes refer to; others keep their size.
  std::vector<int64_t> axes;
  for (int64_t ax : n.attr_ints("axes")) {
    int64_t k = normalize_axis(ax, static_cast<int64_t>(r));
    if (k < 0) c.fail("axis " + std::to_string(ax) + " is out of range");
    axes.push_back(k);
  }
  if (axes.empty()) {
    for (size_t d = 0; d < r; ++d) axes.push_back(static_cast<int64_t>(d));
  }
  const size_t given = scales.empty() ? sizes.size() : scales.size();
  if (given != axes.size()) {
    c.fail((scales.empty() ? "sizes" : "scales") + std::string(" has ") + std::to_string(given) +
           " entries, expected " + std::to_string(axes.size()));
  }

  Shape out = x.shape();
  std::vector<float> fscale(r, 1.0f);
  for (size_t i = 0; i < axes.size(); ++i) {
    auto d = static_cast<size_t>(axes[i]);
    const int64_t in = x.shape()[d];
    if (!scales.empty()) {
      float s = scales[i];
      if (!(s > 0) || !std::isfinite(s) || (!is_resize && s < 1)) {
        c.fail("scale " + std::to_string(s) + " is not valid");
      }
      fscale[d] = s;
      double o = std::floor(static_cast<double>(s * static_cast<float>(in)));
      if (o > static_cast<double>(kMaxTensorElements)) c.fail("output is too large");
      out[d] = static_cast<int64_t>(o);
    } else {
      int64_t o = sizes[i];
      if (o < 0 || o > kMaxTensorElements) c.fail("size " + std::to_string(o) + " is not valid");
      if (in == 0 && o != 0) c.fail("cannot resize an empty axis to a non-empty one");
      out[d] = o;
      if (in > 0) fscale[d] = static_cast<float>(o) / static_cast<float>(in);
    }
  }
  checked_num_elements(out, x.type());
  // onnxruntime returns the input unchanged when no axis changes size, whatever
  // the coordinate mode would say; the reference semantics follow it.
  if (out == x.shape()) {
    c.set_output(0, x);
    return;
  }

  std::vector<std::vector<int64_t>> maps(r);
  for (size_t d = 0; d < r; ++d) {
    const int64_t in = x.shape()[d];
    maps[d].resize(static_cast<size_t>(out[d]));
    for (int64_t i = 0; i < out[d]; ++i) {
      int64_t k = i;
      // onnxruntime maps one to one when the float32 scale is 1 (whatever the mode).
      if (fscale[d] != 1.0f) {
        k = nearest_coordinate(a, i, fscale[d], out[d], in);
      }
      maps[d][static_cast<size_t>(i)] = std::clamp<int64_t>(k, 0, in - 1);
    }
  }
  c.set_output(0, gather_axes(x, maps));
}

OpDef make(const char* name, int max_inputs, void (*eval)(EvalContext&)) {
  OpDef d;
  d.op_type = name;
  d.family = OpFamily::kOnnx;
  d.min_inputs = 1;
  d.max_inputs = max_inputs;
  d.eval = eval;
  d.preserves_dtype = true;
  return d;
}

const OpRegistrar kResize(make("Resize", 4, [](EvalContext& c) { eval_nearest(c, true); }));
const OpRegistrar kUpsample(make("Upsample", 2, [](EvalContext& c) { eval_nearest(c, false); }));

}  // namespace
}  // namespace bitsmith
