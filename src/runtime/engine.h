// Which graph a run executes. The reference graph defines every output; in exact
// mode the fast engine runs the lowered graph (src/passes/lower.h), built once on
// first use, whose outputs are the same bits. Float mode and runs that ask for
// every intermediate value use the reference graph (the lowered graph fuses
// intermediates away).
#pragma once
#include <memory>
#include <mutex>
#include <string>

#include "passes/lower.h"
#include "runtime/session.h"

namespace bitsmith {

enum class Engine : uint8_t { kFast, kReference };
Engine parse_engine(const std::string& name);  // "fast" | "reference"; Error(kInput) otherwise
const char* engine_name(Engine e);

class CompiledModel {
 public:
  explicit CompiledModel(std::shared_ptr<Graph> reference) : reference_(std::move(reference)) {}
  const Graph& reference() const { return *reference_; }
  std::shared_ptr<Graph> reference_ptr() const { return reference_; }
  // The lowered graph and its report, built on first call (thread-safe).
  const Graph& lowered() const;
  const LowerReport& report() const;
  TensorMap run(const TensorMap& feeds, const RunOptions& options, Engine engine) const;

 private:
  void build() const;
  std::shared_ptr<Graph> reference_;
  mutable std::once_flag once_;
  mutable std::shared_ptr<Graph> lowered_;
  mutable LowerReport report_;
};

}  // namespace bitsmith
