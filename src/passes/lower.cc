#include "passes/lower.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "core/quantize.h"
#include "passes/int_weights.h"
#include "passes/requant_params.h"
#include "passes/requant_search.h"
#include "runtime/session.h"

namespace bitsmith {
namespace {

// x = scale * q + offset, q an int64 tensor in [qmin, qmax].
struct Twin {
  std::string q;
  Exact scale, offset;
  int64_t qmin = 0, qmax = 0;
  bool bipolar = false;  // q is -1 or +1, never 0
  // Per-channel scales and offsets along axis 1 (then scale/offset are unused); only
  // depthwise convolutions and max pooling consume such twins.
  std::vector<Exact> ch_scale, ch_offset;
};

// A value's constant per-channel parameter: one entry per channel, or nullopt
// when the tensor varies along another axis (it would not be per channel).
std::optional<std::vector<Exact>> per_channel(const Tensor& t, int rank, int axis,
                                              int64_t channels) {
  if (t.rank() > rank) return std::nullopt;
  int64_t along = 1;
  for (int d = 0; d < t.rank(); ++d) {
    int out_axis = rank - t.rank() + d;
    int64_t n = t.dim(d);
    if (out_axis == axis) {
      along = n;
    } else if (n != 1) {
      return std::nullopt;
    }
  }
  if (along != 1 && along != channels) return std::nullopt;
  Tensor e = t.type() == ElemType::kExact ? t : t.to(ElemType::kExact);
  std::vector<Exact> v(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c)
    v[static_cast<size_t>(c)] = e.exact()[static_cast<size_t>(along == 1 ? 0 : c)];
  return v;
}

bool uniform(const std::vector<Exact>& v) {
  return std::all_of(v.begin(), v.end(), [&](const Exact& x) { return x == v[0]; });
}

Tensor channel_tensor(const std::vector<Exact>& v, int rank, int axis) {
  if (uniform(v)) return Tensor::from_exact({}, {v[0]});
  Shape s(static_cast<size_t>(rank - axis), 1);
  s[0] = static_cast<int64_t>(v.size());
  return Tensor::from_exact(s, v);
}

bool is_qonnx(const Node& n, const char* op) {
  return op_family(n.domain) == OpFamily::kQonnx && n.op_type == op;
}
bool is_onnx(const Node& n, const char* op) {
  return op_family(n.domain) == OpFamily::kOnnx && n.op_type == op;
}

class Lowerer {
 public:
  Lowerer(const Graph& g, const LowerOptions& o, LowerReport* r) : src_(g), opt_(o), report_(r) {}

  std::shared_ptr<Graph> run() {
    out_ = std::make_shared<Graph>(src_);
    out_->kernel_cache = std::make_shared<KernelCache>();
    for (size_t i = 0; i < src_.nodes.size(); ++i) {
      for (const auto& in : src_.nodes[i].inputs) consumers_[in].push_back(i);
      for (const auto& o : src_.nodes[i].outputs) producer_[o] = i;
    }
    for (const auto& o : src_.outputs) graph_outputs_.insert(o.name);
    for (size_t i = 0; i < src_.nodes.size(); ++i) {
      if (consumed_.count(i)) continue;
      const Node& n = src_.nodes[i];
      if (src_.folded[1].count(n.outputs.empty() ? "" : n.outputs[0])) {
        nodes_.push_back(n);
        continue;
      }
      if (is_onnx(n, "Add") && try_add(i)) continue;
      if (is_onnx(n, "AveragePool") || is_onnx(n, "GlobalAveragePool")) {
        std::string why;
        if (try_pool(i, &why)) continue;
        why_left_[n.outputs[0]] = why;
      }
      if (is_onnx(n, "ConvTranspose")) {
        std::string why;
        if (try_conv_transpose(i, &why)) continue;
        why_left_[n.outputs[0]] = why;
      }
      if (is_onnx(n, "Concat")) {
        std::string why;
        if (!try_concat(i, &why)) why_left_[n.outputs[0]] = why;
      }
      if (is_onnx(n, "MatMul") || is_onnx(n, "Gemm") || is_onnx(n, "Conv")) {
        std::string why;
        if (try_linear(i, &why)) continue;
        report_->left.push_back(n.label() + ": " + why);
      }
      nodes_.push_back(n);
      pass_through(n);
    }
    // Dequantizations that are graph outputs give float32 directly (the value the
    // engine would round the exact result to), without exact rationals per element.
    // (Only where nothing else reads the value: a consumer needs the exact one.)
    std::set<std::string> read;
    for (const Node& n : nodes_)
      for (const std::string& in : n.inputs) read.insert(in);
    for (Node& n : nodes_) {
      if (n.op_type == "IntDequantize" && graph_outputs_.count(n.outputs[0]) &&
          !read.count(n.outputs[0]))
        n.attrs["float_out"] = Attribute::of_int(1);
    }
    finish();
    return out_;
  }

 private:
  // The constant behind a value in exact mode (folded, or an initializer), or nullptr.
  const Tensor* constant(const std::string& name) {
    if (name.empty()) return nullptr;
    auto f = src_.folded[1].find(name);
    if (f != src_.folded[1].end()) return &f->second;
    const Tensor* t = src_.initializer(name);
    if (!t) return nullptr;
    if (t->type() != ElemType::kFloat32) return t;
    auto it = exact_.find(name);
    if (it == exact_.end()) it = exact_.emplace(name, t->to(ElemType::kExact)).first;
    return &it->second;
  }

  std::optional<Exact> scalar(const std::string& name) {
    const Tensor* t = constant(name);
    if (!t || t->size() != 1) return std::nullopt;
    return t->type() == ElemType::kExact ? t->exact()[0] : Exact::from_int(t->as_int(0));
  }

  std::string fresh(const std::string& base) {
    std::string name;
    do {
      name = base + "_" + std::to_string(counter_++);
    } while (producer_.count(name) || src_.initializers.count(name) ||
             out_->initializers.count(name));
    return name;
  }

  std::string add_const(const std::string& base, Tensor t) {
    std::string name = fresh(base);
    out_->initializers[name] = std::move(t);
    return name;
  }

  Node lowered_node(const std::string& op, const std::string& name) {
    Node n;
    n.op_type = op;
    n.domain = kLoweredDomain;
    n.name = fresh(name);
    return n;
  }

  // The integer twin of a value, creating the conversion node on first request.
  const Twin* twin_of(const std::string& value) {
    auto it = twins_.find(value);
    if (it != twins_.end()) return &it->second;
    auto p = producer_.find(value);
    if (p == producer_.end()) return float_input_twin(value);
    const Node& n = src_.nodes[p->second];
    Twin t;
    if ((is_qonnx(n, "Quant") || is_qonnx(n, "IntQuant")) && n.inputs.size() == 4) {
      auto s = scalar(n.inputs[1]), z = scalar(n.inputs[2]), b = scalar(n.inputs[3]);
      if (!s || !z || !b || s->sign() <= 0 || !b->is_integer()) return nullptr;
      int bits = static_cast<int>(b->floor());
      bool sgn = n.attr_int("signed", 1) != 0;
      if (bits < 1 || bits > 24) return nullptr;
      IntRange r = int_range(bits, sgn, n.attr_int("narrow", 0) != 0);
      t.bipolar = bits == 1 && sgn;
      t.qmin = t.bipolar ? -1 : r.min;
      t.qmax = t.bipolar ? 1 : r.max;
      t.scale = *s;
      t.offset = -(*z * *s);
      if (t.qmax - t.qmin <= opt_.max_threshold_levels && input_chain_twin(n, t))
        return &(twins_[value] = t);
      Node q = lowered_node("IntQuantize", n.name + "_int");
      q.inputs = n.inputs;
      q.outputs = {fresh(value + "_q")};
      q.attrs = n.attrs;
      t.q = q.outputs[0];
      nodes_.push_back(std::move(q));
    } else if (is_qonnx(n, "BipolarQuant") && n.inputs.size() == 2) {
      auto s = scalar(n.inputs[1]);
      if (!s || s->sign() <= 0) return nullptr;
      t = Twin{"", *s, Exact::from_int(0), -1, 1, true, {}, {}};
      if (!input_chain_twin(n, t)) from_real(value, t);
    } else if (is_qonnx(n, "MultiThreshold") && n.inputs.size() == 2 && constant(n.inputs[1])) {
      Exact s = Exact::from_double(n.attr_float("out_scale", 1.0f));
      if (s.sign() <= 0) return nullptr;
      const Tensor* thr = constant(n.inputs[1]);
      if (thr->rank() != 2) return nullptr;
      t = Twin{"", s, Exact::from_double(n.attr_float("out_bias", 0.0f)), 0, thr->dim(1), false,
               {}, {}};
      // Thresholds shared by all channels make a per-element function of the input.
      if (thr->dim(0) != 1 || t.qmax > opt_.max_threshold_levels || !input_chain_twin(n, t))
        from_real(value, t);
    } else {
      return nullptr;
    }
    return &(twins_[value] = t);
  }

  // A float32 graph input as fixed point: x = q * 2^exp with |q| <= 2^bits holds exactly
  // for every float32 of magnitude in [2^(exp+23), 2^(exp+bits)) and for 0. A batch
  // holding any other value (tinier nonzero, or huger) runs on the reference graph
  // instead (IntFromFloat raises OffGrid, CompiledModel::run catches it).
  // The grid covers |x| < 2^kFloatInputRange; the finest step is what the bits leave.
  static constexpr int kFloatInputRange = 6;
  int float_input_bits_ = 53;
  const Twin* float_input_twin(const std::string& value) {
    const int kFloatInputBits = float_input_bits_,
              kFloatInputExp = kFloatInputRange - float_input_bits_;
    bool is_input = std::any_of(src_.inputs.begin(), src_.inputs.end(), [&](const ValueInfo& v) {
      return v.name == value && v.elem == ElemType::kFloat32;
    });
    if (!is_input) return nullptr;
    Node q = lowered_node("IntFromFloat", value + "_int");
    q.inputs = {value};
    q.attrs["exp"] = Attribute::of_int(kFloatInputExp);
    q.attrs["bits"] = Attribute::of_int(kFloatInputBits);
    q.outputs = {fresh(value + "_q")};
    const int64_t lim = int64_t{1} << kFloatInputBits;
    Twin t{q.outputs[0],
           Exact::from_int(1).ldexp(kFloatInputExp),
           Exact::from_int(0),
           -lim,
           lim,
           false,
           {},
           {}};
    nodes_.push_back(std::move(q));
    return &(twins_[value] = t);
  }

