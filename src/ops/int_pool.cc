// IntSumPool: window sums of integer levels, emitted by the lowering pass for
// AveragePool / GlobalAveragePool on an integer twin (src/passes/lower.cc).
//
//   IntSumPool(q) attrs kernel_shape [kh, kw], strides [sh, sw],
//                       pads [top, left, bottom, right] (default 0), pad_value (default 0)
//
// q is an int64 tensor (N, C, H, W) (or (N, C, W) with one-entry kernel_shape and
// strides and pads [begin, end]). out[n, c, i, j] = sum over y < kh, x < kw of
// q[n, c, i*sh + y - top, j*sw + x - left], where taps outside the input read
// pad_value; output size (H + top + bottom - kh) / sh + 1 per axis. With
// x = s * q + o the average is (s / (kh * kw)) * sum + o exactly (count_include_pad
// = 1 divides by the full window, and pad_value is the level of real 0), so the sum is
// the integer twin of the average with the scale divided by the window size.
#include <algorithm>

#include "ops/registry.h"

namespace bitsmith {
namespace {

void eval_int_sum_pool(EvalContext& c) {
  if (c.mode() != Mode::kExact) c.fail("lowered integer ops run in exact mode only");
  const Tensor& q = c.input(0);
  if (q.type() != ElemType::kInt64 || (q.rank() != 3 && q.rank() != 4))
    c.fail("input must hold integers of rank 3 or 4");
  const bool one_d = q.rank() == 3;
  std::vector<int64_t> k = c.node().attr_ints("kernel_shape", {});
  std::vector<int64_t> s = c.node().attr_ints("strides", std::vector<int64_t>(k.size(), 1));
  if (k.size() != (one_d ? 1u : 2u) || s.size() != k.size()) c.fail("kernel_shape/strides rank");
  std::vector<int64_t> p = c.node().attr_ints("pads", std::vector<int64_t>(2 * k.size(), 0));
  if (p.size() != 2 * k.size()) c.fail("pads rank");
  if (one_d) {
    k.insert(k.begin(), 1);
    s.insert(s.begin(), 1);
    p = {0, p[0], 0, p[1]};
  }
  const int64_t pad_value = c.node().attr_int("pad_value", 0);
  const int64_t N = q.dim(0), C = q.dim(1), H = one_d ? 1 : q.dim(2), W = q.dim(one_d ? 2 : 3);
  const int64_t OH = (H + p[0] + p[2] - k[0]) / s[0] + 1, OW = (W + p[1] + p[3] - k[1]) / s[1] + 1;
  if (k[0] < 1 || k[1] < 1 || s[0] < 1 || s[1] < 1 || OH < 1 || OW < 1 ||
      std::any_of(p.begin(), p.end(), [](int64_t v) { return v < 0; }))
    c.fail("kernel larger than the padded input, or bad strides or pads");
  Shape out_shape = one_d ? Shape{N, C, OW} : Shape{N, C, OH, OW};
  Tensor out(ElemType::kInt64, out_shape);
  const int64_t* in = q.i64().data();
  int64_t* o = out.i64().data();
  for (int64_t pl = 0; pl < N * C; ++pl) {
    const int64_t* plane = in + pl * H * W;
    for (int64_t i = 0; i < OH; ++i) {
      for (int64_t j = 0; j < OW; ++j) {
        int64_t sum = 0;  // the pass proves window * max|level| fits
        for (int64_t y = 0; y < k[0]; ++y) {
          const int64_t r = i * s[0] + y - p[0];
          for (int64_t x = 0; x < k[1]; ++x) {
            const int64_t col = j * s[1] + x - p[1];
            sum += r < 0 || r >= H || col < 0 || col >= W ? pad_value : plane[r * W + col];
          }
        }
        o[(pl * OH + i) * OW + j] = sum;
      }
    }
  }
  c.set_output(0, std::move(out));
}

OpDef int_sum_pool_def() {
  OpDef d;
  d.op_type = "IntSumPool";
  d.family = OpFamily::kLowered;
  d.min_inputs = 1;
  d.max_inputs = 1;
  d.eval = eval_int_sum_pool;
  return d;
}

const OpRegistrar kIntSumPool(int_sum_pool_def());

}  // namespace
}  // namespace bitsmith
