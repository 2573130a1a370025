#include "runtime/engine.h"

#include <malloc.h>

namespace bitsmith {

Engine parse_engine(const std::string& name) {
  if (name == "fast") return Engine::kFast;
  if (name == "reference") return Engine::kReference;
  fail(ErrorKind::kInput, "engine must be 'fast' or 'reference', got '" + name + "'");
}

const char* engine_name(Engine e) {
  return e == Engine::kFast ? "fast" : "reference";
}

namespace {

// Activations are large, short-lived vectors; glibc returns blocks above its mmap
// threshold to the kernel on free, so every run would page-fault its buffers in
// again (about 40% of a TFC batch). Keeping freed memory in the heap lets the next
// run reuse it. Process-wide, set once when a fast engine is first built.
void keep_freed_memory() {
  static std::once_flag once;
  std::call_once(once, [] {
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
  });
}

}  // namespace

void CompiledModel::build() const {
  keep_freed_memory();
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
