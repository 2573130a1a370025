// Op registry: each op file defines an OpDef and registers it with one
// static OpRegistrar line. The engine, inference and the importer's
// unsupported-op check all look ops up here.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"
#include "ir/graph.h"

namespace bitsmith {

// float: what qonnx/onnxruntime compute in float32. exact: every rounding decision
// on the true value (SEMANTICS.md level 2).
enum class Mode : uint8_t { kFloat, kExact };
const char* mode_name(Mode mode);
Mode parse_mode(const std::string& name);  // "float" | "exact"; Error(kInput) otherwise

class EvalContext {
 public:
  EvalContext(const Graph& graph, const Node& node, Mode mode, std::vector<const Tensor*> inputs,
              int64_t declared_batch, int64_t run_batch);

  const Graph& graph() const { return graph_; }
  const Node& node() const { return node_; }
  Mode mode() const { return mode_; }
  // Storage for real values in this mode: float32 or Exact.
  ElemType real_type() const {
    return mode_ == Mode::kExact ? ElemType::kExact : ElemType::kFloat32;
  }
  // The batch size the file declares and the one this run uses; Reshape uses them
  // to keep the batch free when a file hard-codes it.
  int64_t declared_batch() const { return declared_batch_; }
  int64_t run_batch() const { return run_batch_; }

  size_t num_inputs() const { return inputs_.size(); }
  bool has_input(size_t i) const { return i < inputs_.size() && inputs_[i] != nullptr; }
  const Tensor& input(size_t i) const;  // fails naming the node when absent
  // Input i converted to real_type() (int64 and float32 convert exactly to Exact).
  // No copy when the input already has that storage; conversions live as long as
  // the context.
  const Tensor& real_input(size_t i) const;
  // Input i by value: moved out of the engine when this node is the value's last
  // user (no copy), copied otherwise. Do not read input(i) afterwards.
  Tensor take_input(size_t i);
  void set_movable(std::vector<Tensor*> movable) { movable_ = std::move(movable); }
  // Input i as integers (shape-like inputs); float inputs must hold integers.
  std::vector<int64_t> int_input(size_t i) const;

  // Whether input i is a constant (an initializer or folded at load), so data
  // derived from it can be cached across runs with cached().
  bool is_constant(size_t i) const { return i < constant_.size() && constant_[i]; }
  void set_constant(std::vector<bool> flags) { constant_ = std::move(flags); }
  // The object `make()` builds for `key` on this node in this mode, built once.
  template <class T, class Make>
  std::shared_ptr<const T> cached(const std::string& key, Make&& make) const {
    KernelCache& kc = *graph_.kernel_cache;
    std::string full = node_.name + "/" + key + "/" + mode_name(mode_);
    std::lock_guard<std::mutex> lock(kc.mutex);
    auto it = kc.items.find(full);
    if (it == kc.items.end()) it = kc.items.emplace(full, std::make_shared<const T>(make())).first;
    return std::static_pointer_cast<const T>(it->second);
  }

  void set_output(size_t i, Tensor t);
  std::vector<Tensor>& outputs() { return outputs_; }

  // Throw Error prefixed with file and node.
  [[noreturn]] void fail(const std::string& reason) const;
  [[noreturn]] void unsupported(const std::string& reason) const;

 private:
  const Graph& graph_;
  const Node& node_;
  Mode mode_;
  std::vector<const Tensor*> inputs_;
  std::vector<Tensor> outputs_;
  mutable std::vector<std::unique_ptr<Tensor>> converted_;
  std::vector<bool> constant_;
  std::vector<Tensor*> movable_;
  int64_t declared_batch_;
  int64_t run_batch_;
};

struct OpDef {
  std::string op_type;
  OpFamily family = OpFamily::kOnnx;
  int min_inputs = 1;
  int max_inputs = 1;
  std::function<void(EvalContext&)> eval;
  // Quantized type of output 0 given the evaluated context (inputs and outputs set).
  // When unset: input 0's type if preserves_dtype, else FLOAT32.
  std::function<DataType(const EvalContext&, const std::vector<DataType>& in_types)> out_dtype;
  bool preserves_dtype = false;
};

const OpDef* find_op(OpFamily family, const std::string& op_type);
std::vector<const OpDef*> all_ops();

struct OpRegistrar {
  explicit OpRegistrar(OpDef def);
};

}  // namespace bitsmith
