#include "codegen_cli.h"

#include <cstdlib>
#include <filesystem>

#include "core/error.h"
#include "onnx/import.h"

namespace bitsmith::cli {

std::vector<OptionSpec> codegen_options() {
  return {{"--target", true}, {"--name", true},  {"--cut-float-tail", false},
          {"--io", true},     {"--reuse", true}, {"--strategy", true},
          {"--part", true},   {"--clock", true}};
}

const char* codegen_options_help() {
  return "  --target cpp|hls       dependency-free C++17 (default) or Vitis HLS C++\n"
         "  --name NAME            the model's C identifier (default: from the file name)\n"
         "  --cut-float-tail       leave out a final Softmax: the outputs become its input\n"
         "                         (the hls target has no Softmax)\n"
         "  --io parallel|stream   hls: arrays (io_parallel, default) or hls::stream (io_stream)\n"
         "  --reuse N              hls: ReuseFactor, multiplications per multiplier (default 1)\n"
         "  --strategy S           hls: latency (default) or resource, as hls4ml names them\n"
         "  --part PART            hls: FPGA part for build_prj.tcl (default "
         "xcvu13p-flga2577-2-e)\n"
         "  --clock NS             hls: clock period in ns (default 5)\n";
}

namespace {
int64_t parse_int(const std::string& opt, const std::string& v, int64_t lo, int64_t hi) {
  char* end = nullptr;
  long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end || x < lo || x > hi) {
    throw UsageError(opt + " must be an integer in " + std::to_string(lo) + ".." +
                     std::to_string(hi) + ", got '" + v + "'");
  }
  return x;
}
}  // namespace

CodegenArgs parse_codegen(const Args& args) {
  CodegenArgs c;
  c.target = args.get("--target", "cpp");
  if (c.target != "cpp" && c.target != "hls")
    throw UsageError("--target must be 'cpp' or 'hls', got '" + c.target + "'");
  c.name = args.get("--name");
  if (!c.name.empty() && codegen::c_ident(c.name) != c.name)
    throw UsageError("--name must be a C identifier, got '" + c.name + "'");
  c.cut_float_tail = args.has("--cut-float-tail");
  c.hls.io = args.get("--io", "parallel");
  if (c.hls.io != "parallel" && c.hls.io != "stream")
    throw UsageError("--io must be 'parallel' or 'stream', got '" + c.hls.io + "'");
  c.hls.reuse_factor = static_cast<int>(parse_int("--reuse", args.get("--reuse", "1"), 1, 1 << 20));
  c.hls.strategy = args.get("--strategy", "latency");
  if (c.hls.strategy != "latency" && c.hls.strategy != "resource")
    throw UsageError("--strategy must be 'latency' or 'resource', got '" + c.hls.strategy + "'");
  c.hls.part = args.get("--part", c.hls.part);
  if (args.has("--clock")) {
    const std::string v = args.get("--clock");
    char* end = nullptr;
    double ns = std::strtod(v.c_str(), &end);
    if (v.empty() || *end || !(ns > 0) || ns > 1000)
      throw UsageError("--clock must be a period in ns in (0, 1000], got '" + v + "'");
    c.hls.clock_ns = ns;
  }
  return c;
}

CompiledProgram compile_program(const std::string& path, const CodegenArgs& args) {
  return codegen::compile_program(load_model_file(path),
                                  std::filesystem::path(path).stem().string(), args);
}

}  // namespace bitsmith::cli