  const Shape* shape_of(const std::string& v) {
    auto it = src_.value_info.find(v);
    return it == src_.value_info.end() ? nullptr : &it->second.shape;
  }

  // graph input (float32) -> shape ops -> per-element monotone ops with scalar
  // constants -> Quant `qn`: thresholds over the float32 line replace the whole
  // chain, and the shape ops are replayed on the levels. Fills t.q on success.
  bool input_chain_twin(const Node& qn, Twin& t) {
    static const std::set<std::string> shape_ops = {"Reshape", "Flatten"};
    std::vector<size_t> elementwise, shapes;
    std::string v = qn.inputs[0];
    auto single_use = [&](const std::string& x) {
      auto cs = consumers_.find(x);
      return !graph_outputs_.count(x) && cs != consumers_.end() && cs->second.size() == 1;
    };
    // Back through elementwise ops whose other operands are scalar constants.
    for (;;) {
      auto p = producer_.find(v);
      if (p == producer_.end() || !single_use(v)) break;
      const Node& n = src_.nodes[p->second];
      if (op_family(n.domain) != OpFamily::kOnnx || n.outputs.size() != 1) break;
      static const std::set<std::string> ew = {"Add",  "Sub",  "Mul",      "Div",
                                               "Relu", "Clip", "Identity", "Neg"};
      if (!ew.count(n.op_type)) break;
      bool ok = !n.inputs.empty() && n.inputs[0] != "" && !constant(n.inputs[0]);
      for (size_t k = 1; ok && k < n.inputs.size(); ++k) {
        const Tensor* c = n.inputs[k].empty() ? nullptr : constant(n.inputs[k]);
        ok = n.inputs[k].empty() || (c && c->size() == 1);
      }
      // Add and Mul commute: the data may come second.
      if (!ok && (n.op_type == "Add" || n.op_type == "Mul") && n.inputs.size() == 2) {
        const Tensor* c = constant(n.inputs[0]);
        ok = c && c->size() == 1 && !constant(n.inputs[1]);
      }
      const Shape *si = nullptr, *so = shape_of(n.outputs[0]);
      std::string data = constant(n.inputs[0]) ? n.inputs[1] : n.inputs[0];
      si = shape_of(data);
      if (!ok || !si || !so || *si != *so) break;
      elementwise.push_back(p->second);
      v = data;
    }
    const std::string chain_in = v;
    for (;;) {  // back through shape ops to the graph input
      bool is_input = std::any_of(src_.inputs.begin(), src_.inputs.end(), [&](const ValueInfo& i) {
        return i.name == v && i.elem == ElemType::kFloat32;
      });
      if (is_input) break;
      auto p = producer_.find(v);
      if (p == producer_.end() || !single_use(v)) return false;
      const Node& n = src_.nodes[p->second];
      if (op_family(n.domain) != OpFamily::kOnnx || !shape_ops.count(n.op_type)) return false;
      shapes.push_back(p->second);
      v = n.inputs[0];
    }
    const Shape* cs = shape_of(chain_in);
    if (!cs || cs->size() < 2) return false;
    ChainProbe cp;
    cp.graph.source = src_.source;
    cp.in_name = chain_in;
    cp.rank = static_cast<int>(cs->size());
    cp.axis = 1;
    cp.channels = 1;
    cp.q_scale = {t.scale};
    cp.q_offset = {t.offset};
    cp.qmin = t.qmin;
    cp.qmax = t.qmax;
    std::vector<size_t> order(elementwise.rbegin(), elementwise.rend());
    order.push_back(producer_.at(qn.outputs[0]));
    for (size_t k : order) {
      const Node& c = src_.nodes[k];
      cp.graph.nodes.push_back(c);
      for (const auto& i : c.inputs) {
        if (const Tensor* ct = constant(i)) cp.graph.initializers[i] = *ct;
      }
    }
    cp.out_name = qn.outputs[0];
    ValueInfo ov;
    ov.name = cp.out_name;
    cp.graph.outputs.push_back(ov);
    std::vector<int64_t> thr;
    try {
      thr = search_float_thresholds(cp);
    } catch (const std::exception&) {
      return false;
    }
    Node q = lowered_node("IntFromFloatThresholds", qn.name + "_int");
    q.inputs = {v, add_const(qn.name + "_float_thresholds",
                             Tensor::from_i64({static_cast<int64_t>(thr.size())}, thr))};
    q.attrs["base"] = Attribute::of_int(t.qmin);
    q.outputs = {fresh(qn.outputs[0] + "_q")};
    std::string cur = q.outputs[0];
    nodes_.push_back(std::move(q));
    for (auto it = shapes.rbegin(); it != shapes.rend(); ++it) {
      Node c = src_.nodes[*it];
      c.name = fresh(c.name + "_int");
      c.inputs[0] = cur;
      c.outputs = {fresh(c.outputs[0] + "_q")};
      cur = c.outputs[0];
      nodes_.push_back(std::move(c));
    }
    t.q = cur;
    report_->lowered.push_back(qn.label() + ": " + std::to_string(thr.size()) +
                               " thresholds on the float32 input '" + v + "' through " +
                               std::to_string(elementwise.size()) + " elementwise and " +
                               std::to_string(shapes.size()) + " shape nodes");
    return true;
  }

  void from_real(const std::string& value, Twin& t) {
    Node q = lowered_node("IntFromReal", value + "_int");
    q.inputs = {value, add_const(value + "_scale", Tensor::from_exact({}, {t.scale})),
                add_const(value + "_offset", Tensor::from_exact({}, {t.offset}))};
    q.outputs = {fresh(value + "_q")};
    t.q = q.outputs[0];
    nodes_.push_back(std::move(q));
  }

  // Shape ops, and max pooling (twins have positive scales, so the maximum of the
  // levels is the level of the maximum), act on integers as they act on the reals.
  void pass_through(const Node& n) {
    static const std::set<std::string> ops = {"Reshape", "Flatten",      "Transpose",
                                              "Squeeze", "Unsqueeze",    "Identity",
                                              "MaxPool", "GlobalMaxPool"};
    if (op_family(n.domain) != OpFamily::kOnnx || !ops.count(n.op_type) || n.inputs.empty()) return;
    if (n.outputs.size() != 1 || !twins_.count(n.inputs[0])) return;
    Twin t = twins_[n.inputs[0]];
    if (!t.ch_scale.empty() && n.op_type != "MaxPool" && n.op_type != "GlobalMaxPool" &&
        n.op_type != "Identity") {
      return;  // the op would move the channel axis
    }
    Node c = n;
    c.name = fresh(n.name + "_int");
    c.inputs[0] = t.q;
    c.outputs = {fresh(n.outputs[0] + "_q")};
    t.q = c.outputs[0];
    twins_[n.outputs[0]] = t;
    nodes_.push_back(std::move(c));
  }

  struct Chain {
    std::vector<size_t> nodes;  // elementwise nodes, then the quantizer
    bool quantized = false;
    std::vector<Exact> q_scale, q_offset;
    int64_t qmin = 0, qmax = 0;
    bool bipolar = false;
  };

  // Follows single-consumer per-channel monotone elementwise nodes from `value`
  // to a quantizer. Without one ahead, a Trunc (v2) on the way is the quantizer: its
  // output is out_scale * (q - z / k) with q an integer in the output bit width's
  // range and k = 2^round(log2(out_scale / scale)) (SEMANTICS.md), so the chain ends
  // there (Brevitas' TruncAvgPool followed by Flatten and a linear layer).
  Chain follow_chain(const std::string& value, int rank, int axis, int64_t C) {
    Chain ch = follow_chain_to_quantizer(value, rank, axis, C);
    if (ch.quantized) return ch;
    for (size_t j = ch.nodes.size(); j-- > 0;) {
      const Node& t = src_.nodes[ch.nodes[j]];
      if (!is_qonnx(t, "Trunc")) continue;
      if (t.inputs.size() != 6) break;
      auto s = scalar(t.inputs[1]), z = scalar(t.inputs[2]), os = scalar(t.inputs[4]),
           b = scalar(t.inputs[5]);
      if (!s || !z || !os || !b || !b->is_integer() || s->sign() <= 0 || os->sign() <= 0) break;
      const int bits = static_cast<int>(b->floor());
      if (bits < 1 || bits > 24) break;
      const IntRange r =
          int_range(bits, t.attr_int("signed", 1) != 0, t.attr_int("narrow", 0) != 0);
      if (r.max - r.min > opt_.max_threshold_levels) break;  // only thresholds end in a Trunc
      const int64_t m = round_log2_exact(*os / *s);
      ch.nodes.resize(j + 1);
      ch.quantized = true;
      ch.bipolar = false;
      ch.qmin = r.min;
      ch.qmax = r.max;
      ch.q_scale.assign(static_cast<size_t>(C), *os);
      ch.q_offset.assign(static_cast<size_t>(C), -(z->ldexp(-m) * *os));
      break;
    }
    return ch;
  }

