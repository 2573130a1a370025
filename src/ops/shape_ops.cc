// ONNX data-movement ops: Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Shape,
// Constant, ConstantOfShape, Gather, Concat, Split, Slice, Expand, Tile.
// They copy values without looking at them, so one code path serves float32,
// int64 and Exact storage (Tensor::visit), and exact mode needs nothing special.
#include <algorithm>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>

#include "ops/broadcast.h"
#include "ops/layout.h"
#include "ops/registry.h"

namespace bitsmith {
namespace {

using Maps = std::vector<std::vector<int64_t>>;

std::string str(int64_t v) {
  return std::to_string(v);
}

int64_t axis_attr(const EvalContext& c, int64_t axis, int64_t rank) {
  int64_t a = normalize_axis(axis, rank);
  if (a < 0) c.fail("axis " + str(axis) + " is out of range for rank " + str(rank));
  return a;
}

// Refuses absurd output shapes before any per-axis index table is built.
void check_out_shape(const EvalContext& c, const Shape& shape, ElemType type) {
  for (int64_t d : shape) {
    if (d < 0 || d > kMaxTensorElements) {
      c.fail("output shape " + ints_str(shape) + " is invalid or too large");
    }
  }
  try {
    checked_num_elements(shape, type);
  } catch (const Error& e) {
    c.fail(e.what());
  }
}

// Identity index maps (every output coordinate reads the same input coordinate).
Maps identity_maps(const Shape& shape) {
  Maps m(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) {
    m[d].resize(static_cast<size_t>(shape[d]));
    for (size_t i = 0; i < m[d].size(); ++i) m[d][i] = static_cast<int64_t>(i);
  }
  return m;
}

// Constants in exact mode are Exact, like initializers (see runtime/session.cc).
Tensor in_mode(const EvalContext& c, Tensor t) {
  if (t.type() == ElemType::kFloat32 && c.mode() == Mode::kExact) return t.to(ElemType::kExact);
  return t;
}

int64_t product(const Shape& s, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to; ++i) p *= s[i];
  return p;
}

// ---------------------------------------------------------------- Reshape

// Resolves 0 (copy the input dim unless allowzero) and -1 (inferred). Returns
// nullopt when the element counts cannot match.
std::optional<Shape> resolve_reshape(const EvalContext& c, const Shape& in, Shape target,
                                     bool allowzero) {
  const Shape written = target;
  int64_t total = product(in, 0, in.size());
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < target.size(); ++i) {
    int64_t& t = target[i];
    if (t == 0 && !allowzero) {
      if (i >= in.size()) {
        c.fail("target shape " + ints_str(written) + " copies dimension " + str(int64_t(i)) +
               " with 0, but the data " + shape_str(in) + " has no such dimension");
      }
      t = in[i];
    }
    if (t == -1) {
      if (infer >= 0) c.fail("target shape " + ints_str(written) + " has more than one -1");
      infer = static_cast<int>(i);
      continue;
    }
    if (t < 0) c.fail("target shape has a negative dimension " + str(t));
    if (t != 0 && known > kMaxTensorElements / t) return std::nullopt;
    known *= t;
  }
  if (infer >= 0) {
    if (allowzero && known == 0) c.fail("target shape combines -1 with 0 under allowzero=1");
    if (known == 0 || total % known != 0) return std::nullopt;
    target[static_cast<size_t>(infer)] = total / known;
  } else if (known != total) {
    return std::nullopt;
  }
  return target;
}

