// The reference executor: runs a verified graph node by node in float or exact
// mode. It defines what is right; faster engines must match it bit for bit.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "ir/graph.h"
#include "ops/registry.h"

namespace bitsmith {

using TensorMap = std::map<std::string, Tensor>;

struct RunOptions {
  Mode mode = Mode::kExact;
  bool keep_intermediates = false;  // return every value, not just the graph outputs
  bool allow_nan = false;           // NaN in an input is an error unless allowed
  int threads = 0;                  // integer kernels' threads; 0: BITSMITH_THREADS or all cores
};

// Runs the graph on feeds (float32 tensors keyed by input name). Checks names,
// ranks, non-batch dimensions and NaN; returns float32 outputs (int64 for integer
// outputs such as Shape). Exact values are rounded to nearest-even float32 at
// the output only.
TensorMap execute(const Graph& graph, const TensorMap& feeds, const RunOptions& options);

// Runs the graph once on zeros of the declared input shapes (free dimensions set
// to 1) and records every value's shape, storage and quantized type in
// graph.value_info. Errors name the node that fails.
// Lowered graphs (integer ops) are inferred in exact mode, the only one they run in.
void infer_shapes_and_types(Graph& graph, Mode mode = Mode::kFloat);

// Runs the graph in exact mode on Exact (or int64) feeds with no input checks and
// returns the graph outputs unrounded. The lowering pass evaluates small pieces of
// a model with it, so its decisions come from the reference ops themselves.
TensorMap run_exact(const Graph& graph, TensorMap feeds);

}  // namespace bitsmith