  Chain follow_chain_to_quantizer(std::string value, int rank, int axis, int64_t C) {
    Chain ch;
    for (;;) {
      auto cs = consumers_.find(value);
      if (graph_outputs_.count(value) || cs == consumers_.end() || cs->second.size() != 1)
        return ch;
      size_t idx = cs->second[0];
      const Node& n = src_.nodes[idx];
      auto others_per_channel = [&](size_t from) {
        for (size_t k = 0; k < n.inputs.size(); ++k) {
          if (n.inputs[k] == value && k < from) continue;
          if (n.inputs[k].empty()) continue;
          if (n.inputs[k] == value) return false;
          const Tensor* t = constant(n.inputs[k]);
          if (!t) return false;
          // BatchNormalization's parameters are 1-D along axis 1, not broadcast from the right.
          if (n.op_type == "BatchNormalization") {
            if (axis != 1 || t->rank() != 1 || (t->dim(0) != C && t->dim(0) != 1)) return false;
          } else if (!per_channel(*t, rank, axis, C)) {
            return false;
          }
        }
        return true;
      };
      bool first = !n.inputs.empty() && n.inputs[0] == value;
      if ((is_qonnx(n, "Quant") || is_qonnx(n, "IntQuant")) && first && n.inputs.size() == 4) {
        const Tensor *s = constant(n.inputs[1]), *z = constant(n.inputs[2]);
        auto b = scalar(n.inputs[3]);
        if (!s || !z || !b || !b->is_integer()) return ch;
        auto sv = per_channel(*s, rank, axis, C), zv = per_channel(*z, rank, axis, C);
        int bits = static_cast<int>(b->floor());
        if (!sv || !zv || bits < 1 || bits > 24) return ch;
        bool sgn = n.attr_int("signed", 1) != 0;
        IntRange r = int_range(bits, sgn, n.attr_int("narrow", 0) != 0);
        ch.bipolar = bits == 1 && sgn;
        ch.qmin = ch.bipolar ? -1 : r.min;
        ch.qmax = ch.bipolar ? 1 : r.max;
        ch.q_scale = *sv;
        for (int64_t c = 0; c < C; ++c) {
          ch.q_offset.push_back(-((*zv)[static_cast<size_t>(c)] * (*sv)[static_cast<size_t>(c)]));
        }
      } else if (is_qonnx(n, "BipolarQuant") && first && n.inputs.size() == 2) {
        const Tensor* s = constant(n.inputs[1]);
        auto sv = s ? per_channel(*s, rank, axis, C) : std::nullopt;
        if (!sv) return ch;
        ch.bipolar = true;
        ch.qmin = -1;
        ch.qmax = 1;
        ch.q_scale = *sv;
        ch.q_offset.assign(static_cast<size_t>(C), Exact::from_int(0));
      } else if (is_qonnx(n, "MultiThreshold") && first && n.inputs.size() == 2) {
        const Tensor* thr = constant(n.inputs[1]);
        std::string layout = n.attr_string("data_layout", "");
        bool layout_ok = layout.empty() ? rank != 3 : layout.find('C') == static_cast<size_t>(axis);
        if (!thr || thr->rank() != 2 || !layout_ok) return ch;
        ch.qmin = 0;
        ch.qmax = thr->dim(1);
        ch.q_scale.assign(static_cast<size_t>(C),
                          Exact::from_double(n.attr_float("out_scale", 1.0f)));
        ch.q_offset.assign(static_cast<size_t>(C),
                           Exact::from_double(n.attr_float("out_bias", 0.0f)));
        if (ch.q_scale[0].is_zero()) return ch;
      } else if (is_qonnx(n, "Trunc") && first && n.outputs.size() == 1 &&
                 (n.inputs.size() == 5 || n.inputs.size() == 6) && others_per_channel(1) &&
                 trunc_increasing(n)) {
        // Trunc is monotone nondecreasing in x when its scales are positive: rounding,
        // dividing by a positive power of two, clamping and rescaling all are.
        ch.nodes.push_back(idx);
        value = n.outputs[0];
        continue;
      } else if (op_family(n.domain) == OpFamily::kOnnx && n.outputs.size() == 1 &&
                 (((n.op_type == "Add" || n.op_type == "Mul" || n.op_type == "Sub") &&
                   others_per_channel(2)) ||
                  (n.op_type == "Div" && first && others_per_channel(1)) ||
                  ((n.op_type == "Relu" || n.op_type == "Identity" || n.op_type == "Neg") &&
                   first) ||
                  ((n.op_type == "Clip" || n.op_type == "BatchNormalization") && first &&
                   others_per_channel(1)))) {
        ch.nodes.push_back(idx);
        value = n.outputs[0];
        continue;
      } else {
        return ch;
      }
      ch.nodes.push_back(idx);
      ch.quantized = true;
      return ch;
    }
  }

  // Trunc's input scale (and v2's output scale) are positive constants.
  bool trunc_increasing(const Node& n) {
    std::vector<size_t> scales = {1};
    if (n.inputs.size() == 6) scales.push_back(4);
    for (size_t k : scales) {
      const Tensor* t = constant(n.inputs[k]);
      if (!t) return false;
      Tensor e = t->type() == ElemType::kExact ? *t : t->to(ElemType::kExact);
      for (const Exact& v : e.exact()) {
        if (v.sign() <= 0) return false;
      }
    }
    return true;
  }

  bool try_linear(size_t idx, std::string* why);
  bool try_pool(size_t idx, std::string* why);
  bool try_concat(size_t idx, std::string* why);
  bool try_conv_transpose(size_t idx, std::string* why);

  // The chain's nodes (and their constants) as a small graph fed at `in`.
  ChainProbe chain_probe(const Chain& ch, const std::string& in, int rank, int axis,
                         int64_t channels) {
    ChainProbe cp;
    cp.graph.source = src_.source;
    cp.graph.name = "probe";
    cp.in_name = in;
    cp.rank = rank;
    cp.axis = axis;
    cp.channels = channels;
    cp.q_scale = ch.q_scale;
    cp.q_offset = ch.q_offset;
    cp.qmin = ch.qmin;
    cp.qmax = ch.qmax;
    for (size_t k : ch.nodes) {
      const Node& c = src_.nodes[k];
      cp.graph.nodes.push_back(c);
      for (const auto& i : c.inputs) {
        if (const Tensor* t = constant(i)) cp.graph.initializers[i] = *t;
      }
    }
    cp.out_name = src_.nodes[ch.nodes.back()].outputs[0];
    ValueInfo ov;
    ov.name = cp.out_name;
    cp.graph.outputs.push_back(ov);
    return cp;
  }

  // The longest prefix of `chain` made of affine ops (Add, Sub, Mul, Div by constants,
  // BatchNormalization, Neg, Identity), and the per-channel map acc -> its output as
  // alpha * acc + beta, read off the reference ops at acc = 0 and 1 and checked at 2
  // (exact arithmetic: an affine chain gives exactly these values everywhere).
  // When lo and hi are given, the map is also checked at those accumulators (the
  // range ends of an IntRequant).
  void affine_tail(const std::vector<size_t>& chain, const std::string& in, int rank, int axis,
                   int64_t C, std::vector<size_t>* tail, std::vector<Exact>* alpha,
                   std::vector<Exact>* beta, const std::vector<int64_t>* lo = nullptr,
                   const std::vector<int64_t>* hi = nullptr) {
    static const std::set<std::string> affine = {
        "Add", "Sub", "Mul", "Div", "BatchNormalization", "Neg", "Identity"};
    std::vector<size_t> prefix;
    for (size_t k : chain) {
      if (!affine.count(src_.nodes[k].op_type)) break;
      prefix.push_back(k);
    }
    if (prefix.empty()) return;
    Graph g;
    g.source = src_.source;
    for (size_t k : prefix) {
      const Node& c = src_.nodes[k];
      g.nodes.push_back(c);
      for (const auto& i : c.inputs) {
        if (const Tensor* t = constant(i)) g.initializers[i] = *t;
      }
    }
    ValueInfo ov;
    ov.name = src_.nodes[prefix.back()].outputs[0];
    g.outputs.push_back(ov);
    const int64_t P = lo && hi ? 5 : 3;
    auto acc_at = [&](int64_t p, int64_t c) {
      return p < 3 ? p : (p == 3 ? *lo : *hi)[static_cast<size_t>(c)];
    };
    Shape shape(static_cast<size_t>(rank), 1);
    shape[0] = P;
    shape[static_cast<size_t>(axis)] = C;
    std::vector<Exact> probe(static_cast<size_t>(P * C));
    for (int64_t p = 0; p < P; ++p)
      for (int64_t c = 0; c < C; ++c)
        probe[static_cast<size_t>(p * C + c)] =
            (*alpha)[static_cast<size_t>(c)] * Exact::from_int(acc_at(p, c)) +
            (*beta)[static_cast<size_t>(c)];
    std::vector<Exact> a(static_cast<size_t>(C)), b(static_cast<size_t>(C));
    try {
      TensorMap feeds;
      feeds[in] = Tensor::from_exact(shape, probe);
      TensorMap out = run_exact(g, std::move(feeds));
      const Tensor& y = out.at(ov.name);
      if (y.type() != ElemType::kExact || y.shape() != shape) return;
      for (int64_t c = 0; c < C; ++c) {
        const Exact &y0 = y.exact()[static_cast<size_t>(c)],
                    &y1 = y.exact()[static_cast<size_t>(C + c)],
                    &y2 = y.exact()[static_cast<size_t>(2 * C + c)];
        if (!y0.is_finite() || !y1.is_finite() || !(y2 - y1 == y1 - y0)) return;
        a[static_cast<size_t>(c)] = y1 - y0;
        b[static_cast<size_t>(c)] = y0;
        for (int64_t p = 3; p < P; ++p) {
          const Exact& yp = y.exact()[static_cast<size_t>(p * C + c)];
          if (!(yp == (y1 - y0) * Exact::from_int(acc_at(p, c)) + y0)) return;
        }
      }
    } catch (const std::exception&) {
      return;
    }
    *tail = prefix;
    *alpha = a;
    *beta = b;
  }
  // IntRequant parameters per channel (src/ops/int_requant.cc).
  struct Requant {
    std::vector<int64_t> mult, add, div, bias, lmin, lmax;
    std::string mode;
    int product_bits = 1;
    bool pow2 = true;
  };

