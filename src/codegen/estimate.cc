// The estimator: each Program step costed as the block hls4ml-style HLS would build
// for it (docs/estimate.md states the model; kCost holds every number).
#include "codegen/estimate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "core/error.h"

namespace bitsmith::codegen {
namespace {

// Every calibration number of the model, in one place. UltraScale+ fabric at
// 100-400 MHz; "LUT" means a LUT6, "BRAM" an 18 Kb block RAM.
struct Costs {
  // A ripple-carry adder (LUT + CARRY8 per bit) costs one LUT per result bit. A
  // general (non-constant) LUT multiplier of wa x wb bits is a shift-and-add array of
  // (wb - 1) such adders of wa + 1 bits (about wa * wb LUTs): the same adders a
  // constant multiplier needs per CSD digit, so the choice between the two does not
  // depend on wa.
  double lut_per_adder_bit = 1.0;
  // A product goes to a DSP slice when both operands are wider than this. Vivado/Vitis
  // HLS choose by themselves (hls4ml's product is a plain a * w); 10 bits is a rule of
  // thumb for where LUT multipliers stop being cheaper, not a documented threshold.
  // A DSP48E2 multiplies up to 27 x 18 bits.
  int dsp_min_bits = 10;
  int dsp_a_bits = 27, dsp_b_bits = 18;
  // Comparing a w-bit value with a constant: a LUT6 resolves 2 bits of the
  // comparison on the carry chain.
  double cmp_bits_per_lut = 2.0;
  // Thermometer code of the comparators -> level number: about half a LUT per level.
  double encoder_lut_per_level = 0.5;
  // Max of two w-bit values: comparator (w) plus a 2:1 mux (w/2: two bits per LUT6_2).
  double max_lut_per_bit = 1.5;
  // Popcount of K bits by a compressor tree of LUT6s: about one LUT per input bit;
  // the XNOR with a constant weight folds into the first LUT level.
  double popcount_lut_per_bit = 1.0;
  // Storage: a LUT6 is a 64 x 1 ROM/LUTRAM, an SRLC32E a 32-deep shift register.
  int lutram_depth = 64;
  int srl_depth = 32;
  // ROMs and line buffers go to BRAM when at least this deep and this large
  // (Vivado HLS keeps small arrays in LUTRAM/registers).
  int64_t bram_min_depth = 64;
  int64_t bram_min_bits = 1024;
  // Delays: one adder level including routing; a DSP multiply (A/B to P); the
  // requantization (one adder and a saturation, or comparators and encoder).
  double adder_level_ns = 1.0;
  double dsp_ns = 3.0;
  double requant_ns = 1.5;
  // Vivado/Vitis HLS's default clock uncertainty: 12.5% of the period is not used.
  double clock_uncertainty = 0.125;
  // Above this many levels a threshold unit is costed as a binary search when that
  // is smaller than the parallel comparators.
  int64_t parallel_cmp_max_levels = 16;
  // hls4ml's table softmax: a 1024 x 18 exp table per two inputs (dual port), one
  // inverse table, one 18-bit multiplier per input; about 6 cycles.
  int64_t softmax_cycles = 6;
  // Dequantizing an input of at most this many values may use a table of results.
  int64_t table_max_entries = 1024;
  // io_stream: one extra cycle per layer for the FIFO handshake.
  int64_t stream_cycles = 1;
};
constexpr Costs kCost{};

int ceil_log2(int64_t v) {
  int b = 0;
  while ((int64_t{1} << b) < v) ++b;
  return b;
}

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

i128 abs128(i128 v) {
  return v < 0 ? -v : v;
}

// Bits of the narrowest type holding [lo, hi] (program.h's rule) on i128 bounds.
int range_bits(i128 lo, i128 hi) {
  int b = 1;
  if (lo < 0) {
    while (b < 127 && !(lo >= -(i128{1} << (b - 1)) && hi <= (i128{1} << (b - 1)) - 1)) ++b;
  } else {
    while (b < 127 && hi > (i128{1} << b) - 1) ++b;
  }
  return b;
}

int64_t lut(double v) {
  return static_cast<int64_t>(std::ceil(v - 1e-9));
}

// 18 Kb block RAMs for a depth x width memory: the best of the aspect ratios.
int64_t bram18(int64_t depth, int64_t width) {
  static const int64_t cfg[][2] = {{16384, 1}, {8192, 2},  {4096, 4},
                                   {2048, 9},  {1024, 18}, {512, 36}};
  int64_t best = INT64_MAX;
  for (const auto& c : cfg) best = std::min(best, ceil_div(depth, c[0]) * ceil_div(width, c[1]));
  return best;
}

// A depth x width ROM or RAM: BRAM when large (and allowed), LUTRAM otherwise.
Resources memory(int64_t depth, int64_t width, bool bram_ok) {
  Resources r;
  if (depth <= 0 || width <= 0) return r;
  if (bram_ok && depth >= kCost.bram_min_depth && depth * width >= kCost.bram_min_bits) {
    r.bram18 = bram18(depth, width);
  } else {
    r.lut = width * ceil_div(depth, kCost.lutram_depth);
  }
  return r;
}

// A shift register of depth x width (line buffers): SRLs, or BRAM when large.
Resources shift_register(int64_t depth, int64_t width) {
  Resources r;
  if (depth <= 0 || width <= 0) return r;
  if (depth >= kCost.bram_min_depth && depth * width >= kCost.bram_min_bits) {
    r.bram18 = bram18(depth, width);
  } else {
    r.lut = width * ceil_div(depth, kCost.srl_depth);
  }
  return r;
}

int64_t dsp_count(int a, int b) {
  const int64_t x = ceil_div(a, kCost.dsp_a_bits) * ceil_div(b, kCost.dsp_b_bits);
  const int64_t y = ceil_div(b, kCost.dsp_a_bits) * ceil_div(a, kCost.dsp_b_bits);
  return std::min(x, y);
}

bool on_dsp(int a, int b) {
  return std::min(a, b) > kCost.dsp_min_bits;
}

// Signed bits of a weight as a general multiplier operand.
// Nonzero digits of the non-adjacent form: digit +1 when x = 1 (mod 4), -1 when
// x = 3 (mod 4).
int csd128(i128 x) {
  int n = 0;
  while (x != 0) {
    if (x & 1) {
      x -= ((x & 3) == 1) ? 1 : -1;
      ++n;
    }
    x /= 2;
  }
  return n;
}

int weight_bits(i128 w) {
  return range_bits(std::min<i128>(w, 0), std::max<i128>(w, 0)) + (w > 0);
}

// The odd part of |w| as a signed constant: what a constant multiplier really sees.
int odd_bits(int64_t w) {
  u128 m = static_cast<u128>(abs128(w));
  while (m && !(m & 1)) m >>= 1;
  int b = 0;
  while (m) ++b, m >>= 1;
  return b + 1;
}

bool is_shift(i128 w) {
  u128 m = static_cast<u128>(abs128(w));
  return m && !(m & (m - 1));
}

int64_t usable_cycles(double ns, const EstimateOptions& o) {
  const double usable = o.clock_ns * (1.0 - kCost.clock_uncertainty);
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(ns / usable - 1e-9)));
}

// LUTs of a balanced adder tree of t terms whose widest term has `first` bits: level
// l adds pairs `first` + l bits wide, capped at `cap` (the proven sum's width).
int64_t tree_luts(int64_t t, int first, int cap) {
  double cost = 0;
  int64_t live = t;
  int level = 0;
  while (live > 1) {
    ++level;
    cost += static_cast<double>(live / 2) * std::min(cap, first + level);
    live = (live + 1) / 2;
  }
  return lut(cost * kCost.lut_per_adder_bit);
}

// A multiplier by the constant m on xb-bit operands, by linear()'s rules: nothing
// for 0 and +-2^k (a negative one needs a negation when no adder absorbs it), a
// DSP when both the operand and m's odd part pass the DSP rule, otherwise
// (CSD digits - 1) adders of xb + 1 bits.
struct ConstMult {
  Resources res;
  int64_t adders = 0;
  bool dsp = false;
  double ns = 0;
};
ConstMult const_mult(i128 m, int xb, bool negation_free) {
  ConstMult c;
  if (m == 0) return c;
  if (is_shift(m)) {
    if (m < 0 && !negation_free) {
      c.res.lut = lut((xb + 1) * kCost.lut_per_adder_bit);
      c.adders = 1;
      c.ns = kCost.adder_level_ns;
    }
    return c;
  }
  u128 odd = static_cast<u128>(abs128(m));
  while (!(odd & 1)) odd >>= 1;
  int ob = 1;
  for (u128 v = odd; v; v >>= 1) ++ob;
  if (on_dsp(xb, ob)) {
    c.dsp = true;
    c.res.dsp = dsp_count(xb, ob);
    c.ns = kCost.dsp_ns;
    return c;
  }
  const int digits = csd128(m);
  c.adders = digits - 1;
  c.res.lut = lut(static_cast<double>(c.adders) * (xb + 1) * kCost.lut_per_adder_bit);
  c.ns = ceil_log2(digits) * kCost.adder_level_ns;
  return c;
}

