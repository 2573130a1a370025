#include "ir/graph.h"

#include <functional>
#include <set>
#include <sstream>

namespace bitsmith {

OpFamily op_family(const std::string& domain) {
  if (domain.empty() || domain == "ai.onnx") return OpFamily::kOnnx;
  if (domain == "qonnx.custom_op.general" || domain == "onnx.brevitas" ||
      domain == "finn.custom_op.general" || domain == "finn") {
    return OpFamily::kQonnx;
  }
  if (domain == "qonnx.custom_op.channels_last" || domain == "finn.custom_op.channels_last") {
    return OpFamily::kChannelsLast;
  }
  if (domain == kLoweredDomain) return OpFamily::kLowered;
  return OpFamily::kUnknown;
}

std::string Node::label() const {
  return "node '" + name + "' (" + op_type + ")";
}

static const char* attr_type_name(Attribute::Type t) {
  switch (t) {
    case Attribute::Type::kInt:
      return "int";
    case Attribute::Type::kFloat:
      return "float";
    case Attribute::Type::kString:
      return "string";
    case Attribute::Type::kInts:
      return "ints";
    case Attribute::Type::kFloats:
      return "floats";
    case Attribute::Type::kStrings:
      return "strings";
    case Attribute::Type::kTensor:
      return "tensor";
  }
  return "?";
}

static const Attribute* get_attr(const Node& n, const std::string& key, Attribute::Type want,
                                 bool required) {
  auto it = n.attrs.find(key);
  if (it == n.attrs.end()) {
    if (required) fail(ErrorKind::kInvalidModel, n.label() + ": missing attribute '" + key + "'");
    return nullptr;
  }
  if (it->second.type != want) {
    fail(ErrorKind::kInvalidModel, n.label() + ": attribute '" + key + "' should be " +
                                       attr_type_name(want) + ", got " +
                                       attr_type_name(it->second.type));
  }
  return &it->second;
}

int64_t Node::attr_int(const std::string& key, int64_t fallback) const {
  const Attribute* a = get_attr(*this, key, Attribute::Type::kInt, false);
  return a ? a->i : fallback;
}
int64_t Node::attr_int(const std::string& key) const {
  return get_attr(*this, key, Attribute::Type::kInt, true)->i;
}
float Node::attr_float(const std::string& key, float fallback) const {
  const Attribute* a = get_attr(*this, key, Attribute::Type::kFloat, false);
  return a ? a->f : fallback;
}
std::string Node::attr_string(const std::string& key, const std::string& fallback) const {
  const Attribute* a = get_attr(*this, key, Attribute::Type::kString, false);
  return a ? a->s : fallback;
}
std::string Node::attr_string(const std::string& key) const {
  return get_attr(*this, key, Attribute::Type::kString, true)->s;
}
std::vector<int64_t> Node::attr_ints(const std::string& key, std::vector<int64_t> fallback) const {
  const Attribute* a = get_attr(*this, key, Attribute::Type::kInts, false);
  return a ? a->ints : fallback;
}
std::vector<float> Node::attr_floats(const std::string& key, std::vector<float> fallback) const {
  const Attribute* a = get_attr(*this, key, Attribute::Type::kFloats, false);
  return a ? a->floats : fallback;
}
const Tensor* Node::attr_tensor(const std::string& key) const {
  const Attribute* a = get_attr(*this, key, Attribute::Type::kTensor, false);
  return a ? a->t.get() : nullptr;
}

const ValueInfo* Graph::find_value(const std::string& value) const {
  auto it = value_info.find(value);
  if (it != value_info.end()) return &it->second;
  for (const auto& v : inputs) {
    if (v.name == value) return &v;
  }
  for (const auto& v : outputs) {
    if (v.name == value) return &v;
  }
  return nullptr;
}

const Tensor* Graph::initializer(const std::string& value) const {
  auto it = initializers.find(value);
  return it == initializers.end() ? nullptr : &it->second;
}

int64_t Graph::declared_batch() const {
  if (inputs.empty() || !inputs[0].has_shape || inputs[0].shape.empty()) return 1;
  return inputs[0].shape[0] > 0 ? inputs[0].shape[0] : 1;
}

void Graph::fail_at(const Node& node, ErrorKind kind, const std::string& reason) const {
  fail(kind, where(source, node.name, node.op_type) + ": " + reason);
}

void verify(Graph& g) {
  std::map<std::string, size_t> producer;
  std::set<std::string> available;
  for (const auto& v : g.inputs) available.insert(v.name);
  for (const auto& [k, v] : g.initializers) available.insert(k);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    for (const auto& out : g.nodes[i].outputs) {
      if (out.empty()) continue;
      if (producer.count(out) || available.count(out)) {
        g.fail_at(g.nodes[i], ErrorKind::kInvalidModel, "value '" + out + "' is produced twice");
      }
      producer[out] = i;
    }
  }
  for (const auto& n : g.nodes) {
    for (const auto& in : n.inputs) {
      if (!in.empty() && !available.count(in) && !producer.count(in)) {
        g.fail_at(n, ErrorKind::kInvalidModel,
                  "input '" + in + "' is neither a graph input, an initializer nor a node output");
      }
    }
  }
  for (const auto& o : g.outputs) {
    if (!available.count(o.name) && !producer.count(o.name)) {
      fail(ErrorKind::kInvalidModel,
           g.source + ": graph output '" + o.name + "' is not produced by any node");
    }
  }
  // Depth-first topological sort with cycle detection.
  std::vector<int> state(g.nodes.size(), 0);  // 0 new, 1 visiting, 2 done
  std::vector<Node> order;
  order.reserve(g.nodes.size());
  std::function<void(size_t)> visit = [&](size_t i) {
    if (state[i] == 2) return;
    if (state[i] == 1) g.fail_at(g.nodes[i], ErrorKind::kInvalidModel, "the graph has a cycle");
    state[i] = 1;
    for (const auto& in : g.nodes[i].inputs) {
      auto it = producer.find(in);
      if (it != producer.end()) visit(it->second);
    }
    state[i] = 2;
    order.push_back(g.nodes[i]);
  };
  for (size_t i = 0; i < g.nodes.size(); ++i) visit(i);
  g.nodes = std::move(order);
}