  // A chain of affine ops, then Relu/Clip nodes, then a multi-bit Quant, as
  // level = clamp(R((acc * mult + add) / div), lmin, lmax). The affine part is read
  // off the reference ops (affine_tail, checked at acc = 0, 1, 2 and the range ends);
  // Relu/Clip become level bounds because a monotone quantizer Q commutes with max
  // and min (Q(min(max(u, a), b)) = min(max(Q(u), Q(a)), Q(b))), and Q(a), Q(b) are the
  // suffix's levels at -2^200 and 2^200. The result is checked against the reference
  // chain at the range ends and near rounding boundaries before it is used.
  std::optional<Requant> plan_requant(const Chain& ch, const std::string& in, int rank, int axis,
                                      int64_t C, const std::vector<Exact>& acc_scale,
                                      const std::vector<Exact>& offset,
                                      const std::vector<int64_t>& lo,
                                      const std::vector<int64_t>& hi, std::string* why) {
    const Node& qn = src_.nodes[ch.nodes.back()];
    if (!(is_qonnx(qn, "Quant") || is_qonnx(qn, "IntQuant")) || ch.bipolar) {
      *why = "the quantizer is not a multi-bit Quant";
      return std::nullopt;
    }
    const size_t uC = static_cast<size_t>(C);
    for (size_t c = 0; c < uC; ++c) {
      if (ch.q_scale[c].sign() <= 0) {
        *why = "the quantizer's scale is not positive";
        return std::nullopt;
      }
    }
    std::vector<size_t> middle(ch.nodes.begin(), ch.nodes.end() - 1), tail;
    std::vector<Exact> A = acc_scale, B = offset;
    affine_tail(middle, in, rank, axis, C, &tail, &A, &B, &lo, &hi);
    Chain suffix = ch;
    suffix.nodes.assign(middle.begin() + static_cast<std::ptrdiff_t>(tail.size()), middle.end());
    for (size_t k : suffix.nodes) {
      const Node& m = src_.nodes[k];
      if (!is_onnx(m, "Relu") && !is_onnx(m, "Clip")) {
        *why = m.label() + " is neither affine nor Relu/Clip";
        return std::nullopt;
      }
    }
    suffix.nodes.push_back(ch.nodes.back());
    Requant rq;
    try {
      rq.mode = rounding_mode_name(parse_rounding_mode(qn.attr_string("rounding_mode", "ROUND")));
      const std::string mid = tail.empty() ? in : src_.nodes[tail.back()].outputs[0];
      ChainProbe sp = chain_probe(suffix, mid, rank, axis, C);
      std::vector<Exact> ends(2 * uC);
      for (size_t c = 0; c < uC; ++c) {
        ends[c] = Exact::from_int(-1).ldexp(200);
        ends[uC + c] = Exact::from_int(1).ldexp(200);
      }
      std::vector<int64_t> bounds = eval_levels(sp, ends, 2);
      for (size_t c = 0; c < uC; ++c) {
        const Exact z = -(ch.q_offset[c] / ch.q_scale[c]);
        auto p = requant_params(A[c] / ch.q_scale[c], B[c] / ch.q_scale[c] + z, why);
        if (!p) return std::nullopt;
        rq.mult.push_back(p->multiplier);
        rq.add.push_back(p->addend);
        rq.div.push_back(p->divisor);
        rq.bias.push_back(p->bias);
        rq.pow2 = rq.pow2 && (p->divisor & (p->divisor - 1)) == 0;
        rq.lmin.push_back(bounds[c]);
        rq.lmax.push_back(bounds[uC + c]);
        // num is linear in acc: its extremes over the range are at the ends.
        for (int64_t a : {lo[c], hi[c]}) {
          i128 num = 0;
          if (!requant_numerator(rq, c, a, &num)) {
            *why = "the requantization numerator needs more than 127 bits";
            return std::nullopt;
          }
          rq.product_bits = std::max(rq.product_bits, signed_bits(num));
        }
      }
      // Probe accumulators: the range ends, 0, and both sides of the rounding
      // boundary of a low, a middle and a high level of every channel.
      const RoundingMode mode = parse_rounding_mode(rq.mode);
      std::vector<std::vector<int64_t>> probes(uC);
      for (size_t c = 0; c < uC; ++c) {
        auto add = [&](const Exact& a) {
          const Exact l = Exact::from_int(lo[c]), h = Exact::from_int(hi[c]);
          probes[c].push_back(static_cast<int64_t>((a < l ? l : h < a ? h : a).floor()));
        };
        add(Exact::from_int(lo[c]));
        add(Exact::from_int(hi[c]));
        add(Exact::from_int(0));
        add(Exact::from_int((i128{lo[c]} + hi[c]) / 2));
        const int64_t span = rq.lmax[c] - rq.lmin[c];
        for (int64_t L : {rq.lmin[c], rq.lmin[c] + span / 2, rq.lmax[c] - 1}) {
          if (rq.mult[c] == 0) {  // a constant channel: every channel gets as many probes
            for (int d = 0; d < 3; ++d) add(Exact::from_int(0));
            continue;
          }
          // num = (L + 1/2) * div, solved for acc.
          const Exact half = Exact::make(1, 1, -1);
          const Exact a = ((Exact::from_int(L - rq.bias[c]) + half) * Exact::from_int(rq.div[c]) -
                           Exact::from_int(rq.add[c])) /
                          Exact::from_int(rq.mult[c]);
          for (int d = -1; d <= 1; ++d) add(a + Exact::from_int(d));
        }
      }
      const size_t P = probes[0].size();
      std::vector<Exact> reals(P * uC);
      for (size_t p = 0; p < P; ++p)
        for (size_t c = 0; c < uC; ++c)
          reals[p * uC + c] = acc_scale[c] * Exact::from_int(probes[c][p]) + offset[c];
      std::vector<int64_t> want =
          eval_levels(chain_probe(ch, in, rank, axis, C), reals, static_cast<int64_t>(P));
      for (size_t p = 0; p < P; ++p) {
        for (size_t c = 0; c < uC; ++c) {
          i128 num = 0;
          if (!requant_numerator(rq, c, probes[c][p], &num)) {
            *why = "the requantization numerator needs more than 127 bits";
            return std::nullopt;
          }
          i128 level = round_div(num, rq.div[c], mode);
          level = std::min<i128>(std::max<i128>(level, rq.lmin[c]), rq.lmax[c]);
          if (level != want[p * uC + c]) {
            *why = "IntRequant disagrees with the reference at accumulator " +
                   std::to_string(probes[c][p]) + " of channel " + std::to_string(c);
            return std::nullopt;
          }
        }
      }
    } catch (const std::exception& e) {
      *why = e.what();
      return std::nullopt;
    }
    return rq;
  }

  // acc * mult + add + bias * div of channel c, false on an i128 overflow.
  static bool requant_numerator(const Requant& rq, size_t c, int64_t acc, i128* num) {
    *num = i128{acc} * rq.mult[c] + rq.add[c];
    return !__builtin_add_overflow(*num, i128{rq.bias[c]} * rq.div[c], num);
  }

  Tensor int_param(const std::vector<int64_t>& v) {
    bool same = std::all_of(v.begin(), v.end(), [&](int64_t x) { return x == v[0]; });
    return same ? Tensor::from_i64({1}, {v[0]})
                : Tensor::from_i64({static_cast<int64_t>(v.size())}, v);
  }

  // Emits IntRequant on the accumulator `acc`; returns the levels' value name.
  std::string emit_requant(const Requant& rq, const std::string& acc, int axis, const Node& qn) {
    Node R = lowered_node("IntRequant", qn.name + "_int");
    R.inputs = {acc,
                add_const(qn.name + "_multiplier", int_param(rq.mult)),
                add_const(qn.name + "_addend", int_param(rq.add)),
                add_const(qn.name + "_divisor", int_param(rq.div)),
                add_const(qn.name + "_bias", int_param(rq.bias)),
                add_const(qn.name + "_level_min", int_param(rq.lmin)),
                add_const(qn.name + "_level_max", int_param(rq.lmax))};
    R.attrs["axis"] = Attribute::of_int(axis);
    R.attrs["rounding_mode"] = Attribute::of_string(rq.mode);
    R.attrs["product_bits"] = Attribute::of_int(rq.product_bits);
    R.attrs["shift"] = Attribute::of_int(rq.pow2 ? 1 : 0);
    R.outputs = {fresh(qn.outputs[0] + "_q")};
    std::string out = R.outputs[0];
    nodes_.push_back(std::move(R));
    return out;
  }

  static std::string requant_text(const Requant& rq) {
    return "IntRequant (exact multiply-add-" + std::string(rq.pow2 ? "shift" : "divide") + ", " +
           std::to_string(rq.product_bits) + "-bit products)";
  }

