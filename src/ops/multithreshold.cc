// FINN/QONNX MultiThreshold: y = out_scale * count_n(x >= T[c, n]) + out_bias
// (SEMANTICS.md "MultiThreshold"). Thresholds have shape (C, N) or (1, N) and need
// not be sorted; NaN thresholds are never reached and a NaN input counts 0.
//
// The channel axis follows the reference: the position of 'C' in data_layout; with
// no layout, rank 2 is NC, rank 3 NWC (channels last), rank 4 NCHW, and any other
// rank uses axis 1.
//
// The count itself is exact in both modes (comparisons of float32 values are exact).
// Float mode then computes out_scale * n + out_bias in float32 as numpy does (two
// roundings); exact mode computes it exactly from the attributes' float32 values.
#include <algorithm>
#include <cmath>
#include <string>

#include "ops/registry.h"

namespace bitsmith {
namespace {

struct Geometry {
  int64_t channels = 1;  // size of the channel axis
  int64_t inner = 1;     // elements after the channel axis
  bool per_channel = false;
  int64_t steps = 0;  // thresholds per channel
};

Geometry geometry_of(const EvalContext& c) {
  const Tensor& x = c.input(0);
  const Tensor& t = c.input(1);
  int rank = x.rank();
  std::string layout = c.node().attr_string("data_layout", "");
  int axis = 1;
  if (layout.empty() && rank == 3) {
    axis = 2;  // the reference assumes NWC for rank 3
  } else if (!layout.empty()) {
    size_t pos = layout.find('C');
    axis = pos == std::string::npos ? 1 : static_cast<int>(pos);
  }
  if (axis >= rank) {
    c.fail("the channel axis " + std::to_string(axis) + " (data_layout '" + layout +
           "') does not exist in an input of shape " + shape_str(x.shape()));
  }
  if (t.rank() != 2) {
    c.fail("thresholds must have shape (C, N) or (1, N), got " + shape_str(t.shape()));
  }
  Geometry g;
  g.channels = x.dim(axis);
  for (int d = axis + 1; d < rank; ++d) g.inner *= x.dim(d);
  g.per_channel = t.dim(0) != 1;
  if (g.per_channel && t.dim(0) != g.channels) {
    c.fail("thresholds have " + std::to_string(t.dim(0)) + " rows but the input has " +
           std::to_string(g.channels) + " channels on axis " + std::to_string(axis) + " (shape " +
           shape_str(x.shape()) + ")");
  }
  g.steps = t.dim(1);
  return g;
}

// Each channel's thresholds, NaN dropped, sorted: x >= t for exactly the first
// upper_bound(x) of them.
template <class T, class Get, class IsNan>
std::vector<std::vector<T>> sorted_rows(const Tensor& t, int64_t steps, Get get, IsNan is_nan) {
  std::vector<std::vector<T>> rows(static_cast<size_t>(t.dim(0)));
  for (size_t r = 0; r < rows.size(); ++r) {
    for (int64_t k = 0; k < steps; ++k) {
      T v = get(static_cast<int64_t>(r) * steps + k);
      if (!is_nan(v)) rows[r].push_back(v);
    }
    std::sort(rows[r].begin(), rows[r].end());
  }
  return rows;
}

void eval_multithreshold(EvalContext& c) {
  Geometry g = geometry_of(c);
  const Node& n = c.node();
  float out_scale = n.attr_float("out_scale", 1.0f);
  float out_bias = n.attr_float("out_bias", 0.0f);
  const Tensor& xin = c.input(0);
  auto row_of = [&](int64_t i) {
    return g.per_channel ? static_cast<size_t>((i / g.inner) % g.channels) : size_t{0};
  };
  if (c.mode() == Mode::kExact) {
    const Tensor& x = c.real_input(0);
    const Tensor& t = c.real_input(1);
    auto rows = sorted_rows<Exact>(
        t, g.steps, [&](int64_t i) { return t.exact()[static_cast<size_t>(i)]; },
        [](const Exact& v) { return v.is_nan(); });
    Exact scale = Exact::from_double(out_scale), bias = Exact::from_double(out_bias);
    Tensor y(ElemType::kExact, x.shape());
    for (int64_t i = 0; i < x.size(); ++i) {
      const Exact& v = x.exact()[static_cast<size_t>(i)];
      const auto& row = rows[row_of(i)];
      int64_t count = v.is_nan() ? 0 : std::upper_bound(row.begin(), row.end(), v) - row.begin();
      y.exact()[static_cast<size_t>(i)] = scale * Exact::from_int(count) + bias;
    }
    return c.set_output(0, std::move(y));
  }
  const Tensor& t = c.input(1);
  auto rows = sorted_rows<double>(
      t, g.steps, [&](int64_t i) { return t.as_double(i); },
      [](double v) { return std::isnan(v); });
  // The count takes the input's dtype: float32 keeps the affine step in float32,
  // an int64 input makes numpy compute it in float64.
  bool f32 = xin.type() != ElemType::kInt64;
  Tensor y(ElemType::kFloat32, xin.shape());
  for (int64_t i = 0; i < xin.size(); ++i) {
    double v = xin.as_double(i);
    const auto& row = rows[row_of(i)];
    int64_t count = std::isnan(v) ? 0 : std::upper_bound(row.begin(), row.end(), v) - row.begin();
    float r = 0;
    if (f32) {
      r = out_scale * static_cast<float>(count) + out_bias;
    } else {
      r = static_cast<float>(static_cast<double>(out_scale) * static_cast<double>(count) +
                             static_cast<double>(out_bias));
    }
    y.f32()[static_cast<size_t>(i)] = r;
  }
  c.set_output(0, std::move(y));
}

// The out_dtype attribute, or FLOAT32 when out_scale or out_bias is not an integer
// (as the reference infers it).
DataType multithreshold_dtype(const EvalContext& c, const std::vector<DataType>&) {
  const Node& n = c.node();
  float scale = n.attr_float("out_scale", 1.0f);
  float bias = n.attr_float("out_bias", 0.0f);
  if (scale != std::floor(scale) || bias != std::floor(bias)) return DataType::float32();
  std::string name = n.attr_string("out_dtype", "");
  if (name.empty()) return DataType::float32();
  try {
    return DataType::parse(name);
  } catch (const Error& e) {
    c.unsupported(std::string("out_dtype: ") + e.what());
  }
}

OpDef make() {
  OpDef d;
  d.op_type = "MultiThreshold";
  d.family = OpFamily::kQonnx;
  d.min_inputs = 2;
  d.max_inputs = 2;
  d.eval = eval_multithreshold;
  d.out_dtype = multithreshold_dtype;
  return d;
}

const OpRegistrar kMultiThreshold(make());

}  // namespace
}  // namespace bitsmith
