// Code generation for the Python front (python/bitsmith/codegen.py): compile a
// loaded model into a project folder, and the host toolchain commands that build it.
#include <nanobind/nanobind.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>

#include <filesystem>

#include "codegen/compile.h"
#include "codegen/text.h"

namespace nb = nanobind;

namespace bitsmith::py {
namespace {

nb::list buffers(const codegen::Program& p, const std::vector<int>& which) {
  nb::list out;
  for (int i : which) {
    const codegen::Buffer& b = p.buffers[static_cast<size_t>(i)];
    nb::list shape;
    for (int64_t d : b.shape) shape.append(d);
    out.append(nb::make_tuple(b.value, nb::tuple(shape)));
  }
  return out;
}

nb::dict compile_project(const std::shared_ptr<CompiledModel>& model, const std::string& dir,
                         const std::string& target, const std::string& name, bool cut_float_tail,
                         const std::string& io, int reuse_factor, const std::string& strategy,
                         const std::string& part, double clock_ns) {
  codegen::CompileOptions o;
  o.target = target;
  o.name = name;
  o.cut_float_tail = cut_float_tail;
  o.hls.io = io;
  o.hls.reuse_factor = reuse_factor;
  o.hls.strategy = strategy;
  o.hls.part = part;
  o.hls.clock_ns = clock_ns;
  codegen::CompiledProgram cp;
  {
    nb::gil_scoped_release unlocked;
    // Named after the file, as the CLI names it; models loaded from bytes by their graph.
    const std::string& src = model->reference().source;
    const std::string stem = std::filesystem::path(src).stem().string();
    cp = codegen::compile_program(model->reference_ptr(),
                                  src == "<bytes>" || stem.empty() ? model->reference().name : stem,
                                  o);
    codegen::write_project(codegen::emit_project(cp.program, o), dir);
  }
  nb::dict out;
  out["name"] = cp.program.name;
  nb::list steps, notes;
  for (const codegen::Step& s : cp.program.steps) steps.append(codegen::describe(cp.program, s));
  for (const std::string& n : cp.program.notes) notes.append(n);
  out["steps"] = steps;
  out["notes"] = notes;
  out["inputs"] = buffers(cp.program, cp.program.inputs);
  out["outputs"] = buffers(cp.program, cp.program.outputs);
  return out;
}

}  // namespace

void bind_codegen(nb::module_& m) {
  m.def("compile_project", &compile_project, nb::arg("model"), nb::arg("dir"),
        nb::arg("target") = "cpp", nb::arg("name") = "", nb::arg("cut_float_tail") = false,
        nb::arg("io") = "parallel", nb::arg("reuse_factor") = 1, nb::arg("strategy") = "latency",
        nb::arg("part") = codegen::HlsOptions().part, nb::arg("clock_ns") = 5.0,
        "Generates the project into dir (atomically); returns its name, steps, notes, inputs "
        "and outputs.");
  m.def("find_ap_types", &codegen::find_ap_types, nb::arg("given") = "", nb::arg("python") = "",
        "The ap_types headers the hls target's C simulation builds against.");
  m.def(
      "build_command",
      [](const std::string& dir, const std::string& name, const std::string& target,
         const std::string& ap_types) {
        codegen::BuildCommand b = codegen::build_command(dir, name, target, ap_types);
        return std::make_pair(b.command, b.exe);
      },
      nb::arg("dir"), nb::arg("name"), nb::arg("target"), nb::arg("ap_types") = "",
      "The host compiler command building a generated project's testbench, and the executable.");
}

}  // namespace bitsmith::py
