// From a model to a generated project, and the host toolchain that builds one:
// what `bitsmith compile / verify / estimate` and the Python front share.
#pragma once
#include <memory>
#include <string>

#include "codegen/program.h"
#include "codegen/project.h"
#include "runtime/engine.h"

namespace bitsmith::codegen {

struct CompileOptions {
  std::string target = "cpp";   // "cpp" | "hls"
  std::string name;             // C identifier of the model (default: given by the caller)
  bool cut_float_tail = false;  // leave out a final Softmax (its input becomes the output)
  HlsOptions hls;
};

struct CompiledProgram {
  std::shared_ptr<CompiledModel> model;  // the model the program equals (tail cut if asked)
  Program program;
};

// Lowers the model and reads its program; errors name the node (with the lowering's
// own reason when it gave one).
CompiledProgram compile_program(std::shared_ptr<Graph> graph, const std::string& default_name,
                                const CompileOptions& options);
Project emit_project(const Program& program, const CompileOptions& options);

// The ap_types headers the hls target's C simulation builds against: `given`, else
// $BITSMITH_AP_TYPES, else the copy inside the hls4ml Python package found by
// `python` (when given: the caller's interpreter), the Python next to this executable,
// or the one on PATH. Throws Error(kIo) saying what to do.
std::string find_ap_types(const std::string& given, const std::string& python = "");

// The host compiler command ($CXX, default c++) that builds a generated project's
// testbench into `exe`: -Wall -Wextra -Werror (-pedantic for cpp; for hls, minus
// the warnings the ap_types headers trigger themselves).
struct BuildCommand {
  std::string command, exe;
};
BuildCommand build_command(const std::string& dir, const std::string& name,
                           const std::string& target, const std::string& ap_types);

// Runs a shell command with its output in `log`; throws Error(kRuntime) with the
// log's start when it fails.
void run_command(const std::string& what, const std::string& command, const std::string& log);
std::string shell_quote(const std::string& s);

}  // namespace bitsmith::codegen
