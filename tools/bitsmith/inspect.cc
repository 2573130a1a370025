// `bitsmith inspect MODEL [--json]`: the graph with its types, then each layer
// with weights (Conv, ConvTranspose, Gemm, MatMul): parameter counts and the bit
// widths of the Quant nodes feeding its weight and bias, and the totals.
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "cli.h"
#include "json.h"
#include "onnx/import.h"
#include "runtime/engine.h"

namespace bitsmith::cli {
namespace {

struct Param {
  std::string value;  // the value feeding the layer ("" when absent)
  Shape shape;
  int64_t count = 0;
  std::string qtype = "FLOAT32";
  std::optional<int> bits;  // a single bit width; empty when unknown or mixed
  std::string quant_node;   // the Quant node that sets it, if any
};

struct Layer {
  const Node* node;
  Param weight, bias;
  std::string input_qtype, output_qtype;
};

const std::set<std::string> kLayerOps = {"Conv", "ConvTranspose", "Gemm", "MatMul"};
// Ops that move or reshape a weight without changing its values.
const std::set<std::string> kPassThrough = {"Transpose", "Reshape", "Identity",
                                            "Flatten",   "Squeeze", "Unsqueeze"};

bool is_quant(const Node& n) {
  return n.op_type == "Quant" || n.op_type == "IntQuant" || n.op_type == "BipolarQuant";
}

class Analyzer {
 public:
  explicit Analyzer(const Graph& g) : g_(g) {
    for (const Node& n : g.nodes) {
      for (const auto& o : n.outputs) producer_[o] = &n;
      for (const auto& i : n.inputs) consumers_[i].push_back(&n);
    }
  }

  std::string qtype_of(const std::string& value) const {
    if (auto a = g_.annotations.find(value); a != g_.annotations.end()) return a->second.name();
    if (auto v = g_.value_info.find(value); v != g_.value_info.end()) return v->second.dtype.name();
    return DataType().name();
  }

  Shape shape_of(const std::string& value) const {
    if (const Tensor* t = g_.initializer(value)) return t->shape();
    if (auto v = g_.value_info.find(value); v != g_.value_info.end()) return v->second.shape;
    return {};
  }

  Param param(const std::string& value) const {
    Param p;
    p.value = value;
    if (value.empty()) return p;
    p.shape = shape_of(value);
    p.count = 1;
    for (int64_t d : p.shape) p.count *= d < 0 ? 1 : d;
    p.qtype = qtype_of(value);
    // Walk back through layout ops to the Quant that sets the bit width.
    std::string v = value;
    for (int hops = 0; hops < 8; ++hops) {
      auto it = producer_.find(v);
      if (it == producer_.end()) break;
      const Node& n = *it->second;
      if (is_quant(n)) {
        p.quant_node = n.name;
        p.qtype = qtype_of(n.outputs[0]);
        if (n.op_type == "BipolarQuant") {
          p.bits = 1;
        } else if (n.inputs.size() > 3) {
          p.bits = uniform_bits(n.inputs[3]);
        }
        return p;
      }
      if (!kPassThrough.count(n.op_type) || n.inputs.empty()) break;
      v = n.inputs[0];
    }
    DataType t = DataType::parse(p.qtype);
    p.bits = t.bits();
    return p;
  }

  std::vector<Layer> layers() const {
    std::vector<Layer> out;
    for (const Node& n : g_.nodes) {
      if (!kLayerOps.count(n.op_type) || n.inputs.size() < 2) continue;
      Layer l{&n, param(n.inputs[1]), Param{}, qtype_of(n.inputs[0]), qtype_of(n.outputs[0])};
      if (n.op_type != "MatMul" && n.inputs.size() > 2) l.bias = param(n.inputs[2]);
      if (n.op_type == "MatMul") {
        // Exporters write Linear as MatMul followed by Add of a constant bias.
        auto c = consumers_.find(n.outputs[0]);
        if (c != consumers_.end() && c->second.size() == 1 && c->second[0]->op_type == "Add") {
          const Node& add = *c->second[0];
          const std::string& other = add.inputs[0] == n.outputs[0] ? add.inputs[1] : add.inputs[0];
          if (is_constant(other)) {
            l.bias = param(other);
            l.output_qtype = qtype_of(add.outputs[0]);
          }
        }
      }
      out.push_back(l);
    }
    return out;
  }

 private:
  // A value computed from initializers only (a weight, or a quantized weight).
  bool is_constant(const std::string& v, int depth = 0) const {
    if (g_.initializer(v)) return true;
    auto it = producer_.find(v);
    if (it == producer_.end() || depth > 8) return false;
    for (const auto& in : it->second->inputs) {
      if (!in.empty() && !is_constant(in, depth + 1)) return false;
    }
    return true;
  }

