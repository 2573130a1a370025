// numpy-style broadcasting shared by every elementwise op.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"

namespace bitsmith {

// The broadcast result shape; throws Error(kInvalidModel) when shapes disagree.
Shape broadcast_shape(const std::vector<Shape>& shapes);

// Calls fn(out_index, in_index[0..N)) for every element of `out`, where in_index[k]
// is the flat index into input k after broadcasting. An odometer walks the output
// so no division happens per element.
template <size_t N, class Fn>
void for_each_broadcast(const Shape& out, const std::array<const Shape*, N>& ins, Fn&& fn) {
  const size_t rank = out.size();
  std::array<std::vector<int64_t>, N>
      step;  // stride of input k along output dim d (0 if broadcast)
  for (size_t k = 0; k < N; ++k) {
    const Shape& s = *ins[k];
    Shape st = strides_of(s);
    step[k].assign(rank, 0);
    size_t off = rank - s.size();
    for (size_t d = 0; d < s.size(); ++d) step[k][off + d] = s[d] == 1 ? 0 : st[d];
  }
  int64_t total = 1;
  for (int64_t d : out) total *= d;
  if (total == 0) return;
  std::vector<int64_t> idx(rank, 0);
  std::array<int64_t, N> pos{};
  for (int64_t o = 0; o < total; ++o) {
    fn(o, pos);
    for (size_t d = rank; d-- > 0;) {
      if (++idx[d] < out[d]) {
        for (size_t k = 0; k < N; ++k) pos[k] += step[k][d];
        break;
      }
      for (size_t k = 0; k < N; ++k) pos[k] -= step[k][d] * (out[d] - 1);
      idx[d] = 0;
    }
  }
}

}  // namespace bitsmith
