// The bitsmith._core extension: a loaded model (Graph) that runs numpy/DLPack
// arrays, and bitsmith::Error raised as the Python classes of bitsmith._errors.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <map>
#include <memory>
#include <set>
#include <string>

#include "arrays.h"
#include "core/error.h"
#include "onnx/import.h"
#include "runtime/engine.h"
#include "runtime/session.h"

namespace nb = nanobind;

namespace bitsmith::py {

void bind_quantize(nb::module_& m);  // quantize_bindings.cc
void bind_codegen(nb::module_& m);   // codegen_bindings.cc

namespace {

// The Python classes, one per ErrorKind; held for the life of the process
// (never released, so interpreter shutdown order cannot matter).
PyObject* g_classes[6] = {};
PyObject* g_base = nullptr;

void load_error_classes() {
  nb::module_ errors = nb::module_::import_("bitsmith._errors");
  g_base = errors.attr("Error").inc_ref().ptr();
  const ErrorKind kinds[] = {ErrorKind::kParse, ErrorKind::kUnsupported, ErrorKind::kInvalidModel,
                             ErrorKind::kInput, ErrorKind::kRuntime,     ErrorKind::kIo};
  for (ErrorKind k : kinds) {
    g_classes[static_cast<int>(k)] = errors.attr(error_kind_name(k)).inc_ref().ptr();
  }
}

void raise_kind(ErrorKind kind, const char* message) {
  int k = static_cast<int>(kind);
  PyObject* cls = k >= 0 && k < 6 && g_classes[k] ? g_classes[k] : g_base;
  PyErr_SetString(cls ? cls : PyExc_RuntimeError, message);
}

void translate(const std::exception_ptr& p, void*) {
  try {
    std::rethrow_exception(p);
  } catch (const Error& e) {
    raise_kind(e.kind(), e.what());
  } catch (const ExactOverflow& e) {
    // Only the low-level functions can let this escape; the executor names the node.
    raise_kind(ErrorKind::kRuntime, (std::string(e.what()) + " in exact arithmetic").c_str());
  }
}

nb::tuple shape_tuple(const ValueInfo& v) {
  nb::list dims;
  for (int64_t d : v.shape) {
    if (d < 0) {
      dims.append(nb::none());
    } else {
      dims.append(d);
    }
  }
  return nb::tuple(dims);
}

// (name, shape or None, dtype, qtype) for each value; the Python side wraps them in TensorInfo.
nb::list describe(const Graph& g, const std::vector<ValueInfo>& values) {
  nb::list out;
  for (const ValueInfo& v : values) {
    DataType qtype = v.dtype;
    ElemType elem = v.elem;
    if (auto it = g.value_info.find(v.name); it != g.value_info.end()) {
      // Inference fills in types an annotation alone does not give.
      if (qtype == DataType()) qtype = it->second.dtype;
      elem = it->second.elem;
    }
    nb::object shape = v.has_shape ? nb::object(shape_tuple(v)) : nb::none();
    out.append(nb::make_tuple(v.name, shape, elem_type_name(elem), qtype.name()));
  }
  return out;
}

// str(h) as Python computes it (nb::str(object) would only reinterpret, not convert).
std::string py_str(nb::handle h) {
  return nb::str(h).c_str();
}

// One feed: dtype must match the model's input exactly (no silent casts).
Tensor to_feed(const Graph& g, const std::string& name, nb::handle value) {
  const ValueInfo* info = nullptr;
  for (const auto& in : g.inputs) {
    if (in.name == name) info = &in;
  }
  AnyArray arr;
  if (!nb::try_cast(value, arr)) {
    std::string want = info ? elem_type_name(info->elem) : "float32";
    if (nb::hasattr(value, "dtype")) {
      fail(ErrorKind::kInput, g.source + ": input '" + name + "' must be " + want + ", got " +
                                  py_str(nb::object(value.attr("dtype"))));
    }
    fail(ErrorKind::kInput, g.source + ": input '" + name + "' must be a " + want + " array, got " +
                                py_str(nb::object(value.type().attr("__name__"))));
  }
  // An unknown name gets a placeholder; execute() reports it with the model's input names.
  if (!info) return Tensor();
  if (info->elem == ElemType::kInt64) {
    if (!has_dtype<int64_t>(arr)) {
      fail(ErrorKind::kInput,
           g.source + ": input '" + name + "' must be int64, got " + dtype_name(arr));
    }
    return Tensor::from_i64(shape_of(arr), copy_elements<int64_t>(arr));
  }
  if (!has_dtype<float>(arr)) {
    fail(ErrorKind::kInput,
         g.source + ": input '" + name + "' must be float32, got " + dtype_name(arr));
  }
  return Tensor::from_f32(shape_of(arr), copy_elements<float>(arr));
}

nb::dict run(const std::shared_ptr<CompiledModel>& model, nb::dict feeds, const std::string& mode,
             bool intermediates, bool allow_nan, const std::string& engine, int threads) {
  const std::shared_ptr<Graph> g = model->reference_ptr();
  const Engine eng = parse_engine(engine);
  RunOptions opt;
  opt.threads = threads;
  opt.mode = parse_mode(mode);
  opt.keep_intermediates = intermediates;
  opt.allow_nan = allow_nan;
  // Sorted by name, as the CLI reads them, so both report the same first error.
  std::map<std::string, nb::handle> sorted;
  for (auto [key, value] : feeds) {
    if (!nb::isinstance<nb::str>(key)) throw nb::type_error("feed names must be str");
    sorted[nb::cast<std::string>(key)] = value;
  }
  TensorMap tensors;
  for (const auto& [name, value] : sorted) tensors[name] = to_feed(*g, name, value);
  TensorMap out;
  {
    nb::gil_scoped_release unlocked;
    out = model->run(tensors, opt, eng);
    tensors.clear();
  }
  // Graph outputs in declaration order; with intermediates, inputs and node
  // outputs in execution order, then anything else.
  nb::dict result;
  auto emit = [&](const std::string& name) {
    auto it = out.find(name);
    if (it == out.end() || result.contains(name.c_str())) return;
    result[name.c_str()] = to_numpy(std::move(it->second));
  };
  if (intermediates) {
    for (const auto& in : g->inputs) emit(in.name);
    for (const auto& n : g->nodes) {
      for (const auto& o : n.outputs) emit(o);
    }
  }
  for (const auto& o : g->outputs) emit(o.name);
  for (const auto& [name, t] : out) emit(name);
  return result;
}

std::shared_ptr<CompiledModel> load_file(const std::string& path) {
  nb::gil_scoped_release unlocked;
  return std::make_shared<CompiledModel>(load_model_file(path));
}

std::shared_ptr<CompiledModel> load_bytes(nb::bytes data, const std::string& source) {
  std::string copy(data.c_str(), data.size());
  nb::gil_scoped_release unlocked;
  return std::make_shared<CompiledModel>(load_model_bytes(copy, source));
}

nb::dict lowering(const CompiledModel& m) {
  LowerReport r;
  {
    nb::gil_scoped_release unlocked;
    r = m.report();
  }
  nb::dict d;
  d["lowered"] = r.lowered;
  d["reference_path"] = r.left;
  return d;
}

}  // namespace
}  // namespace bitsmith::py

