// Lowering to integers: rewrites a verified graph so that quantized layers run on
// integer kernels, without changing any exact-mode output bit.
//
// A value with an integer twin q satisfies x = scale * q + offset exactly
// (per-tensor constants). Twins come from Quant nodes (IntQuantize), from
// BipolarQuant / MultiThreshold outputs (IntFromReal), from fused layers, and
// pass through shape ops. A MatMul / Gemm / Conv whose data input has a twin and
// whose weights are constant becomes IntLinear: integer weights (each output
// channel's rational gcd taken out as its scale), an integer accumulator, and —
// when the layer's output reaches a quantizer through per-channel monotone
// elementwise ops (bias, Mul, BatchNormalization, Relu, Clip ...) — per-channel
// thresholds on the accumulator found by bisection with the reference ops
// themselves, so requantization is exact by construction over the whole
// accumulator range. Everything else stays on the reference path, and the report
// names each such node and why.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace bitsmith {

struct LowerOptions {
  int64_t max_threshold_levels = 256;  // wider requantizers stay on the reference path
};

struct LowerReport {
  std::vector<std::string> lowered;  // one line per fused layer
  std::vector<std::string> left;     // nodes left to the reference path, with the reason
};

// Returns the lowered copy of `graph` (inferred, ready to execute in exact mode).
std::shared_ptr<Graph> lower_to_integers(const Graph& graph, const LowerOptions& options,
                                         LowerReport* report);

}  // namespace bitsmith
