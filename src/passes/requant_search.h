// Requantization thresholds found with the reference ops. A fused layer's output
// reaches a quantizer through per-channel monotone elementwise nodes; evaluating
// that chain (copied into a small graph) on probe values tells, for each channel
// and output level, the smallest integer accumulator that reaches the level.
// Since the chain is monotone in the accumulator, the thresholds reproduce the
// reference at every accumulator value in range, not just the probed ones.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/float_order.h"
#include "ir/graph.h"

namespace bitsmith {

struct ChainProbe {
  Graph graph;             // chain nodes + quantizer, constants as Exact initializers
  std::string in_name;     // value the probe feeds (the layer's output)
  std::string out_name;    // the quantizer's output
  int rank = 2, axis = 1;  // layout of the layer's output
  int64_t channels = 1;
  std::vector<Exact> q_scale, q_offset;  // per channel: quantizer output = q_scale * q + q_offset
  int64_t qmin = 0, qmax = 0;            // integer range of q
};

// Quantizer levels for reals[p * channels + c] (p < probes).
std::vector<int64_t> eval_levels(const ChainProbe& cp, const std::vector<Exact>& reals,
                                 int64_t probes);

struct Thresholds {
  int64_t levels = 0;         // qmax - qmin
  std::vector<int64_t> thr;   // [channels][levels], ascending per channel
  std::vector<int64_t> base;  // [channels] = qmin
  std::vector<int> sign;      // [channels] +1, or -1 where the chain decreases (weights negated)
};

// The layer's output is real = acc_scale[c] * acc + offset[c] with acc in
// [lo[c], hi[c]]. Thresholds apply to sign[c] * acc.
Thresholds search_thresholds(const ChainProbe& cp, const std::vector<Exact>& acc_scale,
                             const std::vector<Exact>& offset, const std::vector<int64_t>& lo,
                             const std::vector<int64_t>& hi);

// For a per-element chain (channels == 1) fed float32 values: the smallest key whose
// value reaches each level qmin + 1 + j over all finite floats, or key(+inf) for
// "never". Exact by construction: the chain is monotone nondecreasing (checked at
// the ends; a decreasing chain is refused with an error).
std::vector<int64_t> search_float_thresholds(const ChainProbe& cp);

}  // namespace bitsmith
