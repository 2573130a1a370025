#include "runtime/engine.h"

namespace bitsmith {

Engine parse_engine(const std::string& name) {
  if (name == "fast") return Engine::kFast;
  if (name == "reference") return Engine::kReference;
  fail(ErrorKind::kInput, "engine must be 'fast' or 'reference', got '" + name + "'");
}

const char* engine_name(Engine e) {
  return e == Engine::kFast ? "fast" : "reference";
}

void CompiledModel::build() const {
  std::call_once(once_, [&] {
    try {
      lowered_ = lower_to_integers(*reference_, LowerOptions{}, &report_);
    } catch (const std::exception& e) {
      // A model the pass cannot handle still runs, on the reference graph.
      lowered_ = reference_;
      report_ = LowerReport{};
      report_.left.push_back(std::string("the whole model: lowering failed: ") + e.what());
    }
  });
}

const Graph& CompiledModel::lowered() const {
  build();
  return *lowered_;
}

const LowerReport& CompiledModel::report() const {
  build();
  return report_;
}

TensorMap CompiledModel::run(const TensorMap& feeds, const RunOptions& options,
                             Engine engine) const {
  if (engine == Engine::kReference || options.mode != Mode::kExact || options.keep_intermediates) {
    return execute(*reference_, feeds, options);
  }
  try {
    return execute(lowered(), feeds, options);
  } catch (const OffGrid&) {
    return execute(*reference_, feeds, options);
  }
}

}  // namespace bitsmith
