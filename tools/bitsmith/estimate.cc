// `bitsmith estimate MODEL [--target hls] [--reuse N] [--io parallel|stream]
// [--strategy latency|resource] [--clock NS] [--input-bits N] [--cut-float-tail]
// [--requant comparators|best] [--host-steps] [--json]`: FPGA resources and latency of the model's
// integer program as an hls4ml-style HLS design (src/codegen/estimate.h, docs/estimate.md).
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "cli.h"
#include "codegen/estimate.h"
#include "codegen_cli.h"

namespace bitsmith::cli {
namespace {

const char* kHelp =
    "usage: bitsmith estimate MODEL [--target hls] [--reuse N] [--io parallel|stream]\n"
    "                               [--strategy latency|resource] [--clock NS]\n"
    "                               [--input-bits N] [--cut-float-tail]\n"
    "                               [--requant comparators|best] [--host-steps] [--json]\n\n"
    "Estimates FPGA resources (LUT, FF, DSP, 18 Kb BRAM) and latency of the model's\n"
    "integer program built as an hls4ml-style HLS design, per step and in total.\n"
    "A first-order model (docs/estimate.md), not a synthesis result. As the hls target\n"
    "does, float32 input conversion, dequantization and Softmax run on the host and\n"
    "cost nothing unless --host-steps.\n\n"
    "options:\n";

const char* kOwnHelp =
    "  --requant FORM         threshold units: comparators (default, as emitted: one per\n"
    "                         level) or best (shift and saturation when evenly spaced by\n"
    "                         2^k, a binary search when smaller)\n"
    "  --host-steps           cost the float32 input conversion, the dequantization and a\n"
    "                         final Softmax as FPGA logic (hls4ml puts them on the FPGA;\n"
    "                         the hls target runs them on the host)\n"
    "  --input-bits N         take the inputs as N-bit fixed point, as hls4ml designs do,\n"
    "                         instead of converting float32 in the design\n"
    "  --json                 machine-readable output\n"
    "  -h, --help             this text\n";

int run_estimate(const std::vector<std::string>& argv) {
  std::vector<OptionSpec> specs = codegen_options();
  specs.push_back({"--input-bits", true});
  specs.push_back({"--requant", true});
  specs.push_back({"--host-steps", false});
  specs.push_back({"--json", false});
  Args args = parse_args(argv, specs);
  if (args.help) {
    // The shared code generation options, less --target (hls is the only one here).
    std::istringstream shared(codegen_options_help());
    std::cout << kHelp << "  --target hls           the target (default and only: hls)\n";
    bool skip = false;
    for (std::string line; std::getline(shared, line);) {
      if (line.rfind("  --", 0) == 0) skip = line.rfind("  --target", 0) == 0;
      if (!skip) std::cout << line << "\n";
    }
    std::cout << kOwnHelp;
    return 0;
  }
  if (args.positional.size() != 1) {
    throw UsageError(args.positional.empty() ? "missing the MODEL argument"
                                             : "takes exactly one MODEL argument");
  }
  // The estimate models an HLS design: hls is the default and the only target.
  const std::string target = args.get("--target", "hls");
  if (target != "hls") throw UsageError("estimate: --target must be 'hls', got '" + target + "'");
  args.values["--target"] = {"hls"};
  CodegenArgs c = parse_codegen(args);
  codegen::EstimateOptions opt;
  opt.reuse_factor = c.hls.reuse_factor;
  opt.io = c.hls.io;
  opt.strategy = c.hls.strategy;
  opt.clock_ns = c.hls.clock_ns;
  if (args.has("--input-bits")) {
    const std::string t = args.get("--input-bits");
    char* end = nullptr;
    const long v = std::strtol(t.c_str(), &end, 10);
    if (t.empty() || *end || v < 2 || v > 64)
      throw UsageError("--input-bits must be an integer in 2..64, got '" + t + "'");
    opt.input_bits = static_cast<int>(v);
  }
  opt.requant = args.get("--requant", "comparators");
  if (opt.requant != "comparators" && opt.requant != "best")
    throw UsageError("--requant must be 'comparators' or 'best', got '" + opt.requant + "'");
  opt.host_steps = args.has("--host-steps");
  CompiledProgram p = compile_program(args.positional[0], c);
  codegen::Estimate e = codegen::estimate(p.program, opt);
  e.model = args.positional[0];
  std::cout << (args.has("--json") ? codegen::estimate_json(e) + "\n" : codegen::estimate_table(e));
  return 0;
}

const CommandRegistrar kEstimate({"estimate",
                                  "estimate FPGA resources and latency of an HLS design",
                                  run_estimate, 40});

}  // namespace
}  // namespace bitsmith::cli