  // An integer value `acc` that lowering node n computes (channels along axis 1, C of
  // them or 1), with real = scale[c] * acc + offset[c] and acc in [lo[c], hi[c]],
  // standing for the real value `out`: when a chain from `out` reaches a quantizer,
  // the chain becomes thresholds (IntThreshold) or IntRequant and the quantizer's
  // output gets the twin; else `out` itself is dequantized and gets the twin.
  // Returns the report text.
  std::string requantize_acc(const Node& n, const std::string& acc, const std::vector<Exact>& scale,
                             const std::vector<Exact>& offset, const std::vector<int64_t>& lo,
                             const std::vector<int64_t>& hi, const std::string& out, int rank) {
    const int64_t C = static_cast<int64_t>(scale.size());
    Chain ch = follow_chain(out, rank, 1, C);
    std::optional<Thresholds> thr;
    std::optional<Requant> rq;
    std::string why;
    if (ch.quantized && ch.qmax - ch.qmin <= opt_.max_threshold_levels) {
      try {
        thr = search_thresholds(chain_probe(ch, out, rank, 1, C), scale, offset, lo, hi);
      } catch (const std::exception& e) {
        why = e.what();
      }
    }
    if (ch.quantized && !thr) rq = plan_requant(ch, out, rank, 1, C, scale, offset, lo, hi, &why);
    Node D = lowered_node("IntDequantize", n.name + "_deq");
    const bool positive = [&] {
      const auto& v = thr || rq ? ch.q_scale : scale;
      return std::all_of(v.begin(), v.end(), [](const Exact& e) { return e.sign() > 0; });
    }();
    auto set_twin = [&](const std::string& name, const std::string& q, const std::vector<Exact>& s,
                        const std::vector<Exact>& o, int64_t qmin, int64_t qmax, bool bipolar) {
      if (!positive) return;
      if (uniform(s) && uniform(o)) {
        twins_[name] = Twin{q, s[0], o[0], qmin, qmax, bipolar, {}, {}};
      } else {
        twins_[name] = Twin{q, s[0], o[0], qmin, qmax, bipolar, s, o};
      }
    };
    if (!thr && !rq) {
      D.inputs = {acc, add_const(out + "_scale", channel_tensor(scale, rank, 1)),
                  add_const(out + "_offset", channel_tensor(offset, rank, 1))};
      D.outputs = {out};
      nodes_.push_back(std::move(D));
      set_twin(out, acc, scale, offset, *std::min_element(lo.begin(), lo.end()),
               *std::max_element(hi.begin(), hi.end()), false);
      return "dequantized exactly" +
             (ch.quantized ? "; the requantization stays on the reference path: " + why : "");
    }
    const Node& qn = src_.nodes[ch.nodes.back()];
    for (size_t k : ch.nodes) consumed_.insert(k);
    std::string level;
    if (thr) {
      Node T = lowered_node("IntThreshold", qn.name + "_int");
      T.inputs = {acc,
                  add_const(qn.name + "_thresholds", Tensor::from_i64({C, thr->levels}, thr->thr)),
                  add_const(qn.name + "_base", Tensor::from_i64({C}, thr->base))};
      if (std::any_of(thr->sign.begin(), thr->sign.end(), [](int s) { return s < 0; })) {
        std::vector<int64_t> sg(thr->sign.begin(), thr->sign.end());
        T.inputs.push_back(add_const(qn.name + "_sign", Tensor::from_i64({C}, sg)));
      }
      T.attrs["axis"] = Attribute::of_int(1);
      T.outputs = {fresh(qn.outputs[0] + "_q")};
      level = T.outputs[0];
      nodes_.push_back(std::move(T));
    } else {
      level = emit_requant(*rq, acc, 1, qn);
    }
    D.inputs = {level, add_const(qn.name + "_scale", channel_tensor(ch.q_scale, rank, 1)),
                add_const(qn.name + "_offset", channel_tensor(ch.q_offset, rank, 1))};
    D.outputs = {qn.outputs[0]};
    nodes_.push_back(std::move(D));
    set_twin(qn.outputs[0], level, ch.q_scale, ch.q_offset, ch.qmin, ch.qmax, ch.bipolar);
    return (thr ? std::to_string(thr->levels) + " thresholds" : requant_text(*rq)) +
           (C > 1 ? " per channel" : "") + " through " + std::to_string(ch.nodes.size()) +
           " nodes to " + qn.label();
  }

  bool try_add(size_t idx);

  void finish();

  const Graph& src_;
  LowerOptions opt_;
  LowerReport* report_;
  std::shared_ptr<Graph> out_;
  std::map<std::string, Twin> twins_;
  std::map<std::string, std::vector<size_t>> consumers_;
  std::map<std::string, size_t> producer_;
  std::set<std::string> graph_outputs_;
  std::set<size_t> consumed_;
  std::map<std::string, Tensor> exact_;
  std::vector<Node> nodes_;
  int counter_ = 0;
  std::map<std::string, std::string> why_left_;  // a refused node's output -> the reason
  std::set<std::string> int_extra_;  // integer values that are no twin's levels (IntScale)
};

bool Lowerer::try_linear(size_t idx, std::string* why) {
  const Node& n = src_.nodes[idx];
  const bool conv = n.op_type == "Conv", gemm = n.op_type == "Gemm";
  if (n.inputs.size() < 2) return *why = "missing inputs", false;
  const Tensor* w = constant(n.inputs[1]);
  if (!w || w->type() != ElemType::kExact) return *why = "weights are not a constant", false;
  auto vi = src_.value_info.find(n.outputs[0]);
  if (vi == src_.value_info.end()) return *why = "no inferred shape", false;
  const int rank = static_cast<int>(vi->second.shape.size());
  const int axis = conv ? 1 : rank - 1;
  if (rank < 2) return *why = "output rank below 2", false;

  // Weights as rows [N][K] in the kernel's order, and the bias per channel.
  int64_t N = 0, K = 0, group = 1;
  std::vector<Exact> rows;
  std::vector<Exact> bias;
  Exact alpha = Exact::from_int(1);
  std::vector<int64_t> kshape, strides, pads, dil;
  if (conv) {
    if (n.attr_string("auto_pad", "NOTSET") != "NOTSET")
      return *why = "auto_pad is not lowered", false;
    if (w->rank() != 4 && w->rank() != 3)
      return *why = "only 1-D and 2-D convolutions are lowered", false;
    group = n.attr_int("group", 1);
    const int sp = w->rank() - 2;
    N = w->dim(0);
    const int64_t cin_g = w->dim(1), kh = sp == 2 ? w->dim(2) : 1, kw = w->dim(sp + 1);
    K = kh * kw * cin_g;
    kshape = {kh, kw};
    auto s = n.attr_ints("strides", std::vector<int64_t>(static_cast<size_t>(sp), 1));
    auto d = n.attr_ints("dilations", std::vector<int64_t>(static_cast<size_t>(sp), 1));
    auto p = n.attr_ints("pads", std::vector<int64_t>(static_cast<size_t>(2 * sp), 0));
    if (sp == 1) {
      strides = {1, s[0]};
      dil = {1, d[0]};
      pads = {0, p[0], 0, p[1]};
    } else {
      strides = s;
      dil = d;
      pads = p;
    }
    rows.resize(static_cast<size_t>(N * K));
    for (int64_t o = 0; o < N; ++o)
      for (int64_t ci = 0; ci < cin_g; ++ci)
        for (int64_t y = 0; y < kh; ++y)
          for (int64_t x = 0; x < kw; ++x)
            rows[static_cast<size_t>(o * K + (y * kw + x) * cin_g + ci)] =
                w->exact()[static_cast<size_t>(((o * cin_g + ci) * kh + y) * kw + x)];
    if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
      const Tensor* b = constant(n.inputs[2]);
      if (!b || b->size() != N) return *why = "bias is not a constant per channel", false;
      bias = b->to(ElemType::kExact).exact();
    }
  } else {
    if (w->rank() != 2) return *why = "weights are not a matrix", false;
    bool trans_b = gemm && n.attr_int("transB", 0) != 0;
    if (gemm && n.attr_int("transA", 0) != 0) return *why = "transA is not lowered", false;
    K = trans_b ? w->dim(1) : w->dim(0);
    N = trans_b ? w->dim(0) : w->dim(1);
    rows.resize(static_cast<size_t>(N * K));
    for (int64_t k = 0; k < K; ++k)
      for (int64_t c = 0; c < N; ++c)
        rows[static_cast<size_t>(c * K + k)] =
            w->exact()[static_cast<size_t>(trans_b ? c * K + k : k * N + c)];
    if (gemm) {
      alpha = Exact::from_double(n.attr_float("alpha", 1.0f));
      Exact beta = Exact::from_double(n.attr_float("beta", 1.0f));
      if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
        const Tensor* cb = constant(n.inputs[2]);
        auto v = cb ? per_channel(*cb, 2, 1, N) : std::nullopt;
        if (!v) return *why = "C is not a constant per output column", false;
        for (auto& e : *v) e = e * beta;
        bias = *v;
      }
    }
  }
  if (bias.empty()) bias.assign(static_cast<size_t>(N), Exact::from_int(0));
  auto ir = integer_rows(rows, N, K, 31, why);
  if (!ir) return false;
  // A float input becomes fixed point with as many bits as the sums leave room for.
  int64_t abs_sum = 1;
  for (int64_t c = 0; c < N; ++c) {
    int64_t s = 0;
    for (int64_t k = 0; k < K; ++k) s += std::abs(ir->values[static_cast<size_t>(c * K + k)]);
    abs_sum = std::max(abs_sum, s);
  }
  float_input_bits_ = 61;
  while (float_input_bits_ > 24 && (i128{abs_sum} << float_input_bits_) > (i128{1} << 61))
    --float_input_bits_;
  const Twin* tw = twin_of(n.inputs[0]);
  if (!tw) return *why = "its input is not quantized with a per-tensor scale", false;
  Twin in = *tw;

