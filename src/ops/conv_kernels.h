// Sliding-window machinery shared by Conv and ConvTranspose (conv.cc,
// conv_transpose.cc) and the pooling ops (pool.cc): window geometry resolved
// the way onnxruntime resolves it, per-axis tap tables, and the one
// accumulation kernel behind both convolutions.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "ops/registry.h"

namespace bitsmith {

// Windowed ops accept up to this many spatial dims (checked by window_attrs).
inline constexpr size_t kMaxSpatialRank = 8;

enum class AutoPad : uint8_t { kNotSet, kValid, kSameUpper, kSameLower };

// Reads the node's auto_pad attribute; unknown strings fail naming the node.
AutoPad auto_pad_of(const EvalContext& c);

// Spatial geometry of a windowed op. For a forward window (Conv, pooling) output
// coordinate o along axis a reads input coordinates
// o*strides[a] - pad_begin[a] + k*dilations[a] for k in [0, kernel[a]);
// coordinates outside [0, in[a]) are padding.
struct WindowGeometry {
  std::vector<int64_t> in, kernel, strides, dilations, pad_begin, pad_end, out;
  int64_t in_size() const;      // product of in
  int64_t out_size() const;     // product of out
  int64_t kernel_size() const;  // product of kernel
};

// Checks that x is (N, C, spatial...) and the weight w has the same rank (Conv
// and ConvTranspose).
void check_conv_ranks(const EvalContext& c, const Tensor& x, const Tensor& w);

// The kernel's spatial dims, w's dims after the first two; a kernel_shape
// attribute, when given, must equal them.
std::vector<int64_t> weight_kernel(const EvalContext& c, const Tensor& w);

// Reads strides, dilations and pads (defaults 1, 1, 0) for `kernel` over the
// spatial dims `in`, checking their lengths and values and the spatial rank.
WindowGeometry window_attrs(const EvalContext& c, const std::vector<int64_t>& in,
                            const std::vector<int64_t>& kernel);

// Conv output sizes as onnxruntime computes them (floor division). SAME pads use
// the dilated kernel, as ONNX defines it (onnxruntime refuses dilated SAME).
void resolve_conv_geometry(const EvalContext& c, WindowGeometry& g, AutoPad pad);

// Pooling output sizes as onnxruntime computes them: ceil_mode rounds up but drops
// a last window that would start inside the end padding; SAME pads come from the
// undilated kernel (an onnxruntime quirk kept so shapes match).
void resolve_pool_geometry(const EvalContext& c, WindowGeometry& g, AutoPad pad, bool ceil_mode);

// For one spatial axis and each output coordinate o, the (input coordinate,
// kernel coordinate) pairs that meet at o: pairs[begin[o], begin[o+1]).
struct AxisTaps {
  std::vector<int64_t> begin;
  std::vector<std::pair<int64_t, int64_t>> pairs;
};

// Forward-window taps (Conv, pooling) of every axis of g.
std::vector<AxisTaps> window_taps(const WindowGeometry& g);

// One input element of a window: flat spatial offset into the input channel and
// flat offset into the kernel.
struct Tap {
  int64_t x;
  int64_t k;
};

// Calls fn(flat output position, std::span<const Tap>) for every output position
// of g in row-major order. The taps are rebuilt in one buffer sized up front, so
// the walk does not allocate per position.
template <class Fn>
void for_each_window(const WindowGeometry& g, const std::vector<AxisTaps>& axes, Fn&& fn) {
  const size_t rank = g.out.size();
  std::array<int64_t, kMaxSpatialRank> xstride{}, kstride{}, pos{};
  for (size_t a = 0; a < rank; ++a) xstride[a] = kstride[a] = 1;
  for (size_t a = rank; a-- > 1;) {
    xstride[a - 1] = xstride[a] * g.in[a];
    kstride[a - 1] = kstride[a] * g.kernel[a];
  }
  // At most prod(kernel) taps meet at one output (fewer per axis for ConvTranspose).
  std::vector<Tap> buffer(static_cast<size_t>(std::max<int64_t>(1, g.kernel_size())));
  Tap* taps = buffer.data();
  const int64_t total = g.out_size();
  for (int64_t o = 0; o < total; ++o) {
    size_t n = 1;
    taps[0] = Tap{0, 0};
    for (size_t a = 0; a < rank && n > 0; ++a) {
      const AxisTaps& at = axes[a];
      const int64_t b = at.begin[static_cast<size_t>(pos[a])];
      const auto cnt = static_cast<size_t>(at.begin[static_cast<size_t>(pos[a]) + 1] - b);
      // Expand in place from the back so no entry is overwritten before it is read.
      for (size_t t = n; t-- > 0;) {
        const Tap base = taps[t];
        for (size_t j = cnt; j-- > 0;) {
          const auto& p = at.pairs[static_cast<size_t>(b) + j];
          taps[t * cnt + j] = Tap{base.x + p.first * xstride[a], base.k + p.second * kstride[a]};
        }
      }
      n *= cnt;
    }
    fn(o, std::span<const Tap>(taps, n));
    for (size_t a = rank; a-- > 0;) {
      if (++pos[a] < g.out[a]) break;
      pos[a] = 0;
    }
  }
}

// How the weight tensor is laid out relative to output channel m (group gi,
// index mm inside the group) and input channel cc inside the group:
// W offset = gi*w_group_stride + mm*w_out_stride + cc*w_in_stride (+ kernel offset).
struct ChannelLayout {
  int64_t batch = 0, in_channels = 0, out_channels = 0, group = 1;
  int64_t w_group_stride = 0, w_out_stride = 0, w_in_stride = 0;
};

// y[n, m, o] = bias[m] + sum over input channels of m's group and taps of o of
// x[n, c, tap.x] * w[layout(m, c) + tap.k], in c.mode(). x, w, b are in any
// storage (converted as needed). Output shape (N, M, g.out...).
Tensor gather_conv(const EvalContext& c, const Tensor& x, const Tensor& w, const Tensor* b,
                   const ChannelLayout& layout, const WindowGeometry& g,
                   const std::vector<AxisTaps>& axes);

// Conv over NC<spatial> tensors in c.mode(): x (N, C, ...), w (M, C/group, k...),
// optional bias b (M). Reads group, kernel_shape, strides, dilations, pads and
// auto_pad from the node.
Tensor conv_nchw(const EvalContext& c, const Tensor& x, const Tensor& w, const Tensor* b);

}  // namespace bitsmith
