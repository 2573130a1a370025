#include "ops/layout.h"

#include <string>
#include <type_traits>

#include "core/error.h"

namespace bitsmith {
namespace {

// Walks every output position in row-major order with one offset per axis
// (off[d][i]: input offset contributed by coordinate i of output axis d, or
// negative for "use the fill value"). An odometer keeps the running sum, so
// no division happens per element.
template <class T>
void walk(std::vector<T>& dst, const std::vector<T>& src,
          const std::vector<std::vector<int64_t>>& off, const T* fill) {
  const size_t rank = off.size();
  if (dst.empty()) return;
  if (rank == 0) {
    dst[0] = src[0];
    return;
  }
  std::vector<size_t> idx(rank, 0);
  int64_t pos = 0;
  int64_t negatives = 0;
  for (size_t d = 0; d < rank; ++d) {
    if (off[d][0] < 0) {
      ++negatives;
    } else {
      pos += off[d][0];
    }
  }
  for (size_t o = 0; o < dst.size(); ++o) {
    dst[o] = negatives ? *fill : src[static_cast<size_t>(pos)];
    for (size_t d = rank; d-- > 0;) {
      const std::vector<int64_t>& od = off[d];
      int64_t old_off = od[idx[d]];
      if (old_off < 0) {
        --negatives;
      } else {
        pos -= old_off;
      }
      if (++idx[d] == od.size()) idx[d] = 0;
      int64_t new_off = od[idx[d]];
      if (new_off < 0) {
        ++negatives;
      } else {
        pos += new_off;
      }
      if (idx[d] != 0) break;
    }
  }
}

Tensor run_walk(const Tensor& in, const Shape& out_shape,
                const std::vector<std::vector<int64_t>>& off, const Tensor* fill) {
  Tensor out(in.type(), out_shape);
  out.visit([&](auto& dst) {
    using T = typename std::decay_t<decltype(dst)>::value_type;
    const T* f = fill ? &fill->data<T>().at(0) : nullptr;
    walk<T>(dst, in.data<T>(), off, f);
  });
  return out;
}

}  // namespace

std::string ints_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

int64_t normalize_axis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank) return -1;
  return axis < 0 ? axis + rank : axis;
}

Tensor permute(const Tensor& in, const std::vector<int64_t>& perm) {
  const size_t rank = perm.size();
  if (rank != static_cast<size_t>(in.rank())) {
    fail(ErrorKind::kInvalidModel, "permutation has " + std::to_string(rank) +
                                       " entries but the tensor has rank " +
                                       std::to_string(in.rank()));
  }
  std::vector<bool> seen(rank, false);
  for (int64_t p : perm) {
    if (p < 0 || p >= static_cast<int64_t>(rank) || seen[static_cast<size_t>(p)]) {
      fail(ErrorKind::kInvalidModel, "invalid permutation " + ints_str(perm));
    }
    seen[static_cast<size_t>(p)] = true;
  }
  Shape st = strides_of(in.shape());
  Shape out_shape(rank);
  std::vector<std::vector<int64_t>> off(rank);
  for (size_t d = 0; d < rank; ++d) {
    auto p = static_cast<size_t>(perm[d]);
    out_shape[d] = in.shape()[p];
    off[d].resize(static_cast<size_t>(out_shape[d]));
    for (size_t i = 0; i < off[d].size(); ++i) off[d][i] = static_cast<int64_t>(i) * st[p];
  }
  return run_walk(in, out_shape, off, nullptr);
}

Tensor gather_axes(const Tensor& in, const std::vector<std::vector<int64_t>>& maps,
                   const Tensor* fill) {
  const size_t rank = maps.size();
  if (rank != static_cast<size_t>(in.rank())) {
    fail(ErrorKind::kInvalidModel, "index maps do not match the tensor's rank");
  }
  Shape st = strides_of(in.shape());
  Shape out_shape(rank);
  std::vector<std::vector<int64_t>> off(rank);
  bool needs_fill = false;
  for (size_t d = 0; d < rank; ++d) {
    out_shape[d] = static_cast<int64_t>(maps[d].size());
    off[d].resize(maps[d].size());
    for (size_t i = 0; i < maps[d].size(); ++i) {
      int64_t c = maps[d][i];
      if (c >= in.shape()[d]) fail(ErrorKind::kInvalidModel, "index map out of range");
      needs_fill = needs_fill || c < 0;
      off[d][i] = c < 0 ? -1 : c * st[d];
    }
  }
  if (needs_fill && (!fill || fill->size() != 1 || fill->type() != in.type())) {
    fail(ErrorKind::kInvalidModel, "a fill value of the tensor's type is required");
  }
  return run_walk(in, out_shape, off, fill);
}

}  // namespace bitsmith