  // Input range, with the padding value (the level of real 0) for convolutions.
  // Input scale and offset per input channel of this layer's output channels.
  std::vector<Exact> in_scale(static_cast<size_t>(N), in.scale),
      in_offset(static_cast<size_t>(N), in.offset);
  if (!in.ch_scale.empty()) {
    const bool depthwise = conv && group > 1 && group == N && w->dim(1) == 1 &&
                           static_cast<int64_t>(in.ch_scale.size()) == N;
    if (!depthwise)
      return *why = "its input has per-channel scales (lowered for depthwise convolutions only)",
             false;
    in_scale = in.ch_scale;
    in_offset = in.ch_offset;
  }
  int64_t qlo = in.qmin, qhi = in.qmax, qpad = 0;
  bool padded = conv && std::any_of(pads.begin(), pads.end(), [](int64_t p) { return p != 0; });
  if (conv) {
    Exact zp = -(in_offset[0] / in_scale[0]);
    bool same = true;
    for (size_t c = 0; c < in_scale.size(); ++c) same = same && -(in_offset[c] / in_scale[c]) == zp;
    if (!zp.is_integer() || !same) {
      if (padded) return *why = "real 0 (the padding) is not on the input's integer grid", false;
    } else {
      qpad = static_cast<int64_t>(zp.floor());
    }
    if (padded) {
      qlo = std::min(qlo, qpad);
      qhi = std::max(qhi, qpad);
    }
  }
  if (padded && in.bipolar) in.bipolar = false;  // padding brings zeros
  std::vector<Exact> acc_scale(static_cast<size_t>(N)), offset(static_cast<size_t>(N));
  std::vector<int64_t> lo(static_cast<size_t>(N)), hi(static_cast<size_t>(N));
  for (int64_t c = 0; c < N; ++c) {
    i128 l = 0, h = 0, sum = 0;
    for (int64_t k = 0; k < K; ++k) {
      i128 wv = ir->values[static_cast<size_t>(c * K + k)];
      i128 a = wv * qlo, b = wv * qhi;
      l += std::min(a, b);
      h += std::max(a, b);
      sum += wv;
    }
    const i128 lim = i128{1} << 61;  // thresholds bisect [lo, hi + 1] in int64
    if (l < -lim || h > lim) return *why = "accumulator beyond 61 bits", false;
    lo[static_cast<size_t>(c)] = static_cast<int64_t>(l);
    hi[static_cast<size_t>(c)] = static_cast<int64_t>(h);
    const Exact& sw = ir->scale[static_cast<size_t>(c)];
    const size_t ci = static_cast<size_t>(c);
    acc_scale[ci] = alpha * in_scale[ci] * sw;
    offset[ci] = alpha * in_offset[ci] * sw * Exact::from_int(sum) + bias[ci];
  }

  Chain ch = follow_chain(n.outputs[0], rank, axis, N);
  std::optional<Thresholds> thr;
  std::string note;
  if (ch.quantized && ch.qmax - ch.qmin <= opt_.max_threshold_levels) {
    ChainProbe cp = chain_probe(ch, n.outputs[0], rank, axis, N);
    try {
      thr = search_thresholds(cp, acc_scale, offset, lo, hi);
    } catch (const std::exception& e) {
      note = std::string("; requantization kept on the reference path: ") + e.what();
    }
  }
  std::optional<Requant> rq;
  if (ch.quantized && !thr) {
    std::string rwhy;
    rq = plan_requant(ch, n.outputs[0], rank, axis, N, acc_scale, offset, lo, hi, &rwhy);
    if (rq) {
      note.clear();
    } else {
      note = "; the " + std::to_string(ch.qmax - ch.qmin) +
             "-level requantization stays on the reference path (" + rwhy + ")" + note;
    }
  }

  // Emit IntLinear (+ thresholds) and the real value for the remaining users.
  std::vector<int64_t> wv = ir->values;
  if (thr) {
    for (int64_t c = 0; c < N; ++c) {
      if (thr->sign[static_cast<size_t>(c)] < 0) {
        for (int64_t k = 0; k < K; ++k)
          wv[static_cast<size_t>(c * K + k)] = -wv[static_cast<size_t>(c * K + k)];
      }
    }
  }
  Node L = lowered_node("IntLinear", n.name + "_int");
  L.inputs = {in.q, add_const(n.name + "_wint", Tensor::from_i64({N, K}, wv))};
  if (thr) {
    L.inputs.push_back(
        add_const(n.name + "_thresholds", Tensor::from_i64({N, thr->levels}, thr->thr)));
    L.inputs.push_back(add_const(n.name + "_base", Tensor::from_i64({N}, thr->base)));
  }
  L.attrs["kind"] = Attribute::of_string(conv ? "conv" : "gemm");
  L.attrs["in_min"] = Attribute::of_int(qlo);
  L.attrs["in_max"] = Attribute::of_int(qhi);
  L.attrs["bipolar"] = Attribute::of_int(in.bipolar ? 1 : 0);
  if (conv) {
    L.attrs["group"] = Attribute::of_int(group);
    L.attrs["kernel_shape"] = Attribute::of_ints(kshape);
    L.attrs["strides"] = Attribute::of_ints(strides);
    L.attrs["pads"] = Attribute::of_ints(pads);
    L.attrs["dilations"] = Attribute::of_ints(dil);
    L.attrs["in_pad"] = Attribute::of_int(qpad);
    L.attrs["spatial_rank"] = Attribute::of_int(w->rank() - 2);
  }
  std::string q = fresh(n.outputs[0] + "_q");
  L.outputs = {q};
  nodes_.push_back(L);
  consumed_.insert(idx);

  Node D = lowered_node("IntDequantize", n.name + "_deq");
  D.inputs = {q};
  std::string line = n.label() + ": " + std::to_string(N) + "x" + std::to_string(K) +
                     " integer weights (max |w| " + std::to_string(ir->max_abs) +
                     "), input levels [" + std::to_string(qlo) + ", " + std::to_string(qhi) + "]";
  {
    // Signed width of the widest accumulator over all channels.
    int64_t m = 0;
    for (int64_t c = 0; c < N; ++c)
      m = std::max({m, -lo[static_cast<size_t>(c)], hi[static_cast<size_t>(c)]});
    int bits = 1;
    while (bits < 63 && (int64_t{1} << (bits - 1)) <= m) ++bits;
    line += ", " + std::to_string(bits) + "-bit accumulator";
  }
  if (thr || rq) {
    const Node& qn = src_.nodes[ch.nodes.back()];
    for (size_t k : ch.nodes) consumed_.insert(k);
    if (rq) {
      q = emit_requant(*rq, q, axis, qn);
      D.inputs = {q};
    }
    D.inputs.push_back(add_const(qn.name + "_scale", channel_tensor(ch.q_scale, rank, axis)));
    D.inputs.push_back(add_const(qn.name + "_offset", channel_tensor(ch.q_offset, rank, axis)));
    D.outputs = {qn.outputs[0]};
    const bool positive = std::all_of(ch.q_scale.begin(), ch.q_scale.end(),
                                      [](const Exact& e) { return e.sign() > 0; });
    if (positive && uniform(ch.q_scale) && uniform(ch.q_offset)) {
      twins_[qn.outputs[0]] =
          Twin{q, ch.q_scale[0], ch.q_offset[0], ch.qmin, ch.qmax, ch.bipolar, {}, {}};
    } else if (positive && axis == 1) {
      twins_[qn.outputs[0]] = Twin{q,       ch.q_scale[0], ch.q_offset[0], ch.qmin,
                                   ch.qmax, ch.bipolar,    ch.q_scale,     ch.q_offset};
    }
    line += ", " +
            (thr ? std::to_string(thr->levels) + " thresholds per channel" : requant_text(*rq)) +
            " through " + std::to_string(ch.nodes.size()) + " nodes to " + qn.label();
  } else {
    // Affine ops after the layer (a final BatchNorm, scaling) fold into the dequantization.
    std::vector<size_t> tail;
    std::vector<Exact> alpha_c = acc_scale, beta_c = offset;
    if (!ch.quantized) affine_tail(ch.nodes, n.outputs[0], rank, axis, N, &tail, &alpha_c, &beta_c);
    for (size_t k : tail) consumed_.insert(k);
    D.inputs.push_back(add_const(n.name + "_acc_scale", channel_tensor(alpha_c, rank, axis)));
    D.inputs.push_back(add_const(n.name + "_acc_offset", channel_tensor(beta_c, rank, axis)));
    D.outputs = {tail.empty() ? n.outputs[0] : src_.nodes[tail.back()].outputs[0]};
    line += ", dequantized exactly" + note;
    if (!tail.empty())
      line += ", " + std::to_string(tail.size()) + " affine nodes folded into its dequantization";
  }
  nodes_.push_back(std::move(D));
  report_->lowered.push_back(line);
  return true;
}

