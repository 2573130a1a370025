// Generated projects: the emitters' output as (relative path, text) pairs, and the
// one way they reach the disk (written into a temporary sibling folder, then
// renamed into place, so a failed or interrupted compile leaves no half project).
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "codegen/program.h"

namespace bitsmith::codegen {

struct GeneratedFile {
  std::string path;  // relative to the project folder
  std::string text;
};
using Project = std::vector<GeneratedFile>;

// `bitsmith compile --target cpp`: a self-contained C++17 project.
Project emit_cpp(const Program& program);

// One step as a plain C++ function: the cpp target's code. The hls target uses it
// for the host-side steps (in its testbench), and with hls = true (ap_int types) for
// device steps that need no pragmas of their own.
std::string cpp_step(const Program& program, const Step& step, bool hls = false);
std::string cpp_type(const Program& program, const Buffer& buffer);

struct HlsOptions {
  std::string io = "parallel";       // "parallel" (arrays) | "stream" (hls::stream)
  int reuse_factor = 1;              // hls4ml's ReuseFactor
  std::string strategy = "latency";  // hls4ml's Strategy: "latency" | "resource"
  std::string part = "xcvu13p-flga2577-2-e";
  double clock_ns = 5.0;
};

// `bitsmith compile --target hls`: a Vitis HLS project (top function, testbench,
// build_prj.tcl).
Project emit_hls(const Program& program, const HlsOptions& options);

// Writes the project into `dir`, replacing a folder bitsmith wrote before (one
// holding .bitsmith-project); refuses to overwrite any other non-empty folder.
void write_project(const Project& project, const std::string& dir);

// The helper headers every generated project carries (src/codegen/rt/*.h), embedded
// at build time by cmake/embed_files.cmake.
const std::vector<std::pair<std::string, std::string>>& rt_files();

}  // namespace bitsmith::codegen
