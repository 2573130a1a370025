#include "ops/broadcast.h"

#include <algorithm>

namespace bitsmith {

Shape broadcast_shape(const std::vector<Shape>& shapes) {
  size_t rank = 0;
  for (const auto& s : shapes) rank = std::max(rank, s.size());
  Shape out(rank, 1);
  for (const auto& s : shapes) {
    size_t off = rank - s.size();
    for (size_t d = 0; d < s.size(); ++d) {
      int64_t& o = out[off + d];
      if (s[d] == o || s[d] == 1) continue;
      if (o == 1) {
        o = s[d];
        continue;
      }
      std::string all;
      for (const auto& x : shapes) all += (all.empty() ? "" : " and ") + shape_str(x);
      fail(ErrorKind::kInvalidModel, "shapes " + all + " cannot be broadcast together");
    }
  }
  return out;
}

}  // namespace bitsmith
