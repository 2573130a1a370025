// The FPGA estimator on hand-built Programs with answers worked out by hand, its
// monotonicity in the reuse factor and the input width, and its JSON.
#include <gtest/gtest.h>

#include <random>

#include "codegen/estimate.h"
#include "core/error.h"

namespace bitsmith::codegen {
namespace {

int add_buffer(Program& p, const std::string& value, Shape shape, IntRange r,
               BufKind kind = BufKind::kInt) {
  Buffer b;
  b.ident = "v_" + value;
  b.value = value;
  b.kind = kind;
  b.shape = shape;
  b.size = 1;
  for (int64_t d : shape) b.size *= d;
  b.range = r;
  p.buffers.push_back(b);
  return static_cast<int>(p.buffers.size() - 1);
}

// A program of one dense layer: input [1, k] with range `in`, weights [n][k].
Program dense(int64_t n, int64_t k, const std::vector<int64_t>& w, IntRange in) {
  Program p;
  p.name = "m";
  p.source = "test.onnx";
  const int x = add_buffer(p, "x", {1, k}, in);
  Step s;
  s.kind = StepKind::kLinear;
  s.node = s.source = s.ident = "fc";
  s.in = {x};
  s.n = n;
  s.k = k;
  s.weights = w;
  // The accumulator range as program.cc computes it.
  int64_t lo_all = 0, hi_all = 0;
  for (int64_t r = 0; r < n; ++r) {
    int64_t lo = 0, hi = 0;
    for (int64_t j = 0; j < k; ++j) {
      const int64_t v = w[static_cast<size_t>(r * k + j)];
      lo += std::min(v * in.lo, v * in.hi);
      hi += std::max(v * in.lo, v * in.hi);
    }
    lo_all = r ? std::min(lo_all, lo) : lo;
    hi_all = r ? std::max(hi_all, hi) : hi;
  }
  s.acc = {lo_all, hi_all};
  s.out = add_buffer(p, "y", {1, n}, s.acc);
  p.steps.push_back(s);
  p.inputs = {x};
  p.outputs = {s.out};
  return p;
}

std::vector<int64_t> random_weights(int64_t count, int64_t max_abs, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int64_t> d(-max_abs, max_abs);
  std::vector<int64_t> w(static_cast<size_t>(count));
  for (auto& v : w) v = d(gen);
  return w;
}

TEST(Estimate, CsdDigits) {
  EXPECT_EQ(csd_digits(0), 0);
  EXPECT_EQ(csd_digits(1), 1);
  EXPECT_EQ(csd_digits(-1), 1);
  EXPECT_EQ(csd_digits(3), 2);   // 4 - 1
  EXPECT_EQ(csd_digits(7), 2);   // 8 - 1
  EXPECT_EQ(csd_digits(-7), 2);  // -8 + 1
  EXPECT_EQ(csd_digits(5), 2);   // 4 + 1
  EXPECT_EQ(csd_digits(91), 4);  // 128 - 32 - 4 - 1 (binary has 5 ones)
  EXPECT_EQ(csd_digits(1024), 1);
  EXPECT_EQ(csd_digits(INT64_MIN), 1);
  EXPECT_EQ(csd_digits(INT64_MAX), 2);  // 2^63 - 1
}

// A 4-input, 3-output dense layer on 4-bit unsigned inputs [0, 15]:
//   row 0: 0, 1, 2, -4  -> one zero, three shifts, 3 terms
//   row 1: 3, 5, 7, 0   -> three constant multipliers of two CSD digits (one adder each)
//   row 2: 6, 0, 0, 0   -> 6 = 3 << 1: one constant multiplier, a single term
TEST(Estimate, SmallDenseByHand) {
  Program p = dense(3, 4, {0, 1, 2, -4, 3, 5, 7, 0, 6, 0, 0, 0}, {0, 15});
  Estimate e = estimate(p, {});
  ASSERT_EQ(e.steps.size(), 1u);
  const StepEstimate& s = e.steps[0];
  const StepDetail& d = s.detail;
  EXPECT_EQ(s.kind, "dense");
  EXPECT_EQ(d.in_bits, 4);
  EXPECT_EQ(d.acc_bits, 9);  // [-60, 225]
  EXPECT_EQ(d.out_bits, 9);
  EXPECT_EQ(d.products, 7);
  EXPECT_EQ(d.zero_weights, 5);
  EXPECT_EQ(d.shift_weights, 3);
  EXPECT_EQ(d.const_mults, 4);
  EXPECT_EQ(d.const_adders, 4);
  EXPECT_EQ(d.dsp_mults, 0);
  // Each constant-multiplier adder is input width + 1 = 5 LUTs.
  EXPECT_EQ(d.mult.lut, 20);
  EXPECT_EQ(d.mult.dsp, 0);
  // Rows 0 and 1: 3 terms, widest product 7 bits: adders of 8 and 9 bits; row 2: none.
  EXPECT_EQ(d.tree_adders, 4);
  EXPECT_EQ(d.adder_levels, 3);  // row 1: one CSD level and two tree levels
  EXPECT_EQ(d.requant, "none");
  EXPECT_EQ(s.res.lut, 20 + 2 * (8 + 9));
  EXPECT_EQ(s.res.ff, 3 * 9);  // the output register; 3 ns fit one 5 ns cycle
  EXPECT_EQ(s.res.dsp, 0);
  EXPECT_EQ(s.res.bram18, 0);
  EXPECT_EQ(s.latency, 1);
  EXPECT_EQ(s.ii, 1);
  EXPECT_EQ(e.total.lut, s.res.lut);
  EXPECT_EQ(e.latency, 1);
  EXPECT_EQ(e.latency_ns, 5.0);
  // A faster clock needs a pipeline register: 3 ns in a 2 ns clock (1.75 usable).
  EstimateOptions fast;
  fast.clock_ns = 2;
  EXPECT_EQ(estimate(p, fast).steps[0].latency, 2);
}

TEST(Estimate, WideProductsUseDsps) {
  // 12-bit inputs times an 11-bit odd constant: both operands above 10 bits.
  Program p = dense(1, 2, {1365, 1024}, {-2048, 2047});
  Estimate e = estimate(p, {});
  const StepDetail& d = e.steps[0].detail;
  EXPECT_EQ(d.dsp_mults, 1);
  EXPECT_EQ(d.shift_weights, 1);  // 1024: wiring
  EXPECT_EQ(e.total.dsp, 1);
  // The DSP's post-adder takes the single tree adder.
  EXPECT_EQ(d.tree_adders, 0);
  EXPECT_EQ(d.mult.lut, 0);
  // Narrow inputs keep the same constant in LUTs.
  Program q = dense(1, 2, {1365, 1024}, {0, 255});
  EXPECT_EQ(estimate(q, {}).total.dsp, 0);
}

TEST(Estimate, ThresholdForms) {
  // 2 outputs, one input [0, 255], weights 1: acc [0, 255], 8 bits.
  Program p = dense(2, 1, {1, 1}, {0, 255});
  Step& s = p.steps[0];
  s.levels = 4;
  s.base = {0, 0};
  // Channel 0: evenly spaced by 32 (one off from ties-to-even); channel 1: uneven.
  s.thresholds = {16, 48, 81, 112, 3, 10, 100, 200};
  p.buffers[static_cast<size_t>(s.out)].range = {0, 4};
  // As emitted: one comparator per level (8 bits against a constant: 4 LUTs) and the
  // sum of the 4 comparison bits (4 LUTs), per channel.
  Estimate e = estimate(p, {});
  EXPECT_EQ(e.steps[0].detail.requant, "comparators");
  EXPECT_EQ(e.steps[0].detail.comparators, 8);
  EXPECT_EQ(e.steps[0].detail.out_bits, 3);
  EXPECT_EQ(e.steps[0].res.lut, 2 * (4 * 4 + 4));
  ASSERT_EQ(e.notes.size(), 1u);  // channel 0 could be a shift
  EXPECT_NE(e.notes[0].find("--requant best"), std::string::npos);
  // Best form: channel 0 a shift (offset adder 8 + saturation 3 + 2 + 1 + 1), channel
  // 1 four comparators and a thermometer encoder (2 LUTs).
  EstimateOptions best;
  best.requant = "best";
  e = estimate(p, best);
  EXPECT_EQ(e.steps[0].detail.requant, "comparators+shift");
  EXPECT_EQ(e.steps[0].detail.comparators, 4);
  EXPECT_EQ(e.steps[0].res.lut, (8 + 3 + 2 + 1 + 1) + (4 * 4 + 2));
  // Thresholds outside the accumulator's range and repeated ones are constants.
  s.thresholds = {-5, 0, 7, 7, -5, 0, 256, 256};
  e = estimate(p, best);
  EXPECT_EQ(e.steps[0].detail.requant, "comparators+constant");
  EXPECT_EQ(e.steps[0].detail.comparators, 1);
  EXPECT_EQ(estimate(p, {}).steps[0].detail.comparators, 1);
  // Many uneven levels: a binary search is smaller than 40 comparators.
  s.levels = 40;
  s.thresholds.clear();
  for (int64_t c = 0; c < 2; ++c)
    for (int64_t j = 0; j < 40; ++j) s.thresholds.push_back(1 + j * 6 + (j * j) % 5);
  e = estimate(p, best);
  EXPECT_EQ(e.steps[0].detail.requant, "binary-search");
  EXPECT_EQ(e.steps[0].detail.comparators, 2 * 6);  // ceil(log2(41)) stages per channel
  EXPECT_EQ(estimate(p, {}).steps[0].detail.comparators, 2 * 40);
}

TEST(Estimate, BipolarLayersArePopcounts) {
  // 12 inputs of +-1, 2 outputs: XNOR + popcount, 12 LUTs per output.
  std::vector<int64_t> w(24);
  for (size_t i = 0; i < w.size(); ++i) w[i] = i % 3 ? 1 : -1;
  Program p = dense(2, 12, w, {-1, 1});
  p.steps[0].bipolar = true;
  Estimate e = estimate(p, {});
  const StepEstimate& s = e.steps[0];
  EXPECT_EQ(s.detail.products, 24);
  EXPECT_EQ(s.detail.const_mults, 0);
  EXPECT_EQ(s.res.lut, 24);
  EXPECT_EQ(s.res.dsp, 0);
  // Reuse 4: 3 bits per output per cycle, explicit XNORs and an accumulator.
  EstimateOptions o;
  o.reuse_factor = 4;
  e = estimate(p, o);
  EXPECT_EQ(e.steps[0].ii, 4);
  EXPECT_GT(e.steps[0].detail.rom.lut, 0);  // the weights, read each cycle
}

TEST(Estimate, HostStepsCostNothingUnlessAsked) {
  // float32 -> 16-bit fixed point -> dense -> float32 output.
  Program p;
  p.source = "host.onnx";
  const int x = add_buffer(p, "x", {1, 2}, {}, BufKind::kFloat);
  const int q = add_buffer(p, "q", {1, 2}, {-32768, 32768});
  Step in;
  in.kind = StepKind::kFixedInput;
  in.node = in.source = in.ident = "in";
  in.in = {x};
  in.out = q;
  in.bits = 15;
  p.steps.push_back(in);
  Step fc;
  fc.kind = StepKind::kLinear;
  fc.node = fc.source = fc.ident = "fc";
  fc.in = {q};
  fc.n = 1;
  fc.k = 2;
  fc.weights = {3, 5};
  fc.acc = {-8 * 32768, 8 * 32768};
  fc.out = add_buffer(p, "acc", {1, 1}, fc.acc);
  p.steps.push_back(fc);
  Step dq;
  dq.kind = StepKind::kDequantize;
  dq.node = dq.source = dq.ident = "dq";
  dq.in = {fc.out};
  dq.deq.num = {1};
  dq.deq.add = {0};
  dq.out = add_buffer(p, "y", {1, 1}, {}, BufKind::kFloat);
  p.steps.push_back(dq);
  Estimate e = estimate(p, {});
  ASSERT_EQ(e.steps.size(), 3u);
  EXPECT_TRUE(e.steps[0].host);
  EXPECT_FALSE(e.steps[1].host);
  EXPECT_TRUE(e.steps[2].host);
  EXPECT_EQ(e.steps[0].res.lut + e.steps[2].res.lut, 0);
  EXPECT_EQ(e.total.lut, e.steps[1].res.lut);
  EXPECT_EQ(e.steps[1].detail.in_bits, 17);  // [-2^15, 2^15]
  EstimateOptions o;
  o.host_steps = true;
  Estimate h = estimate(p, o);
  EXPECT_GT(h.steps[0].res.lut, 0);  // barrel shifter
  EXPECT_GT(h.steps[2].res.lut, 0);  // integer -> float32
  EXPECT_EQ(h.steps[1].res.lut, e.steps[1].res.lut);
  // --input-bits narrows the device's input; it never widens it.
  o.input_bits = 8;
  EXPECT_EQ(estimate(p, o).steps[1].detail.in_bits, 8);
  o.input_bits = 40;
  EXPECT_EQ(estimate(p, o).steps[1].detail.in_bits, 17);
}

TEST(Estimate, ReuseNeverGrowsMultipliersNorShrinksII) {
  for (int64_t max_abs : {31, 2047}) {  // LUT constants, then DSP products
    const IntRange in = max_abs > 100 ? IntRange{-2048, 2047} : IntRange{0, 63};
    Program p = dense(8, 16, random_weights(8 * 16, max_abs, 7), in);
    Resources prev{INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX};
    int64_t prev_ii = 0;
    std::vector<int> reuse;
    for (int r = 1; r <= 40; ++r) reuse.push_back(r);
    for (int r : {64, 100, 127, 128, 129, 1000}) reuse.push_back(r);
    for (int r : reuse) {
      for (const char* strategy : {"latency", "resource"}) {
        EstimateOptions o;
        o.reuse_factor = r;
        o.strategy = strategy;
        Estimate e = estimate(p, o);
        const StepEstimate& s = e.steps[0];
        EXPECT_LE(s.detail.mult.lut, prev.lut) << "reuse " << r << " max |w| " << max_abs;
        EXPECT_LE(s.detail.mult.dsp, prev.dsp) << "reuse " << r << " max |w| " << max_abs;
        EXPECT_GE(s.ii, prev_ii) << "reuse " << r;
        EXPECT_EQ(s.ii, r);
        EXPECT_GE(s.latency, r);
        if (std::string(strategy) == "resource") {
          prev = s.detail.mult;
          prev_ii = s.ii;
        }
      }
    }
    if (max_abs > 100) {
      EXPECT_GT(estimate(p, {}).total.dsp, 0);
    }
  }
}

TEST(Estimate, WiderInputsNeverLowerLuts) {
  // Weights narrow enough (<= 10 bits) that no product moves to a DSP.
  const std::vector<int64_t> w = random_weights(6 * 20, 200, 11);
  for (int r : {1, 2, 3, 4, 16, 64}) {
    int64_t prev = 0;
    for (int bits = 1; bits <= 10; ++bits) {
      Program p = dense(6, 20, w, {-(int64_t{1} << (bits - 1)), (int64_t{1} << (bits - 1)) - 1});
      EstimateOptions o;
      o.reuse_factor = r;
      Estimate e = estimate(p, o);
      EXPECT_GE(e.total.lut, prev) << bits << " bits, reuse " << r;
      EXPECT_EQ(e.total.dsp, 0);
      prev = e.total.lut;
    }
  }
}

TEST(Estimate, ResourceStrategyPutsLargeWeightRomsInBram) {
  Program p = dense(32, 64, random_weights(32 * 64, 31, 3), {0, 63});
  EstimateOptions o;
  o.reuse_factor = 64;
  o.strategy = "resource";
  Estimate e = estimate(p, o);
  EXPECT_GT(e.steps[0].detail.rom.bram18, 0);
  o.strategy = "latency";
  e = estimate(p, o);
  EXPECT_EQ(e.steps[0].detail.rom.bram18, 0);
  EXPECT_GT(e.steps[0].detail.rom.lut, 0);
}

TEST(Estimate, StreamConvolutionHasLineBuffers) {
  // 3x3 convolution, 4 -> 2 channels on 8-bit 32x32 inputs, no padding.
  Program p;
  p.source = "conv.onnx";
  const int x = add_buffer(p, "x", {1, 4, 32, 32}, {0, 255});
  Step s;
  s.kind = StepKind::kLinear;
  s.node = s.source = s.ident = "conv";
  s.conv = true;
  s.in = {x};
  s.n = 2;
  s.k = 36;
  s.weights = random_weights(72, 3, 5);
  s.geom.c = 4;
  s.geom.h = s.geom.w = 32;
  s.geom.kh = s.geom.kw = 3;
  s.geom.oh = s.geom.ow = 30;
  s.acc = {-36 * 3 * 255, 36 * 3 * 255};
  s.out = add_buffer(p, "y", {1, 2, 30, 30}, s.acc);
  p.steps.push_back(s);
  EstimateOptions o;
  o.io = "stream";
  Estimate e = estimate(p, o);
  const StepEstimate& c = e.steps[0];
  // Two lines of 32 pixels x 32 bits: SRL32s, 32 LUTs each.
  EXPECT_EQ(c.detail.rom.lut, 64);
  EXPECT_EQ(c.detail.rom.bram18, 0);
  EXPECT_EQ(c.ii, 1024);  // one input pixel per cycle
  EXPECT_GT(c.latency, c.ii);
  o.reuse_factor = 2;
  EXPECT_EQ(estimate(p, o).steps[0].ii, 30 * 30 * 2);
  // io_parallel: one kernel instance over the 900 output pixels.
  EXPECT_EQ(estimate(p, {}).steps[0].ii, 900);

  // Then a 2x2 max pool: in a dataflow region the two overlap; in io_parallel they
  // run in sequence.
  Step pool;
  pool.kind = StepKind::kMaxPool;
  pool.node = pool.source = pool.ident = "pool";
  pool.in = {s.out};
  pool.geom.c = 2;
  pool.geom.h = pool.geom.w = 30;
  pool.geom.kh = pool.geom.kw = pool.geom.sh = pool.geom.sw = 2;
  pool.geom.oh = pool.geom.ow = 15;
  pool.out = add_buffer(p, "z", {1, 2, 15, 15}, s.acc);
  p.steps.push_back(pool);
  o.reuse_factor = 1;
  e = estimate(p, o);
  ASSERT_EQ(e.steps.size(), 2u);
  const StepEstimate &a = e.steps[0], &b = e.steps[1];
  EXPECT_EQ(b.ii, 900);  // one input pixel per cycle
  EXPECT_EQ(e.ii, 1024);
  EXPECT_EQ(e.latency, (a.latency - (a.ii - 1)) + (b.latency - (b.ii - 1)) + 1024 - 1);
  EXPECT_LT(e.latency, a.latency + b.latency);
  Estimate par = estimate(p, {});
  EXPECT_EQ(par.latency, par.steps[0].latency + par.steps[1].latency);
  EXPECT_EQ(par.steps[1].detail.comparators, 2 * 15 * 15 * 3);  // window - 1 per output
}

// A program of one step `s` from inputs of the given shapes and ranges to an output.
Program one_step(Step s, const std::vector<std::pair<Shape, IntRange>>& ins, Shape out_shape,
                 IntRange out_range) {
  Program p;
  p.name = "m";
  p.source = "test.onnx";
  s.node = s.source = s.ident = "op";
  s.in.clear();
  for (size_t i = 0; i < ins.size(); ++i)
    s.in.push_back(add_buffer(p, "x" + std::to_string(i), ins[i].first, ins[i].second));
  s.out = add_buffer(p, "y", out_shape, out_range);
  p.steps.push_back(s);
  p.inputs = s.in;
  p.outputs = {s.out};
  return p;
}

// IntRequant of four 4-bit levels [0, 15]: level = clamp(round(acc * 3 / 4), 0, 7).
TEST(Estimate, RequantByHand) {
  Step s;
  s.kind = StepKind::kRequant;
  s.mul = {3};
  s.addend = {0};
  s.divisor = {4};
  s.bias = {0};
  s.level_min = {0};
  s.level_max = {7};
  s.product_bits = 6;  // 45
  Program p = one_step(s, {{{1, 4}, {0, 15}}}, {1, 4}, {0, 7});
  Estimate e = estimate(p, {});
  const StepEstimate& r = e.steps[0];
  EXPECT_EQ(r.kind, "requant");
  EXPECT_EQ(r.detail.requant, "shift");
  // Per element: x * 3 is one adder of 5 bits; / 4 is a shift with an incrementer of
  // 6 - 2 + 1 = 5 bits and one LUT for the dropped bits; the quotient is in [0, 12]
  // (4 bits), so only the upper clamp binds: a comparator of 2 LUTs and a 3-bit mux
  // of 2 LUTs. 5 + 6 + 4 = 15 LUTs.
  EXPECT_EQ(r.res.lut, 4 * 15);
  EXPECT_EQ(r.detail.mult.lut, 4 * 5);
  EXPECT_EQ(r.detail.const_mults, 4);
  EXPECT_EQ(r.detail.comparators, 4);
  EXPECT_EQ(r.detail.acc_bits, 4);
  EXPECT_EQ(r.res.ff, 4 * 3);
  EXPECT_EQ(r.res.dsp, 0);
  EXPECT_EQ(r.latency, 1);  // 1 + 1 + 1.5 ns
  EXPECT_EQ(r.ii, 1);
  // Divisor 3: the reciprocal ceil(2^8 / 3) = 86 has 4 CSD digits: 3 adders of 7 bits,
  // and a correction adder of 6 bits; quotient [0, 15]. 5 + 21 + 6 + 4 = 36 LUTs, and
  // 1 + 2 + 1 + 1.5 = 5.5 ns is two cycles.
  p.steps[0].divisor = {3};
  e = estimate(p, {});
  EXPECT_EQ(e.steps[0].detail.requant, "divide");
  EXPECT_EQ(e.steps[0].res.lut, 4 * 36);
  EXPECT_EQ(e.steps[0].latency, 2);
  // Divisor 1 and a range inside the levels: the product alone, no clamp.
  p.steps[0].divisor = {1};
  p.steps[0].level_max = {63};
  e = estimate(p, {});
  EXPECT_EQ(e.steps[0].detail.requant, "clamp");
  EXPECT_EQ(e.steps[0].detail.comparators, 0);
  EXPECT_EQ(e.steps[0].res.lut, 4 * 5);
}

// IntThreshold on two channels of 4-bit signed levels [-8, 7], three thresholds each;
// row 1 compares -x (in [-7, 8]), so the layer's compared range is [-8, 8]: 5 bits.
TEST(Estimate, ThresholdByHand) {
  Step s;
  s.kind = StepKind::kThreshold;
  s.levels = 3;
  s.thresholds = {-2, 0, 3, -4, -1, 5};
  s.base = {0, 0};
  s.sign = {1, -1};
  s.channels = 2;
  s.acc = {-8, 8};
  Program p = one_step(s, {{{1, 2}, {-8, 7}}}, {1, 2}, {0, 3});
  Estimate e = estimate(p, {});
  const StepEstimate& r = e.steps[0];
  EXPECT_EQ(r.kind, "threshold");
  EXPECT_EQ(r.detail.requant, "comparators");
  // Per channel: 3 comparators of ceil(5 / 2) = 3 LUTs and a popcount of 3 bits.
  EXPECT_EQ(r.detail.comparators, 6);
  EXPECT_EQ(r.res.lut, 2 * (3 * 3 + 3));
  EXPECT_EQ(r.res.ff, 2 * 2);
  EXPECT_EQ(r.latency, 1);  // 1.5 + 2 * 0.5 ns
  // Evenly spaced by 2 (-2, 0, 2): a shift with --requant best.
  p.steps[0].thresholds = {-2, 0, 2, -2, 0, 2};
  EstimateOptions best;
  best.requant = "best";
  EXPECT_EQ(estimate(p, best).steps[0].detail.requant, "shift");
  EXPECT_LT(estimate(p, best).steps[0].res.lut, estimate(p, {}).steps[0].res.lut);
}

TEST(Estimate, ScaleByHand) {
  Step s;
  s.kind = StepKind::kScale;
  s.a = 5;  // 4 + 1: one adder of 3 + 1 bits per element
  Program p = one_step(s, {{{1, 3}, {-4, 3}}}, {1, 3}, {-20, 15});
  Estimate e = estimate(p, {});
  EXPECT_EQ(e.steps[0].kind, "scale");
  EXPECT_EQ(e.steps[0].res.lut, 3 * 4);
  EXPECT_EQ(e.steps[0].res.ff, 3 * 6);  // [-20, 15]
  EXPECT_EQ(e.steps[0].detail.const_adders, 3);
  EXPECT_EQ(e.steps[0].latency, 1);
  // A power of two is wiring; -1 a negation (an adder of 4 bits).
  p.steps[0].a = 4;
  e = estimate(p, {});
  EXPECT_EQ(e.steps[0].res.lut, 0);
  EXPECT_EQ(e.steps[0].res.ff, 0);
  EXPECT_EQ(e.steps[0].latency, 0);
  p.steps[0].a = -1;
  EXPECT_EQ(estimate(p, {}).steps[0].res.lut, 3 * 4);
}

TEST(Estimate, ConcatByHand) {
  Step s;
  s.kind = StepKind::kConcat;
  s.outer = 1;
  s.chunks = {8, 4};
  Program p = one_step(s, {{{1, 2, 2, 2}, {0, 3}}, {{1, 1, 2, 2}, {-2, 1}}}, {1, 3, 2, 2}, {-2, 3});
  Estimate e = estimate(p, {});
  const StepEstimate& r = e.steps[0];
  EXPECT_EQ(r.kind, "concat");
  EXPECT_EQ(r.res.lut, 0);
  EXPECT_EQ(r.res.ff, 12 * 3);  // [-2, 3]: 3 bits, every output registered
  EXPECT_EQ(r.latency, 1);
  // io_stream along channels: the beats merge, one pixel registered, 4 pixels.
  EstimateOptions st;
  st.io = "stream";
  e = estimate(p, st);
  EXPECT_EQ(e.steps[0].res.ff, 3 * 3);
  EXPECT_EQ(e.steps[0].res.bram18 + e.steps[0].res.lut, 0);
  EXPECT_EQ(e.steps[0].ii, 4);
  EXPECT_EQ(e.steps[0].latency, 1 + 3 + 1);
}

TEST(Estimate, SumPoolByHand) {
  Step s;
  s.kind = StepKind::kSumPool;
  s.geom.c = 2, s.geom.h = 4, s.geom.w = 4;
  s.geom.kh = s.geom.kw = s.geom.sh = s.geom.sw = 2;
  s.geom.oh = s.geom.ow = 2;
  Program p = one_step(s, {{{1, 2, 4, 4}, {0, 7}}}, {1, 2, 2, 2}, {0, 28});
  Estimate e = estimate(p, {});
  const StepEstimate& r = e.steps[0];
  EXPECT_EQ(r.kind, "sumpool");
  // Per output a tree of 4 terms of 3 bits: two 4-bit adders and one 5-bit adder.
  EXPECT_EQ(r.res.lut, 8 * (2 * 4 + 5));
  EXPECT_EQ(r.detail.tree_adders, 8 * 3);
  EXPECT_EQ(r.detail.out_bits, 5);
  EXPECT_EQ(r.res.ff, 8 * 5);
  EXPECT_EQ(r.latency, 1);
  // Padding reading level -1 makes the inputs signed 4-bit, the sums [-4, 28] 6-bit.
  p.steps[0].geom.pt = p.steps[0].geom.pl = 1;
  p.steps[0].pad_level = -1;
  e = estimate(p, {});
  EXPECT_EQ(e.steps[0].detail.out_bits, 6);
  EXPECT_EQ(e.steps[0].res.lut, 8 * (2 * 5 + 6));
}

// A 2x2 transposed convolution, stride 2, one channel in and out, on 2x2 levels
// [0, 3]: weights 1, 3, 0, -2.
TEST(Estimate, ConvTransposeByHand) {
  Step s;
  s.kind = StepKind::kConvTranspose;
  ConvGeom& g = s.geom;
  g.c = 1, g.h = 2, g.w = 2, g.kh = 2, g.kw = 2, g.sh = 2, g.sw = 2, g.oh = 4, g.ow = 4;
  s.n = 1;
  s.k = 4;
  s.weights = {1, 3, 0, -2};
  s.acc = {-18, 18};  // program.cc's bound: (1 + 3 + 2) * 3
  Program p = one_step(s, {{{1, 1, 2, 2}, {0, 3}}}, {1, 1, 4, 4}, s.acc);
  Estimate e = estimate(p, {});
  const StepEstimate& r = e.steps[0];
  const StepDetail& d = r.detail;
  EXPECT_EQ(r.kind, "convtranspose");
  EXPECT_EQ(d.products, 3);  // per input pixel; 4 pixels: Cin*H*W*Cout*kh*kw minus zeros
  EXPECT_EQ(d.zero_weights, 1);
  EXPECT_EQ(d.shift_weights, 2);
  EXPECT_EQ(d.const_mults, 1);
  // The accumulators hold [-6, 12]: 5 bits. LUTs: the multiplier by 3 (one adder of
  // 2 + 1 bits) and one 5-bit accumulating adder per nonzero tap.
  EXPECT_EQ(d.acc_bits, 5);
  EXPECT_EQ(r.res.lut, 3 + 3 * 5);
  EXPECT_EQ(r.res.ff, 16 * 5);  // the output accumulators
  // The kernel is reused over the 4 input pixels: II 4; latency 3 + 1 cycle of
  // products + 1 accumulating.
  EXPECT_EQ(r.ii, 4);
  EXPECT_EQ(r.latency, 5);
  EXPECT_EQ(r.res.dsp, 0);
  // With reuse 2 the II doubles.
  EstimateOptions o;
  o.reuse_factor = 2;
  EXPECT_EQ(estimate(p, o).steps[0].ii, 8);
}

TEST(Estimate, BadOptionsAreErrors) {
  Program p = dense(1, 1, {3}, {0, 1});
  EstimateOptions o;
  o.reuse_factor = 0;
  EXPECT_THROW(estimate(p, o), Error);
  o = {};
  o.io = "serial";
  EXPECT_THROW(estimate(p, o), Error);
  o = {};
  o.strategy = "fast";
  EXPECT_THROW(estimate(p, o), Error);
  o = {};
  o.clock_ns = 0;
  EXPECT_THROW(estimate(p, o), Error);
  o = {};
  o.requant = "lut";
  EXPECT_THROW(estimate(p, o), Error);
}

// A strict JSON checker: objects, arrays, strings with escapes, numbers, literals.
class JsonChecker {
 public:
  explicit JsonChecker(const std::string& s) : s_(s) {}
  bool ok() {
    ws();
    if (!value()) return false;
    ws();
    return i_ == s_.size();
  }

