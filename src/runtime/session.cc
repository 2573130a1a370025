#include "runtime/session.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "core/error.h"
#include "runtime/threads.h"

namespace bitsmith {
namespace {

// Exact copies of float initializers, made once per graph and mode; int64
// initializers (shapes, indices) stay integers.
const Tensor& initializer_in_mode(const Graph& g, const std::string& name, const Tensor& t,
                                  Mode mode, std::map<std::string, Tensor>& cache) {
  if (mode == Mode::kFloat || t.type() != ElemType::kFloat32) return t;
  auto it = cache.find(name);
  if (it == cache.end()) it = cache.emplace(name, t.to(ElemType::kExact)).first;
  return it->second;
}

void check_feeds(const Graph& g, const TensorMap& feeds, const RunOptions& opt) {
  std::set<std::string> known;
  for (const auto& in : g.inputs) known.insert(in.name);
  for (const auto& [name, t] : feeds) {
    if (!known.count(name)) {
      std::string names;
      for (const auto& in : g.inputs) names += (names.empty() ? "'" : ", '") + in.name + "'";
      fail(ErrorKind::kInput,
           g.source + ": unknown input '" + name + "' (the model's inputs: " + names + ")");
    }
  }
  for (const auto& in : g.inputs) {
    auto it = feeds.find(in.name);
    if (it == feeds.end())
      fail(ErrorKind::kInput, g.source + ": input '" + in.name + "' is missing");
    const Tensor& t = it->second;
    if (t.type() != in.elem) {
      fail(ErrorKind::kInput, g.source + ": input '" + in.name + "' must be " +
                                  elem_type_name(in.elem) + ", got " + elem_type_name(t.type()));
    }
    if (in.has_shape) {
      bool ok = t.rank() == static_cast<int>(in.shape.size());
      for (size_t d = 1; ok && d < in.shape.size(); ++d) {
        ok = in.shape[d] < 0 || in.shape[d] == t.shape()[d];
      }
      if (!ok) {
        fail(ErrorKind::kInput, g.source + ": input '" + in.name + "' has shape " +
                                    shape_str(t.shape()) + " but the model expects " +
                                    shape_str(in.shape) +
                                    " (the first dimension, the batch, is free)");
      }
    }
    if (!opt.allow_nan && t.type() == ElemType::kFloat32) {
      for (size_t k = 0; k < t.f32().size(); ++k) {
        if (std::isnan(t.f32()[k])) {
          fail(ErrorKind::kInput,
               g.source + ": input '" + in.name + "' holds NaN at flat index " + std::to_string(k));
        }
      }
    }
  }
}

DataType output_dtype(const OpDef& def, const EvalContext& ctx, const Graph& g,
                      const std::map<std::string, DataType>& types) {
  std::vector<DataType> in_types;
  for (const auto& in : ctx.node().inputs) {
    auto it = types.find(in);
    in_types.push_back(it == types.end() ? DataType() : it->second);
  }
  if (def.out_dtype) return def.out_dtype(ctx, in_types);
  if (def.preserves_dtype && !in_types.empty()) return in_types[0];
  return DataType();
}

// The shared loop behind execute() and inference.
TensorMap run_graph(const Graph& g, TensorMap values, Mode mode, bool keep_all,
                    std::map<std::string, DataType>* types) {
  int64_t run_batch = g.declared_batch();
  if (!g.inputs.empty()) {
    auto it = values.find(g.inputs[0].name);
    if (it != values.end() && it->second.rank() > 0) run_batch = it->second.dim(0);
  }
  // Last use of each value, so intermediates are freed as soon as possible.
  std::map<std::string, size_t> last_use;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    for (const auto& in : g.nodes[i].inputs) last_use[in] = i;
  }
  std::set<std::string> keep;
  for (const auto& o : g.outputs) keep.insert(o.name);

