// Reads a Program (program.h) off a lowered graph.
#include "codegen/program.h"

#include <algorithm>
#include <cfloat>
#include <map>
#include <numeric>
#include <set>
#include <utility>

#include "core/common_rational.h"
#include "core/error.h"
#include "core/float_order.h"
#include "core/quantize.h"

namespace bitsmith::codegen {

int IntRange::bits() const {
  int b = 1;
  if (lo < 0) {
    // Signed: the smallest b with -2^(b-1) <= lo and hi <= 2^(b-1) - 1.
    while (b < 64 && !(lo >= -(int64_t{1} << (b - 1)) && hi <= (int64_t{1} << (b - 1)) - 1)) ++b;
  } else {
    while (b < 63 && hi > (int64_t{1} << b) - 1) ++b;
  }
  return b;
}

std::string c_ident(const std::string& name) {
  std::string out;
  for (char ch : name) {
    const bool ok =
        (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
    if (ok) {
      out += ch;
    } else if (!out.empty() && out.back() != '_') {
      out += '_';
    }
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  if (out.empty() || (out[0] >= '0' && out[0] <= '9')) out = "v" + out;
  // C and C++ keywords and the names generated code uses itself stay free.
  static const std::set<std::string> kReserved = {"alignas",
                                                  "alignof",
                                                  "and",
                                                  "asm",
                                                  "auto",
                                                  "bool",
                                                  "break",
                                                  "case",
                                                  "catch",
                                                  "char",
                                                  "class",
                                                  "const",
                                                  "consteval",
                                                  "constexpr",
                                                  "constinit",
                                                  "const_cast",
                                                  "continue",
                                                  "co_await",
                                                  "co_return",
                                                  "co_yield",
                                                  "decltype",
                                                  "default",
                                                  "delete",
                                                  "do",
                                                  "double",
                                                  "dynamic_cast",
                                                  "else",
                                                  "enum",
                                                  "explicit",
                                                  "export",
                                                  "extern",
                                                  "false",
                                                  "float",
                                                  "for",
                                                  "friend",
                                                  "goto",
                                                  "if",
                                                  "inline",
                                                  "int",
                                                  "long",
                                                  "mutable",
                                                  "namespace",
                                                  "new",
                                                  "noexcept",
                                                  "not",
                                                  "nullptr",
                                                  "operator",
                                                  "or",
                                                  "private",
                                                  "protected",
                                                  "public",
                                                  "register",
                                                  "reinterpret_cast",
                                                  "requires",
                                                  "return",
                                                  "short",
                                                  "signed",
                                                  "sizeof",
                                                  "static",
                                                  "static_assert",
                                                  "static_cast",
                                                  "struct",
                                                  "switch",
                                                  "template",
                                                  "this",
                                                  "thread_local",
                                                  "throw",
                                                  "true",
                                                  "try",
                                                  "typedef",
                                                  "typeid",
                                                  "typename",
                                                  "union",
                                                  "unsigned",
                                                  "using",
                                                  "virtual",
                                                  "void",
                                                  "volatile",
                                                  "wchar_t",
                                                  "while",
                                                  "xor",
                                                  "main",
                                                  "std",
                                                  "in",
                                                  "out",
                                                  "bitsmith_rt",
                                                  "bitsmith_int",
                                                  "ap_int",
                                                  "ap_uint",
                                                  "hls"};
  if (kReserved.count(out)) out += "_";
  return out;
}

namespace {

const std::set<std::string> kAliasOps = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"};

// The model node a lowered node comes from: the pass names them "<node>_int_<k>",
// "<node>_deq_<k>".
std::string source_of(const std::string& lowered) {
  for (const char* tag : {"_int_", "_deq_", "_int", "_deq"}) {
    size_t at = lowered.rfind(tag);
    if (at != std::string::npos && at > 0) return lowered.substr(0, at);
  }
  return lowered;
}

i128 abs128(i128 v) {
  return v < 0 ? -v : v;
}

bool fits64(i128 v) {
  return v >= INT64_MIN && v <= INT64_MAX;
}

class Builder {
 public:
  Builder(const Graph& g, const ProgramOptions& o) : g_(g), opt_(o) {}

  Program build() {
    p_.source = g_.source;
    p_.name = c_ident(opt_.name.empty() ? (g_.name.empty() ? "model" : g_.name) : opt_.name);
    p_.notes = opt_.notes;
    step_idents_.insert(p_.name);  // layer functions never take the model's own name
    step_idents_.insert(p_.name + "_batch");
    std::vector<std::string> outs;
    for (const ValueInfo& v : g_.outputs) outs.push_back(v.name);
    mark_needed(outs);
    for (const ValueInfo& v : g_.inputs) {
      if (!needed_.count(v.name)) continue;
      if (v.elem != ElemType::kFloat32) refuse_input(v, "is not float32");
      int b = new_buffer(v.name, BufKind::kFloat, sample_shape(v.name));
      buf_of_[v.name] = b;
      p_.inputs.push_back(b);
    }
    for (const Node& n : g_.nodes) {
      bool want = false;
      for (const std::string& o : n.outputs) want = want || needed_.count(o);
      if (want) add(n);
    }
    for (const std::string& o : outs) {
      auto it = buf_of_.find(o);
      if (it == buf_of_.end()) fail_value(o, "is not computed by the program");
      const Buffer& b = p_.buffers[static_cast<size_t>(it->second)];
      if (std::find(p_.outputs.begin(), p_.outputs.end(), it->second) != p_.outputs.end() ||
          std::find(p_.inputs.begin(), p_.inputs.end(), it->second) != p_.inputs.end()) {
        fail_value(o,
                   "is listed twice or is a graph input; generated code gives each output "
                   "its own buffer (remove the duplicate output)");
      }
      if (b.kind == BufKind::kDouble) {
        fail_value(o,
                   "is both an output and the input of the final Softmax; output one of them "
                   "(or pass --cut-float-tail to output the logits only)");
      }
      if (b.kind != BufKind::kFloat) {
        fail_value(o,
                   "is an integer level without its dequantization; only float32 outputs are "
                   "supported");
      }
      p_.outputs.push_back(it->second);
    }
    return std::move(p_);
  }

 private:
  [[noreturn]] void refuse(const Node& n, const std::string& why, const std::string& change) {
    throw Error(ErrorKind::kUnsupported, g_.source + ": node '" + source_of(n.name) + "' (" +
                                             n.op_type + "): " + why +
                                             (change.empty() ? "" : "; " + change));
  }
  [[noreturn]] void refuse_input(const ValueInfo& v, const std::string& why) {
    throw Error(
        ErrorKind::kUnsupported,
        g_.source + ": graph input '" + v.name + "' " + why +
            "; code generation reads float32 inputs (export the model with float32 inputs)");
  }
  [[noreturn]] void fail_value(const std::string& v, const std::string& why) {
    throw Error(ErrorKind::kUnsupported, g_.source + ": output '" + v + "' " + why);
  }

  // Values the outputs depend on through data inputs (Reshape's shape and the
  // lowered ops' constants are not data).
  void mark_needed(const std::vector<std::string>& outs) {
    std::map<std::string, const Node*> producer;
    for (const Node& n : g_.nodes)
      for (const std::string& o : n.outputs) producer[o] = &n;
    std::vector<std::string> work(outs.begin(), outs.end());
    while (!work.empty()) {
      std::string v = work.back();
      work.pop_back();
      if (v.empty() || needed_.count(v) || g_.initializer(v)) continue;
      needed_.insert(v);
      auto it = producer.find(v);
      if (it == producer.end()) continue;
      const Node& n = *it->second;
      size_t data = n.inputs.size();
      if (kAliasOps.count(n.op_type) || n.op_type == "IntLinear" || n.op_type == "IntDequantize" ||
          n.op_type == "IntFromFloatThresholds" || n.op_type == "IntRequant" ||
          n.op_type == "IntThreshold" || n.op_type == "IntConvTranspose")
        data = 1;
      if (n.op_type == "IntAdd") data = 2;
      for (size_t i = 0; i < std::min(data, n.inputs.size()); ++i) work.push_back(n.inputs[i]);
    }
  }

  Shape sample_shape(const std::string& value) const {
    const ValueInfo* v = g_.find_value(value);
    if (!v)
      throw Error(ErrorKind::kUnsupported, g_.source + ": value '" + value + "' has no shape");
    Shape s = v->shape;
    if (!s.empty()) s[0] = 1;
    for (int64_t d : s) {
      if (d < 0) {
        throw Error(ErrorKind::kUnsupported,
                    g_.source + ": value '" + value + "' has a free dimension besides the batch");
      }
    }
    return s;
  }

  int new_buffer(const std::string& value, BufKind kind, const Shape& shape, IntRange r = {}) {
    Buffer b;
    b.value = value;
    b.kind = kind;
    b.shape = shape;
    b.size = std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<int64_t>());
    b.range = r;
    if (b.size <= 0 || b.size > (int64_t{1} << 28)) {
      throw Error(ErrorKind::kUnsupported,
                  g_.source + ": value '" + value + "' has " + std::to_string(b.size) +
                      " elements per sample; generated code holds 1 to 2^28");
    }
    std::string id = "v_" + c_ident(value);
    std::string unique = id;
    for (int k = 2; idents_.count(unique); ++k) unique = id + "_" + std::to_string(k);
    idents_.insert(unique);
    b.ident = unique;
    p_.buffers.push_back(std::move(b));
    return static_cast<int>(p_.buffers.size() - 1);
  }

  const Buffer& in_buffer(const Node& n, size_t i, BufKind kind) {
    auto it = buf_of_.find(n.inputs[i]);
    if (it == buf_of_.end()) {
      refuse(n,
             "its input '" + n.inputs[i] + "' is not on the integer path (" +
                 (g_.initializer(n.inputs[i]) ? "a constant" : "computed by a float node") + ")",
             "");
    }
    const Buffer& b = p_.buffers[static_cast<size_t>(it->second)];
    if (b.kind != kind) {
      refuse(n,
             std::string("its input '") + n.inputs[i] + "' is " +
                 (b.kind == BufKind::kInt ? "an integer level" : "a float value") +
                 " where the op needs " + (kind == BufKind::kInt ? "integer levels" : "a float"),
             "");
    }
    return b;
  }

  const Tensor& constant(const Node& n, size_t i) {
    const Tensor* t = i < n.inputs.size() ? g_.initializer(n.inputs[i]) : nullptr;
    if (!t) refuse(n, "input " + std::to_string(i) + " must be a constant", "");
    return *t;
  }

  Step start(const Node& n, StepKind kind) {
    Step s;
    s.kind = kind;
    s.node = n.name;
    s.source = source_of(n.name);
    std::string id = c_ident(s.source) + (kind == StepKind::kDequantize ? "_out" : "");
    std::string unique = id;
    for (int k = 2; step_idents_.count(unique); ++k) unique = id + "_" + std::to_string(k);
    step_idents_.insert(unique);
    s.ident = unique;
    return s;
  }

  void finish(Step s, const Node& n, BufKind kind, IntRange r = {}) {
    s.out = new_buffer(n.outputs[0], kind, sample_shape(n.outputs[0]), r);
    buf_of_[n.outputs[0]] = s.out;
    p_.steps.push_back(std::move(s));
  }

  void add(const Node& n) {
    const std::string& op = n.op_type;
    if (kAliasOps.count(op)) {
      const Buffer& b = in_buffer(n, 0, BufKind::kInt);
      buf_of_[n.outputs[0]] = static_cast<int>(&b - p_.buffers.data());
      return;
    }
    if (op == "IntFromFloatThresholds") return float_thresholds(n);
    if (op == "IntFromFloat") return fixed_input(n);
    if (op == "IntLinear") return linear(n);
    if (op == "IntAdd") return int_add(n);
    if (op == "IntDequantize") return dequantize(n);
    if (op == "MaxPool" || op == "GlobalMaxPool") return max_pool(n);
    if (op == "Transpose") return transpose(n);
    if (op == "Softmax") return softmax(n);
    if (op == "IntRequant") return requant_op(n);
    if (op == "IntThreshold") return threshold_op(n);
    if (op == "IntScale") return scale_op(n);
    if (op == "Concat") return concat(n);
    if (op == "IntSumPool") return sum_pool(n);
    if (op == "IntConvTranspose") return conv_transpose(n);
    if (op == "IntQuantize" && buf_of_.count(n.inputs[0]) &&
        p_.buffers[static_cast<size_t>(buf_of_.at(n.inputs[0]))].kind == BufKind::kFloat)
      return quantize_input(n);
    if (op == "FloatQuant") {
      refuse(n,
             "is a minifloat quantizer: its values are floats, and the generated code has no "
             "floats on the integer path",
             "quantize with integers (Quant / IntQuant) to compile the model");
    }
    if (op == "IntQuantize" || op == "IntFromReal") {
      refuse(n, "quantizes a value the integer path does not compute (a float op comes before it)",
             "the ops before it must be lowered first; see `bitsmith inspect --lowered`");
    }
    refuse(n, "has no integer form (it stays on the reference path of the engine)",
           "see `bitsmith inspect MODEL --lowered` for why, and remove or replace the op");
  }

  void float_thresholds(const Node& n) {
    const Buffer& in = in_buffer(n, 0, BufKind::kFloat);
    Step s = start(n, StepKind::kFloatThresholds);
    s.in = {static_cast<int>(&in - p_.buffers.data())};
    for (int64_t k : constant(n, 1).i64())
      s.keys.push_back(static_cast<uint32_t>(std::clamp<int64_t>(k, 0, UINT32_MAX)));
    s.levels = static_cast<int64_t>(s.keys.size());
    s.base = {n.attr_int("base")};
    finish(std::move(s), n, BufKind::kInt, {n.attr_int("base"), n.attr_int("base") + s.levels});
  }

  // A Quant on a float32 input with more levels than the lowering's float
  // thresholds take (e.g. 16 bits): the same thresholds on the float32 order,
  // found here by bisection over the keys with the core's exact quantizer, so the
  // level of every finite float32 is the reference's.
  void quantize_input(const Node& n) {
    const Buffer& in = in_buffer(n, 0, BufKind::kFloat);
    Step s = start(n, StepKind::kFloatThresholds);
    s.in = {static_cast<int>(&in - p_.buffers.data())};
    const Tensor& sc = constant(n, 1);
    const Tensor& zp = constant(n, 2);
    const Tensor& bt = constant(n, 3);
    if (sc.size() != 1 || zp.size() != 1 || bt.size() != 1)
      refuse(n, "scale, zero point and bit width must be scalars", "");
    auto exact_of = [](const Tensor& t) {
      switch (t.type()) {
        case ElemType::kExact:
          return t.exact()[0];
        case ElemType::kInt64:
          return Exact::from_int(t.i64()[0]);
        case ElemType::kFloat32:
          break;
      }
      return Exact::from_double(t.f32()[0]);
    };
    const Exact scale = exact_of(sc), zero = exact_of(zp), width = exact_of(bt);
    if (!width.is_integer()) refuse(n, "its bit width is not an integer", "");
    const int64_t bits = static_cast<int64_t>(width.floor());
    // Up to 2^16 - 1 keys (256 KB): wider input quantizers would make sources of
    // hundreds of megabytes.
    if (!(scale > Exact()) || bits < 1 || bits > 16) {
      refuse(n, "a quantizer on a float input needs a positive scale and at most 16 bits here",
             "quantize the input with at most 16 bits, or feed integer levels");
    }
    IntQuantAttrs a;
    a.is_signed = n.attr_int("signed", 1) != 0;
    a.narrow = n.attr_int("narrow", 0) != 0;
    a.mode = parse_rounding_mode(n.attr_string("rounding_mode", "ROUND"));
    auto level = [&](uint32_t key) {
      return static_cast<int64_t>(int_quant_level_exact(Exact::from_double(float_of_key(key)),
                                                        scale, zero, static_cast<int>(bits), a));
    };
    const uint32_t lo_key = float_key(-FLT_MAX), hi_key = float_key(FLT_MAX);
    const int64_t base = level(lo_key), top = level(hi_key);
    uint32_t from = lo_key;
    for (int64_t t = base + 1; t <= top; ++t) {
      uint32_t lo = from, hi = hi_key;  // level(hi) >= t > level(lo)
      while (hi - lo > 1) {
        const uint32_t mid = lo + (hi - lo) / 2;
        (level(mid) >= t ? hi : lo) = mid;
      }
      s.keys.push_back(hi);
      from = hi - 1;
    }
    s.levels = static_cast<int64_t>(s.keys.size());
    s.base = {base};
    finish(std::move(s), n, BufKind::kInt, {base, top});
  }

  void fixed_input(const Node& n) {
    const Buffer& in = in_buffer(n, 0, BufKind::kFloat);
    Step s = start(n, StepKind::kFixedInput);
    s.in = {static_cast<int>(&in - p_.buffers.data())};
    s.exp = static_cast<int>(n.attr_int("exp"));
    s.bits = static_cast<int>(n.attr_int("bits"));
    const int64_t lim = int64_t{1} << s.bits;
    p_.notes.push_back("input '" + in.value + "' is read as fixed point q * 2^" +
                       std::to_string(s.exp) + " with |q| <= 2^" + std::to_string(s.bits) +
                       "; other values are outside the generated code's domain");
    finish(std::move(s), n, BufKind::kInt, {-lim, lim});
  }

  // Per-channel accumulator bounds from the input range and the integer weights.
  IntRange acc_range(const Node& n, const std::vector<int64_t>& w, int64_t N, int64_t K,
                     IntRange in) {
    i128 lo_all = 0, hi_all = 0;
    for (int64_t r = 0; r < N; ++r) {
      i128 lo = 0, hi = 0;
      for (int64_t j = 0; j < K; ++j) {
        const i128 v = w[static_cast<size_t>(r * K + j)];
        lo += std::min(v * in.lo, v * in.hi);
        hi += std::max(v * in.lo, v * in.hi);
      }
      lo_all = r ? std::min(lo_all, lo) : lo;
      hi_all = r ? std::max(hi_all, hi) : hi;
    }
    if (!fits64(lo_all) || !fits64(hi_all) || abs128(lo_all) > (i128{1} << 62) ||
        abs128(hi_all) > (i128{1} << 62)) {
      refuse(n, "its accumulator needs more than 63 bits", "use narrower inputs or weights");
    }
    return {static_cast<int64_t>(lo_all), static_cast<int64_t>(hi_all)};
  }

  // Thresholds [rows][levels] and base [rows] shared by IntLinear and IntAdd.
  IntRange requant(const Node& n, Step& s, size_t ti, int64_t rows, IntRange acc) {
    const Tensor& t = constant(n, ti);
    s.levels = t.rank() == 2 ? t.dim(1) : t.size();
    // Thresholds beyond the accumulator range are "never" or "always": clamping them
    // to one past each end keeps every count and lets them fit the accumulator type.
    for (int64_t v : t.i64()) s.thresholds.push_back(std::clamp(v, acc.lo, acc.hi + 1));
    if (static_cast<int64_t>(t.i64().size()) != rows * s.levels)
      refuse(n, "thresholds do not match the output channels", "");
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (int64_t b : s.base) {
      lo = std::min(lo, b);
      hi = std::max(hi, b + s.levels);
    }
    // One past the range would not fit the accumulator type when acc.hi is INT64_MAX;
    // acc_range keeps accumulators within 2^62, so it never is.
    return {lo, hi};
  }

  void linear(const Node& n) {
    const Buffer& in = in_buffer(n, 0, BufKind::kInt);
    Step s = start(n, StepKind::kLinear);
    s.in = {static_cast<int>(&in - p_.buffers.data())};
    const Tensor& w = constant(n, 1);
    s.n = w.dim(0);
    s.k = w.dim(1);
    s.weights = w.i64();
    s.bipolar = n.attr_int("bipolar", 0) != 0;
    IntRange r{n.attr_int("in_min"), n.attr_int("in_max")};
    // The engine checks every input level against [in_min, in_max]; here the range
    // of the producing buffer must lie inside it, so no check is needed at run time.
    if (in.range.lo < r.lo || in.range.hi > r.hi) {
      refuse(n,
             "its input range [" + std::to_string(in.range.lo) + ", " +
                 std::to_string(in.range.hi) + "] exceeds the layer's [" + std::to_string(r.lo) +
                 ", " + std::to_string(r.hi) + "]",
             "");
    }
    r = in.range;
    s.conv = n.attr_string("kind", "gemm") == "conv";
    if (s.conv) {
      ConvGeom& g = s.geom;
      g.spatial = static_cast<int>(n.attr_int("spatial_rank", 2));
      g.groups = n.attr_int("group", 1);
      auto ks = n.attr_ints("kernel_shape"), st = n.attr_ints("strides"), pd = n.attr_ints("pads"),
           dl = n.attr_ints("dilations");
      if (ks.size() != 2 || st.size() != 2 || pd.size() != 4 || dl.size() != 2)
        refuse(n, "bad convolution attributes", "");
      g.kh = ks[0], g.kw = ks[1], g.sh = st[0], g.sw = st[1], g.dh = dl[0], g.dw = dl[1];
      g.pt = pd[0], g.pl = pd[1], g.pb = pd[2], g.pr = pd[3];
      const Shape is = sample_shape(n.inputs[0]), os = sample_shape(n.outputs[0]);
      g.c = is[1];
      g.h = g.spatial == 2 ? is[2] : 1;
      g.w = is.back();
      g.oh = g.spatial == 2 ? os[2] : 1;
      g.ow = os.back();
      s.pad_level = n.attr_int("in_pad", 0);
      if (g.pt || g.pl || g.pb || g.pr) {
        r.lo = std::min(r.lo, s.pad_level);
        r.hi = std::max(r.hi, s.pad_level);
      }
      s.rows = 1;
    } else {
      s.rows = s.k ? in.size / s.k : 0;
    }
    s.acc = acc_range(n, s.weights, s.n, s.k, r);
    const i128 xmax = std::max(abs128(r.lo), abs128(r.hi));
    i128 worst = 0;
    for (int64_t row = 0; row < s.n; ++row) {
      i128 sum = 0;
      for (int64_t j = 0; j < s.k; ++j)
        sum += abs128(s.weights[static_cast<size_t>(row * s.k + j)]);
      worst = std::max(worst, sum * xmax);
    }
    if (worst > (i128{1} << 62)) refuse(n, "its partial sums need more than 63 bits", "");
    s.partial = {-static_cast<int64_t>(worst), static_cast<int64_t>(worst)};
    IntRange out = s.acc;
    if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
      s.base = constant(n, 3).i64();
      out = requant(n, s, 2, s.n, s.acc);
    }
    finish(std::move(s), n, BufKind::kInt, out);
  }

  void int_add(const Node& n) {
    const Buffer& a = in_buffer(n, 0, BufKind::kInt);
    const Buffer& b = in_buffer(n, 1, BufKind::kInt);
    if (a.size != b.size) refuse(n, "inputs differ in size", "");
    Step s = start(n, StepKind::kAdd);
    s.in = {static_cast<int>(&a - p_.buffers.data()), static_cast<int>(&b - p_.buffers.data())};
    s.a = n.attr_int("a");
    s.b = n.attr_int("b");
    const i128 x[] = {i128{s.a} * a.range.lo, i128{s.a} * a.range.hi};
    const i128 y[] = {i128{s.b} * b.range.lo, i128{s.b} * b.range.hi};
    const i128 lo = std::min(x[0], x[1]) + std::min(y[0], y[1]);
    const i128 hi = std::max(x[0], x[1]) + std::max(y[0], y[1]);
    if (abs128(lo) > (i128{1} << 62) || abs128(hi) > (i128{1} << 62))
      refuse(n, "its sum needs more than 63 bits", "");
    s.acc = {static_cast<int64_t>(lo), static_cast<int64_t>(hi)};
    IntRange out = s.acc;
    if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
      s.base = {n.attr_int("base")};
      out = requant(n, s, 2, 1, s.acc);
    }
    finish(std::move(s), n, BufKind::kInt, out);
  }

  // The window of a 1-D or 2-D pooling node: sizes from the shapes, kernel, strides,
  // dilations and pads from the attributes (dilations only where the op has them).
  ConvGeom window(const Node& n, bool global) {
    const Shape is = sample_shape(n.inputs[0]), os = sample_shape(n.outputs[0]);
    if ((is.size() != 3 && is.size() != 4) || os.size() != is.size())
      refuse(n, "only 1-D and 2-D pooling is supported", "");
    ConvGeom g;
    g.spatial = static_cast<int>(is.size()) - 2;
    g.c = is[1];
    g.h = g.spatial == 2 ? is[2] : 1;
    g.w = is.back();
    g.oh = g.spatial == 2 ? os[2] : 1;
    g.ow = os.back();
    if (global) {
      g.kh = g.h;
      g.kw = g.w;
      return g;
    }
    const auto ks = n.attr_ints("kernel_shape");
    const size_t r = ks.size();
    const auto st = n.attr_ints("strides", std::vector<int64_t>(r, 1));
    const auto dl = n.attr_ints("dilations", std::vector<int64_t>(r, 1));
    const auto pd = n.attr_ints("pads", std::vector<int64_t>(2 * r, 0));
    if (r != static_cast<size_t>(g.spatial) || st.size() != r || dl.size() != r ||
        pd.size() != 2 * r)
      refuse(n, "bad pooling attributes (kernel_shape, strides, dilations, pads)", "");
    if (r == 2) {
      g.kh = ks[0], g.kw = ks[1], g.sh = st[0], g.sw = st[1], g.dh = dl[0], g.dw = dl[1];
      g.pt = pd[0], g.pl = pd[1], g.pb = pd[2], g.pr = pd[3];
    } else {
      g.kw = ks[0], g.sw = st[0], g.dw = dl[0], g.pl = pd[0], g.pr = pd[1];
    }
    return g;
  }

  void max_pool(const Node& n) {
    const Buffer& in = in_buffer(n, 0, BufKind::kInt);
    Step s = start(n, StepKind::kMaxPool);
    s.in = {static_cast<int>(&in - p_.buffers.data())};
    if (n.outputs.size() > 1 && !n.outputs[1].empty())
      refuse(n, "the Indices output is not supported", "");
    if (n.attr_string("auto_pad", "NOTSET") != "NOTSET")
      refuse(n, "auto_pad is not supported", "write explicit pads");
    s.geom = window(n, n.op_type == "GlobalMaxPool");
    finish(std::move(s), n, BufKind::kInt, in.range);
  }

  void transpose(const Node& n) {
    const Buffer& in = in_buffer(n, 0, BufKind::kInt);
    Step s = start(n, StepKind::kTranspose);
    s.in = {static_cast<int>(&in - p_.buffers.data())};
    s.in_shape = sample_shape(n.inputs[0]);
    s.perm = n.attr_ints("perm");
    if (s.perm.empty()) {
      for (size_t i = s.in_shape.size(); i-- > 0;) s.perm.push_back(static_cast<int64_t>(i));
    }
    finish(std::move(s), n, BufKind::kInt, in.range);
  }

  // scale * q + offset as (num * q + add) / den * 2^exp per channel.
  void dequantize(const Node& n) {
    const Buffer& in = in_buffer(n, 0, BufKind::kInt);
    Step s = start(n, StepKind::kDequantize);
    s.in = {static_cast<int>(&in - p_.buffers.data())};
    const Tensor& sc = constant(n, 1);
    const Tensor& of = constant(n, 2);
    const Shape os = sample_shape(n.outputs[0]);
    const int64_t size = in.size;
    // Each parameter broadcast to the sample shape, then the pattern found.
    auto expand = [&](const Tensor& t) {
      std::vector<Exact> v(static_cast<size_t>(size));
      const Shape& ts = t.shape();
      for (int64_t i = 0; i < size; ++i) {
        int64_t rem = i, idx = 0, stride = 1;
        std::vector<int64_t> coord(os.size());
        for (size_t d = os.size(); d-- > 0;) {
          coord[d] = rem % os[d];
          rem /= os[d];
        }
        for (size_t d = ts.size(); d-- > 0;) {
          const size_t od = os.size() - (ts.size() - d);
          idx += (ts[d] == 1 ? 0 : coord[od]) * stride;
          stride *= ts[d];
        }
        v[static_cast<size_t>(i)] = t.exact()[static_cast<size_t>(idx)];
      }
      return v;
    };
    if (sc.type() != ElemType::kExact || of.type() != ElemType::kExact)
      refuse(n, "scale and offset must be exact constants", "");
    std::vector<Exact> S = expand(sc), O = expand(of);
    // One odd denominator and exponent for every scale and offset.
    constexpr int kLimit = 124;  // bits of any constant; sums stay below 2^125
    std::vector<Exact> all(S);
    all.insert(all.end(), O.begin(), O.end());
    CommonRational common;
    std::string why;
    if (!common_rational(all, kLimit, &common, &why))
      refuse(n, "its output scales and offsets cannot be written exactly: " + why,
             "use power-of-two or fewer distinct output scales");
    const i128 den = common.den;
    const int64_t e = common.exp;
    std::vector<i128> num(common.num.begin(), common.num.begin() + static_cast<int64_t>(S.size()));
    std::vector<i128> add(common.num.begin() + static_cast<int64_t>(S.size()), common.num.end());
    const i128 qmax = std::max(abs128(in.range.lo), abs128(in.range.hi));
    for (size_t i = 0; i < S.size(); ++i) {
      if (std::max(bit_length(num[i]) + bit_length(qmax), bit_length(add[i])) + 1 > kLimit)
        refuse(n, "its dequantized numerator needs more than 125 bits", "");
    }
    // Smallest periodic pattern: constant, per axis, or per element.
    Dequant& d = s.deq;
    d.den = den;
    d.exp = static_cast<int>(e);
    auto try_pattern = [&](int64_t channels, int64_t inner) {
      for (int64_t i = 0; i < size; ++i) {
        const size_t j = static_cast<size_t>(((i / inner) % channels) * inner);
        if (num[static_cast<size_t>(i)] != num[j] || add[static_cast<size_t>(i)] != add[j])
          return false;
      }
      d.channels = channels;
      d.inner = inner;
      for (int64_t c = 0; c < channels; ++c) {
        d.num.push_back(num[static_cast<size_t>(c * inner)]);
        d.add.push_back(add[static_cast<size_t>(c * inner)]);
      }
      return true;
    };
    bool found = size == 0 || try_pattern(1, 1);
    int64_t inner = size;
    for (size_t a = 0; !found && a < os.size(); ++a) {
      inner /= std::max<int64_t>(1, os[a]);
      found = os[a] > 1 && try_pattern(os[a], inner);
    }
    if (!found) try_pattern(size, 1);
    // A Softmax consumer reads the nearest double (exact mode's definition), any other
    // consumer is the graph output: float32.
    bool to_softmax = false;
    for (const Node& m : g_.nodes)
      for (const std::string& i : m.inputs)
        if (i == n.outputs[0] && m.op_type == "Softmax" && needed_.count(m.outputs[0]))
          to_softmax = true;
    finish(std::move(s), n, to_softmax ? BufKind::kDouble : BufKind::kFloat);
  }

  void softmax(const Node& n) {
    const Buffer& in = in_buffer(n, 0, BufKind::kDouble);
    Step s = start(n, StepKind::kSoftmax);
    s.in = {static_cast<int>(&in - p_.buffers.data())};
    // The layout rule of src/ops/softmax.cc: before opset 13 the input is coerced to
    // 2-D at axis (default 1); from 13 on one axis (default -1).
    const Shape& shape = in.shape;
    const bool coerce = n.version < 13;
    const int64_t rank = static_cast<int64_t>(shape.size());
    int64_t axis = n.attr_int("axis", coerce ? 1 : -1);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis > rank || (!coerce && axis == rank)) refuse(n, "axis out of range", "");
    for (int64_t d = 0; d < axis; ++d) s.outer *= shape[static_cast<size_t>(d)];
    if (coerce) {
      for (int64_t d = axis; d < rank; ++d) s.len *= shape[static_cast<size_t>(d)];
    } else {
      s.len = shape[static_cast<size_t>(axis)];
      for (int64_t d = axis + 1; d < rank; ++d) s.inner *= shape[static_cast<size_t>(d)];
    }
    finish(std::move(s), n, BufKind::kFloat);
  }