void eval_reshape(EvalContext& c) {
  const Tensor& x = c.input(0);
  const Node& n = c.node();
  Shape target;
  if (c.has_input(1)) {
    target = c.int_input(1);
  } else if (n.has_attr("shape")) {
    target = n.attr_ints("shape");
  } else {
    c.fail("needs the target shape as input 1 (opset >= 5) or as the 'shape' attribute");
  }
  bool allowzero = n.attr_int("allowzero", 0) != 0;
  // Batch rule: the batch dimension is free at run time even where a file
  // hard-codes it. Exporters trace at one batch size B and often write B as the
  // first entry of a Reshape target (e.g. (1, -1) before the classifier). So when
  // the target starts with the declared batch B, the data's first dimension is this
  // run's batch, and the two differ, the run batch replaces that first entry.
  // Initializers are reshaped as written (their first dimension is no batch), and
  // if the substituted shape cannot hold the data while the written one can, the
  // written one wins.
  const int64_t declared = c.declared_batch(), run = c.run_batch();
  bool is_const = !n.inputs.empty() && c.graph().initializer(n.inputs[0]) != nullptr;
  if (!target.empty() && target[0] == declared && run != declared && x.rank() > 0 &&
      x.dim(0) == run && !is_const) {
    Shape batched = target;
    batched[0] = run;
    if (auto s = resolve_reshape(c, x.shape(), batched, allowzero)) {
      c.set_output(0, c.take_input(0).reshaped(*s));
      return;
    }
  }
  auto s = resolve_reshape(c, x.shape(), target, allowzero);
  if (!s) {
    c.fail("cannot reshape data of shape " + shape_str(x.shape()) + " (" + str(x.size()) +
           " elements) to " + ints_str(target));
  }
  c.set_output(0, c.take_input(0).reshaped(*s));
}

// ---------------------------------------------------------------- Flatten

void eval_flatten(EvalContext& c) {
  const Tensor& x = c.input(0);
  int64_t r = x.rank();
  int64_t axis = c.node().attr_int("axis", 1);
  int64_t a = axis < 0 ? axis + r : axis;
  if (a < 0 || a > r) c.fail("axis " + str(axis) + " is out of range for rank " + str(r));
  auto ua = static_cast<size_t>(a);
  Shape out{product(x.shape(), 0, ua), product(x.shape(), ua, x.shape().size())};
  c.set_output(0, c.take_input(0).reshaped(std::move(out)));
}

// ---------------------------------------------------------------- Transpose

void eval_transpose(EvalContext& c) {
  const Tensor& x = c.input(0);
  auto r = static_cast<size_t>(x.rank());
  std::vector<int64_t> rev(r);
  for (size_t i = 0; i < r; ++i) rev[i] = static_cast<int64_t>(r - 1 - i);
  std::vector<int64_t> perm = c.node().attr_ints("perm", rev);
  std::vector<bool> seen(r, false);
  bool ok = perm.size() == r;
  for (int64_t p : perm) {
    ok = ok && p >= 0 && p < static_cast<int64_t>(r) && !seen[static_cast<size_t>(p)];
    if (ok) seen[static_cast<size_t>(p)] = true;
  }
  if (!ok) c.fail("perm " + ints_str(perm) + " is not a permutation of rank " + str(int64_t(r)));
  c.set_output(0, permute(x, perm));
}

// ---------------------------------------------------------------- Squeeze / Unsqueeze

// Axes come from an attribute before opset 13 and from input 1 since.
std::optional<std::vector<int64_t>> axes_of(const EvalContext& c) {
  if (c.node().version >= 13 || c.has_input(1)) {
    if (c.has_input(1)) return c.int_input(1);
    return std::nullopt;
  }
  if (c.node().has_attr("axes")) return c.node().attr_ints("axes");
  return std::nullopt;
}

void eval_squeeze(EvalContext& c) {
  const Tensor& x = c.input(0);
  int64_t r = x.rank();
  std::vector<bool> drop(static_cast<size_t>(r), false);
  if (auto axes = axes_of(c)) {
    for (int64_t a : *axes) {
      int64_t k = axis_attr(c, a, r);
      if (x.dim(static_cast<int>(k)) != 1) {
        c.fail("cannot squeeze axis " + str(a) + " of shape " + shape_str(x.shape()) +
               ": its size is not 1");
      }
      drop[static_cast<size_t>(k)] = true;
    }
  } else {
    for (int64_t k = 0; k < r; ++k) drop[static_cast<size_t>(k)] = x.dim(static_cast<int>(k)) == 1;
  }
  Shape out;
  for (int64_t k = 0; k < r; ++k) {
    if (!drop[static_cast<size_t>(k)]) out.push_back(x.dim(static_cast<int>(k)));
  }
  c.set_output(0, c.take_input(0).reshaped(std::move(out)));
}

