// What `bitsmith compile`, `verify` and `estimate` share: the code generation
// options and the path from a model file to a Program.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "cli.h"
#include "codegen/compile.h"

namespace bitsmith::cli {

using CodegenArgs = codegen::CompileOptions;

// --target, --name, --cut-float-tail, --io, --reuse, --strategy, --part, --clock.
std::vector<OptionSpec> codegen_options();
// The options' help lines.
const char* codegen_options_help();
CodegenArgs parse_codegen(const Args& args);

using codegen::CompiledProgram;
using codegen::emit_project;

// Loads the model file and compiles its program (named after the file by default).
CompiledProgram compile_program(const std::string& path, const CodegenArgs& args);

}  // namespace bitsmith::cli