  // Channels along `axis` of the node's output, for per-channel parameters of
  // `entries` entries (1: shared by all channels).
  void per_channel(const Node& n, Step& s, int64_t entries) {
    const Shape os = sample_shape(n.outputs[0]);
    int64_t axis = n.attr_int("axis", 1);
    if (axis < 0) axis += static_cast<int64_t>(os.size());
    if (axis < 0 || axis >= static_cast<int64_t>(os.size())) refuse(n, "axis out of range", "");
    s.chan_inner = 1;
    for (size_t d = static_cast<size_t>(axis) + 1; d < os.size(); ++d) s.chan_inner *= os[d];
    s.channels = entries == 1 ? 1 : os[static_cast<size_t>(axis)];
    if (entries != 1 && entries != s.channels)
      refuse(n, "parameters do not match the channels", "");
  }

  std::vector<int64_t> ints(const Node& n, size_t i) {
    const Tensor& t = constant(n, i);
    if (t.type() != ElemType::kInt64)
      refuse(n, "input " + std::to_string(i) + " must be int64", "");
    return t.i64();
  }

  void requant_op(const Node& n) {
    const Buffer& in = in_buffer(n, 0, BufKind::kInt);
    Step s = start(n, StepKind::kRequant);
    s.in = {static_cast<int>(&in - p_.buffers.data())};
    s.mul = ints(n, 1);
    s.addend = ints(n, 2);
    s.divisor = ints(n, 3);
    s.bias = ints(n, 4);
    s.level_min = ints(n, 5);
    s.level_max = ints(n, 6);
    // Each parameter has one entry per channel or one for all: widen them alike.
    int64_t entries = 1;
    for (auto* v : {&s.mul, &s.addend, &s.divisor, &s.bias, &s.level_min, &s.level_max})
      entries = std::max<int64_t>(entries, static_cast<int64_t>(v->size()));
    for (auto* v : {&s.mul, &s.addend, &s.divisor, &s.bias, &s.level_min, &s.level_max}) {
      if (v->size() == 1) v->assign(static_cast<size_t>(entries), v->front());
      if (static_cast<int64_t>(v->size()) != entries) refuse(n, "parameter sizes differ", "");
    }
    per_channel(n, s, entries);
    s.rounding = static_cast<int>(parse_rounding_mode(n.attr_string("rounding_mode", "ROUND")));
    s.product_bits = static_cast<int>(n.attr_int("product_bits", 127));
    if (s.product_bits > 125) refuse(n, "its products need more than 125 bits", "");
    const IntRange out = {*std::min_element(s.level_min.begin(), s.level_min.end()),
                          *std::max_element(s.level_max.begin(), s.level_max.end())};
    finish(std::move(s), n, BufKind::kInt, out);
  }