NB_MODULE(_core, m) {
  using namespace bitsmith;
  using namespace bitsmith::py;
  m.doc() = "bitsmith's C++ core: model loading, the reference executor, quantization primitives";
  m.attr("__version__") = BITSMITH_VERSION;
  load_error_classes();
  nb::register_exception_translator(translate);

  nb::class_<CompiledModel>(m, "Graph",
                            "A verified, shape-inferred model graph and its lowered integer form "
                            "(use bitsmith.load).")
      .def_prop_ro("name", [](const CompiledModel& c) { return c.reference().name; })
      .def_prop_ro("source", [](const CompiledModel& c) { return c.reference().source; })
      .def_prop_ro(
          "inputs",
          [](const CompiledModel& c) { return describe(c.reference(), c.reference().inputs); })
      .def_prop_ro(
          "outputs",
          [](const CompiledModel& c) { return describe(c.reference(), c.reference().outputs); })
      .def("text", [](const CompiledModel& c) { return print(c.reference()); })
      .def("lowered_text",
           [](const CompiledModel& c) {
             nb::gil_scoped_release unlocked;
             return print(c.lowered());
           })
      .def("lowering", &lowering,
           "The fused integer layers and the nodes left to the reference path.")
      .def("run", &run, nb::arg("feeds"), nb::arg("mode") = "exact",
           nb::arg("intermediates") = false, nb::arg("allow_nan") = false,
           nb::arg("engine") = "fast", nb::arg("threads") = 0,
           "Runs the graph on a dict of arrays (float32/int64 as declared); returns a dict of "
           "numpy arrays.");
  m.def("load_file", &load_file, nb::arg("path"), "Loads an ONNX/QONNX file.");
  m.def("load_bytes", &load_bytes, nb::arg("data"), nb::arg("source") = "<bytes>",
        "Loads an ONNX/QONNX model from its serialized bytes.");
  bind_quantize(m);
  bind_codegen(m);
}
