#include "passes/requant_search.h"

#include <algorithm>
#include <cfloat>

#include "runtime/session.h"

namespace bitsmith {

namespace {

// Bisection for many searches at once: for every i, the smallest x in [a[i], b[i]]
// with reached(i, x), where reached is monotone in x and b[i] stands for "never".
// `probe(mid)` evaluates all midpoints in one reference run; it returns, per i,
// the level reached at mid[i], compared with want[i].
template <class Probe>
void bisect_all(std::vector<int64_t>& a, std::vector<int64_t> b, const std::vector<int64_t>& want,
                Probe probe) {
  std::vector<int64_t> mid(a.size());
  for (;;) {
    bool active = false;
    for (size_t i = 0; i < a.size(); ++i) {
      mid[i] = a[i] + (b[i] - a[i]) / 2;
      active = active || a[i] < b[i];
    }
    if (!active) return;
    std::vector<int64_t> q = probe(mid);
    for (size_t i = 0; i < a.size(); ++i) {
      if (a[i] >= b[i]) continue;
      if (q[i] >= want[i]) {
        b[i] = mid[i];
      } else {
        a[i] = mid[i] + 1;
      }
    }
  }
}

}  // namespace

std::vector<int64_t> eval_levels(const ChainProbe& cp, const std::vector<Exact>& reals,
                                 int64_t probes) {
  Shape shape(static_cast<size_t>(cp.rank), 1);
  shape[0] = probes;
  shape[static_cast<size_t>(cp.axis)] = cp.channels;
  TensorMap feeds;
  feeds[cp.in_name] = Tensor::from_exact(shape, reals);
  TensorMap out = run_exact(cp.graph, std::move(feeds));
  const Tensor& y = out.at(cp.out_name);
  if (y.type() != ElemType::kExact || y.size() != probes * cp.channels) {
    fail(ErrorKind::kRuntime,
         "requantization probe gave an unexpected shape " + shape_str(y.shape()));
  }
  std::vector<int64_t> q(reals.size());
  for (int64_t p = 0; p < probes; ++p) {
    for (int64_t c = 0; c < cp.channels; ++c) {
      size_t i = static_cast<size_t>(p * cp.channels + c);
      Exact v =
          (y.exact()[i] - cp.q_offset[static_cast<size_t>(c)]) / cp.q_scale[static_cast<size_t>(c)];
      if (!v.is_integer()) fail(ErrorKind::kRuntime, "quantizer output is off its integer grid");
      q[i] = static_cast<int64_t>(v.floor());
    }
  }
  return q;
}

Thresholds search_thresholds(const ChainProbe& cp, const std::vector<Exact>& acc_scale,
                             const std::vector<Exact>& offset, const std::vector<int64_t>& lo,
                             const std::vector<int64_t>& hi) {
  const int64_t C = cp.channels;
  Thresholds t;
  t.levels = cp.qmax - cp.qmin;
  t.base.assign(static_cast<size_t>(C), cp.qmin);
  t.sign.assign(static_cast<size_t>(C), 1);
  auto real_of = [&](int64_t c, int64_t acc_signed) {
    size_t ci = static_cast<size_t>(c);
    return acc_scale[ci] * Exact::from_int(acc_signed * t.sign[ci]) + offset[ci];
  };
  // Direction of each channel from its end points: the chain is monotone, so equal
  // end points mean a constant channel, where either direction is right.
  {
    std::vector<Exact> r(static_cast<size_t>(2 * C));
    for (int64_t c = 0; c < C; ++c) {
      r[static_cast<size_t>(c)] = real_of(c, lo[static_cast<size_t>(c)]);
      r[static_cast<size_t>(C + c)] = real_of(c, hi[static_cast<size_t>(c)]);
    }
    std::vector<int64_t> q = eval_levels(cp, r, 2);
    for (int64_t c = 0; c < C; ++c) {
      if (q[static_cast<size_t>(C + c)] < q[static_cast<size_t>(c)])
        t.sign[static_cast<size_t>(c)] = -1;
    }
  }
  // Bisection for every (level, channel) pair at once: the smallest a in
  // [lo', hi' + 1] with level(a) >= qmin + 1 + j, hi' + 1 meaning "never".
  const int64_t L = t.levels;
  for (int64_t c = 0; c < C; ++c) {  // the bisection computes b - a in int64
    if (hi[static_cast<size_t>(c)] - lo[static_cast<size_t>(c)] >= (int64_t{1} << 62) ||
        lo[static_cast<size_t>(c)] < -(int64_t{1} << 61) ||
        hi[static_cast<size_t>(c)] > (int64_t{1} << 61)) {
      fail(ErrorKind::kUnsupported, "accumulator range beyond 61 bits");
    }
  }
  std::vector<int64_t> a(static_cast<size_t>(L * C)), b(static_cast<size_t>(L * C));
  for (int64_t c = 0; c < C; ++c) {
    size_t ci = static_cast<size_t>(c);
    int64_t l = t.sign[ci] > 0 ? lo[ci] : -hi[ci];
    int64_t h = t.sign[ci] > 0 ? hi[ci] : -lo[ci];
    for (int64_t j = 0; j < L; ++j) {
      a[static_cast<size_t>(j * C + c)] = l;
      b[static_cast<size_t>(j * C + c)] = h + 1;
    }
  }
  std::vector<int64_t> want(a.size());
  for (size_t i = 0; i < a.size(); ++i) want[i] = cp.qmin + 1 + static_cast<int64_t>(i) / C;
  std::vector<Exact> r(a.size());
  bisect_all(a, b, want, [&](const std::vector<int64_t>& mid) {
    for (size_t i = 0; i < mid.size(); ++i) r[i] = real_of(static_cast<int64_t>(i) % C, mid[i]);
    return eval_levels(cp, r, L);
  });
  t.thr.resize(static_cast<size_t>(L * C));
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t j = 0; j < L; ++j)
      t.thr[static_cast<size_t>(c * L + j)] = a[static_cast<size_t>(j * C + c)];
  }
  return t;
}

std::vector<int64_t> search_float_thresholds(const ChainProbe& cp) {
  const uint32_t lo = float_key(-FLT_MAX), hi = float_key(FLT_MAX);
  auto real = [](uint32_t k) { return Exact::from_double(static_cast<double>(float_of_key(k))); };
  {
    std::vector<int64_t> q = eval_levels(cp, {real(lo), real(hi)}, 2);
    if (q[1] < q[0]) fail(ErrorKind::kUnsupported, "the input chain decreases");
  }
  const int64_t L = cp.qmax - cp.qmin;
  std::vector<int64_t> a(static_cast<size_t>(L), lo), b(static_cast<size_t>(L), int64_t{hi} + 1);
  std::vector<int64_t> want(a.size());
  for (size_t i = 0; i < a.size(); ++i) want[i] = cp.qmin + 1 + static_cast<int64_t>(i);
  std::vector<Exact> r(a.size());
  bisect_all(a, b, want, [&](const std::vector<int64_t>& mid) {
    for (size_t i = 0; i < mid.size(); ++i)
      r[i] = real(static_cast<uint32_t>(std::min<int64_t>(mid[i], hi)));
    return eval_levels(cp, r, L);
  });
  return a;
}

}  // namespace bitsmith