  void threshold_op(const Node& n) {
    const Buffer& in = in_buffer(n, 0, BufKind::kInt);
    Step s = start(n, StepKind::kThreshold);
    s.in = {static_cast<int>(&in - p_.buffers.data())};
    const Tensor& t = constant(n, 1);
    if (t.rank() != 2) refuse(n, "thresholds must be [rows, levels]", "");
    const int64_t rows = t.dim(0);
    s.base = ints(n, 2);
    s.sign =
        n.inputs.size() > 3 && !n.inputs[3].empty() ? ints(n, 3) : std::vector<int64_t>(rows, 1);
    if (static_cast<int64_t>(s.base.size()) != rows || static_cast<int64_t>(s.sign.size()) != rows)
      refuse(n, "base and sign need one entry per threshold row", "");
    per_channel(n, s, rows);
    // The compared value is sign * acc.
    IntRange acc = in.range;
    bool neg = false;
    for (int64_t v : s.sign) neg = neg || v < 0;
    if (neg) acc = {std::min(acc.lo, -acc.hi), std::max(acc.hi, -acc.lo)};
    s.acc = acc;
    const IntRange out = requant(n, s, 1, rows, acc);
    finish(std::move(s), n, BufKind::kInt, out);
  }

  void scale_op(const Node& n) {
    const Buffer& in = in_buffer(n, 0, BufKind::kInt);
    Step s = start(n, StepKind::kScale);
    s.in = {static_cast<int>(&in - p_.buffers.data())};
    s.a = n.attr_int("multiplier");
    const i128 x = i128{s.a} * in.range.lo, y = i128{s.a} * in.range.hi;
    if (abs128(x) > (i128{1} << 62) || abs128(y) > (i128{1} << 62))
      refuse(n, "its products need more than 63 bits", "");
    const IntRange out{static_cast<int64_t>(std::min(x, y)), static_cast<int64_t>(std::max(x, y))};
    finish(std::move(s), n, BufKind::kInt, out);
  }