  std::map<std::string, Tensor> const_cache;
  // BITSMITH_PROFILE=1 prints each node's evaluation time to stderr.
  static const bool profile = std::getenv("BITSMITH_PROFILE") != nullptr;
  const auto& folded = g.folded[mode == Mode::kExact ? 1 : 0];
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& node = g.nodes[i];
    if (!node.outputs.empty() && folded.count(node.outputs[0])) continue;
    const OpDef* def = find_op(op_family(node.domain), node.op_type);
    if (!def) g.fail_at(node, ErrorKind::kUnsupported, "unsupported op");
    std::vector<const Tensor*> ins;
    std::vector<bool> constant;
    for (const auto& name : node.inputs) {
      constant.push_back(false);
      if (name.empty()) {
        ins.push_back(nullptr);
        continue;
      }
      auto it = values.find(name);
      auto ft = folded.find(name);
      if (it != values.end()) {
        ins.push_back(&it->second);
      } else if (ft != folded.end()) {
        ins.push_back(&ft->second);
        constant.back() = !types;  // the dry run must not fill caches
      } else if (const Tensor* t = g.initializer(name)) {
        ins.push_back(&initializer_in_mode(g, name, *t, mode, const_cache));
        constant.back() = !types && (mode == Mode::kFloat || t->type() != ElemType::kFloat32);
      } else {
        g.fail_at(node, ErrorKind::kInvalidModel, "input '" + name + "' has no value");
      }
    }
    int n_in = static_cast<int>(node.inputs.size());
    if (n_in < def->min_inputs || n_in > def->max_inputs) {
      g.fail_at(node, ErrorKind::kInvalidModel,
                "takes " + std::to_string(def->min_inputs) + " to " +
                    std::to_string(def->max_inputs) + " inputs, got " + std::to_string(n_in));
    }
    // Values whose last user is this node may be moved into the output instead of
    // copied (Reshape, Identity ...), unless the caller wants every value back.
    std::vector<Tensor*> movable(node.inputs.size(), nullptr);
    if (!keep_all) {
      for (size_t k = 0; k < node.inputs.size(); ++k) {
        const std::string& name = node.inputs[k];
        auto it = values.find(name);
        if (name.empty() || it == values.end() || keep.count(name) || last_use[name] != i) continue;
        if (std::count(node.inputs.begin(), node.inputs.end(), name) == 1) movable[k] = &it->second;
      }
    }
    EvalContext ctx(g, node, mode, std::move(ins), g.declared_batch(), run_batch);
    ctx.set_constant(std::move(constant));
    ctx.set_movable(std::move(movable));
    auto t0 = std::chrono::steady_clock::now();
    try {
      def->eval(ctx);
    } catch (const ExactOverflow& e) {
      g.fail_at(node, ErrorKind::kRuntime, std::string(e.what()) + " in exact mode");
    } catch (const Error& e) {
      // Errors from shared helpers lack the node; add it once.
      std::string msg = e.what();
      if (msg.find("node '") == std::string::npos) g.fail_at(node, e.kind(), msg);
      throw;
    }
    if (profile) {
      auto us =
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
      std::fprintf(stderr, "[profile] %-40s %10.1f us\n", node.label().c_str(), us);
    }
    if (types)
      (*types)[node.outputs.empty() ? "" : node.outputs[0]] = output_dtype(*def, ctx, g, *types);
    for (size_t k = 0; k < node.outputs.size(); ++k) {
      if (node.outputs[k].empty()) continue;
      values[node.outputs[k]] = std::move(ctx.outputs()[k]);
    }
    if (!keep_all) {
      for (const auto& in : node.inputs) {
        auto lu = last_use.find(in);
        if (lu != last_use.end() && lu->second == i && !keep.count(in)) values.erase(in);
      }
    }
  }
  return values;
}

// Evaluates every node whose inputs are all constant, once per mode. A node that
// fails here (say, an exponent beyond int32 in exact mode) is left to run time,
// where it reports its error in the mode the user asked for.
void fold_constants(Graph& g, Mode mode) {
  auto& folded = g.folded[mode == Mode::kExact ? 1 : 0];
  folded.clear();
  std::map<std::string, Tensor> const_cache;
  if (mode == Mode::kExact) {  // convert float weights once, not on every run
    for (const auto& [name, t] : g.initializers) {
      if (t.type() == ElemType::kFloat32) folded[name] = t.to(ElemType::kExact);
    }
  }
  for (const Node& node : g.nodes) {
    const OpDef* def = find_op(op_family(node.domain), node.op_type);
    if (!def || node.outputs.empty()) continue;
    std::vector<const Tensor*> ins;
    bool constant = true;
    for (const auto& name : node.inputs) {
      if (name.empty()) {
        ins.push_back(nullptr);
      } else if (auto ft = folded.find(name); ft != folded.end()) {
        ins.push_back(&ft->second);
      } else if (const Tensor* t = g.initializer(name)) {
        ins.push_back(&initializer_in_mode(g, name, *t, mode, const_cache));
      } else {
        constant = false;
        break;
      }
    }
    if (!constant) continue;
    EvalContext ctx(g, node, mode, std::move(ins), g.declared_batch(), g.declared_batch());
    try {
      def->eval(ctx);
    } catch (const std::exception&) {
      continue;
    }
    for (size_t k = 0; k < node.outputs.size(); ++k) {
      if (!node.outputs[k].empty()) folded[node.outputs[k]] = std::move(ctx.outputs()[k]);
    }
  }
}

}  // namespace