void eval_unsqueeze(EvalContext& c) {
  const Tensor& x = c.input(0);
  auto axes = axes_of(c);
  if (!axes) c.fail("needs axes (attribute before opset 13, input 1 since)");
  int64_t out_rank = x.rank() + static_cast<int64_t>(axes->size());
  std::vector<bool> added(static_cast<size_t>(out_rank), false);
  for (int64_t a : *axes) {
    int64_t k = axis_attr(c, a, out_rank);
    if (added[static_cast<size_t>(k)]) c.fail("axis " + str(a) + " appears twice");
    added[static_cast<size_t>(k)] = true;
  }
  Shape out;
  size_t next = 0;
  for (int64_t k = 0; k < out_rank; ++k) {
    out.push_back(added[static_cast<size_t>(k)] ? 1 : x.shape()[next++]);
  }
  c.set_output(0, c.take_input(0).reshaped(std::move(out)));
}

// ---------------------------------------------------------------- Shape

void eval_shape(EvalContext& c) {
  const Shape& s = c.input(0).shape();
  auto r = static_cast<int64_t>(s.size());
  int64_t start = 0, end = r;
  if (c.node().version >= 15) {
    start = c.node().attr_int("start", 0);
    end = c.node().attr_int("end", r);
  }
  auto clamp = [r](int64_t v) { return std::clamp(v < 0 ? v + r : v, int64_t{0}, r); };
  start = clamp(start);
  end = std::max(clamp(end), start);
  std::vector<int64_t> dims(s.begin() + start, s.begin() + end);
  c.set_output(0, Tensor::from_i64({end - start}, std::move(dims)));
}

// ---------------------------------------------------------------- Constant / ConstantOfShape

void eval_constant(EvalContext& c) {
  const Node& n = c.node();
  Tensor t;
  if (const Tensor* v = n.attr_tensor("value")) {
    t = *v;
  } else if (n.has_attr("value_float")) {
    t = Tensor::scalar_f32(n.attr_float("value_float", 0));
  } else if (n.has_attr("value_floats")) {
    std::vector<float> fs = n.attr_floats("value_floats");
    Shape s{static_cast<int64_t>(fs.size())};
    t = Tensor::from_f32(s, std::move(fs));
  } else if (n.has_attr("value_int")) {
    t = Tensor::scalar_i64(n.attr_int("value_int"));
  } else if (n.has_attr("value_ints")) {
    std::vector<int64_t> is = n.attr_ints("value_ints");
    Shape s{static_cast<int64_t>(is.size())};
    t = Tensor::from_i64(s, std::move(is));
  } else if (n.has_attr("value_string") || n.has_attr("value_strings") ||
             n.has_attr("sparse_value")) {
    c.unsupported("string and sparse constants are not supported");
  } else {
    c.fail("has no value attribute");
  }
  c.set_output(0, in_mode(c, std::move(t)));
}

void eval_constant_of_shape(EvalContext& c) {
  Shape shape = c.int_input(0);
  Tensor value = Tensor::scalar_f32(0.0f);
  if (const Tensor* v = c.node().attr_tensor("value")) {
    if (v->size() != 1) c.fail("attribute 'value' must hold one element");
    value = *v;
  }
  value = in_mode(c, value);
  check_out_shape(c, shape, value.type());
  Tensor out(value.type(), shape);
  out.visit([&](auto& dst) {
    using T = typename std::decay_t<decltype(dst)>::value_type;
    std::fill(dst.begin(), dst.end(), value.data<T>()[0]);
  });
  c.set_output(0, std::move(out));
}

// ---------------------------------------------------------------- Gather