  void concat(const Node& n) {
    Step s = start(n, StepKind::kConcat);
    const Shape os = sample_shape(n.outputs[0]);
    int64_t axis = n.attr_int("axis");
    if (axis < 0) axis += static_cast<int64_t>(os.size());
    if (axis < 0 || axis >= static_cast<int64_t>(os.size())) refuse(n, "axis out of range", "");
    s.outer = 1;
    for (int64_t d = 0; d < axis; ++d) s.outer *= os[static_cast<size_t>(d)];
    IntRange out{INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const Buffer& in = in_buffer(n, i, BufKind::kInt);
      s.in.push_back(static_cast<int>(&in - p_.buffers.data()));
      s.chunks.push_back(in.size / std::max<int64_t>(1, s.outer));
      out = {std::min(out.lo, in.range.lo), std::max(out.hi, in.range.hi)};
    }
    finish(std::move(s), n, BufKind::kInt, out);
  }

  void sum_pool(const Node& n) {
    const Buffer& in = in_buffer(n, 0, BufKind::kInt);
    Step s = start(n, StepKind::kSumPool);
    s.in = {static_cast<int>(&in - p_.buffers.data())};
    s.geom = window(n, false);
    if (s.geom.dh != 1 || s.geom.dw != 1) refuse(n, "dilated sum pooling is not supported", "");
    s.pad_level = n.attr_int("pad_value", 0);
    const int64_t taps = s.geom.kh * s.geom.kw;
    const IntRange out{taps * std::min(in.range.lo, s.pad_level),
                       taps * std::max(in.range.hi, s.pad_level)};
    finish(std::move(s), n, BufKind::kInt, out);
  }