static std::string value_str(const Graph& g, const std::string& name) {
  const ValueInfo* v = g.find_value(name);
  std::string s = name;
  if (v && v->has_shape) s += ":" + shape_str(v->shape);
  if (v && v->dtype.kind() != DataType::Kind::kFloat32) s += ":" + v->dtype.name();
  return s;
}

std::string print(const Graph& g) {
  std::ostringstream os;
  os << "graph " << (g.name.empty() ? "<unnamed>" : g.name) << " (" << g.source << ")\n";
  os << "opsets:";
  for (const auto& [d, v] : g.opsets) os << " " << (d.empty() ? "ai.onnx" : d) << "=" << v;
  os << "\n";
  for (const auto& v : g.inputs) os << "input  " << value_str(g, v.name) << "\n";
  for (const auto& [k, t] : g.initializers) {
    os << "const  " << k << " " << shape_str(t.shape()) << " " << elem_type_name(t.type()) << "\n";
  }
  for (const auto& n : g.nodes) {
    os << n.name << " = " << n.op_type;
    if (!n.domain.empty()) os << "[" << n.domain << " v" << n.version << "]";
    os << "(";
    for (size_t i = 0; i < n.inputs.size(); ++i) os << (i ? ", " : "") << n.inputs[i];
    os << ")";
    for (const auto& [k, a] : n.attrs) {
      os << " " << k << "=";
      switch (a.type) {
        case Attribute::Type::kInt:
          os << a.i;
          break;
        case Attribute::Type::kFloat:
          os << a.f;
          break;
        case Attribute::Type::kString:
          os << '"' << a.s << '"';
          break;
        case Attribute::Type::kInts:
          os << "[";
          for (size_t i = 0; i < a.ints.size(); ++i) os << (i ? "," : "") << a.ints[i];
          os << "]";
          break;
        case Attribute::Type::kFloats:
          os << "[";
          for (size_t i = 0; i < a.floats.size(); ++i) os << (i ? "," : "") << a.floats[i];
          os << "]";
          break;
        case Attribute::Type::kStrings:
          os << "[" << a.strings.size() << " strings]";
          break;
        case Attribute::Type::kTensor:
          os << "tensor" << shape_str(a.t->shape());
          break;
      }
    }
    os << " -> ";
    for (size_t i = 0; i < n.outputs.size(); ++i)
      os << (i ? ", " : "") << value_str(g, n.outputs[i]);
    os << "\n";
  }
  for (const auto& v : g.outputs) os << "output " << value_str(g, v.name) << "\n";
  return os.str();
}

}  // namespace bitsmith