// Add of two integer twins (residual joins): with g the rational gcd of the two
// scales, a + b = g * (na * qa + nb * qb) + (oa + ob) exactly, an integer
// accumulator like a layer's, requantized by the same threshold search when a
// quantizer follows through per-tensor monotone ops.
bool Lowerer::try_add(size_t idx) {
  const Node& n = src_.nodes[idx];
  if (n.inputs.size() != 2 || constant(n.inputs[0]) || constant(n.inputs[1])) return false;
  const Shape *sa = shape_of(n.inputs[0]), *sb = shape_of(n.inputs[1]),
              *so = shape_of(n.outputs[0]);
  if (!sa || !sb || !so || *sa != *sb || *sa != *so || so->size() < 2) return false;
  const Twin* ta = twin_of(n.inputs[0]);
  const Twin* tb = ta ? twin_of(n.inputs[1]) : nullptr;
  if (!ta || !tb || !ta->ch_scale.empty() || !tb->ch_scale.empty()) return false;
  Twin a = *ta, b = *tb;
  Exact g = rational_gcd(a.scale, b.scale);
  Exact na = a.scale / g, nb = b.scale / g;
  // Float32 scales give multipliers up to about 2^(24 + exponent gap); the sums stay well inside
  // int64.
  const i128 lim = i128{1} << 40;
  if (!na.is_integer() || !nb.is_integer() || na.floor() > lim || nb.floor() > lim) return false;
  const i128 span = na.floor() * std::max(std::abs(a.qmin), std::abs(a.qmax)) +
                    nb.floor() * std::max(std::abs(b.qmin), std::abs(b.qmax));
  if (span > (i128{1} << 61)) return false;
  int64_t ka = static_cast<int64_t>(na.floor()), kb = static_cast<int64_t>(nb.floor());
  int64_t lo = ka * a.qmin + kb * b.qmin, hi = ka * a.qmax + kb * b.qmax;
  const int rank = static_cast<int>(so->size());
  Chain ch = follow_chain(n.outputs[0], rank, 1, 1);
  std::optional<Thresholds> thr;
  if (ch.quantized && ch.qmax - ch.qmin <= opt_.max_threshold_levels) {
    ChainProbe cp = chain_probe(ch, n.outputs[0], rank, 1, 1);
    try {
      thr = search_thresholds(cp, {g}, {a.offset + b.offset}, {lo}, {hi});
    } catch (const std::exception&) {
      thr.reset();
    }
  }
  std::optional<Requant> rq;
  std::string rwhy;
  if (ch.quantized && !thr)
    rq = plan_requant(ch, n.outputs[0], rank, 1, 1, {g}, {a.offset + b.offset}, {lo}, {hi}, &rwhy);
  if (thr && thr->sign[0] < 0) {
    ka = -ka;
    kb = -kb;
  }
  Node A = lowered_node("IntAdd", n.name + "_int");
  A.inputs = {a.q, b.q};
  if (thr) {
    A.inputs.push_back(
        add_const(n.name + "_thresholds", Tensor::from_i64({thr->levels}, thr->thr)));
  }
  A.attrs["a"] = Attribute::of_int(ka);
  A.attrs["b"] = Attribute::of_int(kb);
  A.attrs["base"] = Attribute::of_int(thr ? thr->base[0] : 0);
  std::string q = fresh(n.outputs[0] + "_q");
  A.outputs = {q};
  nodes_.push_back(std::move(A));
  consumed_.insert(idx);
  Node D = lowered_node("IntDequantize", n.name + "_deq");
  D.inputs = {q};
  std::string line =
      n.label() + ": integer sum " + std::to_string(ka) + " * a + " + std::to_string(kb) + " * b";
  if (thr || rq) {
    const Node& qn = src_.nodes[ch.nodes.back()];
    for (size_t k : ch.nodes) consumed_.insert(k);
    if (rq) {
      q = emit_requant(*rq, q, 1, qn);
      D.inputs = {q};
    }
    D.inputs.push_back(add_const(qn.name + "_scale", Tensor::from_exact({}, {ch.q_scale[0]})));
    D.inputs.push_back(add_const(qn.name + "_offset", Tensor::from_exact({}, {ch.q_offset[0]})));
    D.outputs = {qn.outputs[0]};
    if (ch.q_scale[0].sign() > 0) {
      twins_[qn.outputs[0]] =
          Twin{q, ch.q_scale[0], ch.q_offset[0], ch.qmin, ch.qmax, ch.bipolar, {}, {}};
    }
    line += ", " + (thr ? std::to_string(thr->levels) + " thresholds" : requant_text(*rq)) +
            " to " + qn.label();
  } else {
    D.inputs.push_back(add_const(n.name + "_scale", Tensor::from_exact({}, {g})));
    D.inputs.push_back(
        add_const(n.name + "_offset", Tensor::from_exact({}, {a.offset + b.offset})));
    D.outputs = {n.outputs[0]};
    twins_[n.outputs[0]] = Twin{q, g, a.offset + b.offset, lo, hi, false, {}, {}};
  }
  nodes_.push_back(std::move(D));
  report_->lowered.push_back(line);
  return true;
}

// ConvTranspose on a per-tensor twin with constant weights: IntConvTranspose on the
// levels minus the level of real 0, so that every output position is
// s * w_scale[o] * acc + bias[o] exactly (border positions only receive fewer taps),
// then the same requantization as other integer sums.
bool Lowerer::try_conv_transpose(size_t idx, std::string* why) {
  const Node& n = src_.nodes[idx];
  if (n.inputs.size() < 2) return *why = "missing inputs", false;
  const Tensor* w = constant(n.inputs[1]);
  if (!w || w->type() != ElemType::kExact) return *why = "weights are not a constant", false;
  if (w->rank() != 3 && w->rank() != 4)
    return *why = "only 1-D and 2-D transposed convolutions are lowered", false;
  if (n.attr_string("auto_pad", "NOTSET") != "NOTSET")
    return *why = "auto_pad is not lowered", false;
  if (!n.attr_ints("output_shape", {}).empty()) return *why = "output_shape is not lowered", false;
  const Shape *si = shape_of(n.inputs[0]), *so = shape_of(n.outputs[0]);
  if (!si || !so || si->size() != static_cast<size_t>(w->rank()) || so->size() != si->size())
    return *why = "no inferred shapes", false;
  const int sp = w->rank() - 2;
  const size_t usp = static_cast<size_t>(sp);
  const int64_t group = n.attr_int("group", 1);
  const int64_t Cin = w->dim(0), Cg = w->dim(1), taps = sp == 2 ? w->dim(2) * w->dim(3) : w->dim(2);
  if (group < 1 || Cin % group != 0 || (*si)[1] != Cin) return *why = "weights do not match", false;
  const int64_t Cout = Cg * group, cin_g = Cin / group, K = cin_g * taps;
  auto s = n.attr_ints("strides", std::vector<int64_t>(usp, 1));
  auto d = n.attr_ints("dilations", std::vector<int64_t>(usp, 1));
  auto p = n.attr_ints("pads", std::vector<int64_t>(2 * usp, 0));
  auto op = n.attr_ints("output_padding", std::vector<int64_t>(usp, 0));
  if (s.size() != usp || d.size() != usp || p.size() != 2 * usp || op.size() != usp)
    return *why = "attributes do not match the spatial rank", false;
  for (size_t a = 0; a < usp; ++a) {  // the shape the integer op computes
    const int64_t k = w->dim(static_cast<int>(a) + 2);
    const int64_t out = ((*si)[a + 2] - 1) * s[a] + (k - 1) * d[a] + 1 + op[a] - p[a] - p[a + usp];
    if (out != (*so)[a + 2]) return *why = "unexpected output shape", false;
  }
  // Rows per output channel: the weights reaching it, in the op's (i, tap) order.
  std::vector<Exact> rows(static_cast<size_t>(Cout * K));
  for (int64_t o = 0; o < Cout; ++o) {
    const int64_t g = o / Cg, ol = o % Cg;
    for (int64_t il = 0; il < cin_g; ++il)
      for (int64_t t = 0; t < taps; ++t)
        rows[static_cast<size_t>(o * K + il * taps + t)] =
            w->exact()[static_cast<size_t>(((g * cin_g + il) * Cg + ol) * taps + t)];
  }
  std::vector<Exact> bias(static_cast<size_t>(Cout), Exact::from_int(0));
  if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
    const Tensor* b = constant(n.inputs[2]);
    if (!b || b->size() != Cout) return *why = "bias is not a constant per channel", false;
    bias = b->to(ElemType::kExact).exact();
  }
  auto ir = integer_rows(rows, Cout, K, 31, why);
  if (!ir) return false;
  const Twin* tw = twin_of(n.inputs[0]);
  if (!tw) return *why = "its input is not quantized with a per-tensor scale", false;
  if (!tw->ch_scale.empty()) return *why = "its input has per-channel scales", false;
  const Twin in = *tw;
  const Exact zl = -(in.offset / in.scale);
  if (!zl.is_integer()) return *why = "real 0 is not on the input's integer grid", false;
  const int64_t z = static_cast<int64_t>(zl.floor());
  const i128 a = i128{in.qmin} - z, b = i128{in.qmax} - z;
  std::vector<Exact> acc_scale(static_cast<size_t>(Cout));
  std::vector<int64_t> lo(static_cast<size_t>(Cout)), hi(static_cast<size_t>(Cout));
  const i128 lim = i128{1} << 61;
  for (int64_t o = 0; o < Cout; ++o) {
    i128 l = 0, h = 0;  // an output may receive any subset of the taps: 0 is in range
    for (int64_t k = 0; k < K; ++k) {
      const i128 wv = ir->values[static_cast<size_t>(o * K + k)];
      l += std::min({i128{0}, wv * a, wv * b});
      h += std::max({i128{0}, wv * a, wv * b});
    }
    if (l < -lim || h > lim) return *why = "accumulator beyond 61 bits", false;
    lo[static_cast<size_t>(o)] = static_cast<int64_t>(l);
    hi[static_cast<size_t>(o)] = static_cast<int64_t>(h);
    acc_scale[static_cast<size_t>(o)] = in.scale * ir->scale[static_cast<size_t>(o)];
  }
  // Integer weights back in ONNX's (Cin, Cout / group, taps) layout.
  std::vector<int64_t> wint(static_cast<size_t>(Cin * Cg * taps));
  for (int64_t o = 0; o < Cout; ++o) {
    const int64_t g = o / Cg, ol = o % Cg;
    for (int64_t il = 0; il < cin_g; ++il)
      for (int64_t t = 0; t < taps; ++t)
        wint[static_cast<size_t>(((g * cin_g + il) * Cg + ol) * taps + t)] =
            ir->values[static_cast<size_t>(o * K + il * taps + t)];
  }
  Node T = lowered_node("IntConvTranspose", n.name + "_int");
  Shape wshape(w->shape().begin(), w->shape().end());
  T.inputs = {in.q, add_const(n.name + "_wint", Tensor::from_i64(wshape, wint))};
  T.attrs["strides"] = Attribute::of_ints(s);
  T.attrs["dilations"] = Attribute::of_ints(d);
  T.attrs["pads"] = Attribute::of_ints(p);
  T.attrs["output_padding"] = Attribute::of_ints(op);
  T.attrs["group"] = Attribute::of_int(group);
  T.attrs["input_zero"] = Attribute::of_int(z);
  T.outputs = {fresh(n.outputs[0] + "_q")};
  const std::string acc = T.outputs[0];
  nodes_.push_back(std::move(T));
  consumed_.insert(idx);
  report_->lowered.push_back(
      n.label() + ": " + std::to_string(Cout) + "x" + std::to_string(K) +
      " integer weights (max |w| " + std::to_string(ir->max_abs) + "), transposed, " +
      requantize_acc(n, acc, acc_scale, bias, lo, hi, n.outputs[0], static_cast<int>(si->size())));
  return true;
}