  void conv_transpose(const Node& n) {
    const Buffer& in = in_buffer(n, 0, BufKind::kInt);
    Step s = start(n, StepKind::kConvTranspose);
    s.in = {static_cast<int>(&in - p_.buffers.data())};
    const Tensor& w = constant(n, 1);
    const Shape is = sample_shape(n.inputs[0]), os = sample_shape(n.outputs[0]);
    if (is.size() != 4 || w.rank() != 4)
      refuse(n, "only 2-D transposed convolutions are supported", "");
    ConvGeom& g = s.geom;
    g.c = is[1], g.h = is[2], g.w = is[3];
    g.oh = os[2], g.ow = os[3];
    g.groups = n.attr_int("group", 1);
    g.kh = w.dim(2), g.kw = w.dim(3);
    auto st = n.attr_ints("strides", {1, 1}), dl = n.attr_ints("dilations", {1, 1}),
         pd = n.attr_ints("pads", {0, 0, 0, 0});
    if (st.size() != 2 || dl.size() != 2 || pd.size() != 4) refuse(n, "bad attributes", "");
    g.sh = st[0], g.sw = st[1], g.dh = dl[0], g.dw = dl[1];
    g.pt = pd[0], g.pl = pd[1], g.pb = pd[2], g.pr = pd[3];
    s.n = os[1];
    s.k = w.dim(1) * g.kh * g.kw;  // weights per input channel
    s.weights = w.i64();
    s.zero = n.attr_int("input_zero", 0);
    // Every output sums at most all taps of its group's input channels.
    const i128 x = std::max(abs128(i128{in.range.lo} - s.zero), abs128(i128{in.range.hi} - s.zero));
    const int64_t cg = g.c / g.groups, og = s.n / g.groups;
    i128 worst = 0;
    for (int64_t o = 0; o < s.n; ++o) {
      i128 sum = 0;
      const int64_t grp = o / og, oc = o % og;
      for (int64_t i = grp * cg; i < (grp + 1) * cg; ++i)
        for (int64_t t = 0; t < g.kh * g.kw; ++t)
          sum += abs128(s.weights[static_cast<size_t>((i * og + oc) * g.kh * g.kw + t)]) * x;
      worst = std::max(worst, sum);
    }
    if (worst > (i128{1} << 62)) refuse(n, "its accumulator needs more than 63 bits", "");
    s.acc = {-static_cast<int64_t>(worst), static_cast<int64_t>(worst)};
    const IntRange out = s.acc;
    finish(std::move(s), n, BufKind::kInt, out);
  }

