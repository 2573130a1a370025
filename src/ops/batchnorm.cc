// BatchNormalization, inference form: y = (x - mean) / sqrt(var + eps) * scale + bias
// per channel (axis 1). Training mode (extra outputs or training_mode=1) and the
// old non-spatial form are not supported.
//
// Float mode reproduces onnxruntime's CPU kernel bit for bit, which folds the
// constants first, all in float32:
//   inv = 1 / sqrt(var + eps); a = inv * scale; b = bias - mean * a; y = x * a + b
// (checked against onnxruntime 1.32; the unfolded formula differs in the last bit
// for about half of the elements).
//
// Exact mode: sqrt has no finite exact value, so factor = scale / sqrt(var + eps)
// is computed in double from the exact parameters' doubles and taken as an exact
// dyadic constant; then y = (x - mean) * factor + bias in exact arithmetic.
#include <cmath>

#include "ops/registry.h"

namespace bitsmith {
namespace {

void eval_batchnorm(EvalContext& c) {
  const Node& n = c.node();
  if (n.attr_int("training_mode", 0) != 0) c.unsupported("training_mode=1 is not supported");
  for (size_t k = 1; k < n.outputs.size(); ++k) {
    if (!n.outputs[k].empty())
      c.unsupported("training outputs (running mean/var) are not supported");
  }
  if (n.attr_int("spatial", 1) != 1) c.unsupported("spatial=0 is not supported");
  float eps = n.attr_float("epsilon", 1e-5f);

  const Tensor& x = c.real_input(0);
  if (x.rank() < 2) c.fail("input must have shape (N, C, ...), got " + shape_str(x.shape()));
  int64_t channels = x.dim(1);
  const char* names[] = {"", "scale", "B", "mean", "var"};
  std::vector<Tensor> p(5);
  for (size_t k = 1; k < 5; ++k) {
    p[k] = c.real_input(k);
    if (p[k].size() != channels) {
      c.fail(std::string(names[k]) + " has shape " + shape_str(p[k].shape()) +
             " but the input has " + std::to_string(channels) + " channels");
    }
  }
  int64_t inner = 1;
  for (int d = 2; d < x.rank(); ++d) inner *= x.dim(d);
  int64_t outer = x.dim(0);
  Tensor y(x.type(), x.shape());
  auto ch = [](int64_t cidx) { return static_cast<size_t>(cidx); };

  if (c.mode() == Mode::kFloat) {
    const auto &sc = p[1].f32(), &bi = p[2].f32(), &mu = p[3].f32(), &va = p[4].f32();
    std::vector<float> a(ch(channels)), b(ch(channels));
    for (size_t k = 0; k < a.size(); ++k) {
      float inv = 1.0f / std::sqrt(va[k] + eps);
      a[k] = inv * sc[k];
      float shift = mu[k] * a[k];  // separate statements: no fused multiply-add
      b[k] = bi[k] - shift;
    }
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t k = 0; k < channels; ++k) {
        size_t base = static_cast<size_t>((o * channels + k) * inner);
        for (int64_t i = 0; i < inner; ++i) {
          float prod = x.f32()[base + static_cast<size_t>(i)] * a[ch(k)];
          y.f32()[base + static_cast<size_t>(i)] = prod + b[ch(k)];
        }
      }
    }
  } else {
    const auto &sc = p[1].exact(), &bi = p[2].exact(), &mu = p[3].exact(), &va = p[4].exact();
    std::vector<Exact> factor(ch(channels));
    for (size_t k = 0; k < factor.size(); ++k) {
      double f = sc[k].to_double() / std::sqrt(va[k].to_double() + static_cast<double>(eps));
      factor[k] = Exact::from_double(f);
    }
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t k = 0; k < channels; ++k) {
        size_t base = static_cast<size_t>((o * channels + k) * inner);
        for (int64_t i = 0; i < inner; ++i) {
          const Exact& v = x.exact()[base + static_cast<size_t>(i)];
          y.exact()[base + static_cast<size_t>(i)] = (v - mu[ch(k)]) * factor[ch(k)] + bi[ch(k)];
        }
      }
    }
  }
  c.set_output(0, std::move(y));
}

OpDef make() {
  OpDef d;
  d.op_type = "BatchNormalization";
  d.family = OpFamily::kOnnx;
  d.min_inputs = 5;
  d.max_inputs = 5;
  d.eval = eval_batchnorm;
  return d;
}

const OpRegistrar kBatchNorm(make());

}  // namespace
}  // namespace bitsmith