// AveragePool / GlobalAveragePool on a per-tensor twin x = s * q + o, without
// padding: the window sum of the levels is an integer twin of the average with scale
// s / taps (IntSumPool), which a following chain (Trunc, Quant ...) requantizes.
bool Lowerer::try_pool(size_t idx, std::string* why) {
  const Node& n = src_.nodes[idx];
  const bool global = n.op_type == "GlobalAveragePool";
  const Shape *si = shape_of(n.inputs[0]), *so = shape_of(n.outputs[0]);
  if (!si || !so || (si->size() != 3 && si->size() != 4) || so->size() != si->size())
    return *why = "only 1-D and 2-D pooling is lowered", false;
  const int sp = static_cast<int>(si->size()) - 2;
  const size_t usp = static_cast<size_t>(sp);
  std::vector<int64_t> k(si->begin() + 2, si->end()), s(usp, 1), pads(2 * usp, 0);
  if (!global) {
    const std::string ap = n.attr_string("auto_pad", "NOTSET");
    if (ap != "NOTSET" && ap != "VALID") return *why = "auto_pad " + ap + " is not lowered", false;
    k = n.attr_ints("kernel_shape", {});
    s = n.attr_ints("strides", s);
    if (ap == "NOTSET") pads = n.attr_ints("pads", pads);
    auto dil = n.attr_ints("dilations", std::vector<int64_t>(usp, 1));
    if (k.size() != usp || s.size() != usp || pads.size() != 2 * usp)
      return *why = "kernel_shape/strides/pads do not match the input", false;
    // count_include_pad = 1 divides by the full window, padded taps reading real 0.
    const bool padded = std::any_of(pads.begin(), pads.end(), [](int64_t p) { return p != 0; });
    if (padded && n.attr_int("count_include_pad", 0) == 0)
      return *why = "padding without count_include_pad averages fewer taps at borders", false;
    if (std::any_of(dil.begin(), dil.end(), [](int64_t d) { return d != 1; }))
      return *why = "dilated average pooling is not lowered", false;
  }
  // Full windows only: ceil_mode's partial windows would average fewer taps.
  int64_t taps = 1;
  for (size_t d = 0; d < usp; ++d) {
    const int64_t in = (*si)[d + 2] + pads[d] + pads[d + usp];
    if (k[d] < 1 || s[d] < 1 || k[d] > in || pads[d] < 0 || pads[d + usp] < 0 ||
        (*so)[d + 2] != (in - k[d]) / s[d] + 1)
      return *why = "the pooling has partial windows (ceil_mode) or an unexpected shape", false;
    taps *= k[d];
  }
  const Twin* tw = twin_of(n.inputs[0]);
  if (!tw) return *why = "its input is not quantized with a per-tensor scale", false;
  Twin in = *tw;
  // Per-channel twins (axis 1, e.g. after a depthwise layer) pool channel by channel.
  std::vector<Exact> sc = in.ch_scale.empty() ? std::vector<Exact>{in.scale} : in.ch_scale,
                     oc = in.ch_scale.empty() ? std::vector<Exact>{in.offset} : in.ch_offset;
  if (static_cast<int64_t>(sc.size()) != 1 && static_cast<int64_t>(sc.size()) != (*si)[1])
    return *why = "its per-channel scales do not match the channels", false;
  int64_t qlo = in.qmin, qhi = in.qmax, qpad = 0;
  if (std::any_of(pads.begin(), pads.end(), [](int64_t p) { return p != 0; })) {
    const Exact zl = -(oc[0] / sc[0]);
    if (sc.size() != 1 || !zl.is_integer())
      return *why = "real 0 (the padding) is not on the input's integer grid", false;
    qpad = static_cast<int64_t>(zl.floor());
    qlo = std::min(qlo, qpad);
    qhi = std::max(qhi, qpad);
  }
  for (auto& v : sc) v = v / Exact::from_int(taps);
  const i128 lo = i128{taps} * qlo, hi = i128{taps} * qhi;
  if (lo < -(i128{1} << 61) || hi > (i128{1} << 61)) return *why = "sums beyond 61 bits", false;
  Node P = lowered_node("IntSumPool", n.name + "_int");
  P.inputs = {in.q};
  P.attrs["kernel_shape"] = Attribute::of_ints(k);
  P.attrs["strides"] = Attribute::of_ints(s);
  P.attrs["pads"] = Attribute::of_ints(pads);
  P.attrs["pad_value"] = Attribute::of_int(qpad);
  P.outputs = {fresh(n.outputs[0] + "_q")};
  const std::string sum = P.outputs[0];
  nodes_.push_back(std::move(P));
  consumed_.insert(idx);
  std::string line =
      n.label() + ": integer window sums of " + std::to_string(taps) + " levels (scale / " +
      std::to_string(taps) + "), " +
      requantize_acc(n, sum, sc, oc, std::vector<int64_t>(sc.size(), static_cast<int64_t>(lo)),
                     std::vector<int64_t>(sc.size(), static_cast<int64_t>(hi)), n.outputs[0],
                     static_cast<int>(si->size()));
  report_->lowered.push_back(line);
  return true;
}

// Concat of per-tensor twins: with g the rational gcd of the scales, input i's
// levels times s_i / g (an integer, IntScale) are levels of scale g, so the plain
// Concat of the aligned levels is the twin of the output. The offsets (zero
// points times scales) must be equal. The original node stays for reference users.
bool Lowerer::try_concat(size_t idx, std::string* why) {
  const Node& n = src_.nodes[idx];
  if (n.outputs.size() != 1 || n.inputs.empty()) return *why = "unexpected arity", false;
  std::vector<Twin> ts;
  for (const auto& in : n.inputs) {
    if (in.empty() || constant(in)) return *why = "an input is a constant", false;
    const Twin* t = twin_of(in);
    if (!t) return *why = "input '" + in + "' is not quantized with a per-tensor scale", false;
    if (!t->ch_scale.empty()) return *why = "input '" + in + "' has per-channel scales", false;
    ts.push_back(*t);
  }
  Exact g = ts[0].scale;
  for (const Twin& t : ts) g = rational_gcd(g, t.scale);
  Twin out{"", g, ts[0].offset, 0, 0, true, {}, {}};
  std::vector<std::string> ins;
  std::string mults;
  for (size_t i = 0; i < ts.size(); ++i) {
    const Twin& t = ts[i];
    if (!(t.offset == ts[0].offset))
      return *why = "the inputs' offsets (zero point times scale) differ", false;
    const Exact m = t.scale / g;
    if (!m.is_integer() || m.floor() > (i128{1} << 40))
      return *why = "the scales are too far apart to align in integers", false;
    const int64_t k = static_cast<int64_t>(m.floor());
    const i128 a = i128{k} * t.qmin, b = i128{k} * t.qmax;
    if (a < -(i128{1} << 61) || b > (i128{1} << 61))
      return *why = "aligned levels beyond 61 bits", false;
    out.qmin = i == 0 ? static_cast<int64_t>(a) : std::min(out.qmin, static_cast<int64_t>(a));
    out.qmax = i == 0 ? static_cast<int64_t>(b) : std::max(out.qmax, static_cast<int64_t>(b));
    out.bipolar = out.bipolar && t.bipolar && k == 1;
    mults += (i ? ", " : "") + std::to_string(k);
    if (k == 1) {
      ins.push_back(t.q);
      continue;
    }
    Node S = lowered_node("IntScale", n.name + "_int");
    S.inputs = {t.q};
    S.attrs["multiplier"] = Attribute::of_int(k);
    S.outputs = {fresh(n.inputs[i] + "_aligned")};
    ins.push_back(S.outputs[0]);
    int_extra_.insert(S.outputs[0]);
    nodes_.push_back(std::move(S));
  }
  Node c = n;
  c.name = fresh(n.name + "_int");
  c.inputs = ins;
  c.outputs = {fresh(n.outputs[0] + "_q")};
  out.q = c.outputs[0];
  nodes_.push_back(std::move(c));
  twins_[n.outputs[0]] = out;
  report_->lowered.push_back(
      n.label() + ": concatenation of integer levels aligned to the common scale (multipliers " +
      mults + "), levels [" + std::to_string(out.qmin) + ", " + std::to_string(out.qmax) + "]");
  return true;
}

void Lowerer::finish() {
  // Drop nodes no output depends on (the fused originals' leftovers).
  std::set<std::string> live;
  for (const auto& o : src_.outputs) live.insert(o.name);
  std::vector<bool> keep(nodes_.size(), false);
  for (size_t i = nodes_.size(); i-- > 0;) {
    const Node& n = nodes_[i];
    bool used = std::any_of(n.outputs.begin(), n.outputs.end(),
                            [&](const std::string& o) { return live.count(o); });
    if (!used) continue;
    keep[i] = true;
    for (const auto& in : n.inputs) live.insert(in);
  }
  std::vector<Node> kept;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (keep[i]) kept.push_back(std::move(nodes_[i]));
  }
  out_->nodes = std::move(kept);
  for (auto it = out_->initializers.begin(); it != out_->initializers.end();) {
    it = live.count(it->first) ? std::next(it) : out_->initializers.erase(it);
  }
  out_->folded[0].clear();
  out_->folded[1].clear();
  out_->value_info.clear();
  verify(*out_);
  infer_shapes_and_types(*out_, Mode::kExact);
  std::set<std::string> int_values;
  for (const auto& [name, t] : twins_) int_values.insert(t.q);
  int_values.insert(int_extra_.begin(), int_extra_.end());
  for (const Node& n : out_->nodes) {
    if (op_family(n.domain) == OpFamily::kLowered ||
        out_->folded[1].count(n.outputs.empty() ? "" : n.outputs[0])) {
      continue;
    }
    static const std::set<std::string> linear = {"MatMul", "Gemm", "Conv"};
    // Shape ops and max pooling replayed on integer levels are part of the integer path.
    if (!n.inputs.empty() && int_values.count(n.inputs[0])) continue;
    if (linear.count(n.op_type)) continue;
    auto w = n.outputs.empty() ? why_left_.end() : why_left_.find(n.outputs[0]);
    report_->left.push_back(n.label() + ": " +
                            (w == why_left_.end() ? "reference path" : w->second));
  }
}

}  // namespace

std::shared_ptr<Graph> lower_to_integers(const Graph& graph, const LowerOptions& options,
                                         LowerReport* report) {
  LowerReport local;
  return Lowerer(graph, options, report ? report : &local).run();
}

}  // namespace bitsmith