void eval_gather(EvalContext& c) {
  const Tensor& x = c.input(0);
  int64_t r = x.rank();
  if (r == 0) c.fail("cannot gather from a scalar");
  int64_t axis = axis_attr(c, c.node().attr_int("axis", 0), r);
  auto ua = static_cast<size_t>(axis);
  std::vector<int64_t> idx = c.int_input(1);
  const int64_t n = x.dim(static_cast<int>(axis));
  for (int64_t& k : idx) {
    if (k < -n || k >= n) {
      c.fail("index " + str(k) + " is out of range for axis " + str(axis) + " of size " + str(n));
    }
    if (k < 0) k += n;
  }
  const Shape& xs = x.shape();
  Shape out(xs.begin(), xs.begin() + axis);
  const Shape& is = c.input(1).shape();
  out.insert(out.end(), is.begin(), is.end());
  out.insert(out.end(), xs.begin() + axis + 1, xs.end());
  const int64_t outer = product(xs, 0, ua), inner = product(xs, ua + 1, xs.size());
  check_out_shape(c, out, x.type());
  Tensor y(x.type(), out);
  y.visit([&](auto& dst) {
    using T = typename std::decay_t<decltype(dst)>::value_type;
    const std::vector<T>& src = x.data<T>();
    auto o = dst.begin();
    for (int64_t a = 0; a < outer; ++a) {
      for (int64_t k : idx) {
        auto from = src.begin() + (a * n + k) * inner;
        o = std::copy(from, from + inner, o);
      }
    }
  });
  c.set_output(0, std::move(y));
}

// ---------------------------------------------------------------- Concat

// Storage all inputs share: Exact if any is Exact, else float32 if any is, else int64.
ElemType common_type(const EvalContext& c) {
  bool any_exact = false, any_float = false;
  for (size_t i = 0; i < c.num_inputs(); ++i) {
    any_exact = any_exact || c.input(i).type() == ElemType::kExact;
    any_float = any_float || c.input(i).type() == ElemType::kFloat32;
  }
  return any_exact ? ElemType::kExact : any_float ? ElemType::kFloat32 : ElemType::kInt64;
}

void eval_concat(EvalContext& c) {
  const Node& n = c.node();
  const Tensor& first = c.input(0);
  int64_t r = first.rank();
  if (r == 0) c.fail("cannot concatenate scalars");
  int64_t axis = axis_attr(c, n.version >= 4 ? n.attr_int("axis") : n.attr_int("axis", 1), r);
  auto ua = static_cast<size_t>(axis);
  ElemType type = common_type(c);
  std::vector<Tensor> converted(c.num_inputs());
  std::vector<const Tensor*> ins(c.num_inputs());
  Shape out = first.shape();
  out[ua] = 0;
  for (size_t i = 0; i < c.num_inputs(); ++i) {
    const Tensor& t = c.input(i);
    bool same = t.rank() == r;
    for (size_t d = 0; same && d < out.size(); ++d) same = d == ua || t.shape()[d] == out[d];
    if (!same) {
      c.fail("input " + str(int64_t(i)) + " has shape " + shape_str(t.shape()) +
             ", which does not match " + shape_str(first.shape()) + " outside axis " + str(axis));
    }
    out[ua] += t.shape()[ua];
    if (t.type() == type) {
      ins[i] = &t;
    } else {
      converted[i] = t.to(type);
      ins[i] = &converted[i];
    }
  }
  check_out_shape(c, out, type);
  const int64_t outer = product(out, 0, ua), inner = product(out, ua + 1, out.size());
  Tensor y(type, out);
  y.visit([&](auto& dst) {
    using T = typename std::decay_t<decltype(dst)>::value_type;
    auto o = dst.begin();
    for (int64_t a = 0; a < outer; ++a) {
      for (const Tensor* t : ins) {
        int64_t block = t->shape()[ua] * inner;
        auto from = t->data<T>().begin() + a * block;
        o = std::copy(from, from + block, o);
      }
    }
  });
  c.set_output(0, std::move(y));
}

DataType concat_dtype(const EvalContext&, const std::vector<DataType>& in) {
  for (const DataType& t : in) {
    if (!(t == in[0])) return DataType();
  }
  return in.empty() ? DataType() : in[0];
}

// ---------------------------------------------------------------- Split