  const Graph& g_;
  const ProgramOptions& opt_;
  Program p_;
  std::set<std::string> needed_, idents_, step_idents_;
  std::map<std::string, int> buf_of_;
};

}  // namespace

std::shared_ptr<Graph> without_float_tail(const Graph& graph, std::vector<std::string>* notes) {
  auto g = std::make_shared<Graph>(graph);
  g->kernel_cache = std::make_shared<KernelCache>();
  for (bool changed = true; changed;) {
    changed = false;
    for (ValueInfo& out : g->outputs) {
      auto it = std::find_if(g->nodes.begin(), g->nodes.end(), [&](const Node& n) {
        return n.op_type == "Softmax" && n.outputs.size() == 1 && n.outputs[0] == out.name;
      });
      if (it == g->nodes.end()) continue;
      const ValueInfo* in = g->find_value(it->inputs[0]);
      if (!in) continue;
      if (notes) {
        notes->push_back("node '" + it->name + "' (Softmax) is left out: output '" + out.name +
                         "' is replaced by its input '" + in->name + "'");
      }
      out = *in;
      g->nodes.erase(it);
      changed = true;
    }
  }
  return g;
}

Program make_program(const Graph& lowered, const ProgramOptions& options) {
  return Builder(lowered, options).build();
}

}  // namespace bitsmith::codegen