 private:
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t')) ++i_;
  }
  bool lit(const char* w) {
    const std::string t(w);
    if (s_.compare(i_, t.size(), t) != 0) return false;
    i_ += t.size();
    return true;
  }
  bool str() {
    if (s_[i_] != '"') return false;
    for (++i_; i_ < s_.size(); ++i_) {
      const unsigned char c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') return ++i_, true;
      if (c < 0x20) return false;
      if (c == '\\') {
        ++i_;
        if (i_ >= s_.size() || std::string("\"\\/bfnrtu").find(s_[i_]) == std::string::npos)
          return false;
      }
    }
    return false;
  }
  bool num() {
    const size_t start = i_;
    if (s_[i_] == '-') ++i_;
    while (i_ < s_.size() && (isdigit(static_cast<unsigned char>(s_[i_])) || s_[i_] == '.' ||
                              s_[i_] == 'e' || s_[i_] == 'E' || s_[i_] == '+' || s_[i_] == '-'))
      ++i_;
    return i_ > start && isdigit(static_cast<unsigned char>(s_[i_ - 1]));
  }
  bool value() {
    if (i_ >= s_.size()) return false;
    const char c = s_[i_];
    if (c == '{' || c == '[') {
      const char close = c == '{' ? '}' : ']';
      ++i_;
      ws();
      if (i_ < s_.size() && s_[i_] == close) return ++i_, true;
      for (;;) {
        ws();
        if (c == '{') {
          if (!str()) return false;
          ws();
          if (i_ >= s_.size() || s_[i_++] != ':') return false;
          ws();
        }
        if (!value()) return false;
        ws();
        if (i_ >= s_.size()) return false;
        if (s_[i_] == ',') {
          ++i_;
          continue;
        }
        return s_[i_++] == close;
      }
    }
    if (c == '"') return str();
    if (c == 't') return lit("true");
    if (c == 'f') return lit("false");
    if (c == 'n') return lit("null");
    return num();
  }
  const std::string& s_;
  size_t i_ = 0;
};

TEST(Estimate, JsonIsWellFormed) {
  Program p = dense(3, 4, {0, 1, 2, -4, 3, 5, 7, 0, 6, 0, 0, 0}, {0, 15});
  p.steps[0].source = "odd \"name\"\\ with\ttab";
  p.notes.push_back("a note with \"quotes\"");
  EstimateOptions o;
  o.clock_ns = 3.3;
  const std::string j = estimate_json(estimate(p, o));
  EXPECT_TRUE(JsonChecker(j).ok()) << j;
  EXPECT_NE(j.find("\"total\":{\"lut\":54,"), std::string::npos) << j;
  EXPECT_NE(j.find("\"clock_ns\":3.3,"), std::string::npos) << j;
  EXPECT_NE(j.find("odd \\\"name\\\"\\\\ with\\u0009tab"), std::string::npos) << j;
  EXPECT_FALSE(JsonChecker("{\"a\":1,}").ok());
  EXPECT_FALSE(JsonChecker("{\"a\":\"x\ty\"}").ok());
  // The table names every step and the total.
  const std::string t = estimate_table(estimate(p, o));
  EXPECT_NE(t.find("total"), std::string::npos);
  EXPECT_NE(t.find("dense"), std::string::npos);
}

}  // namespace
}  // namespace bitsmith::codegen
