// What `bitsmith compile`, `verify` and `estimate` share: the code generation
// options and the path from a model file to a Program.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "cli.h"
#include "codegen/program.h"
#include "codegen/project.h"
#include "runtime/engine.h"

namespace bitsmith::cli {

struct CodegenArgs {
  std::string target = "cpp";  // "cpp" | "hls"
  std::string name;            // C identifier of the model (default: the file name)
  bool cut_float_tail = false;
  codegen::HlsOptions hls;
};

// --target, --name, --cut-float-tail, --io, --reuse, --strategy, --part, --clock.
std::vector<OptionSpec> codegen_options();
// The options' help lines.
const char* codegen_options_help();
CodegenArgs parse_codegen(const Args& args);

struct CompiledProgram {
  std::shared_ptr<CompiledModel> model;  // the model the program equals (tail cut if asked)
  codegen::Program program;
};

CompiledProgram compile_program(const std::string& path, const CodegenArgs& args);
codegen::Project emit_project(const codegen::Program& program, const CodegenArgs& args);

}  // namespace bitsmith::cli
