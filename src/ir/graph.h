// The in-memory model: a DAG of nodes over named values, with constant
// initializers. Values are referred to by name, as in ONNX.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/tensor.h"

namespace bitsmith {

struct Attribute {
  enum class Type : uint8_t { kInt, kFloat, kString, kInts, kFloats, kStrings, kTensor };
  Type type = Type::kInt;
  int64_t i = 0;
  float f = 0;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<float> floats;
  std::vector<std::string> strings;
  std::shared_ptr<const Tensor> t;

  static Attribute of_int(int64_t v) {
    Attribute a;
    a.i = v;
    return a;
  }
  static Attribute of_float(float v) {
    Attribute a;
    a.type = Type::kFloat;
    a.f = v;
    return a;
  }
  static Attribute of_string(std::string v) {
    Attribute a;
    a.type = Type::kString;
    a.s = std::move(v);
    return a;
  }
  static Attribute of_ints(std::vector<int64_t> v) {
    Attribute a;
    a.type = Type::kInts;
    a.ints = std::move(v);
    return a;
  }
  static Attribute of_floats(std::vector<float> v) {
    Attribute a;
    a.type = Type::kFloats;
    a.floats = std::move(v);
    return a;
  }
  static Attribute of_tensor(Tensor v) {
    Attribute a;
    a.type = Type::kTensor;
    a.t = std::make_shared<const Tensor>(std::move(v));
    return a;
  }
};

// Which family of ops a node belongs to, from its domain.
enum class OpFamily : uint8_t { kOnnx, kQonnx, kChannelsLast, kLowered, kUnknown };
// Domain of the integer ops the lowering pass emits (src/passes/lower.h); files
// never contain them, but `inspect --lowered` prints them.
inline constexpr const char* kLoweredDomain = "bitsmith.lowered";
OpFamily op_family(const std::string& domain);

struct Node {
  std::string name;
  std::string op_type;
  std::string domain;
  int version = 1;                  // opset version of the node's domain in this model
  std::vector<std::string> inputs;  // "" marks an omitted optional input
  std::vector<std::string> outputs;
  std::map<std::string, Attribute> attrs;

  bool has_attr(const std::string& key) const { return attrs.count(key) != 0; }
  // Getters check the attribute's type and throw Error naming the node if it is wrong.
  int64_t attr_int(const std::string& key, int64_t fallback) const;
  int64_t attr_int(const std::string& key) const;  // required
  float attr_float(const std::string& key, float fallback) const;
  std::string attr_string(const std::string& key, const std::string& fallback) const;
  std::string attr_string(const std::string& key) const;  // required
  std::vector<int64_t> attr_ints(const std::string& key, std::vector<int64_t> fallback = {}) const;
  std::vector<float> attr_floats(const std::string& key, std::vector<float> fallback = {}) const;
  const Tensor* attr_tensor(const std::string& key) const;  // nullptr if absent

  // "node 'name' (OpType)" for messages.
  std::string label() const;
};

struct ValueInfo {
  std::string name;
  ElemType elem = ElemType::kFloat32;  // storage: float32 or int64
  Shape shape;                         // -1 for a dimension that is free or unknown
  bool has_shape = false;
  DataType dtype;  // quantized type from an annotation or inference
};

// Data kernels derive from constant inputs (per-operand exponents, packed
// weights), built on first use and shared by later runs and threads.
struct KernelCache {
  std::mutex mutex;
  std::map<std::string, std::shared_ptr<const void>> items;
};

class Graph {
 public:
  std::string name;
  std::string source;                 // file path (or "<bytes>") used in every message
  std::map<std::string, int> opsets;  // domain -> version
  std::vector<Node> nodes;            // topological order once verified
  std::vector<ValueInfo> inputs;      // runtime inputs (initializers excluded)
  std::vector<ValueInfo> outputs;
  std::map<std::string, Tensor> initializers;
  std::map<std::string, ValueInfo> value_info;  // every value after inference
  std::map<std::string, DataType> annotations;  // quantization_annotation (finn_datatype)
  // Outputs of nodes whose inputs are all constant (weight Quant nodes, weight
  // transposes), computed once at load; indexed by execution mode (0 float, 1 exact).
  std::map<std::string, Tensor> folded[2];
  // Keys name the node, input and mode; a copied Graph shares its cache.
  std::shared_ptr<KernelCache> kernel_cache = std::make_shared<KernelCache>();

  const ValueInfo* find_value(const std::string& name) const;
  const Tensor* initializer(const std::string& name) const;
  // Batch size the file declares on its first input (1 when free or unknown).
  int64_t declared_batch() const;
  // Prefixes a message with the file and node.
  [[noreturn]] void fail_at(const Node& node, ErrorKind kind, const std::string& reason) const;
};

// Checks structure: unique value producers, every input produced or given, no
// cycles; reorders nodes topologically. Throws Error naming the file and node.
void verify(Graph& graph);

// A readable listing: inputs, initializers (shape, type), nodes with attributes.
std::string print(const Graph& graph);

}  // namespace bitsmith
