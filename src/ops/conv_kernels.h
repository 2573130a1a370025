// Sliding-window kernels (Conv, MaxPool) shared by the NCHW ops in conv.cc and
// pool.cc and by the channels-last wrappers in channels_last.cc, plus the
// window geometry (pads, strides, dilations, auto_pad) they all resolve the same
// way onnxruntime does.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "ops/registry.h"

namespace bitsmith {

enum class AutoPad : uint8_t { kNotSet, kValid, kSameUpper, kSameLower };

// Reads the node's auto_pad attribute; unknown strings fail naming the node.
AutoPad auto_pad_of(const EvalContext& c);

// Resolved spatial geometry of a windowed op: for output coordinate o along axis
// i, the window reads input coordinates o*strides[i] - pad_begin[i] + k*dilations[i]
// for k in [0, kernel[i]); coordinates outside [0, in[i]) are padding.
struct WindowGeometry {
  std::vector<int64_t> in, kernel, strides, dilations, pad_begin, pad_end, out;
  int64_t in_size() const;      // product of in
  int64_t out_size() const;     // product of out
  int64_t kernel_size() const;  // product of kernel
};

// Reads strides, dilations and pads (defaults 1, 1, 0) for `kernel` over the
// spatial dims `in`, checking their lengths and signs.
WindowGeometry window_attrs(const EvalContext& c, const std::vector<int64_t>& in,
                            const std::vector<int64_t>& kernel);

// Conv output sizes (onnxruntime conv_attributes): floor division; SAME pads use
// the dilated kernel (onnxruntime refuses dilated SAME; ONNX defines it so).
void resolve_conv_geometry(const EvalContext& c, WindowGeometry& g, AutoPad pad);

// Pooling output sizes (onnxruntime pool_attributes): ceil_mode rounds up but
// drops a last window that would start inside the end padding; SAME pads are
// computed from the undilated kernel, as onnxruntime does.
void resolve_pool_geometry(const EvalContext& c, WindowGeometry& g, AutoPad pad, bool ceil_mode);

// Conv over NC<spatial> tensors in c.mode(): x (N, C, ...), w (M, C/group, k...),
// optional bias b (M). Inputs must already be in c.real_type(). Reads the node's
// group, kernel_shape, strides, dilations, pads and auto_pad attributes.
Tensor conv_nchw(const EvalContext& c, const Tensor& x, const Tensor& w, const Tensor* b);

// MaxPool over NC<spatial> in any storage type (the maximum is exact in every
// mode). When indices is given it receives onnxruntime's flat argmax indices
// (storage_order 0 row-major, 1 column-major over the spatial dims).
Tensor max_pool_nchw(const EvalContext& c, const Tensor& x, Tensor* indices);

// NC<spatial> <-> N<spatial>C moves (the channels-last wrappers' transposes).
Tensor channels_to_last(const Tensor& t);
Tensor channels_to_first(const Tensor& t);

}  // namespace bitsmith
