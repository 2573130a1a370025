// ONNX DepthToSpace (DCR and CRD orders) and SpaceToDepth on NCHW tensors, each
// a reshape, a transpose and a reshape, exactly as the ONNX definition reads.
#include <string>

#include "ops/layout.h"
#include "ops/registry.h"

namespace bitsmith {
namespace {

int64_t block_size(const EvalContext& c) {
  int64_t b = c.node().attr_int("blocksize");
  if (b <= 0) c.fail("blocksize must be positive, got " + std::to_string(b));
  return b;
}

const Tensor& nchw_input(const EvalContext& c) {
  const Tensor& x = c.input(0);
  if (x.rank() != 4) c.fail("expects a 4-D NCHW input, got shape " + shape_str(x.shape()));
  return x;
}

void eval_depth_to_space(EvalContext& c) {
  const Tensor& x = nchw_input(c);
  const int64_t b = block_size(c);
  const int64_t n = x.dim(0), ch = x.dim(1), h = x.dim(2), w = x.dim(3);
  if (ch % (b * b) != 0) {
    c.fail(std::to_string(ch) +
           " channels are not divisible by blocksize^2 = " + std::to_string(b * b));
  }
  const int64_t oc = ch / (b * b);
  // DCR (default): channels hold (block row, block col, out channel);
  // CRD: (out channel, block row, block col).
  std::string mode = c.node().attr_string("mode", "DCR");
  Tensor t;
  if (mode == "DCR") {
    t = permute(x.reshaped({n, b, b, oc, h, w}), {0, 3, 4, 1, 5, 2});
  } else if (mode == "CRD") {
    t = permute(x.reshaped({n, oc, b, b, h, w}), {0, 1, 4, 2, 5, 3});
  } else {
    c.unsupported("DepthToSpace mode '" + mode + "' is not supported (DCR or CRD)");
  }
  c.set_output(0, t.reshaped({n, oc, h * b, w * b}));
}

void eval_space_to_depth(EvalContext& c) {
  const Tensor& x = nchw_input(c);
  const int64_t b = block_size(c);
  const int64_t n = x.dim(0), ch = x.dim(1), h = x.dim(2), w = x.dim(3);
  if (h % b != 0 || w % b != 0) {
    c.fail("spatial size " + std::to_string(h) + "x" + std::to_string(w) +
           " is not divisible by blocksize " + std::to_string(b));
  }
  Tensor t = permute(x.reshaped({n, ch, h / b, b, w / b, b}), {0, 3, 5, 1, 2, 4});
  c.set_output(0, t.reshaped({n, ch * b * b, h / b, w / b}));
}

OpDef make(const char* name, void (*eval)(EvalContext&)) {
  OpDef d;
  d.op_type = name;
  d.family = OpFamily::kOnnx;
  d.min_inputs = 1;
  d.max_inputs = 1;
  d.eval = eval;
  d.preserves_dtype = true;
  return d;
}

const OpRegistrar kDepthToSpace(make("DepthToSpace", eval_depth_to_space));
const OpRegistrar kSpaceToDepth(make("SpaceToDepth", eval_space_to_depth));

}  // namespace
}  // namespace bitsmith