void eval_split(EvalContext& c) {
  const Node& n = c.node();
  const Tensor& x = c.input(0);
  if (x.rank() == 0) c.fail("cannot split a scalar");
  int64_t axis = axis_attr(c, n.attr_int("axis", 0), x.rank());
  const int64_t dim = x.dim(static_cast<int>(axis));
  const auto outs = static_cast<int64_t>(n.outputs.size());
  std::vector<int64_t> sizes;
  if (c.has_input(1)) {
    sizes = c.int_input(1);
  } else if (n.version < 13 && n.has_attr("split")) {
    sizes = n.attr_ints("split");
  } else if (n.has_attr("num_outputs")) {
    // opset 18: chunks of ceil(dim / num_outputs), the last one smaller.
    int64_t k = n.attr_int("num_outputs");
    if (k != outs)
      c.fail("num_outputs is " + str(k) + " but the node has " + str(outs) + " outputs");
    int64_t chunk = k > 0 ? (dim + k - 1) / k : 0;
    sizes.assign(static_cast<size_t>(k), chunk);
    if (k > 0) sizes.back() = dim - chunk * (k - 1);
  } else {
    if (outs == 0 || dim % outs != 0) {
      c.fail("axis " + str(axis) + " of size " + str(dim) + " does not split evenly into " +
             str(outs) + " outputs");
    }
    sizes.assign(static_cast<size_t>(outs), dim / outs);
  }
  int64_t sum = 0;
  for (int64_t s : sizes) {
    if (s < 0) c.fail("split sizes " + ints_str(sizes) + " are invalid");
    sum += s;
  }
  if (static_cast<int64_t>(sizes.size()) != outs || sum != dim) {
    c.fail("split sizes " + ints_str(sizes) + " do not cover axis " + str(axis) + " of size " +
           str(dim) + " with " + str(outs) + " outputs");
  }
  Maps maps = identity_maps(x.shape());
  auto ua = static_cast<size_t>(axis);
  int64_t start = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    maps[ua].resize(static_cast<size_t>(sizes[i]));
    for (size_t k = 0; k < maps[ua].size(); ++k) maps[ua][k] = start + static_cast<int64_t>(k);
    start += sizes[i];
    c.set_output(i, gather_axes(x, maps));
  }
}

// ---------------------------------------------------------------- Slice

// Coordinates that numpy's x[start:end:step] visits along an axis of size dim,
// with ONNX's clamping of out-of-range starts and ends. Like onnxruntime, an end
// of INT64_MAX or INT32_MAX means numpy's None: slice through to the last element
// in the step's direction (for a negative step, through index 0).
std::vector<int64_t> slice_axis(const EvalContext& c, int64_t dim, int64_t start, int64_t end,
                                int64_t step) {
  if (step == 0) c.fail("slice step must not be 0");
  if (dim == 0) return {};
  const bool to_the_end =
      end == std::numeric_limits<int64_t>::max() || end == std::numeric_limits<int32_t>::max();
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  int64_t count;
  if (step > 0) {
    start = std::clamp(start, int64_t{0}, dim);
    end = to_the_end ? dim : std::clamp(end, int64_t{0}, dim);
    step = std::min(step, dim + 1);  // any larger step visits the same single element
    count = end > start ? (end - start - 1) / step + 1 : 0;
  } else {
    start = std::clamp(start, int64_t{0}, dim - 1);
    end = to_the_end ? -1 : std::clamp(end, int64_t{-1}, dim - 1);
    step = std::max(step, -dim - 1);
    count = start > end ? (start - end - 1) / -step + 1 : 0;
  }
  std::vector<int64_t> m(static_cast<size_t>(count));
  for (int64_t k = 0; k < count; ++k) m[static_cast<size_t>(k)] = start + k * step;
  return m;
}

void eval_slice(EvalContext& c) {
  const Node& n = c.node();
  const Tensor& x = c.input(0);
  std::vector<int64_t> starts, ends, axes, steps;
  if (n.version >= 10) {
    starts = c.int_input(1);
    ends = c.int_input(2);
    if (c.has_input(3)) axes = c.int_input(3);
    if (c.has_input(4)) steps = c.int_input(4);
  } else {
    starts = n.attr_ints("starts");
    ends = n.attr_ints("ends");
    axes = n.attr_ints("axes");
  }
  if (axes.empty()) {
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() ||
      steps.size() != starts.size()) {
    c.fail("starts, ends, axes and steps must have the same length");
  }
  Maps maps = identity_maps(x.shape());
  std::vector<bool> done(static_cast<size_t>(x.rank()), false);
  for (size_t i = 0; i < starts.size(); ++i) {
    auto a = static_cast<size_t>(axis_attr(c, axes[i], x.rank()));
    if (done[a]) c.fail("axis " + str(axes[i]) + " is sliced twice");
    done[a] = true;
    maps[a] = slice_axis(c, x.shape()[a], starts[i], ends[i], steps[i]);
  }
  c.set_output(0, gather_axes(x, maps));
}

