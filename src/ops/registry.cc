#include "ops/registry.h"

#include <cmath>
#include <map>

#include "core/error.h"

namespace bitsmith {

const char* mode_name(Mode mode) {
  return mode == Mode::kExact ? "exact" : "float";
}

Mode parse_mode(const std::string& name) {
  if (name == "exact") return Mode::kExact;
  if (name == "float") return Mode::kFloat;
  fail(ErrorKind::kInput, "unknown mode '" + name + "' (expected 'exact' or 'float')");
}

static std::map<std::pair<OpFamily, std::string>, OpDef>& registry() {
  static std::map<std::pair<OpFamily, std::string>, OpDef> r;
  return r;
}

OpRegistrar::OpRegistrar(OpDef def) {
  auto key = std::make_pair(def.family, def.op_type);
  registry()[key] = std::move(def);
}

const OpDef* find_op(OpFamily family, const std::string& op_type) {
  auto it = registry().find({family, op_type});
  return it == registry().end() ? nullptr : &it->second;
}

std::vector<const OpDef*> all_ops() {
  std::vector<const OpDef*> v;
  for (const auto& [k, d] : registry()) v.push_back(&d);
  return v;
}

EvalContext::EvalContext(const Graph& graph, const Node& node, Mode mode,
                         std::vector<const Tensor*> inputs, int64_t declared_batch,
                         int64_t run_batch)
    : graph_(graph),
      node_(node),
      mode_(mode),
      inputs_(std::move(inputs)),
      outputs_(node.outputs.size()),
      declared_batch_(declared_batch),
      run_batch_(run_batch) {}

const Tensor& EvalContext::input(size_t i) const {
  if (!has_input(i)) fail("input " + std::to_string(i) + " is required but missing");
  return *inputs_[i];
}

const Tensor& EvalContext::real_input(size_t i) const {
  const Tensor& t = input(i);
  if (t.type() == real_type()) return t;
  converted_.push_back(std::make_unique<Tensor>(t.to(real_type())));
  return *converted_.back();
}

Tensor EvalContext::take_input(size_t i) {
  if (i < movable_.size() && movable_[i] != nullptr && movable_[i] == inputs_[i]) {
    Tensor t = std::move(*movable_[i]);
    movable_[i] = nullptr;
    inputs_[i] = nullptr;
    return t;
  }
  return input(i);
}

std::vector<int64_t> EvalContext::int_input(size_t i) const {
  const Tensor& t = input(i);
  if (t.type() == ElemType::kInt64) return t.i64();
  std::vector<int64_t> v(static_cast<size_t>(t.size()));
  for (size_t k = 0; k < v.size(); ++k) {
    double d = t.as_double(static_cast<int64_t>(k));
    if (!std::isfinite(d) || d != std::floor(d)) {
      fail("input " + std::to_string(i) + " must hold integers, found " + std::to_string(d));
    }
    v[k] = static_cast<int64_t>(d);
  }
  return v;
}

void EvalContext::set_output(size_t i, Tensor t) {
  if (i >= outputs_.size()) fail("op produced more outputs than the node declares");
  outputs_[i] = std::move(t);
}

void EvalContext::fail(const std::string& reason) const {
  graph_.fail_at(node_, ErrorKind::kInvalidModel, reason);
}

void EvalContext::unsupported(const std::string& reason) const {
  graph_.fail_at(node_, ErrorKind::kUnsupported, reason);
}

}  // namespace bitsmith
