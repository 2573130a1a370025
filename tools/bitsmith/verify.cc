// `bitsmith verify MODEL --target cpp|hls --samples N`: generates the project,
// builds it with the host compiler (the hls target against the ap_types headers
// that ship with hls4ml), runs its testbench on N inputs and counts outputs that
// differ from the exact engine's. Exit status 1 when any differs.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <sstream>

#include "codegen_cli.h"
#include "core/error.h"
#include "core/float_order.h"
#include "json.h"
#include "npy.h"

namespace bitsmith::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const std::string kHelp =
    std::string(
        "usage: bitsmith verify MODEL [--target cpp|hls] [--samples N] [--input FILE]\n"
        "                             [--seed S] [--keep DIR] [--ap-types DIR] [--json] "
        "[options]\n\n"
        "Generates the project, builds it with the host C++ compiler ($CXX, default c++), runs "
        "its\n"
        "testbench and compares every output with the exact engine's. Exit status 0 when all are\n"
        "equal, 1 when any differs.\n\n"
        "options:\n"
        "  --samples N            random inputs (default 10000): each input is drawn around the\n"
        "                         model's own input grid (float thresholds and their neighbours,\n"
        "                         fixed-point values across the range)\n"
        "  --input FILE           use these float32 inputs instead: .npy (single-input models) or\n"
        "                         .npz (np.savez, one array per input name)\n"
        "  --seed S               random seed (default 0)\n"
        "  --keep DIR             keep the generated project and its build in DIR\n"
        "  --ap-types DIR         hls: the ap_types headers (default: $BITSMITH_AP_TYPES, else "
        "the\n"
        "                         copy inside the installed hls4ml Python package)\n"
        "  --json                 print the result as JSON\n") +
    codegen_options_help() + "  -h, --help             this text\n";

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Random inputs around the grid the program reads each input on.
void fill_samples(const codegen::Program& p, int input, std::vector<float>& x,
                  std::mt19937_64& rng) {
  const codegen::Step* reader = nullptr;
  for (const codegen::Step& s : p.steps)
    if (!reader && !s.in.empty() && s.in[0] == input) reader = &s;
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::normal_distribution<double> normal(0.0, 1.0);
  if (reader && reader->kind == codegen::StepKind::kFloatThresholds) {
    std::vector<float> t;
    for (uint32_t k : reader->keys) {
      float v = float_of_key(k);
      if (std::isfinite(v)) t.push_back(v);
    }
    if (t.empty()) t.push_back(0.0f);
    const double lo = t.front(), hi = t.back(), span = std::max(hi - lo, 1.0);
    for (float& v : x) {
      const double r = u(rng);
      if (r < 0.3) {  // on a threshold or one float32 step beside it
        const float at = t[static_cast<size_t>(u(rng) * static_cast<double>(t.size())) % t.size()];
        const double side = u(rng);
        v = side < 1.0 / 3 ? at : std::nextafter(at, side < 2.0 / 3 ? -INFINITY : INFINITY);
      } else {
        v = static_cast<float>(lo - span / 4 + u(rng) * (span * 1.5));
      }
    }
  } else if (reader && reader->kind == codegen::StepKind::kFixedInput) {
    // Magnitudes across the fixed-point range, kept on its grid.
    const double top = std::ldexp(1.0, reader->bits + reader->exp);
    for (float& v : x) {
      double d = normal(rng) * std::ldexp(1.0, static_cast<int>(u(rng) * 8) - 3);
      d = std::max(-top * 0.999, std::min(top * 0.999, d));
      float f = static_cast<float>(d);
      const double q = std::ldexp(static_cast<double>(f), -reader->exp);
      v = q == std::trunc(q) ? f : 0.0f;
    }
  } else {
    for (float& v : x) v = static_cast<float>(normal(rng));
  }
}

// Bit for bit (so +0 and -0 differ); any NaN equals any NaN.
bool same(float a, float b) {
  uint32_t x, y;
  std::memcpy(&x, &a, 4);
  std::memcpy(&y, &b, 4);
  return x == y || (std::isnan(a) && std::isnan(b));
}

