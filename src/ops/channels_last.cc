// qonnx's channels-last wrappers (domain qonnx.custom_op.channels_last): Conv,
// MaxPool and BatchNormalization on (N, S..., C) tensors. qonnx moves the channel
// axis of input 0 (and of Conv's weight, stored as (M, k..., C/group)) to position
// 1, runs the standard ONNX op, and moves the output's channel axis back to the
// end. This file does the same with the registered ONNX op of the same name, so
// both modes mean exactly what the NCHW ops mean (conv.cc, pool.cc, batchnorm.cc).
// The attributes pass through unchanged. Like qonnx, the output's quantized type is
// the input's.
#include <string>
#include <type_traits>
#include <vector>

#include "ops/registry.h"

namespace bitsmith {
namespace {

// (N, C, S...) -> (N, S..., C) when to_last, else the reverse; any storage type.
Tensor move_channels(const Tensor& t, bool to_last) {
  const int r = t.rank();
  const int64_t n = t.dim(0);
  const int64_t ch = to_last ? t.dim(1) : t.dim(r - 1);
  int64_t inner = 1;
  for (int d = 1; d < r; ++d) inner *= t.dim(d);
  inner /= ch == 0 ? 1 : ch;
  Shape shape{n};
  if (to_last) {
    shape.insert(shape.end(), t.shape().begin() + 2, t.shape().end());
    shape.push_back(ch);
  } else {
    shape.push_back(ch);
    shape.insert(shape.end(), t.shape().begin() + 1, t.shape().end() - 1);
  }
  Tensor out(t.type(), shape);
  t.visit([&](const auto& src) {
    using T = typename std::decay_t<decltype(src)>::value_type;
    std::vector<T>& dst = out.data<T>();
    for (int64_t b = 0; b < n; ++b) {
      const int64_t base = b * ch * inner;
      for (int64_t c = 0; c < ch; ++c) {
        for (int64_t s = 0; s < inner; ++s) {
          // channels-first index base + c*inner + s; channels-last base + s*ch + c
          const auto first = static_cast<size_t>(base + c * inner + s);
          const auto last = static_cast<size_t>(base + s * ch + c);
          if (to_last) {
            dst[last] = src[first];
          } else {
            dst[first] = src[last];
          }
        }
      }
    }
  });
  return out;
}

// Runs the ONNX op of the node's type on channels-first copies of the first
// `moved` inputs and moves output 0's channels back to the end.
void eval_wrapped(EvalContext& c, size_t moved) {
  const Tensor& x = c.input(0);
  if (x.rank() < 3)
    c.fail("input must have rank >= 3 (N, spatial..., C), got " + shape_str(x.shape()));
  std::vector<Tensor> firsts;
  firsts.reserve(moved);  // pointers into it are kept below
  std::vector<const Tensor*> ins;
  for (size_t i = 0; i < c.num_inputs(); ++i) {
    if (!c.has_input(i)) {
      ins.push_back(nullptr);
    } else if (i < moved) {
      const Tensor& t = c.input(i);
      if (t.rank() != x.rank()) {
        c.fail("input " + std::to_string(i) + " has shape " + shape_str(t.shape()) +
               " but must have the rank of input 0 " + shape_str(x.shape()));
      }
      firsts.push_back(move_channels(t, false));
      ins.push_back(&firsts.back());
    } else {
      ins.push_back(&c.input(i));
    }
  }
  const OpDef* def = find_op(OpFamily::kOnnx, c.node().op_type);
  if (!def) c.unsupported("no ONNX op " + c.node().op_type + " to wrap");
  EvalContext inner(c.graph(), c.node(), c.mode(), std::move(ins), c.declared_batch(),
                    c.run_batch());
  def->eval(inner);
  c.set_output(0, move_channels(inner.outputs().at(0), true));
}

OpDef make(const char* name, int min_in, int max_in, size_t moved) {
  OpDef d;
  d.op_type = name;
  d.family = OpFamily::kChannelsLast;
  d.min_inputs = min_in;
  d.max_inputs = max_in;
  d.eval = [moved](EvalContext& c) { eval_wrapped(c, moved); };
  d.preserves_dtype = true;
  return d;
}

const OpRegistrar kConv(make("Conv", 2, 3, 2));
const OpRegistrar kMaxPool(make("MaxPool", 1, 1, 1));
const OpRegistrar kBatchNorm(make("BatchNormalization", 5, 5, 1));

}  // namespace
}  // namespace bitsmith
