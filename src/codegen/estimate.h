// FPGA resource and latency estimates for a Program (program.h) as an HLS design in
// the style hls4ml generates: every step a pipelined block, constant weights folded
// into logic at reuse factor 1. The model and every number in it are described in
// docs/estimate.md; the numbers themselves live in one table in estimate.cc.
//
// The estimate reads only the Program: the weights (zeros, powers of two and the
// canonical signed digits of the others), the proven integer range of every buffer
// and accumulator, and the thresholds. It is a first-order model, meant to compare
// designs and to catch a layer that will not fit, not to replace synthesis.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "codegen/program.h"

namespace bitsmith::codegen {

struct EstimateOptions {
  int reuse_factor = 1;              // hls4ml's meaning: each multiplier used R times, II = R
  std::string io = "parallel";       // "parallel" | "stream"
  std::string strategy = "latency";  // "latency" | "resource"
  double clock_ns = 5.0;             // target clock period
  // Threshold units: "comparators" as emit_hls writes them (one per level), or "best":
  // a shift and saturation for thresholds evenly spaced by 2^k, a binary search when
  // that is smaller.
  std::string requant = "comparators";
  // Cost the host steps (input conversion, dequantization, Softmax) as FPGA logic, as
  // in an hls4ml design; by default they run on the host as emit_hls splits them.
  bool host_steps = false;
  int input_bits = 0;  // > 0: fixed-point inputs narrowed to this width
};

struct Resources {
  int64_t lut = 0, ff = 0, dsp = 0, bram18 = 0;
  Resources& operator+=(const Resources& o) {
    lut += o.lut, ff += o.ff, dsp += o.dsp, bram18 += o.bram18;
    return *this;
  }
};

// Counts behind a step's figures, for the reader and the tests.
struct StepDetail {
  int in_bits = 0, acc_bits = 0, out_bits = 0;
  int64_t products = 0;       // nonzero weight products per sample (one kernel instance)
  int64_t zero_weights = 0;   // skipped
  int64_t shift_weights = 0;  // +-2^k: wiring only (reuse factor 1)
  int64_t const_mults = 0;    // other weights as shift-and-add constant multipliers
  int64_t const_adders = 0;   // adders inside those constant multipliers
  int64_t dsp_mults = 0;      // products on DSP slices
  int64_t lut_mults = 0;      // general (shared) multipliers in LUTs (reuse factor > 1)
  int64_t tree_adders = 0;    // adders of the accumulation trees
  int64_t comparators = 0;    // threshold / max comparators
  int64_t adder_levels = 0;   // deepest adder chain of one output
  std::string requant;        // "none", "shift", "comparators", "binary-search"; IntRequant:
                              // "clamp" (divisor 1), "shift" (2^k), "divide" (reciprocal)
  Resources mult;             // the multipliers alone (constant or shared)
  Resources rom;              // weight storage (reuse factor > 1) and line buffers
};

struct StepEstimate {
  std::string node, source;  // the lowered node and the model node it comes from
  std::string kind;          // "dense", "conv", "add", "maxpool", "requant", "threshold",
                             // "scale", "concat", "sumpool", "convtranspose", ...
  std::string what;          // one line: shape and widths
  bool host = false;         // runs on the host (emit_hls): no FPGA resources
  Resources res;
  int64_t latency = 0;  // cycles from its first input to its last output
  int64_t ii = 1;       // cycles between two samples
  StepDetail detail;
};

struct Estimate {
  std::string model;
  EstimateOptions options;
  std::vector<StepEstimate> steps;
  Resources total;
  int64_t latency = 0;  // cycles, one sample
  int64_t ii = 1;       // cycles between samples
  double latency_ns = 0;
  std::vector<std::string> notes;  // assumptions that matter for this program
};

// Throws Error(kInput) for bad options.
Estimate estimate(const Program& program, const EstimateOptions& options);

// {"model", "options", "steps": [...], "total", "notes"}: integers, strings, one double.
std::string estimate_json(const Estimate& e);
// A fixed-width table, one row per step and a total row, then the notes.
std::string estimate_table(const Estimate& e);

// Nonzero digits of the canonical signed-digit (non-adjacent) form of v: a constant
// multiplier by v costs (digits - 1) adders.
int csd_digits(int64_t v);

}  // namespace bitsmith::codegen