int run(const std::vector<std::string>& argv) {
  std::vector<OptionSpec> specs = codegen_options();
  for (const char* o : {"--samples", "--input", "--seed", "--keep", "--ap-types"})
    specs.push_back({o, true});
  specs.push_back({"--json", false});
  Args args = parse_args(argv, specs);
  if (args.help) {
    std::cout << kHelp;
    return 0;
  }
  if (args.positional.size() != 1) throw UsageError("takes exactly one MODEL argument");
  CodegenArgs c = parse_codegen(args);
  const std::string sv = args.get("--samples", "10000");
  char* end = nullptr;
  const long long samples = std::strtoll(sv.c_str(), &end, 10);
  if (sv.empty() || *end || samples < 1 || samples > 100000000)
    throw UsageError("--samples must be an integer in 1..100000000, got '" + sv + "'");
  const std::string seed_s = args.get("--seed", "0");
  const unsigned long long seed = std::strtoull(seed_s.c_str(), &end, 10);
  if (seed_s.empty() || *end) throw UsageError("--seed must be a non-negative integer");
  const std::string ap_types =
      c.target == "hls" ? codegen::find_ap_types(args.get("--ap-types")) : "";

  auto t0 = Clock::now();
  CompiledProgram cp = compile_program(args.positional[0], c);
  const codegen::Program& p = cp.program;
  codegen::Project project = emit_project(p, c);
  const double t_generate = seconds_since(t0);

  // Inputs: random on each input's grid, or given (.npy for a single input, .npz by
  // input name).
  TensorMap feeds;
  std::vector<std::vector<float>> given(p.inputs.size());
  int64_t n = samples;
  if (args.has("--input")) {
    const std::string file = args.get("--input");
    std::map<std::string, NpyArray> arrays;
    if (file.size() > 4 && file.compare(file.size() - 4, 4, ".npz") == 0) {
      arrays = read_npz(file);
    } else if (p.inputs.size() == 1) {
      arrays[p.buffers[static_cast<size_t>(p.inputs[0])].value] = read_npy(file);
    } else {
      throw UsageError("--input: a model with several inputs needs an .npz keyed by input name");
    }
    n = -1;
    for (size_t k = 0; k < p.inputs.size(); ++k) {
      const codegen::Buffer& b = p.buffers[static_cast<size_t>(p.inputs[k])];
      auto it = arrays.find(b.value);
      if (it == arrays.end() && arrays.size() == 1 && p.inputs.size() == 1) it = arrays.begin();
      if (it == arrays.end()) throw Error(ErrorKind::kInput, file + ": no array '" + b.value + "'");
      if (it->second.dtype != "float32")
        throw Error(ErrorKind::kInput, file + ": input '" + b.value + "' must be float32");
      const int64_t count = static_cast<int64_t>(it->second.f32.size());
      if (count % b.size || (n >= 0 && count / b.size != n)) {
        throw Error(ErrorKind::kInput,
                    file + ": input '" + b.value + "' holds " + std::to_string(count) +
                        " values, not " +
                        (n >= 0 ? std::to_string(n) + " samples" : "whole samples") + " of " +
                        std::to_string(b.size));
      }
      n = count / b.size;
      given[k] = std::move(it->second.f32);
    }
  }
  std::mt19937_64 rng(seed);
  int64_t in_size = 0;
  for (int i : p.inputs) in_size += p.buffers[static_cast<size_t>(i)].size;
  std::vector<float> packed(static_cast<size_t>(n * in_size));  // per sample, inputs concatenated
  int64_t offset = 0;
  for (size_t k = 0; k < p.inputs.size(); ++k) {
    const codegen::Buffer& b = p.buffers[static_cast<size_t>(p.inputs[k])];
    std::vector<float> x = std::move(given[k]);
    if (x.empty()) {
      x.resize(static_cast<size_t>(n * b.size));
      fill_samples(p, p.inputs[k], x, rng);
    }
    for (int64_t s = 0; s < n; ++s)
      std::copy(x.begin() + s * b.size, x.begin() + (s + 1) * b.size,
                packed.begin() + s * in_size + offset);
    Shape shape = b.shape;
    shape[0] = n;
    feeds[b.value] = Tensor::from_f32(shape, std::move(x));
    offset += b.size;
  }

  t0 = Clock::now();
  RunOptions ro;
  ro.mode = Mode::kExact;
  TensorMap want = cp.model->run(feeds, ro, Engine::kFast);
  const double t_engine = seconds_since(t0);

  // The project, built and run.
  fs::path dir;
  bool keep = args.has("--keep");
  if (keep) {
    dir = args.get("--keep");
    codegen::write_project(project, dir.string());
  } else {
    std::string tmpl = (fs::temp_directory_path() / "bitsmith-verify-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw Error(ErrorKind::kIo, "cannot create a temporary folder");
    dir = fs::path(tmpl) / "project";
    codegen::write_project(project, dir.string());
  }
  const codegen::BuildCommand build =
      codegen::build_command(dir.string(), p.name, c.target, ap_types);
  t0 = Clock::now();
  codegen::run_command("building the generated project", build.command,
                       (dir / "build.log").string());
  const double t_build = seconds_since(t0);
  {
    std::ofstream f(dir / "inputs.bin", std::ios::binary);
    f.write(reinterpret_cast<const char*>(packed.data()),
            static_cast<std::streamsize>(packed.size() * sizeof(float)));
  }
  t0 = Clock::now();
  codegen::run_command("running the testbench",
                       codegen::shell_quote(build.exe) + " " +
                           codegen::shell_quote((dir / "inputs.bin").string()) + " " +
                           codegen::shell_quote((dir / "outputs.bin").string()),
                       (dir / "run.log").string());
  const double t_run = seconds_since(t0);
  std::vector<float> got;
  {
    std::ifstream f(dir / "outputs.bin", std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    got.resize(bytes.size() / sizeof(float));
    std::memcpy(got.data(), bytes.data(), got.size() * sizeof(float));
  }

  // Compare, output by output, sample by sample.
  int64_t out_size = 0;
  for (int o : p.outputs) out_size += p.buffers[static_cast<size_t>(o)].size;
  if (static_cast<int64_t>(got.size()) != n * out_size) {
    throw Error(ErrorKind::kRuntime, "the testbench wrote " + std::to_string(got.size()) +
                                         " values, expected " + std::to_string(n * out_size));
  }
  int64_t mismatches = 0, values = 0;
  std::vector<std::string> examples;
  offset = 0;
  for (int o : p.outputs) {
    const codegen::Buffer& b = p.buffers[static_cast<size_t>(o)];
    const Tensor w = want.at(b.value).to(ElemType::kFloat32);
    for (int64_t s = 0; s < n; ++s) {
      for (int64_t j = 0; j < b.size; ++j) {
        const float e = w.f32()[static_cast<size_t>(s * b.size + j)];
        const float a = got[static_cast<size_t>(s * out_size + offset + j)];
        ++values;
        if (same(e, a)) continue;
        if (++mismatches <= 5) {
          std::ostringstream m;
          m.precision(9);
          m << "sample " << s << " output '" << b.value << "'[" << j << "]: engine " << e
            << ", generated " << a;
          examples.push_back(m.str());
        }
      }
    }
    offset += b.size;
  }
  if (!keep) fs::remove_all(dir.parent_path());

  if (args.has("--json")) {
    Json j;
    j.begin_object()
        .key("target")
        .value(c.target)
        .key("samples")
        .value(static_cast<int64_t>(n))
        .key("values")
        .value(values)
        .key("mismatches")
        .value(mismatches)
        .key("seconds")
        .begin_object()
        .key("generate")
        .number(t_generate)
        .key("build")
        .number(t_build)
        .key("run")
        .number(t_run)
        .key("engine")
        .number(t_engine)
        .end_object()
        .key("examples")
        .begin_array();
    for (const std::string& e : examples) j.value(e);
    j.end_array().end_object();
    std::cout << j.str() << "\n";
  } else {
    std::cout << "verify " << c.target << ": " << n << " samples, " << values << " output values, "
              << mismatches << " mismatches\n"
              << "  generate " << t_generate << " s, build " << t_build << " s, run " << t_run
              << " s (" << static_cast<double>(n) / std::max(t_run, 1e-9) << " samples/s), engine "
              << t_engine << " s\n";
    for (const std::string& e : examples) std::cout << "  " << e << "\n";
  }
  return mismatches ? 1 : 0;
}

const CommandRegistrar kVerify({"verify", "build generated code and compare it with the engine",
                                run, 41});

}  // namespace
}  // namespace bitsmith::cli
