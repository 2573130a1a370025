// A model as a straight-line program of integer steps for one sample, read off
// the lowered graph (src/passes/lower.h). The code generators (emit_cpp, emit_hls)
// and the estimator only read this form, so what a target can express is decided
// once, here: every buffer has a proven integer range (its C or ap_int type follows
// from it), every step names the model node it comes from.
//
// The program covers the integer path from the float32 graph inputs to the
// outputs: input conversion (float thresholds or fixed point), integer layers,
// exact dequantization of the outputs, and a trailing Softmax (evaluated in double
// as exact mode defines it). Anything else is refused with the node and the reason.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/exact.h"
#include "ir/graph.h"

namespace bitsmith::codegen {

// The integer values a buffer or accumulator can hold.
struct IntRange {
  int64_t lo = 0, hi = 0;
  bool is_signed() const { return lo < 0; }
  // Bits of the narrowest two's-complement (signed) or plain binary (unsigned) type.
  int bits() const;
};

enum class BufKind : uint8_t { kFloat, kInt, kDouble };

struct Buffer {
  std::string ident;  // C identifier
  std::string value;  // the graph value it holds
  BufKind kind = BufKind::kInt;
  Shape shape;  // per sample: the batch dimension is 1
  int64_t size = 0;
  IntRange range;  // kInt only
};

enum class StepKind : uint8_t {
  kFloatThresholds,  // float32 input -> level by thresholds on the float32 order
  kFixedInput,       // float32 input -> q = x * 2^-exp, |q| <= 2^bits
  kLinear,           // dense or convolution, integer accumulator, optional thresholds
  kAdd,              // a*qa + b*qb, optional thresholds
  kMaxPool,          // max over windows (padding never wins)
  kTranspose,        // permutation of axes
  kDequantize,       // exact rational scale*q + offset, rounded once
  kSoftmax,          // double-precision softmax (exact mode's definition)
  kRequant,          // round_div(acc * mul + addend + bias * divisor, divisor), clamped
  kThreshold,        // base + #{j : sign * acc >= thresholds[j]} per channel
  kScale,            // q * a
  kConcat,           // levels concatenated along an axis
  kSumPool,          // window sums (padding reads pad_level)
  kConvTranspose,    // transposed convolution of (q - zero), integer accumulator
};

struct ConvGeom {
  int spatial = 2;              // 1 or 2 (1-D convolutions have h = kh = 1)
  int64_t c = 0, h = 1, w = 0;  // input channels and size
  int64_t groups = 1;           // output channels per group: n / groups
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
  int64_t pt = 0, pl = 0, pb = 0, pr = 0;
  int64_t oh = 1, ow = 0;
};

// Exact rational out = (num[c] * q + add[c]) / den * 2^exp per channel, den odd > 0;
// |num * q + add| < 2^125 and den < 2^125 over the input's range.
struct Dequant {
  int64_t channels = 1, inner = 1;  // channel of element i: (i / inner) % channels
  std::vector<i128> num, add;
  i128 den = 1;
  int exp = 0;
};

struct Step {
  StepKind kind;
  std::string node;    // the lowered node's name
  std::string source;  // the model node it comes from, for comments and messages
  std::string ident;   // C identifier for the step's constants
  std::vector<int> in;
  int out = -1;

  // kFloatThresholds / kLinear / kAdd: level = base + #{j : acc >= thresholds[j]}.
  int64_t levels = 0;               // 0: the output is the accumulator itself
  std::vector<int64_t> thresholds;  // [n][levels] (kLinear) or [levels]; ascending
  std::vector<int64_t> base;        // [n] (kLinear) or [1]
  std::vector<uint32_t> keys;       // kFloatThresholds: float32 order keys, ascending
  int exp = 0, bits = 0;            // kFixedInput

  // kLinear: weights [n][k] (k in (ky, kx, c) order per group for convolutions).
  bool conv = false;
  bool bipolar = false;  // inputs and weights are +-1
  int64_t rows = 1, n = 0, k = 0;
  std::vector<int64_t> weights;
  ConvGeom geom;
  int64_t pad_level = 0;  // the level of real 0, used for padding
  IntRange acc;           // the accumulator over every channel (kLinear, kAdd)
  // kLinear: a bound on every partial sum of every channel (sum of |w| * max|x|, the
  // padding level included), which sizes the accumulator variable in generated code.
  IntRange partial;

  int64_t a = 1, b = 1;  // kAdd multipliers

  // kMaxPool: geometry in `geom` (c = channels, kh/kw = window).
  // kTranspose: input shape and permutation.
  Shape in_shape;
  std::vector<int64_t> perm;

  Dequant deq;  // kDequantize

  int64_t outer = 1, len = 1, inner = 1;  // kSoftmax: slices of len elements, stride inner

  // kRequant / kThreshold: per-channel parameters (one entry per channel, or one for
  // all); the channel of output element i is (i / chan_inner) % channels.
  int64_t channels = 1, chan_inner = 1;
  std::vector<int64_t> mul, addend, divisor, bias, level_min, level_max;
  int rounding = 0;           // bitsmith_int::Rounding
  int product_bits = 64;      // bits |acc * mul + addend + bias * divisor| needs
  std::vector<int64_t> sign;  // kThreshold: +1 or -1 per row

  // kConcat: each input contributes chunks[k] elements per step of the outer index.
  std::vector<int64_t> chunks;

  int64_t zero = 0;  // kConvTranspose: the input level of real 0
};

struct Program {
  std::string name;    // C identifier of the model
  std::string source;  // the model file, for messages
  std::vector<Buffer> buffers;
  std::vector<Step> steps;
  std::vector<int> inputs, outputs;  // buffers
  std::vector<std::string> notes;    // decisions the generated code documents
};

struct ProgramOptions {
  std::string name;                // default: from the graph
  std::vector<std::string> notes;  // carried into Program::notes
};

// The model without its trailing Softmax nodes: each output they give is replaced
// by their input (the logits), and `notes` says so. Targets with no form for
// Softmax (hls) compile this instead, when the user asks for it.
std::shared_ptr<Graph> without_float_tail(const Graph& graph, std::vector<std::string>* notes);

// Reads the program off a lowered graph; throws Error(kUnsupported) naming the node,
// the reason and what to change when a construct has no integer form.
Program make_program(const Graph& lowered, const ProgramOptions& options);

// A C identifier from any value or node name ("/body/Conv_0" -> "body_Conv_0").
std::string c_ident(const std::string& name);

}  // namespace bitsmith::codegen
