#include "onnx/import.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"
#include "onnx/onnx_pb.h"
#include "onnx/tensor_proto.h"
#include "ops/registry.h"
#include "runtime/session.h"

namespace bitsmith {
namespace {

ElemType value_elem_type(int dt, const std::string& what) {
  if (dt == onnx::TensorProto::FLOAT) return ElemType::kFloat32;
  if (dt == onnx::TensorProto::INT64) return ElemType::kInt64;
  fail(ErrorKind::kUnsupported,
       what + ": element type " +
           onnx::TensorProto::DataType_Name(static_cast<onnx::TensorProto::DataType>(dt)) +
           " is not supported (graph inputs and outputs must be float32 or int64)");
}

ValueInfo value_from_proto(const onnx::ValueInfoProto& p, const std::string& what) {
  ValueInfo v;
  v.name = p.name();
  if (!p.has_type() || !p.type().has_tensor_type()) {
    fail(ErrorKind::kUnsupported, what + " '" + p.name() + "' is not a tensor");
  }
  const auto& tt = p.type().tensor_type();
  v.elem = value_elem_type(tt.elem_type(), what + " '" + p.name() + "'");
  if (tt.has_shape()) {
    v.has_shape = true;
    for (const auto& d : tt.shape().dim()) {
      v.shape.push_back(d.has_dim_value() && d.dim_value() >= 0 ? d.dim_value() : -1);
    }
  }
  return v;
}

Attribute attribute_from_proto(const onnx::AttributeProto& a, const std::string& base_dir,
                               const std::string& what) {
  Attribute r;
  using A = onnx::AttributeProto;
  switch (a.type()) {
    case A::INT:
      r.type = Attribute::Type::kInt;
      r.i = a.i();
      break;
    case A::FLOAT:
      r.type = Attribute::Type::kFloat;
      r.f = a.f();
      break;
    case A::STRING:
      r.type = Attribute::Type::kString;
      r.s = a.s();
      break;
    case A::INTS:
      r.type = Attribute::Type::kInts;
      r.ints.assign(a.ints().begin(), a.ints().end());
      break;
    case A::FLOATS:
      r.type = Attribute::Type::kFloats;
      r.floats.assign(a.floats().begin(), a.floats().end());
      break;
    case A::STRINGS:
      r.type = Attribute::Type::kStrings;
      r.strings.assign(a.strings().begin(), a.strings().end());
      break;
    case A::TENSOR:
      r.type = Attribute::Type::kTensor;
      r.t = std::make_shared<Tensor>(
          tensor_from_proto(a.t(), base_dir, what + " attribute '" + a.name() + "'"));
      break;
    default:
      fail(ErrorKind::kUnsupported, what + ": attribute '" + a.name() + "' has type " +
                                        A::AttributeType_Name(a.type()) +
                                        ", which is not supported");
  }
  return r;
}

std::shared_ptr<Graph> build(const onnx::ModelProto& m, const std::string& source,
                             const std::string& base_dir) {
  if (!m.has_graph() || (m.graph().node_size() == 0 && m.graph().output_size() == 0)) {
    fail(ErrorKind::kParse, source + ": not an ONNX model (no graph)");
  }
  auto g = std::make_shared<Graph>();
  g->source = source;
  const auto& gp = m.graph();
  g->name = gp.name();
  for (const auto& op : m.opset_import()) {
    g->opsets[op.domain() == "ai.onnx" ? "" : op.domain()] = static_cast<int>(op.version());
  }

  for (const auto& init : gp.initializer()) {
    if (init.name().empty())
      fail(ErrorKind::kInvalidModel, source + ": an initializer has no name");
    g->initializers[init.name()] =
        tensor_from_proto(init, base_dir, source + ": initializer '" + init.name() + "'");
  }
  for (const auto& in : gp.input()) {
    if (g->initializers.count(in.name())) continue;  // old-style files list initializers as inputs
    g->inputs.push_back(value_from_proto(in, source + ": input"));
  }
  for (const auto& out : gp.output()) {
    ValueInfo v;
    v.name = out.name();
    if (out.has_type() && out.type().has_tensor_type()) {
      v = value_from_proto(out, source + ": output");
    }
    g->outputs.push_back(v);
  }
  for (const auto& ann : gp.quantization_annotation()) {
    for (const auto& kv : ann.quant_parameter_tensor_names()) {
      if (kv.key() != "finn_datatype") continue;
      try {
        g->annotations[ann.tensor_name()] = DataType::parse(kv.value());
      } catch (const Error&) {
        // An annotation is a hint, not part of the computation: unknown names are ignored.
      }
    }
  }

  // Collect every unsupported op first, so the user sees them all at once.
  std::map<std::string, std::vector<std::string>> unsupported;
  int index = 0;
  for (const auto& np : gp.node()) {
    Node n;
    n.op_type = np.op_type();
    n.domain = np.domain() == "ai.onnx" ? "" : np.domain();
    n.name = np.name().empty() ? n.op_type + "_" + std::to_string(index) : np.name();
    ++index;
    auto ov = g->opsets.find(n.domain);
    n.version = ov == g->opsets.end() ? 1 : ov->second;
    n.inputs.assign(np.input().begin(), np.input().end());
    n.outputs.assign(np.output().begin(), np.output().end());
    if (!find_op(op_family(n.domain), n.op_type)) {
      std::string key = (n.domain.empty() ? "" : n.domain + ".") + n.op_type;
      unsupported[key].push_back(n.name);
      continue;
    }
    std::string what = where(source, n.name, n.op_type);
    for (const auto& a : np.attribute()) {
      if (!a.ref_attr_name().empty()) {
        fail(ErrorKind::kUnsupported,
             what + ": attribute references (function attributes) are not supported");
      }
      n.attrs[a.name()] = attribute_from_proto(a, base_dir, what);
    }
    g->nodes.push_back(std::move(n));
  }
  if (!unsupported.empty()) {
    std::ostringstream os;
    os << source << ": " << unsupported.size() << " unsupported op type"
       << (unsupported.size() > 1 ? "s" : "") << ":";
    for (const auto& [op, nodes] : unsupported) {
      os << " " << op << " (node" << (nodes.size() > 1 ? "s" : "") << " '" << nodes[0] << "'";
      if (nodes.size() > 1) os << " and " << nodes.size() - 1 << " more";
      os << ");";
    }
    std::string msg = os.str();
    msg.pop_back();
    fail(ErrorKind::kUnsupported, msg);
  }
  verify(*g);
  infer_shapes_and_types(*g);
  return g;
}

std::shared_ptr<Graph> parse(const std::string& bytes, const std::string& source,
                             const std::string& base_dir) {
  onnx::ModelProto m;
  if (bytes.empty()) fail(ErrorKind::kParse, source + ": the file is empty");
  if (!m.ParseFromString(bytes)) {
    fail(ErrorKind::kParse,
         source + ": not a valid ONNX model (protobuf parsing failed; truncated or corrupt file?)");
  }
  return build(m, source, base_dir);
}

}  // namespace

std::shared_ptr<Graph> load_model_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::kIo, path + ": cannot open the file");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail(ErrorKind::kIo, path + ": cannot read the file");
  std::error_code ec;
  auto dir = std::filesystem::absolute(std::filesystem::path(path), ec).parent_path().string();
  return parse(ss.str(), path, dir);
}

std::shared_ptr<Graph> load_model_bytes(const std::string& bytes, const std::string& source) {
  return parse(bytes, source, "");
}

}  // namespace bitsmith
