#include "codegen/compile.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace bitsmith::codegen {

namespace fs = std::filesystem;

CompiledProgram compile_program(std::shared_ptr<Graph> graph, const std::string& default_name,
                                const CompileOptions& options) {
  ProgramOptions po;
  po.name = options.name.empty() ? c_ident(default_name) : options.name;
  if (options.cut_float_tail) graph = without_float_tail(*graph, &po.notes);
  CompiledProgram out;
  out.model = std::make_shared<CompiledModel>(graph);
  const Graph& lowered = out.model->lowered();
  try {
    out.program = make_program(lowered, po);
  } catch (const Error& e) {
    // Add what the lowering said about the node, when it said something.
    std::string msg = e.what();
    for (const std::string& line : out.model->report().left) {
      const size_t q = line.find('\'', 6);
      if (line.rfind("node '", 0) == 0 && q != std::string::npos &&
          msg.find(line.substr(0, q + 1)) != std::string::npos) {
        msg += " (lowering: " + line + ")";
        break;
      }
    }
    throw Error(e.kind(), msg);
  }
  return out;
}

Project emit_project(const Program& program, const CompileOptions& options) {
  return options.target == "hls" ? emit_hls(program, options.hls) : emit_cpp(program);
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

void run_command(const std::string& what, const std::string& command, const std::string& log) {
  const int rc = std::system((command + " > " + shell_quote(log) + " 2>&1").c_str());
  if (rc != 0) {
    std::ifstream in(log);
    std::stringstream text;
    text << in.rdbuf();
    std::string t = text.str();
    if (t.size() > 4000) t = t.substr(0, 4000) + "\n...";
    throw Error(ErrorKind::kRuntime, what + " failed (" + command + "):\n" + t);
  }
}

std::string find_ap_types(const std::string& given, const std::string& python) {
  if (!given.empty()) return given;
  if (const char* env = std::getenv("BITSMITH_AP_TYPES"); env && *env) return env;
  std::vector<std::string> pythons;
  if (!python.empty()) pythons.push_back(python);
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (const char* py : {"python3", "python"})
      if (fs::exists(self.parent_path() / py))
        pythons.push_back((self.parent_path() / py).string());
  }
  pythons.push_back("python3");
  for (const std::string& py : pythons) {
    const std::string cmd =
        shell_quote(py) +
        " -c \"import os, hls4ml; print(os.path.join(os.path.dirname(hls4ml.__file__), "
        "'templates', 'vivado', 'ap_types'))\" 2>/dev/null";
    if (std::FILE* f = popen(cmd.c_str(), "r")) {
      char buf[4096] = {0};
      std::string out = std::fgets(buf, sizeof buf, f) ? buf : "";
      pclose(f);
      while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
      if (!out.empty() && fs::exists(fs::path(out) / "ap_int.h")) return out;
    }
  }
  throw Error(ErrorKind::kIo,
              "the hls target's C simulation needs the ap_types headers: install hls4ml "
              "(pip install hls4ml) or pass --ap-types DIR / set BITSMITH_AP_TYPES");
}

BuildCommand build_command(const std::string& dir, const std::string& name,
                           const std::string& target, const std::string& ap_types) {
  const char* cxx_env = std::getenv("CXX");
  const std::string cxx = cxx_env && *cxx_env ? cxx_env : "c++";
  const fs::path d(dir);
  BuildCommand b;
  b.exe = (d / (name + "_tb")).string();
  if (target == "hls") {
    b.command = shell_quote(cxx) +
                " -std=c++14 -O2 -Wall -Wextra -Werror -Wno-unknown-pragmas -Wno-unused-label "
                "-Wno-uninitialized -Wno-maybe-uninitialized -isystem " +
                shell_quote(ap_types) + " -I " + shell_quote((d / "firmware").string()) + " " +
                shell_quote((d / "firmware" / (name + ".cpp")).string()) + " " +
                shell_quote((d / (name + "_test.cpp")).string()) + " -o " + shell_quote(b.exe);
  } else {
    b.command = shell_quote(cxx) + " -std=c++17 -O2 -Wall -Wextra -Werror -pedantic " +
                shell_quote((d / (name + ".cc")).string()) + " " +
                shell_quote((d / "testbench.cc").string()) + " -o " + shell_quote(b.exe);
  }
  return b;
}

}  // namespace bitsmith::codegen
