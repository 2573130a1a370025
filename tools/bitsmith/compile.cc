// `bitsmith compile MODEL --target cpp|hls -o DIR`: writes a generated project.
#include <iostream>

#include "codegen/text.h"
#include "codegen_cli.h"

namespace bitsmith::cli {
namespace {

const std::string kHelp =
    std::string(
        "usage: bitsmith compile MODEL [--target cpp|hls] -o DIR [options]\n\n"
        "Generates a project whose outputs equal the exact engine's bit for "
        "bit: dependency-free\nC++17 (cpp) or Vitis HLS C++ (hls). The folder "
        "is written atomically: a failed compile\nleaves nothing behind.\n\n"
        "options:\n"
        "  -o, --output DIR       the project folder (replaced if bitsmith "
        "wrote it before)\n") +
    codegen_options_help() + "  -h, --help             this text\n";

int run(const std::vector<std::string>& argv) {
  std::vector<OptionSpec> specs = codegen_options();
  specs.push_back({"-o", true});
  specs.push_back({"--output", true});
  Args args = parse_args(argv, specs);
  if (args.help) {
    std::cout << kHelp;
    return 0;
  }
  if (args.positional.size() != 1) throw UsageError("takes exactly one MODEL argument");
  const std::string dir = args.get("-o", args.get("--output"));
  if (dir.empty()) throw UsageError("missing -o DIR");
  CodegenArgs c = parse_codegen(args);
  CompiledProgram cp = compile_program(args.positional[0], c);
  codegen::Project project = emit_project(cp.program, c);
  codegen::write_project(project, dir);
  std::cout << "wrote " << dir << " (" << c.target << ", " << project.size() << " files): model '"
            << cp.program.name << "', " << cp.program.steps.size() << " steps\n";
  for (const codegen::Step& s : cp.program.steps)
    std::cout << "  " << codegen::describe(cp.program, s) << "\n";
  for (const std::string& n : cp.program.notes) std::cout << "note: " << n << "\n";
  return 0;
}

const CommandRegistrar kCompile({"compile", "generate C++ or Vitis HLS code for a model", run, 40});

}  // namespace
}  // namespace bitsmith::cli
