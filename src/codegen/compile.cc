#include "codegen/compile.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
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

namespace {

// Where a precompiled ap_int.h is kept between builds: the headers take most of a
// C simulation's build time (0.8 s of each translation unit here), and they never
// change for one compiler, flag set and ap_types folder.
std::string pch_dir(const std::string& cxx, const std::string& flags, const std::string& ap) {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  fs::path base = xdg && *xdg     ? fs::path(xdg)
                  : home && *home ? fs::path(home) / ".cache"
                                  : fs::temp_directory_path();
  std::error_code ec;
  const auto stamp = fs::last_write_time(fs::path(ap) / "ap_int.h", ec).time_since_epoch().count();
  const size_t key =
      std::hash<std::string>{}(cxx + "|" + flags + "|" + ap + "|" + std::to_string(stamp));
  return (base / "bitsmith" / ("ap_types-" + std::to_string(key))).string();
}

}  // namespace

BuildCommand build_command(const std::string& dir, const std::string& name,
                           const std::string& target, const std::string& ap_types) {
  const char* cxx_env = std::getenv("CXX");
  const std::string cxx = shell_quote(cxx_env && *cxx_env ? cxx_env : "c++");
  const fs::path d(dir);
  BuildCommand b;
  b.exe = (d / (name + "_tb")).string();
  // The two translation units compile side by side, then link.
  auto parallel = [&](const std::string& flags, const std::string& a, const std::string& t) {
    const std::string oa = shell_quote((d / (name + ".o")).string()),
                      ot = shell_quote((d / (name + "_test.o")).string());
    return cxx + " " + flags + " -c " + a + " -o " + oa + " & p=$!; " + cxx + " " + flags + " -c " +
           t + " -o " + ot + " && wait $p && " + cxx + " " + oa + " " + ot + " -o " +
           shell_quote(b.exe);
  };
  if (target == "hls") {
    const std::string flags =
        "-std=c++14 -O2 -Wall -Wextra -Werror -Wno-unknown-pragmas -Wno-unused-label "
        "-Wno-uninitialized -Wno-maybe-uninitialized";
    const std::string pch = pch_dir(cxx, flags, ap_types), q = shell_quote(pch);
    const std::string ap = shell_quote(ap_types);
    // The precompiled header is made once (atomically: under a temporary name, then
    // renamed) from a one-line wrapper, so ap_int.h stays a system header inside it
    // (its own warnings stay silent); without it the build is the same, only slower.
    const std::string wrapper = q + "/bitsmith_ap_types.h";
    const std::string make_pch = "{ [ -f " + wrapper + ".gch ] || { mkdir -p " + q +
                                 " && echo '#include <ap_int.h>' > " + wrapper + " && " + cxx +
                                 " " + flags + " -isystem " + ap + " -x c++-header " + wrapper +
                                 " -o " + wrapper + ".gch.$$ && mv " + wrapper + ".gch.$$ " +
                                 wrapper + ".gch; } ; } >/dev/null 2>&1; set --; [ -f " + wrapper +
                                 ".gch ] && set -- -include " + wrapper + "; ";
    const std::string use =
        flags + " -isystem " + ap + " \"$@\" -I " + shell_quote((d / "firmware").string());
    b.command = make_pch + parallel(use, shell_quote((d / "firmware" / (name + ".cpp")).string()),
                                    shell_quote((d / (name + "_test.cpp")).string()));
  } else {
    b.command = parallel("-std=c++17 -O2 -Wall -Wextra -Werror -pedantic",
                         shell_quote((d / (name + ".cc")).string()),
                         shell_quote((d / "testbench.cc").string()));
  }
  return b;
}

}  // namespace bitsmith::codegen
