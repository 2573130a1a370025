// Element-type agnostic data movement shared by the layout ops (Transpose,
// Slice, Pad, Tile, Expand, Resize nearest, DepthToSpace). Values are copied,
// never converted, so float32, int64 and Exact tensors move the same way.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace bitsmith {

// Output axis d is input axis perm[d]; perm must be a permutation of 0..rank-1.
Tensor permute(const Tensor& in, const std::vector<int64_t>& perm);

// For ops where every output coordinate along an axis reads one input coordinate
// along the same axis: maps[d][i] is the input coordinate read by output
// coordinate i of axis d, or -1 to write `fill` instead (a one-element tensor of
// the input's type; required when any map holds -1). The output shape is
// (maps[0].size(), maps[1].size(), ...).
Tensor gather_axes(const Tensor& in, const std::vector<std::vector<int64_t>>& maps,
                   const Tensor* fill = nullptr);

// "[a, b, c]" for attribute and input lists in messages (shape_str would show
// negative entries as "?").
std::string ints_str(const std::vector<int64_t>& v);

// Normalizes a possibly negative axis against `rank`; returns -1 when out of range.
int64_t normalize_axis(int64_t axis, int64_t rank);

}  // namespace bitsmith