TensorMap execute(const Graph& g, const TensorMap& feeds, const RunOptions& opt) {
  check_feeds(g, feeds, opt);
  ThreadScope threads(opt.threads);
  // Exact mode converts float inputs to Exact up front, except inputs that only
  // lowered integer ops read (they convert what they need themselves).
  std::set<std::string> lowered_only;
  for (const auto& in : g.inputs) lowered_only.insert(in.name);
  for (const Node& n : g.nodes) {
    // Shape reads only the shape.
    if (op_family(n.domain) == OpFamily::kLowered ||
        (op_family(n.domain) == OpFamily::kOnnx && n.op_type == "Shape")) {
      continue;
    }
    for (const auto& i : n.inputs) lowered_only.erase(i);
  }
  for (const auto& o : g.outputs) lowered_only.erase(o.name);
  TensorMap values;
  for (const auto& [name, t] : feeds) {
    bool convert =
        opt.mode == Mode::kExact && t.type() == ElemType::kFloat32 && !lowered_only.count(name);
    values[name] = convert ? t.to(ElemType::kExact) : t;
  }
  TensorMap all = run_graph(g, std::move(values), opt.mode, opt.keep_intermediates, nullptr);
  TensorMap out;
  auto emit = [&](const std::string& name, const Tensor& t) {
    out[name] = t.type() == ElemType::kExact ? t.to(ElemType::kFloat32) : t;
  };
  const auto& folded = g.folded[opt.mode == Mode::kExact ? 1 : 0];
  if (opt.keep_intermediates) {
    for (auto& [name, t] : all) emit(name, t);
    for (const auto& [name, t] : folded) emit(name, t);
  }
  for (const auto& o : g.outputs) {
    if (out.count(o.name)) continue;
    if (auto it = all.find(o.name); it != all.end()) {
      emit(o.name, it->second);
    } else if (auto ft = folded.find(o.name); ft != folded.end()) {
      emit(o.name, ft->second);
    } else if (const Tensor* t = g.initializer(o.name)) {
      out[o.name] = *t;
    }
  }
  return out;
}

TensorMap run_exact(const Graph& g, TensorMap feeds) {
  return run_graph(g, std::move(feeds), Mode::kExact, false, nullptr);
}

void infer_shapes_and_types(Graph& g, Mode mode) {
  TensorMap feeds;
  for (const auto& in : g.inputs) {
    Shape s = in.shape;
    if (!in.has_shape)
      fail(ErrorKind::kInvalidModel, g.source + ": input '" + in.name + "' has no shape");
    for (auto& d : s) d = d < 0 ? 1 : d;
    try {
      feeds[in.name] = Tensor(
          in.elem == ElemType::kFloat32 && mode == Mode::kExact ? ElemType::kExact : in.elem, s);
    } catch (const Error& e) {
      fail(ErrorKind::kInvalidModel, g.source + ": input '" + in.name + "': " + e.what());
    }
  }
  std::map<std::string, DataType> types;
  for (const auto& [name, t] : g.annotations) types[name] = t;
  TensorMap all;
  try {
    all = run_graph(g, std::move(feeds), mode, true, &types);
  } catch (const OffGrid&) {
    // A lowered graph whose zeros reach NaN (a division by a zero constant): value types
    // stay unknown; runs that meet such values fall back to the reference graph.
  }
  for (const auto& [name, t] : all) {
    ValueInfo v;
    v.name = name;
    v.elem = t.type() == ElemType::kExact ? ElemType::kFloat32 : t.type();
    v.shape = t.shape();
    v.has_shape = true;
    auto an = g.annotations.find(name);
    auto ty = types.find(name);
    if (an != g.annotations.end()) {
      v.dtype = an->second;
    } else if (ty != types.end()) {
      v.dtype = ty->second;
    }
    // Keep the file's free batch dimension visible.
    for (const auto& in : g.inputs) {
      if (in.name == name) v.shape = in.shape;
    }
    g.value_info[name] = v;
  }
  fold_constants(g, Mode::kFloat);
  fold_constants(g, Mode::kExact);
  for (auto& o : g.outputs) {
    auto it = g.value_info.find(o.name);
    if (it != g.value_info.end()) {
      o.dtype = it->second.dtype;
      o.elem = it->second.elem;
      if (!o.has_shape) {
        o.shape = it->second.shape;
        o.has_shape = true;
      }
    }
  }
}

}  // namespace bitsmith