i128 floor_div128(i128 a, i128 b) {  // b > 0
  const i128 q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

// Pixels and channels of a per-sample buffer in the NCHW / NCW layout.
struct Layout {
  int64_t pixels = 1, channels = 1;
};
Layout layout_of(const Shape& s, int64_t size) {
  Layout l;
  if (s.size() >= 3) {
    l.channels = s[1];
    l.pixels = l.channels ? size / l.channels : 0;
  } else {
    l.channels = size;
  }
  return l;
}

// ---- threshold requantization -------------------------------------------------------

struct RequantCost {
  Resources res;
  double ns = 0;
  int64_t comparators = 0;
  std::string kind = "none";
  int64_t saving = 0;  // emitted form: LUTs a shift (or nothing) would save
};

// Where a threshold unit's thresholds matter: the program's accumulator bounds
// (thresholds it clamped to one past an end are constants), the bits dropped from
// the input by --input-bits (thresholds scale with the input), and the range the
// estimate proves for this channel.
struct Window {
  i128 prog_lo = 0, prog_hi = 0;    // the program's accumulator range
  int drop = 0;                     // input bits dropped
  i128 lo = 0, hi = 0;              // this channel's accumulator range
  i128 layer_lo = 0, layer_hi = 0;  // the layer's
  bool best = false;                // the best form, not the emitted comparators
};

Window window(i128 prog_lo, i128 prog_hi, int drop) {
  Window w;
  w.prog_lo = prog_lo;
  w.prog_hi = prog_hi;
  w.drop = drop;
  return w;
}

// One channel's thresholds: only distinct ones strictly inside (lo, hi] decide
// anything; the rest give constant comparisons.
RequantCost channel_requant(const int64_t* t, int64_t levels, const Window& w, int acc_bits,
                            int out_bits) {
  // The distinct thresholds strictly inside (lo, hi]: the channel's own range for the
  // best form, the layer's (what the accumulator type tells HLS) for the emitted one.
  auto effective = [&](i128 lo, i128 hi) {
    std::vector<int64_t> e;
    for (int64_t j = 0; j < levels; ++j) {
      if (t[j] <= w.prog_lo || t[j] > w.prog_hi) continue;
      // acc >= t for the full-width accumulator is acc >> drop >= ceil(t / 2^drop).
      const int64_t v = w.drop ? -((-t[j]) >> std::min(w.drop, 62)) : t[j];
      if (v > lo && v <= hi) e.push_back(v);
    }
    e.erase(std::unique(e.begin(), e.end()), e.end());
    return e;
  };
  const std::vector<int64_t> e = effective(w.lo, w.hi);
  RequantCost c;
  const int64_t L = static_cast<int64_t>(e.size());
  // The emitted form (emit_hls): `c += t[j] <= acc` for every level, unrolled: one
  // comparator against a constant per level and a sum of the comparison bits.
  const int64_t Le = static_cast<int64_t>(effective(w.layer_lo, w.layer_hi).size());
  const int64_t emitted =
      lut(static_cast<double>(Le) * std::ceil(acc_bits / kCost.cmp_bits_per_lut) +
          static_cast<double>(Le > 1 ? Le : 0) * kCost.popcount_lut_per_bit);
  if (!w.best) {
    c.kind = Le ? "comparators" : "constant";
    c.res.lut = emitted;
    c.comparators = Le;
    c.ns = Le ? kCost.requant_ns + (Le > 1 ? ceil_log2(Le) * 0.5 * kCost.adder_level_ns : 0) : 0;
  }
  if (L == 0) {
    if (w.best) c.kind = "constant";
    c.saving = c.res.lut;
    return c;
  }
  // Evenly spaced by a power of two (within one, from ties-to-even rounding): an
  // offset adder, a right shift (wiring) and a saturation to the level range.
  if (L >= 2) {
    const int64_t span = e.back() - e.front();
    const int64_t d = (span + (L - 1) / 2) / (L - 1);
    bool uniform = d >= 1 && is_shift(d);
    for (int64_t j = 0; uniform && j < L; ++j) {
      const int64_t want = e.front() + j * d;
      uniform = std::llabs(e[static_cast<size_t>(j)] - want) <= 1;
    }
    if (uniform) {
      const int64_t shift = lut(acc_bits * kCost.lut_per_adder_bit) + out_bits +
                            ceil_div(acc_bits, 6) + ceil_div(ceil_log2(d), 6) + 1;
      if (!w.best) {
        c.saving = std::max<int64_t>(0, c.res.lut - shift);
        return c;
      }
      c.kind = "shift";
      c.res.lut = shift;
      c.ns = kCost.requant_ns;
      return c;
    }
  }
  if (!w.best) return c;
  const int64_t parallel =
      lut(static_cast<double>(L) * std::ceil(acc_bits / kCost.cmp_bits_per_lut) +
          static_cast<double>(L) * kCost.encoder_lut_per_level);
  // Binary search: one stage per output bit, each a general comparator against a
  // threshold picked from a small constant table by the bits found so far.
  const int stages = ceil_log2(L + 1);
  int64_t search = 0;
  for (int st = 0; st < stages; ++st)
    search += lut(acc_bits * kCost.lut_per_adder_bit) +
              acc_bits * ceil_div(int64_t{1} << st, kCost.lutram_depth);
  if (L > kCost.parallel_cmp_max_levels && search < parallel) {
    c.kind = "binary-search";
    c.res.lut = search;
    c.comparators = stages;
    c.ns = stages * (kCost.adder_level_ns + 0.5 * kCost.adder_level_ns);
  } else {
    c.kind = "comparators";
    c.res.lut = parallel;
    c.comparators = L;
    c.ns = kCost.requant_ns;
  }
  return c;
}

// All channels: rows of `levels` thresholds (a single row applies to every channel);
// `ranges` holds one accumulator range per channel, or one for all.
RequantCost requant(const Step& s, int64_t channels, Window w,
                    const std::vector<std::pair<i128, i128>>& ranges, int acc_bits, int out_bits,
                    bool best) {
  RequantCost total;
  if (s.levels == 0) return total;
  const int64_t rows = static_cast<int64_t>(s.thresholds.size()) / s.levels;
  std::map<std::string, int64_t> kinds;
  w.layer_lo = ranges[0].first;
  w.layer_hi = ranges[0].second;
  for (const auto& [lo, hi] : ranges) {
    w.layer_lo = std::min(w.layer_lo, lo);
    w.layer_hi = std::max(w.layer_hi, hi);
  }
  w.best = best;
  for (int64_t ch = 0; ch < channels; ++ch) {
    const int64_t r = rows > 1 ? ch % rows : 0;
    const auto& rg = ranges[static_cast<size_t>(ch) % ranges.size()];
    w.lo = rg.first;
    w.hi = rg.second;
    RequantCost c =
        channel_requant(s.thresholds.data() + r * s.levels, s.levels, w, acc_bits, out_bits);
    total.res += c.res;
    total.comparators += c.comparators;
    total.saving += c.saving;
    total.ns = std::max(total.ns, c.ns);
    kinds[c.kind]++;
  }
  total.kind.clear();
  for (const auto& [k, n] : kinds) total.kind += (total.kind.empty() ? "" : "+") + k;
  return total;
}

// ---- the estimator --------------------------------------------------------------------

class Estimator {
 public:
  Estimator(const Program& p, const EstimateOptions& o) : p_(p), o_(o) {
    for (const Buffer& b : p.buffers) range_.push_back({b.range.lo, b.range.hi});
    drop_.assign(p.buffers.size(), 0);
  }

  Estimate run() {
    Estimate e;
    e.model = p_.source.empty() ? p_.name : p_.source;
    e.options = o_;
    for (const Step& s : p_.steps) {
      StepEstimate st = step(s);
      // emit_hls runs the float conversions on the host: the FPGA's interface is
      // integer levels.
      const bool host = s.kind == StepKind::kFloatThresholds || s.kind == StepKind::kFixedInput ||
                        s.kind == StepKind::kDequantize || s.kind == StepKind::kSoftmax;
      if (host && !o_.host_steps) {
        st.host = true;
        st.res = {};
        st.latency = 0;
        st.ii = 1;
        st.detail.mult = st.detail.rom = {};
        host_ = true;
      }
      e.steps.push_back(st);
    }
    // io_parallel: blocks in sequence, each pipelined; io_stream: dataflow, the
    // blocks overlap and the slowest sets the pace.
    int64_t depth = 0, occupancy = 1;
    for (const StepEstimate& s : e.steps) {
      e.total += s.res;
      e.ii = std::max(e.ii, s.ii);
      e.latency += s.latency;
      // A stream step's latency is its depth plus ii - 1 cycles of occupancy.
      depth += s.latency - (s.ii - 1);
      occupancy = std::max(occupancy, s.ii);
    }
    if (o_.io == "stream") e.latency = depth + occupancy - 1;
    e.latency_ns = static_cast<double>(e.latency) * o_.clock_ns;
    e.notes = notes_;
    if (host_) {
      e.notes.insert(e.notes.begin(),
                     "host steps (float32 input conversion, dequantization, Softmax) run on the "
                     "host as emit_hls splits the program and cost nothing here; --host-steps "
                     "costs them as FPGA logic, as an hls4ml design has them");
    }
    if (saving_ > 0) {
      e.notes.push_back("requantization: " + std::to_string(saving_) +
                        " LUTs of comparators are thresholds evenly spaced by a power of two, "
                        "which a shift and saturation would do instead (--requant best)");
    }
    for (const std::string& n : p_.notes) e.notes.push_back("program: " + n);
    return e;
  }

 private:
  struct Range {
    i128 lo = 0, hi = 0;
    int bits() const { return range_bits(lo, hi); }
  };

  int R() const { return o_.reuse_factor; }
  bool best() const { return o_.requant == "best"; }
  bool stream() const { return o_.io == "stream"; }

  void note(const std::string& n) {
    if (std::find(notes_.begin(), notes_.end(), n) == notes_.end()) notes_.push_back(n);
  }
  // A note about a host step, which only matters when host steps are costed.
  void host_note(const std::string& n) {
    if (o_.host_steps) note(n);
  }

  StepEstimate start(const Step& s, const char* kind) {
    StepEstimate r;
    r.node = s.node;
    r.source = s.source;
    r.kind = kind;
    return r;
  }

  const Buffer& buf(int i) const { return p_.buffers[static_cast<size_t>(i)]; }

  StepEstimate step(const Step& s) {
    switch (s.kind) {
      case StepKind::kFloatThresholds:
        return float_thresholds(s);
      case StepKind::kFixedInput:
        return fixed_input(s);
      case StepKind::kLinear:
        return linear(s);
      case StepKind::kAdd:
        return add(s);
      case StepKind::kMaxPool:
        return max_pool(s);
      case StepKind::kTranspose:
        return transpose(s);
      case StepKind::kDequantize:
        return dequantize(s);
      case StepKind::kSoftmax:
        return softmax(s);
      case StepKind::kRequant:
        return requant_step(s);
      case StepKind::kThreshold:
        return threshold_step(s);
      case StepKind::kScale:
        return scale(s);
      case StepKind::kConcat:
        return concat(s);
      case StepKind::kSumPool:
        return sum_pool(s);
      case StepKind::kConvTranspose:
        return conv_transpose(s);
    }
    throw Error(ErrorKind::kUnsupported, "estimate: node '" + s.source + "' is not modelled yet");
  }

  // The output register of a step: every output bit in a register (io_parallel
  // arrays are partitioned completely) or one pixel (io_stream).
  int64_t out_register(const Buffer& out, int bits) const {
    const Layout l = layout_of(out.shape, out.size);
    return (stream() ? l.channels : out.size) * bits;
  }

  StepEstimate float_thresholds(const Step& s) {
    StepEstimate r = start(s, "input-thresholds");
    const Buffer& out = buf(s.out);
    const int64_t n = buf(s.in[0]).size;
    const int out_bits = range_bits(out.range.lo, out.range.hi);
    // The float32 order key is compared as a 32-bit integer against constant keys.
    Step keys = s;
    keys.thresholds.assign(s.keys.begin(), s.keys.end());
    keys.levels = static_cast<int64_t>(s.keys.size());
    const Layout l = layout_of(out.shape, out.size);
    const int64_t units = stream() ? l.channels : n;
    RequantCost c = requant(keys, units, window(-1, INT64_C(1) << 32, 0), {{-1, INT64_C(1) << 32}},
                            32, out_bits, best());
    r.res = c.res;
    r.res.ff = out_register(out, out_bits);
    r.detail.in_bits = 32;
    r.detail.out_bits = out_bits;
    r.detail.comparators = c.comparators;
    r.detail.requant = c.kind;
    r.ii = stream() ? l.pixels : 1;
    r.latency = usable_cycles(c.ns, o_) + (stream() ? r.ii - 1 + kCost.stream_cycles : 0);
    r.what = std::to_string(n) + " x float32 -> " + std::to_string(s.levels) + " levels";
    range_[static_cast<size_t>(s.out)] = {out.range.lo, out.range.hi};
    return r;
  }

  StepEstimate fixed_input(const Step& s) {
    StepEstimate r = start(s, "input-fixed");
    const Buffer& out = buf(s.out);
    Range& rg = range_[static_cast<size_t>(s.out)];
    rg = {out.range.lo, out.range.hi};
    if (o_.input_bits > 0 && o_.input_bits < rg.bits()) {
      // The design takes N-bit fixed-point inputs, as hls4ml's do: no conversion.
      drop_[static_cast<size_t>(s.out)] = std::max(0, rg.bits() - o_.input_bits);
      rg = {-(i128{1} << (o_.input_bits - 1)), (i128{1} << (o_.input_bits - 1)) - 1};
      note("inputs are taken as " + std::to_string(o_.input_bits) +
           "-bit fixed point (--input-bits), as hls4ml designs take them: the first layers "
           "see " +
           std::to_string(o_.input_bits) + "-bit inputs and no conversion is costed");
    }
    const int w = rg.bits();
    const Layout l = layout_of(out.shape, out.size);
    const int64_t units = stream() ? l.channels : out.size;
    if (o_.input_bits <= 0) {
      // float32 -> fixed point: a barrel shifter of w bits (two shift levels per LUT6,
      // 4:1 muxes) and a negation.
      r.res.lut = units * (w * ceil_div(ceil_log2(w), 2) + w);
      host_note("float32 inputs are converted to " + std::to_string(w) +
                "-bit fixed point in the design (the exact conversion of program.h); hls4ml "
                "designs take fixed-point inputs instead: see --input-bits");
    }
    r.res.ff = out_register(out, w);
    r.detail.in_bits = 32;
    r.detail.out_bits = w;
    r.ii = stream() ? l.pixels : 1;
    r.latency = (o_.input_bits > 0 ? 0 : 1) + (stream() ? r.ii - 1 + kCost.stream_cycles : 0);
    if (r.latency == 0) r.ii = 1;
    r.what = std::to_string(out.size) + " x float32 -> " + std::to_string(w) + "-bit";
    return r;
  }

  // Dense and convolution: one kernel instance of n outputs over k inputs, used for
  // every pixel (conv) or row (dense on a 3-D input), as hls4ml's default
  // ParallelizationFactor 1 does.
  StepEstimate linear(const Step& s) {
    StepEstimate r = start(s, s.conv ? "conv" : "dense");
    const Buffer& in = buf(s.in[0]);
    const Buffer& out = buf(s.out);
    Range x = range_[static_cast<size_t>(s.in[0])];
    if (s.conv && (s.geom.pt || s.geom.pl || s.geom.pb || s.geom.pr)) {
      x.lo = std::min<i128>(x.lo, s.pad_level);
      x.hi = std::max<i128>(x.hi, s.pad_level);
    }
    const int xb = x.bits();
    StepDetail& d = r.detail;
    d.in_bits = xb;
    const int64_t n = s.n, k = s.k;
    // Accumulator range recomputed from the (possibly narrowed) input range.
    i128 acc_lo = 0, acc_hi = 0;
    std::vector<int64_t> terms(static_cast<size_t>(n), 0), dsp_terms(static_cast<size_t>(n), 0);
    std::vector<int> prod_bits(static_cast<size_t>(n), 1), mult_levels(static_cast<size_t>(n), 0);
    Resources const_mult;  // the reuse-1 multipliers (constants)
    int64_t wide = 0, narrow = 0;
    int wide_bits = 1, narrow_bits = 1;
    // The reuse-1 LUT cost of the products a shared LUT (narrow) or DSP (wide)
    // multiplier would take over.
    Resources narrow_const, wide_const;
    int64_t const_dsp_wide = 0;
    std::vector<std::pair<i128, i128>> chan_ranges;
    for (int64_t c = 0; c < n; ++c) {
      i128 lo = 0, hi = 0;
      const size_t ci = static_cast<size_t>(c);
      for (int64_t j = 0; j < k; ++j) {
        const int64_t w = s.weights[static_cast<size_t>(c * k + j)];
        const i128 a = i128{w} * x.lo, b = i128{w} * x.hi;
        lo += std::min(a, b);
        hi += std::max(a, b);
        if (w == 0) {
          ++d.zero_weights;
          continue;
        }
        ++d.products;
        ++terms[ci];
        prod_bits[ci] = std::max(prod_bits[ci], range_bits(std::min(a, b), std::max(a, b)));
        const bool wide_general = on_dsp(xb, weight_bits(w));
        if (wide_general) {
          ++wide;
          wide_bits = std::max(wide_bits, weight_bits(w));
        } else {
          ++narrow;
          narrow_bits = std::max(narrow_bits, weight_bits(w));
        }
        if (s.bipolar) continue;
        if (is_shift(w)) {
          ++d.shift_weights;
        } else if (on_dsp(xb, odd_bits(w))) {
          ++d.dsp_mults;
          ++dsp_terms[ci];
          const_mult.dsp += dsp_count(xb, odd_bits(w));
          if (wide_general) const_dsp_wide += dsp_count(xb, odd_bits(w));
        } else {
          const int digits = csd_digits(w);
          ++d.const_mults;
          d.const_adders += digits - 1;
          const int64_t l = lut((digits - 1) * (xb + 1) * kCost.lut_per_adder_bit);
          const_mult.lut += l;
          (wide_general ? wide_const : narrow_const).lut += l;
          mult_levels[ci] = std::max(mult_levels[ci], ceil_log2(digits));
        }
      }
      chan_ranges.emplace_back(lo, hi);
      acc_lo = c ? std::min(acc_lo, lo) : lo;
      acc_hi = c ? std::max(acc_hi, hi) : hi;
    }
    const int acc_bits = range_bits(acc_lo, acc_hi);
    d.acc_bits = acc_bits;
    int out_bits = acc_bits;
    Range& orange = range_[static_cast<size_t>(s.out)];
    if (s.levels > 0) {
      orange = {out.range.lo, out.range.hi};
      out_bits = orange.bits();
    } else {
      orange = {acc_lo, acc_hi};
      drop_[static_cast<size_t>(s.out)] = drop_[static_cast<size_t>(s.in[0])];
    }
    d.out_bits = out_bits;
    RequantCost rq = requant(s, n, window(s.acc.lo, s.acc.hi, drop_[static_cast<size_t>(s.in[0])]),
                             chan_ranges, acc_bits, out_bits, best());
    saving_ += rq.saving;
    const int64_t pixels = s.conv ? s.geom.oh * s.geom.ow : std::max<int64_t>(1, s.rows);

    Resources mult, adders, rom, mux;
    int64_t kernel_cycles = 0;
    double path_ns = 0;
    int64_t ff_pipe = 0;
    if (s.bipolar) {
      // XNOR + popcount per output: K LUTs at reuse 1 (the weight folds into the LUTs);
      // with reuse R the XNOR is explicit and each output accumulates over R cycles.
      for (int64_t c = 0; c < n; ++c) {
        const int64_t kk = ceil_div(terms[static_cast<size_t>(c)], R());
        adders.lut += lut(static_cast<double>(kk) * kCost.popcount_lut_per_bit) +
                      (R() > 1 ? ceil_div(kk, 2) + acc_bits : 0);
      }
      d.tree_adders = n;
      d.adder_levels = ceil_log2(std::max<int64_t>(2, ceil_div(k, R())));
      path_ns = static_cast<double>(d.adder_levels) * kCost.adder_level_ns;
      // Registers where a cycle ends inside the popcount: about one partial count
      // per output (a lower bound: wider cuts hold several).
      ff_pipe = (usable_cycles(path_ns + rq.ns, o_) - 1) * n * acc_bits;
      if (R() > 1) {
        rom = memory(R(), ceil_div(n * k, R()), o_.strategy == "resource");
        note("bipolar layers with reuse > 1 keep their weights in a ROM read each cycle");
      }
    } else if (R() == 1) {
      mult = const_mult;
      // Adder trees, one per output: widths grow by a bit per level up to the
      // accumulator; a product on a DSP brings its own post-adder (cascade).
      for (int64_t c = 0; c < n; ++c) {
        const size_t ci = static_cast<size_t>(c);
        const int64_t t = terms[ci];
        // This output's path: its multipliers, then its tree.
        const double m_ns = static_cast<double>(mult_levels[ci]) * kCost.adder_level_ns;
        const double first = dsp_terms[ci] ? std::max(kCost.dsp_ns, m_ns) : m_ns;
        const int tree_levels = ceil_log2(std::max<int64_t>(t, 1));
        path_ns = std::max(path_ns, first + tree_levels * kCost.adder_level_ns);
        d.adder_levels = std::max<int64_t>(d.adder_levels, tree_levels + mult_levels[ci]);
        if (t <= 1) continue;
        double cost = 0;
        int64_t live = t;
        int level = 0;
        while (live > 1) {
          ++level;
          const int width = std::min(acc_bits, prod_bits[ci] + level);
          cost += static_cast<double>(live / 2) * width;
          live = (live + 1) / 2;
        }
        const int64_t tree = t - 1;
        const int64_t absorbed = std::min(dsp_terms[ci], tree);
        d.tree_adders += tree - absorbed;
        adders.lut += lut(cost * kCost.lut_per_adder_bit * static_cast<double>(tree - absorbed) /
                          static_cast<double>(tree));
      }
      const bool any_dsp = d.dsp_mults > 0;
      int max_mult_levels = 0;
      for (int v : mult_levels) max_mult_levels = std::max(max_mult_levels, v);
      // Pipeline registers at each cycle boundary inside the tree: the partial sums
      // alive at that point (products in flight inside a DSP are in its registers).
      const double usable = o_.clock_ns * (1.0 - kCost.clock_uncertainty);
      const int64_t cycles = usable_cycles(path_ns + rq.ns, o_);
      const double mult_ns = any_dsp ? kCost.dsp_ns : max_mult_levels * kCost.adder_level_ns;
      for (int64_t b = 1; b < cycles; ++b) {
        const double at = static_cast<double>(b) * usable - mult_ns;
        if (at < 0) continue;
        const int lv = static_cast<int>(at / kCost.adder_level_ns);
        for (int64_t c = 0; c < n; ++c) {
          const size_t ci = static_cast<size_t>(c);
          const int64_t live = std::max<int64_t>(1, terms[ci] >> std::min(lv, 62));
          if (terms[ci] == 0) continue;
          ff_pipe += live * std::min(acc_bits, prod_bits[ci] + lv);
        }
      }
    } else {
      // Reuse R > 1: general multipliers, each used R times. Products that would be a
      // DSP operand share DSPs, the others LUT multipliers; a class is only shared when
      // that is smaller than its reuse-1 constants (otherwise the constants stay).
      const int64_t m_wide = ceil_div(wide, R()), m_narrow = ceil_div(narrow, R());
      const bool bram_ok = o_.strategy == "resource";
      // Each shared multiplier picks its input through an R:1 mux (4:1 per LUT6),
      // reads its weight from a ROM and adds its product into an accumulator.
      // A class is shared when its shared multipliers are smaller than its constant
      // ones, so a larger reuse factor never costs more multipliers.
      const int64_t mux_each = xb * ceil_div(std::min<int64_t>(R(), d.products) - 1, 3);
      int64_t shared_units = 0;
      const int64_t shared_dsp = m_wide * dsp_count(xb, wide_bits);
      if (wide && shared_dsp <= const_dsp_wide) {
        mult.dsp += shared_dsp;
        d.dsp_mults = m_wide;
        shared_units += m_wide;
        rom += memory(std::min<int64_t>(R(), wide), m_wide * wide_bits, bram_ok);
        mux.lut += m_wide * mux_each;
      } else {
        mult.dsp += const_dsp_wide;
        mult.lut += wide_const.lut;
      }
      const int64_t shared_lut = lut(static_cast<double>(m_narrow) * std::max(1, narrow_bits - 1) *
                                     (xb + 1) * kCost.lut_per_adder_bit);
      const Resources narrow_rom =
          memory(std::min<int64_t>(R(), narrow), m_narrow * narrow_bits, bram_ok);
      if (narrow && shared_lut <= narrow_const.lut) {
        mult.lut += shared_lut;
        d.lut_mults = m_narrow;
        shared_units += m_narrow;
        rom += narrow_rom;
        mux.lut += m_narrow * mux_each;
      } else {
        mult.lut += narrow_const.lut;
      }
      const int64_t units = std::max(shared_units, ceil_div(d.products, R()));
      d.tree_adders = units;
      adders.lut += lut(static_cast<double>(units) * acc_bits * kCost.lut_per_adder_bit);
      adders.ff += n * acc_bits + units * acc_bits;
      d.adder_levels = 1 + ceil_log2(std::max(narrow_bits, 2));
      path_ns = (wide ? kCost.dsp_ns : ceil_log2(std::max(narrow_bits, 2)) * kCost.adder_level_ns) +
                2 * kCost.adder_level_ns;  // input mux, accumulate
      kernel_cycles = R() - 1;
      note("reuse factor " + std::to_string(R()) + ": weights are read from " +
           (o_.strategy == "resource" ? "ROMs (BRAM when deep and large enough)"
                                      : "LUT ROMs (latency strategy)") +
           "; each shared multiplier has an R:1 input mux and an accumulator");
    }
    d.requant = rq.kind;
    d.comparators = rq.comparators;
    d.mult = mult;
    d.rom = rom;
    r.res += mult;
    r.res += mux;
    r.res += adders;
    r.res += rom;
    r.res += rq.res;
    r.res.ff += ff_pipe;
    kernel_cycles += usable_cycles(path_ns + rq.ns, o_);
    if (s.conv && stream()) {
      // Line buffer: (kh-1) rows of the input, each W pixels of C channels, plus the
      // kh x kw window registers.
      const ConvGeom& g = s.geom;
      const int64_t wp = g.w + g.pl + g.pr;
      Resources lines;
      for (int64_t i = 0; i + 1 < g.kh; ++i) lines += shift_register(wp, g.c * xb);
      r.res += lines;
      d.rom += lines;
      r.res.ff += g.kh * g.kw * g.c * xb;
      const int64_t in_pixels = g.h * g.w;
      r.ii = std::max(in_pixels, pixels * R());
      const int64_t fill = (g.kh - 1) * g.dh * wp + (g.kw - 1) * g.dw + 1;
      r.latency = fill + kernel_cycles + r.ii - 1 + kCost.stream_cycles;
      r.res.ff += out_bits * n;
    } else {
      r.ii = pixels * R();
      r.latency = (pixels - 1) * R() + kernel_cycles + (stream() ? kCost.stream_cycles : 0);
      if (stream()) {
        const Layout li = layout_of(in.shape, in.size);
        r.ii = std::max(r.ii, li.pixels);
        r.latency += li.pixels > 1 ? li.pixels - 1 : 0;
      }
      r.res.ff += stream() ? out_bits * n : out.size * out_bits;
    }
    std::ostringstream what;
    if (s.conv) {
      what << s.geom.kh << "x" << s.geom.kw << " conv " << s.geom.c << "->" << n << " on "
           << s.geom.h << "x" << s.geom.w;
    } else {
      what << k << "->" << n << (pixels > 1 ? " x" + std::to_string(pixels) + " rows" : "");
    }
    what << ", " << xb << "b in, " << acc_bits << "b acc, " << out_bits << "b out";
    if (s.bipolar) what << ", bipolar";
    r.what = what.str();
    return r;
  }

  StepEstimate add(const Step& s) {
    StepEstimate r = start(s, "add");
    const Buffer& out = buf(s.out);
    const Range a = range_[static_cast<size_t>(s.in[0])], b = range_[static_cast<size_t>(s.in[1])];
    const i128 x[] = {i128{s.a} * a.lo, i128{s.a} * a.hi};
    const i128 y[] = {i128{s.b} * b.lo, i128{s.b} * b.hi};
    const i128 lo = std::min(x[0], x[1]) + std::min(y[0], y[1]);
    const i128 hi = std::max(x[0], x[1]) + std::max(y[0], y[1]);
    const int acc_bits = range_bits(lo, hi);
    int out_bits = acc_bits;
    Range& orange = range_[static_cast<size_t>(s.out)];
    if (s.levels > 0) {
      orange = {out.range.lo, out.range.hi};
      out_bits = orange.bits();
    } else {
      orange = {lo, hi};
      drop_[static_cast<size_t>(s.out)] =
          std::max(drop_[static_cast<size_t>(s.in[0])], drop_[static_cast<size_t>(s.in[1])]);
    }
    const Layout l = layout_of(out.shape, out.size);
    const int64_t units = stream() ? l.channels : out.size;
    // Per element: two constant multipliers (shift-and-add) and one adder.
    auto mult_adders = [](int64_t m) { return m == 0 || is_shift(m) ? 0 : csd_digits(m) - 1; };
    const int64_t per =
        lut((mult_adders(s.a) * (a.bits() + 1) + mult_adders(s.b) * (b.bits() + 1) + acc_bits) *
            kCost.lut_per_adder_bit);
    const int drop =
        std::max(drop_[static_cast<size_t>(s.in[0])], drop_[static_cast<size_t>(s.in[1])]);
    RequantCost rq =
        requant(s, units, window(s.acc.lo, s.acc.hi, drop), {{lo, hi}}, acc_bits, out_bits, best());
    saving_ += rq.saving;
    r.res.lut = units * per + rq.res.lut;
    r.res.ff = out_register(out, out_bits);
    r.detail.in_bits = std::max(a.bits(), b.bits());
    r.detail.acc_bits = acc_bits;
    r.detail.out_bits = out_bits;
    r.detail.tree_adders = units;
    r.detail.const_adders = units * (mult_adders(s.a) + mult_adders(s.b));
    r.detail.comparators = rq.comparators;
    r.detail.requant = rq.kind;
    r.detail.adder_levels = 1 + ceil_log2(std::max(csd_digits(s.a), csd_digits(s.b)));
    const double ns = static_cast<double>(r.detail.adder_levels) * kCost.adder_level_ns + rq.ns;
    r.ii = stream() ? l.pixels : 1;
    r.latency = usable_cycles(ns, o_) + (stream() ? r.ii - 1 + kCost.stream_cycles : 0);
    r.what = std::to_string(out.size) + " x (" + std::to_string(s.a) + "a + " +
             std::to_string(s.b) + "b), " + std::to_string(acc_bits) + "b";
    return r;
  }

  StepEstimate max_pool(const Step& s) {
    StepEstimate r = start(s, "maxpool");
    const Buffer& out = buf(s.out);
    const Range x = range_[static_cast<size_t>(s.in[0])];
    range_[static_cast<size_t>(s.out)] = x;
    drop_[static_cast<size_t>(s.out)] = drop_[static_cast<size_t>(s.in[0])];
    const int w = x.bits();
    const ConvGeom& g = s.geom;
    const int64_t window = g.kh * g.kw;
    const int64_t outputs = stream() ? g.c : out.size;
    r.res.lut = outputs * (window - 1) * lut(w * kCost.max_lut_per_bit);
    r.res.ff = out_register(out, w);
    r.detail.in_bits = r.detail.out_bits = w;
    r.detail.comparators = outputs * (window - 1);
    r.detail.adder_levels = ceil_log2(window);
    const int64_t cycles =
        usable_cycles(static_cast<double>(r.detail.adder_levels) * 1.5 * kCost.adder_level_ns, o_);
    if (stream()) {
      const int64_t wp = g.w + g.pl + g.pr;
      for (int64_t i = 0; i + 1 < g.kh; ++i) r.detail.rom += shift_register(wp, g.c * w);
      r.res += r.detail.rom;
      r.res.ff += window * g.c * w;
      r.ii = g.h * g.w;
      r.latency = (g.kh - 1) * wp + g.kw + cycles + r.ii - 1 + kCost.stream_cycles;
    } else {
      r.ii = 1;
      r.latency = cycles;
    }
    r.what = std::to_string(g.kh) + "x" + std::to_string(g.kw) + " max over " +
             std::to_string(g.c) + "x" + std::to_string(g.h) + "x" + std::to_string(g.w) + ", " +
             std::to_string(w) + "b";
    return r;
  }

  // Elements costed as separate units: every element in io_parallel, one pixel's
  // channels in io_stream (a step on a stream handles one pixel per beat).
  int64_t units_of(const Buffer& out) const {
    const Layout l = layout_of(out.shape, out.size);
    return stream() ? l.channels : out.size;
  }
  // Pipeline timing of an elementwise step whose path is `ns` long.
  void elementwise_timing(StepEstimate& r, const Buffer& out, double ns) const {
    const Layout l = layout_of(out.shape, out.size);
    r.ii = stream() ? l.pixels : 1;
    r.latency = usable_cycles(ns, o_) + (stream() ? r.ii - 1 + kCost.stream_cycles : 0);
  }

  // IntRequant: per element the constant product acc * mul, one adder for the
  // constant addend + bias * divisor, the rounding division by the constant divisor
  // and the clamp. Divisor 1: nothing; 2^k: a shift (wiring) and the rounding logic
  // (an incrementer and the OR of the dropped bits); otherwise HLS's multiplication
  // by the reciprocal: a constant multiply of product_bits width and a correction
  // adder. A clamp bound costs a comparator and a mux only when it can bind.
  StepEstimate requant_step(const Step& s) {
    StepEstimate r = start(s, "requant");
    const Buffer& out = buf(s.out);
    const Range x = range_[static_cast<size_t>(s.in[0])];
    const int xb = x.bits(), pb = std::max(1, s.product_bits);
    const int out_bits = range_bits(out.range.lo, out.range.hi);
    range_[static_cast<size_t>(s.out)] = {out.range.lo, out.range.hi};
    const int64_t entries = static_cast<int64_t>(s.mul.size());
    const int64_t units = units_of(out);
    const int64_t per_entry = std::max<int64_t>(1, units / std::max<int64_t>(1, entries));
    StepDetail& d = r.detail;
    std::map<std::string, int64_t> kinds;
    double path = 0;
    int qbits_max = 1;
    for (int64_t c = 0; c < entries; ++c) {
      const size_t ci = static_cast<size_t>(c);
      const i128 mul = s.mul[ci], div = std::max<int64_t>(1, s.divisor[ci]);
      const i128 K = i128{s.addend[ci]} + i128{s.bias[ci]} * div;
      Resources one;
      double ns = 0;
      const ConstMult m = const_mult(mul, xb, K != 0);
      one += m.res;
      ns += m.ns;
      d.const_mults += (m.adders > 0 && !is_shift(mul)) ? per_entry : 0;
      d.const_adders += m.adders * per_entry;
      d.dsp_mults += m.dsp ? per_entry : 0;
      if (K != 0) {
        one.lut += lut(pb * kCost.lut_per_adder_bit);
        d.tree_adders += per_entry;
        ns += kCost.adder_level_ns;
      }
      if (div == 1) {
        kinds["clamp"] += per_entry;
      } else if (is_shift(div)) {
        const int k = ceil_log2(static_cast<int64_t>(div));
        one.lut += lut((pb - k + 1) * kCost.lut_per_adder_bit) + ceil_div(k, 6);
        ns += kCost.adder_level_ns;
        kinds["shift"] += per_entry;
      } else {
        // The reciprocal is a (pb + 1)-bit constant; its CSD digits when it fits.
        const int rb = pb + 1;
        const int s_bits = ceil_log2(static_cast<int64_t>(div));
        int digits = static_cast<int>(ceil_div(rb, 3));
        if (pb + s_bits < 120) {
          const i128 recip = ((i128{1} << (pb + s_bits)) + div - 1) / div;
          digits = csd128(recip);
        }
        if (on_dsp(pb, rb)) {
          one.dsp += dsp_count(pb, rb);
          d.dsp_mults += per_entry;
          ns += kCost.dsp_ns;
        } else {
          one.lut += lut(static_cast<double>(digits - 1) * (pb + 1) * kCost.lut_per_adder_bit);
          d.const_mults += per_entry;
          d.const_adders += (digits - 1) * per_entry;
          ns += ceil_log2(digits) * kCost.adder_level_ns;
        }
        one.lut += lut(pb * kCost.lut_per_adder_bit);  // correction adder
        d.tree_adders += per_entry;
        ns += kCost.adder_level_ns;
        kinds["divide"] += per_entry;
        note(
            "requantization by a constant divisor that is not a power of two is costed as "
            "HLS builds it: a multiplication by the reciprocal (product-bits wide) and a "
            "correction adder");
      }
      // The quotient's range (rounding moves it by at most one) decides the clamp.
      const i128 a = mul * x.lo, b = mul * x.hi;
      const i128 qlo = floor_div128(std::min(a, b) + K, div);
      const i128 qhi = floor_div128(std::max(a, b) + K + div - 1, div);
      const int qb = range_bits(qlo, qhi);
      qbits_max = std::max(qbits_max, qb);
      int64_t cmps = 0;
      if (qlo < s.level_min[ci]) ++cmps;
      if (qhi > s.level_max[ci]) ++cmps;
      if (cmps) {
        one.lut += cmps * (lut(std::ceil(qb / kCost.cmp_bits_per_lut)) + ceil_div(out_bits, 2));
        ns += kCost.requant_ns;
      }
      d.comparators += cmps * per_entry;
      r.res.lut += one.lut * per_entry;
      r.res.dsp += one.dsp * per_entry;
      d.mult.lut += m.res.lut * per_entry;
      d.mult.dsp += m.res.dsp * per_entry;
      path = std::max(path, ns);
    }
    for (const auto& [k, n] : kinds) d.requant += (d.requant.empty() ? "" : "+") + k;
    r.res.ff = out_register(out, out_bits);
    d.in_bits = xb;
    d.acc_bits = qbits_max;
    d.out_bits = out_bits;
    d.adder_levels = static_cast<int64_t>(std::ceil(path / kCost.adder_level_ns - 1e-9));
    elementwise_timing(r, out, path);
    r.what = std::to_string(out.size) + " x " + std::to_string(xb) + "b -> " +
             std::to_string(out_bits) + "b, " + std::to_string(pb) + "b products";
    return r;
  }

  // IntThreshold: the threshold units of linear() and add(), one per element; the
  // sign flips the comparison (constant), so it costs nothing.
  StepEstimate threshold_step(const Step& s) {
    StepEstimate r = start(s, "threshold");
    const Buffer& out = buf(s.out);
    const Range x = range_[static_cast<size_t>(s.in[0])];
    const int out_bits = range_bits(out.range.lo, out.range.hi);
    range_[static_cast<size_t>(s.out)] = {out.range.lo, out.range.hi};
    const int64_t rows = static_cast<int64_t>(s.base.size());
    const int64_t units = units_of(out);
    const int64_t per_row = std::max<int64_t>(1, units / std::max<int64_t>(1, rows));
    const int drop = drop_[static_cast<size_t>(s.in[0])];
    // The compared value's range over the layer (what the type tells HLS).
    i128 vlo = x.lo, vhi = x.hi;
    for (int64_t v : s.sign)
      if (v < 0) vlo = std::min(vlo, -x.hi), vhi = std::max(vhi, -x.lo);
    const int acc_bits = range_bits(vlo, vhi);
    RequantCost total;
    std::map<std::string, int64_t> kinds;
    for (int64_t row = 0; row < rows; ++row) {
      const size_t ri = static_cast<size_t>(row);
      Step one{};
      one.levels = s.levels;
      one.thresholds.assign(s.thresholds.begin() + static_cast<int64_t>(ri) * s.levels,
                            s.thresholds.begin() + static_cast<int64_t>(ri + 1) * s.levels);
      const bool neg = s.sign[ri] < 0;
      const std::pair<i128, i128> rg =
          neg ? std::make_pair(-x.hi, -x.lo) : std::make_pair(x.lo, x.hi);
      Window w = window(s.acc.lo, s.acc.hi, drop);
      RequantCost c = requant(one, 1, w, {rg, {vlo, vhi}}, acc_bits, out_bits, best());
      // requant() took the second range as the layer's; cost the row's own channel.
      total.res.lut += c.res.lut * per_row;
      total.comparators += c.comparators * per_row;
      total.saving += c.saving * per_row;
      total.ns = std::max(total.ns, c.ns);
      kinds[c.kind] += per_row;
    }
    saving_ += total.saving;
    r.res.lut = total.res.lut;
    r.res.ff = out_register(out, out_bits);
    r.detail.in_bits = x.bits();
    r.detail.acc_bits = acc_bits;
    r.detail.out_bits = out_bits;
    r.detail.comparators = total.comparators;
    for (const auto& [k, n] : kinds) r.detail.requant += (r.detail.requant.empty() ? "" : "+") + k;
    elementwise_timing(r, out, total.ns);
    r.what = std::to_string(out.size) + " x " + std::to_string(acc_bits) + "b -> " +
             std::to_string(s.levels) + " levels";
    return r;
  }

  // IntScale: q * a per element, a constant multiplier. A power of two is wiring (no
  // register, no cycle); a negative one needs a negation.
  StepEstimate scale(const Step& s) {
    StepEstimate r = start(s, "scale");
    const Buffer& out = buf(s.out);
    const Range x = range_[static_cast<size_t>(s.in[0])];
    const i128 a = i128{s.a} * x.lo, b = i128{s.a} * x.hi;
    Range& orange = range_[static_cast<size_t>(s.out)];
    orange = {std::min(a, b), std::max(a, b)};
    drop_[static_cast<size_t>(s.out)] = drop_[static_cast<size_t>(s.in[0])];
    const int xb = x.bits(), out_bits = orange.bits();
    const int64_t units = units_of(out);
    const ConstMult m = const_mult(s.a, xb, false);
    StepDetail& d = r.detail;
    d.in_bits = xb;
    d.out_bits = d.acc_bits = out_bits;
    d.products = s.a != 0 ? units : 0;
    d.zero_weights = s.a == 0 ? units : 0;
    d.shift_weights = is_shift(s.a) ? units : 0;
    d.const_mults = (!is_shift(s.a) && s.a != 0 && !m.dsp) ? units : 0;
    d.const_adders = m.adders * units;
    d.dsp_mults = m.dsp ? units : 0;
    d.mult.lut = m.res.lut * units;
    d.mult.dsp = m.res.dsp * units;
    d.adder_levels = static_cast<int64_t>(std::ceil(m.ns / kCost.adder_level_ns - 1e-9));
    r.res = d.mult;
    if (s.a == 0 || (is_shift(s.a) && s.a > 0)) {
      r.ii = 1;
      r.latency = 0;  // wiring, in either io mode
    } else {
      r.res.ff = out_register(out, out_bits);
      elementwise_timing(r, out, m.ns);
    }
    r.what = std::to_string(out.size) + " x " + std::to_string(s.a) + ", " + std::to_string(xb) +
             "b -> " + std::to_string(out_bits) + "b";
    return r;
  }

  // Concat: wiring (no LUT). Its output is registered like every step's, one cycle
  // in io_parallel. io_stream: a concatenation along channels merges the beats of its
  // inputs; along any other axis the later inputs wait whole in a buffer.
  StepEstimate concat(const Step& s) {
    StepEstimate r = start(s, "concat");
    const Buffer& out = buf(s.out);
    Range u{0, 0};
    int drop = 0;
    for (size_t k = 0; k < s.in.size(); ++k) {
      const Range x = range_[static_cast<size_t>(s.in[k])];
      u = k ? Range{std::min(u.lo, x.lo), std::max(u.hi, x.hi)} : x;
      drop = std::max(drop, drop_[static_cast<size_t>(s.in[k])]);
    }
    range_[static_cast<size_t>(s.out)] = u;
    drop_[static_cast<size_t>(s.out)] = drop;
    const int w = u.bits();
    r.detail.in_bits = r.detail.out_bits = w;
    r.res.ff = out_register(out, w);
    const Layout l = layout_of(out.shape, out.size);
    if (stream()) {
      if (l.pixels > 1 && s.outer > 1) {
        for (size_t k = 1; k < s.in.size(); ++k) r.detail.rom += memory(buf(s.in[k]).size, w, true);
        r.res += r.detail.rom;
      }
      elementwise_timing(r, out, 0);
    } else {
      r.ii = 1;
      r.latency = 1;  // the output register
    }
    r.what = std::to_string(s.in.size()) + " inputs -> " + std::to_string(out.size) + " x " +
             std::to_string(w) + "b";
    return r;
  }

  // Sum pooling: an adder tree of kh * kw inputs per output (every output in
  // io_parallel, one pixel's channels in io_stream, as max pooling), widths growing
  // a bit per level up to the sum's; io_stream adds max pooling's line buffers.
  StepEstimate sum_pool(const Step& s) {
    StepEstimate r = start(s, "sumpool");
    const Buffer& out = buf(s.out);
    const ConvGeom& g = s.geom;
    Range x = range_[static_cast<size_t>(s.in[0])];
    if (g.pt || g.pl || g.pb || g.pr) {
      x.lo = std::min<i128>(x.lo, s.pad_level);
      x.hi = std::max<i128>(x.hi, s.pad_level);
    }
    const int64_t window = g.kh * g.kw;
    Range& orange = range_[static_cast<size_t>(s.out)];
    orange = {x.lo * window, x.hi * window};
    drop_[static_cast<size_t>(s.out)] = drop_[static_cast<size_t>(s.in[0])];
    const int w = x.bits(), out_bits = orange.bits();
    const int64_t outputs = stream() ? g.c : out.size;
    r.res.lut = outputs * tree_luts(window, w, out_bits);
    r.res.ff = out_register(out, out_bits);
    r.detail.in_bits = w;
    r.detail.acc_bits = r.detail.out_bits = out_bits;
    r.detail.tree_adders = outputs * (window - 1);
    r.detail.adder_levels = ceil_log2(window);
    const int64_t cycles =
        usable_cycles(static_cast<double>(r.detail.adder_levels) * kCost.adder_level_ns, o_);
    if (stream()) {
      const int64_t wp = g.w + g.pl + g.pr;
      for (int64_t i = 0; i + 1 < g.kh; ++i) r.detail.rom += shift_register(wp, g.c * w);
      r.res += r.detail.rom;
      r.res.ff += window * g.c * w;
      r.ii = g.h * g.w;
      r.latency = (g.kh - 1) * wp + g.kw + cycles + r.ii - 1 + kCost.stream_cycles;
    } else {
      r.ii = 1;
      r.latency = cycles;
    }
    r.what = std::to_string(g.kh) + "x" + std::to_string(g.kw) + " sum over " +
             std::to_string(g.c) + "x" + std::to_string(g.h) + "x" + std::to_string(g.w) + ", " +
             std::to_string(w) + "b -> " + std::to_string(out_bits) + "b";
    return r;
  }

  // Transposed convolution in scatter form: per input pixel, each of the C inputs
  // (q - zero) times its (n/groups) * kh * kw weights, the products of one output
  // tap summed over the group's input channels and added into that output's
  // accumulator. Costed as linear()'s convolution with the same products: one kernel
  // instance of n' = groups * (n/groups) * kh * kw "outputs" over C/groups inputs,
  // reused for every input pixel (II = pixels * R), plus one accumulating adder per
  // tap and the output accumulators as registers. The read-modify-write addressing
  // of the scatter (output muxes) is not modelled.
  StepEstimate conv_transpose(const Step& s) {
    const ConvGeom& g = s.geom;
    const Buffer& out = buf(s.out);
    const int64_t cg = g.c / g.groups, og = s.n / g.groups, taps = og * g.kh * g.kw;
    const Range x0 = range_[static_cast<size_t>(s.in[0])];
    const Range x{x0.lo - s.zero, x0.hi - s.zero};
    // The output accumulators: every tap of every group's input channel at worst.
    i128 acc_lo = 0, acc_hi = 0;
    for (int64_t o = 0; o < s.n; ++o) {
      const int64_t grp = o / og, oc = o % og;
      i128 lo = 0, hi = 0;
      for (int64_t i = grp * cg; i < (grp + 1) * cg; ++i)
        for (int64_t t = 0; t < g.kh * g.kw; ++t) {
          const i128 w = s.weights[static_cast<size_t>((i * og + oc) * g.kh * g.kw + t)];
          lo += std::min(w * x.lo, w * x.hi);
          hi += std::max(w * x.lo, w * x.hi);
        }
      acc_lo = std::min(acc_lo, lo);
      acc_hi = std::max(acc_hi, hi);
    }
    acc_lo = std::max<i128>(acc_lo, s.acc.lo);
    acc_hi = std::min<i128>(acc_hi, s.acc.hi);
    const int acc_bits = range_bits(acc_lo, acc_hi);
    // The equivalent kernel: weights [groups * taps][cg].
    Step k = s;
    k.kind = StepKind::kLinear;
    k.conv = true;
    k.levels = 0;
    k.n = g.groups * taps;
    k.k = cg;
    k.weights.assign(static_cast<size_t>(k.n * k.k), 0);
    for (int64_t grp = 0; grp < g.groups; ++grp)
      for (int64_t t = 0; t < taps; ++t)
        for (int64_t i = 0; i < cg; ++i)
          k.weights[static_cast<size_t>((grp * taps + t) * cg + i)] =
              s.weights[static_cast<size_t>((grp * cg + i) * s.k + t)];
    k.geom = ConvGeom{};
    k.geom.spatial = 2;
    k.geom.c = g.c;
    k.geom.h = k.geom.oh = g.h;
    k.geom.w = k.geom.ow = g.w;
    k.acc = {s.acc.lo, s.acc.hi};
    const Range saved = range_[static_cast<size_t>(s.in[0])];
    range_[static_cast<size_t>(s.in[0])] = x;
    StepEstimate r = linear(k);
    range_[static_cast<size_t>(s.in[0])] = saved;
    range_[static_cast<size_t>(s.out)] = {acc_lo, acc_hi};
    drop_[static_cast<size_t>(s.out)] = drop_[static_cast<size_t>(s.in[0])];
    r.kind = "convtranspose";
    note(
        "transposed convolutions are costed by their products and accumulators; the "
        "addressing of the scatter into the output accumulators is not modelled");
    StepDetail& d = r.detail;
    // linear() registered its n' tap sums as outputs; the real registers are the
    // output accumulators, and each nonzero tap adds into one.
    int64_t live_taps = 0;
    for (int64_t t = 0; t < k.n; ++t) {
      bool any = false;
      for (int64_t i = 0; i < cg; ++i) any = any || k.weights[static_cast<size_t>(t * cg + i)];
      live_taps += any;
    }
    const int64_t tap_regs = stream() ? k.n * d.out_bits : out.size * d.out_bits;
    r.res.ff -= std::min(r.res.ff, tap_regs);
    r.res.lut += lut(static_cast<double>(live_taps) * acc_bits * kCost.lut_per_adder_bit);
    d.tree_adders += live_taps;
    if (s.zero != 0) {  // q - zero once per input
      const int64_t subs = stream() ? g.c : g.c * g.h * g.w;
      r.res.lut += subs * lut((x0.bits() + 1) * kCost.lut_per_adder_bit);
    }
    if (stream()) {
      // Output rows still receiving contributions: (kh - 1) * dh + 1 rows of ow pixels.
      const int64_t rows = (g.kh - 1) * g.dh + 1;
      const Resources lines = memory(rows * g.ow, s.n * acc_bits, true);
      r.res += lines;
      d.rom += lines;
      r.res.ff += s.n * acc_bits;
      // The output stream has more pixels than the input when the stride is above 1.
      const int64_t out_pixels = g.oh * g.ow;
      if (out_pixels > r.ii) r.latency += out_pixels - r.ii, r.ii = out_pixels;
    } else {
      r.res.ff += out.size * acc_bits;
    }
    r.latency += 1;  // the accumulating adder
    d.acc_bits = d.out_bits = acc_bits;
    std::ostringstream what;
    what << g.kh << "x" << g.kw << " convtranspose " << g.c << "->" << s.n << " on " << g.h << "x"
         << g.w << " (stride " << g.sh << "x" << g.sw << "), " << d.in_bits << "b in, " << acc_bits
         << "b acc";
    r.what = what.str();
    return r;
  }

  StepEstimate transpose(const Step& s) {
    StepEstimate r = start(s, "transpose");
    const Buffer& out = buf(s.out);
    const Range x = range_[static_cast<size_t>(s.in[0])];
    range_[static_cast<size_t>(s.out)] = x;
    drop_[static_cast<size_t>(s.out)] = drop_[static_cast<size_t>(s.in[0])];
    const int w = x.bits();
    r.detail.in_bits = r.detail.out_bits = w;
    if (stream()) {
      // A stream must be buffered whole to be reordered.
      r.detail.rom = memory(out.size, w, true);
      r.res = r.detail.rom;
      r.ii = out.size;
      r.latency = out.size + kCost.stream_cycles;
    } else {
      r.ii = 1;
      r.latency = 0;  // wiring
    }
    r.what = std::to_string(out.size) + " x " + std::to_string(w) + "b";
    return r;
  }

  StepEstimate dequantize(const Step& s) {
    StepEstimate r = start(s, "dequantize");
    const Buffer& out = buf(s.out);
    const Range x = range_[static_cast<size_t>(s.in[0])];
    const int qb = x.bits();
    const Dequant& dq = s.deq;
    const Layout l = layout_of(out.shape, out.size);
    const int64_t units = stream() ? l.channels : out.size;
    // Per element: scale (constant multiplier), offset (adder), division by the odd
    // denominator as a multiplication by its reciprocal (about a third of its bits
    // are nonzero CSD digits), then integer -> float32 (leading zeros, normalizing
    // shifter, rounding adder), or a table of the results when that is smaller.
    int64_t total = 0, tables = 0;
    int levels = 0;
    const i128 count = x.hi - x.lo + 1;
    for (int64_t i = 0; i < units; ++i) {
      const size_t c = static_cast<size_t>(dq.channels > 1 ? (i / dq.inner) % dq.channels : 0);
      const i128 num = dq.num.empty() ? 1 : dq.num[c];
      const i128 ad = dq.add.empty() ? 0 : dq.add[c];
      int width = qb + weight_bits(num);
      int64_t cost = 0;
      int lv = 0;
      if (num != 0 && !is_shift(num)) {
        cost += (csd128(num) - 1) * (qb + 1);
        lv += ceil_log2(csd128(num));
      }
      if (ad != 0) cost += width, ++lv;
      if (dq.den > 1) {
        const int rb = 24 + range_bits(0, dq.den);
        const int64_t digits = ceil_div(rb, 3);
        cost += (digits - 1) * (width + 1);
        lv += ceil_log2(digits);
        width += rb;
      }
      cost += ceil_div(width, 3) + width * ceil_div(ceil_log2(width), 2) + 24;
      lv += 3;
      // A narrow input is cheaper as a table of its float32 results (LUT ROM).
      if (count <= kCost.table_max_entries) {
        const int64_t table = 32 * ceil_div(count, kCost.lutram_depth);
        if (table < cost) {
          cost = table;
          lv = 1 + ceil_log2(ceil_div(count, kCost.lutram_depth));
          ++tables;
        }
      }
      total += lut(static_cast<double>(cost) * kCost.lut_per_adder_bit);
      levels = std::max(levels, lv);
    }
    r.res.lut = total;
    if (tables)
      host_note("dequantization of narrow outputs is costed as a table of the float32 results");
    r.res.ff = out_register(out, 32);
    r.detail.in_bits = qb;
    r.detail.out_bits = 32;
    r.detail.adder_levels = levels;
    r.ii = stream() ? l.pixels : 1;
    r.latency = usable_cycles(levels * kCost.adder_level_ns, o_) +
                (stream() ? r.ii - 1 + kCost.stream_cycles : 0);
    r.what = std::to_string(out.size) + " x " + std::to_string(qb) + "b -> float32" +
             (dq.den > 1 ? " (/" + std::to_string(range_bits(0, dq.den)) + "-bit divisor)" : "");
    host_note(
        "outputs are float32 (exact dequantization, rounded once); an hls4ml design outputs "
        "fixed point and has no such conversion");
    return r;
  }

  StepEstimate softmax(const Step& s) {
    StepEstimate r = start(s, "softmax");
    const Buffer& out = buf(s.out);
    const int64_t units = s.outer * s.inner;
    r.res.bram18 = units * (ceil_div(s.len, 2) + 1);
    r.res.dsp = units * s.len;
    r.res.lut = units * (s.len * 18 + (s.len - 1) * 18);
    r.res.ff = out_register(out, 18);
    r.ii = 1;
    r.latency = kCost.softmax_cycles;
    r.detail.out_bits = 18;
    r.what = std::to_string(units) + " x softmax over " + std::to_string(s.len);
    host_note(
        "Softmax is costed as hls4ml's table softmax (18-bit tables), not as the double "
        "precision the program computes");
    return r;
  }

  const Program& p_;
  const EstimateOptions& o_;
  std::vector<Range> range_;
  std::vector<int> drop_;  // input bits dropped by --input-bits, per buffer
  int64_t saving_ = 0;     // LUTs shift requantization would save (emitted form)
  std::vector<std::string> notes_;
  bool host_ = false;
};

// ---- writers ---------------------------------------------------------------------------

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string resources_json(const Resources& r) {
  return "\"lut\":" + std::to_string(r.lut) + ",\"ff\":" + std::to_string(r.ff) +
         ",\"dsp\":" + std::to_string(r.dsp) + ",\"bram18\":" + std::to_string(r.bram18);
}

std::string fmt_double(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

int csd_digits(int64_t v) {
  return csd128(v);
}

Estimate estimate(const Program& program, const EstimateOptions& options) {
  if (options.reuse_factor < 1)
    throw Error(ErrorKind::kInput, "estimate: the reuse factor must be at least 1");
  if (options.io != "parallel" && options.io != "stream")
    throw Error(ErrorKind::kInput,
                "estimate: io must be 'parallel' or 'stream', not '" + options.io + "'");
  if (options.strategy != "latency" && options.strategy != "resource")
    throw Error(ErrorKind::kInput, "estimate: strategy must be 'latency' or 'resource', not '" +
                                       options.strategy + "'");
  if (!(options.clock_ns > 0 && options.clock_ns <= 1000))
    throw Error(ErrorKind::kInput, "estimate: the clock period must be in (0, 1000] ns");
  if (options.requant != "comparators" && options.requant != "best")
    throw Error(ErrorKind::kInput,
                "estimate: requant must be 'comparators' or 'best', not '" + options.requant + "'");
  if (options.input_bits < 0 || options.input_bits > 64)
    throw Error(ErrorKind::kInput, "estimate: input bits must be between 1 and 64");
  return Estimator(program, options).run();
}

std::string estimate_json(const Estimate& e) {
  std::ostringstream o;
  const EstimateOptions& op = e.options;
  o << "{\"model\":" << quote(e.model)
    << ",\"target\":\"hls\",\"options\":{\"reuse_factor\":" << op.reuse_factor
    << ",\"io\":" << quote(op.io) << ",\"strategy\":" << quote(op.strategy)
    << ",\"clock_ns\":" << fmt_double(op.clock_ns) << ",\"input_bits\":" << op.input_bits
    << ",\"requant\":" << quote(op.requant)
    << ",\"host_steps\":" << (op.host_steps ? "true" : "false") << "},\"steps\":[";
  for (size_t i = 0; i < e.steps.size(); ++i) {
    const StepEstimate& s = e.steps[i];
    const StepDetail& d = s.detail;
    o << (i ? "," : "") << "{\"node\":" << quote(s.node) << ",\"source\":" << quote(s.source)
      << ",\"kind\":" << quote(s.kind) << ",\"what\":" << quote(s.what)
      << ",\"host\":" << (s.host ? "true" : "false") << "," << resources_json(s.res)
      << ",\"latency\":" << s.latency << ",\"ii\":" << s.ii
      << ",\"detail\":{\"in_bits\":" << d.in_bits << ",\"acc_bits\":" << d.acc_bits
      << ",\"out_bits\":" << d.out_bits << ",\"products\":" << d.products
      << ",\"zero_weights\":" << d.zero_weights << ",\"shift_weights\":" << d.shift_weights
      << ",\"const_mults\":" << d.const_mults << ",\"const_adders\":" << d.const_adders
      << ",\"dsp_mults\":" << d.dsp_mults << ",\"lut_mults\":" << d.lut_mults
      << ",\"tree_adders\":" << d.tree_adders << ",\"comparators\":" << d.comparators
      << ",\"adder_levels\":" << d.adder_levels << ",\"requant\":" << quote(d.requant)
      << ",\"mult\":{" << resources_json(d.mult) << "},\"memory\":{" << resources_json(d.rom)
      << "}}}";
  }
  o << "],\"total\":{" << resources_json(e.total) << ",\"latency\":" << e.latency
    << ",\"latency_ns\":" << fmt_double(e.latency_ns) << ",\"ii\":" << e.ii << "},\"notes\":[";
  for (size_t i = 0; i < e.notes.size(); ++i) o << (i ? "," : "") << quote(e.notes[i]);
  o << "]}";
  return o.str();
}

std::string estimate_table(const Estimate& e) {
  std::vector<std::vector<std::string>> rows = {
      {"step", "kind", "what", "LUT", "FF", "DSP", "BRAM18", "cycles", "II"}};
  auto add = [&](const std::string& a, const std::string& b, const std::string& c,
                 const Resources& r, int64_t lat, int64_t ii) {
    rows.push_back({a, b, c, std::to_string(r.lut), std::to_string(r.ff), std::to_string(r.dsp),
                    std::to_string(r.bram18), std::to_string(lat), std::to_string(ii)});
  };
  for (const StepEstimate& s : e.steps)
    add(s.source, s.host ? s.kind + " (host)" : s.kind, s.what, s.res, s.latency, s.ii);
  add("total", "", "", e.total, e.latency, e.ii);
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& r : rows)
    for (size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
  std::ostringstream o;
  const EstimateOptions& op = e.options;
  o << "estimate for " << e.model << " (hls, io_" << op.io << ", " << op.strategy
    << " strategy, reuse " << op.reuse_factor << ", clock " << fmt_double(op.clock_ns)
    << " ns, requant " << op.requant << ")\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    if (i + 1 == rows.size()) {
      size_t all = 0;
      for (size_t w : width) all += w + 2;
      o << "  " << std::string(all - 2, '-') << "\n";
    }
    std::string line = " ";
    for (size_t c = 0; c < rows[i].size(); ++c) {
      const std::string& v = rows[i][c];
      const bool right = c >= 3;  // numbers
      const std::string pad(width[c] - v.size(), ' ');
      line += " " + (right ? pad + v : v + (c + 1 < rows[i].size() ? pad : ""));
      if (c + 1 < rows[i].size()) line += " ";
    }
    o << line << "\n";
  }
  o << "latency " << e.latency << " cycles = " << fmt_double(e.latency_ns)
    << " ns, initiation interval " << e.ii << " cycles\n";
  if (!e.notes.empty()) {
    o << "notes:\n";
    for (const std::string& n : e.notes) o << "  - " << n << "\n";
  }
  return o.str();
}

}  // namespace bitsmith::codegen