  std::optional<int> uniform_bits(const std::string& v) const {
    const Tensor* t = g_.initializer(v);
    if (!t || t->size() == 0) return std::nullopt;
    double b = t->as_double(0);
    for (int64_t i = 1; i < t->size(); ++i) {
      if (t->as_double(i) != b) return std::nullopt;
    }
    return static_cast<int>(b);
  }

  const Graph& g_;
  std::map<std::string, const Node*> producer_;
  std::map<std::string, std::vector<const Node*>> consumers_;
};

struct Totals {
  int64_t weights = 0, biases = 0, bits = 0;
  bool bits_known = true;
};

Totals totals_of(const std::vector<Layer>& layers) {
  Totals t;
  for (const Layer& l : layers) {
    t.weights += l.weight.count;
    t.biases += l.bias.count;
    for (const Param* p : {&l.weight, &l.bias}) {
      if (p->count == 0) continue;
      if (p->bits) {
        t.bits += p->count * *p->bits;
      } else {
        t.bits_known = false;
      }
    }
  }
  return t;
}

void json_shape(Json& j, const Shape& s) {
  j.begin_array();
  for (int64_t d : s) {
    if (d < 0) {
      j.null();
    } else {
      j.value(d);
    }
  }
  j.end_array();
}

void json_param(Json& j, const Param& p) {
  j.begin_object();
  j.key("value").value(p.value);
  j.key("shape");
  json_shape(j, p.shape);
  j.key("params").value(p.count);
  j.key("qtype").value(p.qtype);
  j.key("bits");
  if (p.bits) {
    j.value(*p.bits);
  } else {
    j.null();
  }
  j.key("quant_node").value(p.quant_node);
  j.end_object();
}

void json_value(Json& j, const Graph& g, const ValueInfo& v) {
  auto it = g.value_info.find(v.name);
  const ValueInfo& info = it != g.value_info.end() ? it->second : v;
  j.begin_object();
  j.key("name").value(v.name);
  j.key("shape");
  if (v.has_shape) {
    json_shape(j, v.shape);
  } else {
    j.null();
  }
  j.key("dtype").value(elem_type_name(info.elem));
  j.key("qtype").value((v.dtype == DataType() ? info.dtype : v.dtype).name());
  j.end_object();
}

void print_json(const Graph& g, const std::vector<Layer>& layers) {
  Json j;
  j.begin_object();
  j.key("source").value(g.source);
  j.key("graph").value(g.name);
  j.key("opsets").begin_object();
  for (const auto& [d, v] : g.opsets) j.key(d.empty() ? "ai.onnx" : d).value(v);
  j.end_object();
  j.key("inputs").begin_array();
  for (const auto& v : g.inputs) json_value(j, g, v);
  j.end_array();
  j.key("outputs").begin_array();
  for (const auto& v : g.outputs) json_value(j, g, v);
  j.end_array();
  j.key("nodes").begin_array();
  for (const Node& n : g.nodes) {
    j.begin_object();
    j.key("name").value(n.name);
    j.key("op_type").value(n.op_type);
    j.key("domain").value(n.domain);
    j.key("inputs").begin_array();
    for (const auto& i : n.inputs) j.value(i);
    j.end_array();
    j.key("outputs").begin_array();
    for (const auto& o : n.outputs) {
      auto it = g.value_info.find(o);
      ValueInfo v =
          it != g.value_info.end() ? it->second : ValueInfo{o, ElemType::kFloat32, {}, false, {}};
      v.name = o;
      json_value(j, g, v);
    }
    j.end_array();
    j.end_object();
  }
  j.end_array();
  j.key("layers").begin_array();
  for (const Layer& l : layers) {
    j.begin_object();
    j.key("name").value(l.node->name);
    j.key("op_type").value(l.node->op_type);
    j.key("params").value(l.weight.count + l.bias.count);
    j.key("weight");
    json_param(j, l.weight);
    j.key("bias");
    if (l.bias.value.empty()) {
      j.null();
    } else {
      json_param(j, l.bias);
    }
    j.key("input_qtype").value(l.input_qtype);
    j.key("output_qtype").value(l.output_qtype);
    j.end_object();
  }
  j.end_array();
  Totals t = totals_of(layers);
  int64_t init_params = 0;
  for (const auto& [k, v] : g.initializers) init_params += v.size();
  j.key("totals").begin_object();
  j.key("nodes").value(g.nodes.size());
  j.key("layers").value(layers.size());
  j.key("params").value(t.weights + t.biases);
  j.key("weight_params").value(t.weights);
  j.key("bias_params").value(t.biases);
  j.key("parameter_bits");
  if (t.bits_known) {
    j.value(t.bits);
  } else {
    j.null();
  }
  j.key("initializer_elements").value(init_params);
  j.end_object();
  j.end_object();
  std::cout << j.str() << "\n";
}

std::string bits_str(const Param& p) {
  if (p.value.empty()) return "-";
  if (!p.bits) return "mixed";
  return std::to_string(*p.bits);
}

void print_text(const Graph& g, const std::vector<Layer>& layers) {
  std::cout << print(g);
  std::cout << "\nlayers (" << layers.size() << ")\n";
  if (!layers.empty()) {
    std::vector<std::vector<std::string>> rows = {
        {"name", "op", "weight", "params", "w bits", "w type", "b bits", "in type", "out type"}};
    for (const Layer& l : layers) {
      rows.push_back({l.node->name, l.node->op_type, shape_str(l.weight.shape),
                      std::to_string(l.weight.count + l.bias.count), bits_str(l.weight),
                      l.weight.qtype, bits_str(l.bias), l.input_qtype, l.output_qtype});
    }
    std::vector<size_t> width(rows[0].size(), 0);
    for (const auto& r : rows) {
      for (size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
    }
    for (const auto& r : rows) {
      std::string line = " ";
      for (size_t c = 0; c < r.size(); ++c) {
        line += " " + r[c];
        if (c + 1 < r.size()) line += std::string(width[c] - r[c].size(), ' ');
      }
      std::cout << line << "\n";
    }
  }
  Totals t = totals_of(layers);
  std::cout << "\ntotal: " << layers.size() << (layers.size() == 1 ? " layer, " : " layers, ")
            << (t.weights + t.biases) << " parameters (" << t.weights << " weights, " << t.biases
            << " biases)";
  if (t.bits_known) {
    std::cout << ", " << t.bits << " bits (" << (t.bits + 7) / 8 << " bytes)";
  } else {
    std::cout << ", bit total unknown (mixed widths)";
  }
  std::cout << "\n";
}

int run_inspect(const std::vector<std::string>& argv) {
  Args args = parse_args(argv, {{"--json", false}, {"--lowered", false}});
  if (args.help) {
    std::cout
        << "usage: bitsmith inspect MODEL [--json] [--lowered]\n\n"
           "Lists the graph with the type of every value, then each layer with weights\n"
           "(Conv, ConvTranspose, Gemm, MatMul): parameter counts and the bit widths of\n"
           "the Quant nodes feeding its weight and bias, and the totals.\n\n"
           "options:\n"
           "  --json      machine-readable output\n"
           "  --lowered   the integer graph the fast engine runs: each fused layer with its\n"
           "              integer ranges, accumulator width and kernel inputs, and every node\n"
           "              left to the reference path with the reason\n"
           "  -h, --help  this text\n";
    return 0;
  }
  if (args.positional.size() != 1) {
    throw UsageError(args.positional.empty() ? "missing the MODEL argument"
                                             : "takes exactly one MODEL argument");
  }
  std::shared_ptr<Graph> g = load_model_file(args.positional[0]);
  if (args.has("--lowered")) {
    CompiledModel model(g);
    const LowerReport& r = model.report();
    if (args.has("--json")) {
      Json j;
      j.begin_object();
      j.key("model").value(g->source);
      j.key("lowered").begin_array();
      for (const auto& line : r.lowered) j.value(line);
      j.end_array();
      j.key("reference_path").begin_array();
      for (const auto& line : r.left) j.value(line);
      j.end_array();
      j.key("graph").value(print(model.lowered()));
      j.end_object();
      std::cout << j.str() << "\n";
    } else {
      std::cout << print(model.lowered()) << "\nfused integer layers:\n";
      for (const auto& line : r.lowered) std::cout << "  " << line << "\n";
      std::cout << "left to the reference path:\n";
      for (const auto& line : r.left) std::cout << "  " << line << "\n";
      if (r.left.empty()) std::cout << "  (none)\n";
    }
    return 0;
  }
  std::vector<Layer> layers = Analyzer(*g).layers();
  if (args.has("--json")) {
    print_json(*g, layers);
  } else {
    print_text(*g, layers);
  }
  return 0;
}

const CommandRegistrar kInspect({"inspect",
                                 "show the graph, its types, per-layer parameters and bit widths",
                                 run_inspect, 10});

}  // namespace
}  // namespace bitsmith::cli
