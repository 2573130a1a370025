// `bitsmith run MODEL --input NAME=FILE.npy ... [--mode exact|float]
// [--output FILE.npz] [--json]`: runs the reference executor on .npy inputs.
#include <cmath>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "cli.h"
#include "json.h"
#include "npy.h"
#include "onnx/import.h"
#include "runtime/engine.h"
#include "runtime/session.h"

namespace bitsmith::cli {
namespace {

const char* kHelp =
    "usage: bitsmith run MODEL --input NAME=FILE.npy [--input ...] [--mode exact|float]\n"
    "                          [--output FILE.npz] [--json] [--intermediates] [--allow-nan]\n\n"
    "Runs the model on inputs read from .npy files (float32, or int64 where the model\n"
    "declares int64; any batch size). With a single-input model NAME= may be left out.\n\n"
    "options:\n"
    "  --input NAME=FILE.npy  an input (repeat for each input)\n"
    "  --mode MODE            exact (default: every rounding on the true value) or float\n"
    "  --engine ENGINE        fast (default: the integer engine, same bits in exact mode) or\n"
    "                         reference (the op-by-op reference executor)\n"
    "  --threads N            threads for the integer kernels (default: BITSMITH_THREADS or all\n"
    "                         cores; outputs do not depend on it)\n"
    "                         (float32 arithmetic as qonnx/onnxruntime compute it)\n"
    "  --output FILE.npz      save the outputs (np.load(FILE)[name]); written atomically\n"
    "  --intermediates        save/print every value, not only the outputs\n"
    "  --allow-nan            accept NaN in the inputs\n"
    "  --json                 print names, shapes and values as JSON\n"
    "  -h, --help             this text\n";

// numpy-style nested brackets for small arrays.
void print_values(std::ostream& os, const Tensor& t, size_t dim, int64_t& pos, int indent) {
  const Shape& s = t.shape();
  if (s.empty()) {
    if (t.type() == ElemType::kInt64) {
      os << t.i64()[0];
    } else {
      os << t.f32()[0];
    }
    return;
  }
  os << "[";
  for (int64_t i = 0; i < s[dim]; ++i) {
    if (i) {
      os << (dim + 1 < s.size() ? ",\n" + std::string(static_cast<size_t>(indent + 1), ' ') : ", ");
    }
    if (dim + 1 < s.size()) {
      print_values(os, t, dim + 1, pos, indent + 1);
    } else if (t.type() == ElemType::kInt64) {
      os << t.i64()[static_cast<size_t>(pos++)];
    } else {
      os << t.f32()[static_cast<size_t>(pos++)];
    }
  }
  os << "]";
}

struct Summary {
  double min = NAN, max = NAN, mean = NAN;
  int64_t nan_count = 0;
};

Summary summarize(const Tensor& t) {
  Summary s;
  double sum = 0;
  int64_t n = 0;
  for (int64_t i = 0; i < t.size(); ++i) {
    double v = t.as_double(i);
    if (std::isnan(v)) {
      ++s.nan_count;
      continue;
    }
    if (n == 0 || v < s.min) s.min = v;
    if (n == 0 || v > s.max) s.max = v;
    sum += v;
    ++n;
  }
  if (n) s.mean = sum / static_cast<double>(n);
  return s;
}

// Reads one --input; the dtype must match the input's declared storage exactly
// (the same rule, and message, as bitsmith.Model.run in Python).
Tensor read_input(const Graph& g, const std::string& name, const std::string& file) {
  NpyArray a = read_npy(file);
  const ValueInfo* info = nullptr;
  for (const auto& in : g.inputs) {
    if (in.name == name) info = &in;
  }
  if (!info) return Tensor();  // execute() reports the unknown name with the model's input names
  std::string want = elem_type_name(info->elem);
  if (a.dtype != want)
    fail(ErrorKind::kInput,
         g.source + ": input '" + name + "' must be " + want + ", got " + a.dtype);
  if (a.dtype == "int64") return Tensor::from_i64(a.shape, std::move(a.i64));
  return Tensor::from_f32(a.shape, std::move(a.f32));
}

// Values in a stable order: graph outputs as declared, or with intermediates
// inputs and node outputs in execution order.
std::vector<std::string> ordered_names(const Graph& g, const TensorMap& out, bool intermediates) {
  std::vector<std::string> names;
  std::set<std::string> seen;
  auto add = [&](const std::string& n) {
    if (out.count(n) && seen.insert(n).second) names.push_back(n);
  };
  if (intermediates) {
    for (const auto& in : g.inputs) add(in.name);
    for (const auto& n : g.nodes) {
      for (const auto& o : n.outputs) add(o);
    }
  }
  for (const auto& o : g.outputs) add(o.name);
  for (const auto& [n, t] : out) add(n);
  return names;
}

constexpr int64_t kJsonValueLimit = 4096;  // larger arrays get only the summary in --json

int run_run(const std::vector<std::string>& argv) {
  Args args = parse_args(argv, {{"--input", true},
                                {"--mode", true},
                                {"--engine", true},
                                {"--threads", true},
                                {"--output", true},
                                {"--json", false},
                                {"--intermediates", false},
                                {"--allow-nan", false}});
  if (args.help) {
    std::cout << kHelp;
    return 0;
  }
  if (args.positional.size() != 1) {
    throw UsageError(args.positional.empty() ? "missing the MODEL argument"
                                             : "takes exactly one MODEL argument");
  }
  RunOptions opt;
  std::string mode = args.get("--mode", "exact");
  if (mode != "exact" && mode != "float")
    throw UsageError("--mode must be 'exact' or 'float', got '" + mode + "'");
  opt.mode = parse_mode(mode);
  opt.keep_intermediates = args.has("--intermediates");
  opt.allow_nan = args.has("--allow-nan");
  const bool json = args.has("--json");
  std::string engine = args.get("--engine", "fast");
  if (engine != "fast" && engine != "reference")
    throw UsageError("--engine must be 'fast' or 'reference', got '" + engine + "'");
  if (args.has("--threads")) {
    std::string t = args.get("--threads");
    char* end = nullptr;
    long v = std::strtol(t.c_str(), &end, 10);
    if (t.empty() || *end || v < 1 || v > 1024)
      throw UsageError("--threads must be an integer in 1..1024, got '" + t + "'");
    opt.threads = static_cast<int>(v);
  }

  std::shared_ptr<Graph> g = load_model_file(args.positional[0]);
  // NAME=FILE pairs, sorted by name (as the Python front reads a dict) so both report the same
  // first error.
  std::map<std::string, std::string> files;
  if (args.has("--input")) {
    for (const std::string& spec : args.values.at("--input")) {
      std::string name, file;
      if (size_t eq = spec.find('='); eq != std::string::npos) {
        name = spec.substr(0, eq);
        file = spec.substr(eq + 1);
      } else if (g->inputs.size() == 1) {
        name = g->inputs[0].name;
        file = spec;
      } else {
        throw UsageError("--input '" + spec + "' needs the form NAME=FILE.npy (the model has " +
                         std::to_string(g->inputs.size()) + " inputs)");
      }
      if (file.empty()) throw UsageError("--input '" + spec + "' names no file");
      if (!files.emplace(name, file).second)
        throw UsageError("input '" + name + "' is given twice");
    }
  }
  TensorMap feeds;
  for (const auto& [name, file] : files) feeds[name] = read_input(*g, name, file);
  CompiledModel model(g);
  TensorMap out = model.run(feeds, opt, parse_engine(engine));
  feeds.clear();
  std::vector<std::string> names = ordered_names(*g, out, opt.keep_intermediates);

  std::string output = args.get("--output");
  if (!output.empty()) {
    std::vector<std::pair<std::string, const Tensor*>> arrays;
    for (const auto& n : names) arrays.emplace_back(n, &out.at(n));
    write_npz(output, arrays);
  }

  if (json) {
    Json j;
    j.begin_object();
    j.key("model").value(g->source);
    j.key("mode").value(mode);
    j.key("outputs").begin_array();
    for (const auto& n : names) {
      const Tensor& t = out.at(n);
      Summary s = summarize(t);
      j.begin_object();
      j.key("name").value(n);
      j.key("shape").begin_array();
      for (int64_t d : t.shape()) j.value(d);
      j.end_array();
      j.key("dtype").value(elem_type_name(t.type()));
      j.key("min").number(s.min);
      j.key("max").number(s.max);
      j.key("mean").number(s.mean);
      j.key("nan_count").value(s.nan_count);
      if (t.size() <= kJsonValueLimit) {
        j.key("values").begin_array();
        for (int64_t i = 0; i < t.size(); ++i) {
          if (t.type() == ElemType::kInt64) {
            j.value(t.i64()[static_cast<size_t>(i)]);
          } else {
            j.number(t.f32()[static_cast<size_t>(i)]);
          }
        }
        j.end_array();
      }
      j.end_object();
    }
    j.end_array();
    j.key("output_file");
    if (output.empty()) {
      j.null();
    } else {
      j.value(output);
    }
    j.end_object();
    std::cout << j.str() << "\n";
    return 0;
  }

  std::ostringstream os;
  os.precision(9);  // enough digits to tell any two float32 values apart
  for (const auto& n : names) {
    const Tensor& t = out.at(n);
    Summary s = summarize(t);
    os << n << ": " << shape_str(t.shape()) << " " << elem_type_name(t.type()) << "  min " << s.min
       << "  max " << s.max << "  mean " << s.mean;
    if (s.nan_count) os << "  NaN " << s.nan_count;
    os << "\n";
    if (t.size() <= 100) {
      int64_t pos = 0;
      print_values(os, t, 0, pos, 0);
      os << "\n";
    }
  }
  if (!output.empty()) os << "wrote " << output << " (" << names.size() << " arrays)\n";
  std::cout << os.str();
  return 0;
}

const CommandRegistrar kRun({"run", "run a model on .npy inputs (exact or float mode)", run_run,
                             20});

}  // namespace
}  // namespace bitsmith::cli
