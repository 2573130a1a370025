// ONNX ConvTranspose over any spatial rank: group, strides, pads, dilations,
// output_padding, output_shape and auto_pad, optional bias.
//
// Written as a gather: output coordinate o along an axis receives input i through
// kernel tap k when i*stride + k*dilation - pad_begin == o, so each output is one
// dot product and the same accumulation kernel as Conv serves both (float mode:
// double sum rounded once to float32; exact mode: the true sum; see conv.cc).
//
// Pads follow onnxruntime 1.32, which differs from the ONNX text in one place:
// with output_shape (or SAME without it) the total padding is split with the extra
// element at the begin for NOTSET, VALID and SAME_LOWER, at the end for SAME_UPPER.
#include <string>

#include "ops/conv_kernels.h"
#include "ops/registry.h"

namespace bitsmith {
namespace {

WindowGeometry transpose_geometry(const EvalContext& c, const std::vector<int64_t>& in,
                                  const std::vector<int64_t>& kernel) {
  const Node& n = c.node();
  const size_t r = in.size();
  WindowGeometry g = window_attrs(c, in, kernel);
  const AutoPad pad = auto_pad_of(c);
  std::vector<int64_t> out_pad = n.attr_ints("output_padding", {});
  if (out_pad.empty()) out_pad.assign(r, 0);
  if (out_pad.size() != r) c.fail("output_padding must have one entry per spatial dim");
  std::vector<int64_t> out_shape = n.attr_ints("output_shape", {});
  if (out_shape.size() == r + 2) out_shape.erase(out_shape.begin(), out_shape.begin() + 2);
  if (!out_shape.empty() && out_shape.size() != r) {
    c.fail("output_shape must have one entry per spatial dim (or rank entries)");
  }
  for (size_t a = 0; a < r; ++a) {
    if (out_pad[a] < 0) c.fail("output_padding must not be negative");
    const int64_t full =
        (in[a] - 1) * g.strides[a] + (kernel[a] - 1) * g.dilations[a] + 1 + out_pad[a];
    int64_t total = -1;
    if (!out_shape.empty()) {
      g.out[a] = out_shape[a];
      total = full - out_shape[a];
      if (total < 0) {
        c.fail("output_shape " + std::to_string(out_shape[a]) + " along spatial axis " +
               std::to_string(a) + " exceeds the full output " + std::to_string(full));
      }
    } else if (pad == AutoPad::kValid) {
      g.pad_begin[a] = g.pad_end[a] = 0;
      g.out[a] = full;
    } else if (pad != AutoPad::kNotSet) {
      // Pad toward in*stride; when the full output is shorter it stays unpadded.
      total = std::max<int64_t>(0, full - in[a] * g.strides[a]);
    }
    if (total >= 0) {
      g.pad_begin[a] = pad == AutoPad::kSameUpper ? total / 2 : total - total / 2;
      g.pad_end[a] = total - g.pad_begin[a];
    }
    if (out_shape.empty() && pad != AutoPad::kValid)
      g.out[a] = full - g.pad_begin[a] - g.pad_end[a];
    if (g.out[a] <= 0) {
      c.fail("output size along spatial axis " + std::to_string(a) + " is " +
             std::to_string(g.out[a]) + " (pads larger than the output)");
    }
  }
  return g;
}

std::vector<AxisTaps> transpose_taps(const WindowGeometry& g) {
  std::vector<AxisTaps> axes(g.in.size());
  for (size_t a = 0; a < axes.size(); ++a) {
    AxisTaps& t = axes[a];
    const int64_t s = g.strides[a];
    t.begin.reserve(static_cast<size_t>(g.out[a]) + 1);
    t.begin.push_back(0);
    for (int64_t o = 0; o < g.out[a]; ++o) {
      for (int64_t k = 0; k < g.kernel[a]; ++k) {
        const int64_t num = o + g.pad_begin[a] - k * g.dilations[a];
        if (num < 0 || num % s != 0 || num / s >= g.in[a]) continue;
        t.pairs.emplace_back(num / s, k);
      }
      t.begin.push_back(static_cast<int64_t>(t.pairs.size()));
    }
  }
  return axes;
}

void eval_conv_transpose(EvalContext& c) {
  const Tensor& x = c.input(0);
  const Tensor& w = c.input(1);
  check_conv_ranks(c, x, w);
  const int64_t group = c.node().attr_int("group", 1);
  const int64_t C = x.dim(1);
  if (group < 1 || C % group != 0 || w.dim(0) != C) {
    c.fail("input channels " + std::to_string(C) + ", weight " + shape_str(w.shape()) +
           " and group " + std::to_string(group) +
           " do not agree (need W[0] == C, divisible by group)");
  }
  std::vector<int64_t> in(x.shape().begin() + 2, x.shape().end());
  std::vector<int64_t> kernel = weight_kernel(c, w);
  WindowGeometry g = transpose_geometry(c, in, kernel);
  ChannelLayout L;
  L.batch = x.dim(0);
  L.in_channels = C;
  L.group = group;
  const int64_t mg = w.dim(1);
  L.out_channels = mg * group;
  const int64_t ksize = g.kernel_size();
  // W is (C, M/group, k...): input channel first.
  L.w_out_stride = ksize;
  L.w_in_stride = mg * ksize;
  L.w_group_stride = (C / group) * L.w_in_stride;
  const Tensor* b = c.has_input(2) ? &c.input(2) : nullptr;
  c.set_output(0, gather_conv(c, x, w, b, L, g, transpose_taps(g)));
}

OpDef make_conv_transpose() {
  OpDef d;
  d.op_type = "ConvTranspose";
  d.family = OpFamily::kOnnx;
  d.min_inputs = 2;
  d.max_inputs = 3;
  d.eval = eval_conv_transpose;
  return d;
}

const OpRegistrar kConvTranspose(make_conv_transpose());

}  // namespace
}  // namespace bitsmith