// ---------------------------------------------------------------- Expand / Tile

void eval_expand(EvalContext& c) {
  const Tensor& x = c.input(0);
  Shape target = c.int_input(1);
  Shape out;
  try {
    out = broadcast_shape({x.shape(), target});
  } catch (const Error&) {
    c.fail("cannot expand shape " + shape_str(x.shape()) + " to " + ints_str(target));
  }
  check_out_shape(c, out, x.type());
  // Align ranks with leading 1s, then broadcast dims read coordinate 0.
  Shape xs(out.size() - x.shape().size(), 1);
  xs.insert(xs.end(), x.shape().begin(), x.shape().end());
  Maps maps(out.size());
  for (size_t d = 0; d < out.size(); ++d) {
    maps[d].resize(static_cast<size_t>(out[d]));
    for (size_t i = 0; i < maps[d].size(); ++i)
      maps[d][i] = xs[d] == 1 ? 0 : static_cast<int64_t>(i);
  }
  c.set_output(0, gather_axes(x.reshaped(xs), maps));
}

void eval_tile(EvalContext& c) {
  const Tensor& x = c.input(0);
  std::vector<int64_t> reps = c.int_input(1);
  if (static_cast<int64_t>(reps.size()) != x.rank()) {
    c.fail("repeats has " + str(int64_t(reps.size())) + " entries but the input has rank " +
           str(x.rank()));
  }
  Shape out(reps.size());
  for (size_t d = 0; d < reps.size(); ++d) {
    if (reps[d] < 0) c.fail("repeats must not be negative");
    int64_t dim = x.shape()[d];
    if (dim != 0 && reps[d] > kMaxTensorElements / dim) c.fail("output is too large");
    out[d] = dim * reps[d];
  }
  check_out_shape(c, out, x.type());
  Maps maps(out.size());
  for (size_t d = 0; d < out.size(); ++d) {
    maps[d].resize(static_cast<size_t>(out[d]));
    for (size_t i = 0; i < maps[d].size(); ++i) {
      maps[d][i] = static_cast<int64_t>(i) % x.shape()[d];
    }
  }
  c.set_output(0, gather_axes(x, maps));
}

// ---------------------------------------------------------------- registration

OpDef op(const char* name, int min_in, int max_in, void (*eval)(EvalContext&), bool preserves) {
  OpDef d;
  d.op_type = name;
  d.family = OpFamily::kOnnx;
  d.min_inputs = min_in;
  d.max_inputs = max_in;
  d.eval = eval;
  d.preserves_dtype = preserves;
  return d;
}

OpDef concat_def() {
  OpDef d = op("Concat", 1, 1 << 20, eval_concat, true);
  d.out_dtype = concat_dtype;
  return d;
}

const OpRegistrar kReshape(op("Reshape", 1, 2, eval_reshape, true));
const OpRegistrar kFlatten(op("Flatten", 1, 1, eval_flatten, true));
const OpRegistrar kTranspose(op("Transpose", 1, 1, eval_transpose, true));
const OpRegistrar kSqueeze(op("Squeeze", 1, 2, eval_squeeze, true));
const OpRegistrar kUnsqueeze(op("Unsqueeze", 1, 2, eval_unsqueeze, true));
const OpRegistrar kShape(op("Shape", 1, 1, eval_shape, false));
const OpRegistrar kConstant(op("Constant", 0, 0, eval_constant, false));
const OpRegistrar kConstantOfShape(op("ConstantOfShape", 1, 1, eval_constant_of_shape, false));
const OpRegistrar kGather(op("Gather", 2, 2, eval_gather, true));
const OpRegistrar kConcat(concat_def());
const OpRegistrar kSplit(op("Split", 1, 2, eval_split, true));
const OpRegistrar kSlice(op("Slice", 1, 5, eval_slice, true));
const OpRegistrar kExpand(op("Expand", 2, 2, eval_expand, true));
const OpRegistrar kTile(op("Tile", 2, 2, eval_tile, true));

}  // namespace
}  // namespace bitsmith
