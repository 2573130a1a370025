// `--target hls`: a Vitis HLS project laid out as hls4ml lays out its own
// (firmware/, a testbench, build_prj.tcl), so its users find their way.
//
// The program splits in three: host steps that turn float32 inputs into integer
// levels (float thresholds, fixed point), the device part (integer layers: the
// top function, ap_int types sized from the proven ranges), and host steps that
// turn the device's integer outputs into float32 (exact dequantization, a final
// Softmax). The host steps are the cpp target's code, run by the testbench; the
// FPGA's interface is integer levels, as an accelerator behind a host or an ADC
// sees them.
#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "codegen/project.h"
#include "codegen/text.h"
#include "core/error.h"

#ifndef BITSMITH_VERSION
#define BITSMITH_VERSION "dev"
#endif

namespace bitsmith::codegen {
namespace {

bool is_host_in(StepKind k) {
  return k == StepKind::kFloatThresholds || k == StepKind::kFixedInput;
}
bool is_host_out(StepKind k) {
  return k == StepKind::kDequantize || k == StepKind::kSoftmax;
}

std::string ap_type(IntRange r) {
  return (r.lo < 0 ? "ap_int<" : "ap_uint<") + std::to_string(r.bits()) + ">";
}

class HlsEmitter {
 public:
  HlsEmitter(const Program& p, const HlsOptions& o) : p_(p), o_(o) { split(); }

  Project emit() {
    Project out;
    for (const auto& [name, text] : rt_files()) out.push_back({name, text});
    out.push_back({"firmware/" + p_.name + ".h", top_header()});
    out.push_back({"firmware/" + p_.name + ".cpp", top_source()});
    out.push_back({p_.name + "_host.h", host_header()});
    out.push_back({p_.name + "_test.cpp", testbench()});
    out.push_back({"build_prj.tcl", tcl()});
    out.push_back({"tb_data/README.md",
                   "Put the C-simulation inputs here: tb_input_features.dat holds float32 samples "
                   "as text\n(" +
                       std::to_string(in_floats()) +
                       " values per sample); csim_results.log receives the outputs.\n"});
    out.push_back({"README.md", readme()});
    return out;
  }

 private:
  const Buffer& buf(int i) const { return p_.buffers[static_cast<size_t>(i)]; }

  int64_t in_floats() const {
    int64_t n = 0;
    for (int i : p_.inputs) n += buf(i).size;
    return n;
  }

  [[noreturn]] void refuse(const Step& s, const std::string& why) const {
    throw Error(ErrorKind::kUnsupported, p_.source + ": node '" + s.source + "': " + why);
  }

  // Host input steps first, device steps, host output steps last; the device's
  // inputs and outputs are the buffers crossing the boundaries.
  void split() {
    int phase = 0;
    for (const Step& s : p_.steps) {
      const int want = is_host_in(s.kind) ? 0 : is_host_out(s.kind) ? 2 : 1;
      if (want < phase) {
        refuse(s, std::string(want == 0 ? "reads a float input" : "computes on the integer path") +
                      " after the device part started; the hls target needs input conversion "
                      "first and dequantization last");
      }
      phase = want;
      (want == 0 ? pre_ : want == 1 ? dev_ : post_).push_back(&s);
    }
    if (dev_.empty()) throw Error(ErrorKind::kUnsupported, p_.source + ": no integer layers");
    std::set<int> made;
    for (const Step* s : dev_) made.insert(s->out);
    for (const Step* s : dev_)
      for (int i : s->in)
        if (!made.count(i) && std::find(dev_in_.begin(), dev_in_.end(), i) == dev_in_.end())
          dev_in_.push_back(i);
    for (const Step* s : post_)
      for (int i : s->in)
        if (made.count(i) && std::find(dev_out_.begin(), dev_out_.end(), i) == dev_out_.end())
          dev_out_.push_back(i);
    for (int i : dev_in_)
      if (buf(i).kind != BufKind::kInt)
        throw Error(ErrorKind::kUnsupported,
                    p_.source + ": value '" + buf(i).value +
                        "' enters the integer layers as a float; the hls target has no floats "
                        "on the integer path (quantize it first)");
  }

  std::string port(int i, bool input) const {
    const auto& list = input ? dev_in_ : dev_out_;
    for (size_t k = 0; k < list.size(); ++k)
      if (list[k] == i)
        return list.size() == 1 ? (input ? "in" : "out")
                                : (input ? "in" : "out") + std::to_string(k);
    return "";
  }

  // The name of a buffer inside the top function.
  std::string ref(int i) const {
    std::string p = port(i, true);
    if (p.empty()) p = port(i, false);
    return p.empty() ? buf(i).ident : p;
  }

  std::string type_name(int i) const { return buf(i).ident + "_t"; }

  std::string top_signature() const {
    std::string s = "void " + p_.name + "(";
    bool first = true;
    for (int i : dev_in_) {
      s += std::string(first ? "" : ", ") +
           (o_.io == "stream" ? "hls::stream<" + type_name(i) + ">& " + port(i, true)
                              : "const " + type_name(i) + " " + port(i, true) + "[" +
                                    std::to_string(buf(i).size) + "]");
      first = false;
    }
    for (int i : dev_out_) {
      s += ", " + (o_.io == "stream" ? "hls::stream<" + type_name(i) + ">& " + port(i, false)
                                     : type_name(i) + " " + port(i, false) + "[" +
                                           std::to_string(buf(i).size) + "]");
    }
    return s + ")";
  }

  std::string top_header() const {
    std::ostringstream h;
    const std::string guard = p_.name + "_H_";
    h << "// " << p_.name << ": Vitis HLS top function generated by bitsmith " << BITSMITH_VERSION
      << " from " << p_.source << ".\n"
      << "// io_" << o_.io << ", ReuseFactor " << o_.reuse_factor << ", Strategy " << o_.strategy
      << ". Integer levels in, integer levels out (see README.md).\n"
      << "#ifndef " << guard << "\n#define " << guard << "\n\n#include \"ap_int.h\"\n"
      << (o_.io == "stream" ? "#include \"hls_stream.h\"\n" : "") << "\n";
    std::set<int> typed;
    for (const Step* s : dev_) {
      for (int i : s->in) typed.insert(i);
      typed.insert(s->out);
    }
    for (int i : typed) {
      h << "typedef " << ap_type(buf(i).range) << " " << type_name(i) << ";  // '" << buf(i).value
        << "' levels [" << buf(i).range.lo << ", " << buf(i).range.hi << "]\n";
    }
    h << "\n";
    for (int i : dev_in_)
      h << "constexpr int " << p_.name << "_" << port(i, true) << "_size = " << buf(i).size
        << ";\n";
    for (int i : dev_out_)
      h << "constexpr int " << p_.name << "_" << port(i, false) << "_size = " << buf(i).size
        << ";\n";
    h << "\n" << top_signature() << ";\n\n#endif  // " << guard << "\n";
    return h.str();
  }

  std::string storage_pragmas(const std::string& var) const {
    if (o_.strategy == "resource") {
      return "#pragma HLS BIND_STORAGE variable=" + var + " type=rom_1p impl=bram\n" +
             (o_.reuse_factor > 1 ? "#pragma HLS ARRAY_RESHAPE variable=" + var + " block factor=" +
                                        std::to_string(o_.reuse_factor) + " dim=2\n"
                                  : std::string("#pragma HLS ARRAY_PARTITION variable=" + var +
                                                " complete dim=0\n"));
    }
    return "#pragma HLS ARRAY_PARTITION variable=" + var + " complete dim=0\n";
  }

  std::string requant_consts(const Step& st, int64_t rows) const {
    if (!st.levels) return "";
    std::ostringstream s;
    // Constants as plain C integers (C simulation compiles them fast; HLS sizes
    // constant logic from the values), used through ap_int types of their width.
    s << "typedef " << ap_type(range_of(st.thresholds)) << " " << st.ident << "_t_t;\n"
      << "static const " << c_int_type(range_of(st.thresholds)) << " " << st.ident << "_t[" << rows
      << "][" << st.levels << "] = " << int_rows(st.thresholds, rows, st.levels, "    ") << ";\n"
      << "static const " << c_int_type(range_of(st.base)) << " " << st.ident << "_base[" << rows
      << "] = " << int_list(st.base, "    ") << ";\n";
    return s.str();
  }

  // Output level of `acc` by comparators (FINN's threshold unit), or acc itself.
  std::string level(const Step& st, const std::string& row, const std::string& out_t,
                    const std::string& indent) const {
    if (!st.levels) return indent + "y_v = acc;\n";
    std::ostringstream s;
    const int cbits = IntRange{0, st.levels}.bits();
    s << indent << "ap_uint<" << cbits << "> c = 0;\n"
      << indent << "Levels:\n"
      << indent << "for (int j = 0; j < " << st.levels << "; ++j) {\n"
      << indent << "#pragma HLS UNROLL\n"
      << indent << "  c += " << st.ident << "_t_t(" << st.ident << "_t[" << row << "][j]) <= acc;\n"
      << indent << "}\n"
      << indent << "y_v = " << out_t << "(" << st.ident << "_base[" << row << "] + c);\n";
    return s.str();
  }

  std::string linear(const Step& st) const {
    std::ostringstream s;
    const std::string in_t = type_name(st.in[0]), out_t = type_name(st.out);
    const std::string acc_t = ap_type(st.partial);
    const int64_t mults = st.n * st.k * (st.conv ? 1 : st.rows);
    const int64_t limit = (mults + o_.reuse_factor - 1) / o_.reuse_factor;
    s << "typedef " << ap_type(range_of(st.weights)) << " " << st.ident << "_w_t;\n"
      << "static const " << c_int_type(range_of(st.weights)) << " " << st.ident << "_w[" << st.n
      << "][" << st.k << "] = " << int_rows(st.weights, st.n, st.k, "    ") << ";\n"
      << requant_consts(st, st.n) << "void " << st.ident << "(const " << in_t << " x["
      << buf(st.in[0]).size << "], " << out_t << " y[" << buf(st.out).size << "]) {\n"
      << "#pragma HLS INLINE off\n"
      << storage_pragmas(st.ident + "_w");
    if (st.levels)
      s << "#pragma HLS ARRAY_PARTITION variable=" << st.ident << "_t complete dim=0\n";
    if (o_.reuse_factor > 1)
      s << "#pragma HLS ALLOCATION operation instances=mul limit=" << limit << "\n";
    if (!st.conv) {
      s << "#pragma HLS PIPELINE II=" << o_.reuse_factor << "\n"
        << "Rows:\n"
        << "  for (int r = 0; r < " << st.rows << "; ++r) {\n"
        << "  Outputs:\n"
        << "    for (int n = 0; n < " << st.n << "; ++n) {\n"
        << "      " << acc_t << " acc = 0;\n"
        << "    Products:\n"
        << "      for (int k = 0; k < " << st.k << "; ++k)\n"
        << "        acc += x[r * " << st.k << " + k] * " << st.ident << "_w_t(" << st.ident
        << "_w[n][k]);\n"
        << "      " << out_t << " y_v;\n"
        << level(st, "n", out_t, "      ") << "      y[r * " << st.n << " + n] = y_v;\n"
        << "    }\n  }\n}\n";
      return s.str();
    }
    const ConvGeom& g = st.geom;
    const int64_t cg = g.c / g.groups, ng = st.n / g.groups;
    const bool padded = g.pt || g.pl || g.pb || g.pr;
    s << "// Input (" << g.c << ", " << g.h << ", " << g.w << "), weights in (ky, kx, c) order.\n"
      << "Rows:\n"
      << "  for (int oy = 0; oy < " << g.oh << "; ++oy) {\n"
      << "  Cols:\n"
      << "    for (int ox = 0; ox < " << g.ow << "; ++ox) {\n"
      << "#pragma HLS PIPELINE II=" << o_.reuse_factor << "\n"
      << "    Filters:\n"
      << "      for (int n = 0; n < " << st.n << "; ++n) {\n"
      << "        const int c0 = "
      << (g.groups > 1 ? "(n / " + std::to_string(ng) + ") * " + std::to_string(cg) : "0") << ";\n"
      << "        " << acc_t << " acc = 0;\n"
      << "      Window:\n"
      << "        for (int ky = 0; ky < " << g.kh << "; ++ky) {\n"
      << "          for (int kx = 0; kx < " << g.kw << "; ++kx) {\n"
      << "            const int iy = oy * " << g.sh << " - " << g.pt << " + ky * " << g.dh << ";\n"
      << "            const int ix = ox * " << g.sw << " - " << g.pl << " + kx * " << g.dw << ";\n";
    if (padded) {
      s << "            const bool inside = iy >= 0 && iy < " << g.h << " && ix >= 0 && ix < "
        << g.w << ";\n";
    }
    s << "            for (int c = 0; c < " << cg << "; ++c) {\n"
      << "              const " << acc_t << " v = ";
    const std::string load =
        "x[((c0 + c) * " + std::to_string(g.h) + " + iy) * " + std::to_string(g.w) + " + ix]";
    if (padded) {
      // The level of real 0 may lie outside the input's type: read both as the
      // accumulator type, whose range includes it.
      s << "inside ? " << acc_t << "(" << load << ") : " << acc_t << "(" << st.pad_level << ");\n";
    } else {
      s << acc_t << "(" << load << ");\n";
    }
    s << "              acc += v * " << st.ident << "_w_t(" << st.ident << "_w[n][(ky * " << g.kw
      << " + kx) * " << cg << " + c]);\n"
      << "            }\n          }\n        }\n"
      << "        " << out_t << " y_v;\n"
      << level(st, "n", out_t, "        ") << "        y[(n * " << g.oh << " + oy) * " << g.ow
      << " + ox] = y_v;\n"
      << "      }\n    }\n  }\n}\n";
    return s.str();
  }

  std::string device_step(const Step& st) const {
    std::ostringstream s;
    const std::string out_t = type_name(st.out);
    const int64_t size = buf(st.out).size;
    switch (st.kind) {
      case StepKind::kLinear:
        s << linear(st);
        break;
      case StepKind::kAdd: {
        const std::string acc_t = ap_type(st.acc);
        const std::string k_t = "ap_int<64>";
        s << requant_consts(st, 1) << "void " << st.ident << "(const " << type_name(st.in[0])
          << " a[" << size << "], const " << type_name(st.in[1]) << " b[" << size << "], " << out_t
          << " y[" << size << "]) {\n"
          << "#pragma HLS INLINE off\n#pragma HLS PIPELINE II=" << o_.reuse_factor << "\n"
          << (st.levels ? "#pragma HLS ARRAY_PARTITION variable=" + st.ident + "_t complete dim=0\n"
                        : "")
          << "Elements:\n"
          << "  for (int i = 0; i < " << size << "; ++i) {\n"
          << "    const " << acc_t << " acc = " << k_t << "(" << st.a << ") * a[i] + " << k_t << "("
          << st.b << ") * b[i];\n"
          << "    " << out_t << " y_v;\n"
          << level(st, "0", out_t, "    ") << "    y[i] = y_v;\n  }\n}\n";
        break;
      }
      case StepKind::kMaxPool: {
        const ConvGeom& g = st.geom;
        s << "void " << st.ident << "(const " << type_name(st.in[0]) << " x[" << buf(st.in[0]).size
          << "], " << out_t << " y[" << size << "]) {\n"
          << "#pragma HLS INLINE off\n"
          << "Channels:\n"
          << "  for (int c = 0; c < " << g.c << "; ++c) {\n"
          << "    for (int oy = 0; oy < " << g.oh << "; ++oy) {\n"
          << "      for (int ox = 0; ox < " << g.ow << "; ++ox) {\n"
          << "#pragma HLS PIPELINE II=1\n"
          << "        bool any = false;\n"
          << "        " << out_t << " m = 0;\n"
          << "        for (int ky = 0; ky < " << g.kh << "; ++ky) {\n"
          << "          for (int kx = 0; kx < " << g.kw << "; ++kx) {\n"
          << "            const int iy = oy * " << g.sh << " - " << g.pt << " + ky * " << g.dh
          << ";\n"
          << "            const int ix = ox * " << g.sw << " - " << g.pl << " + kx * " << g.dw
          << ";\n"
          << "            if (iy < 0 || iy >= " << g.h << " || ix < 0 || ix >= " << g.w
          << ") continue;  // padding never wins\n"
          << "            const " << out_t << " v = x[(c * " << g.h << " + iy) * " << g.w
          << " + ix];\n"
          << "            if (!any || v > m) m = v;\n"
          << "            any = true;\n"
          << "          }\n        }\n"
          << "        y[(c * " << g.oh << " + oy) * " << g.ow << " + ox] = m;\n"
          << "      }\n    }\n  }\n}\n";
        break;
      }
      case StepKind::kTranspose: {
        const Shape& in = st.in_shape;
        const size_t r = in.size();
        std::vector<int64_t> in_stride(r, 1), dims(r), stride(r);
        for (size_t d = r - 1; d-- > 0;) in_stride[d] = in_stride[d + 1] * in[d + 1];
        for (size_t d = 0; d < r; ++d) {
          dims[d] = in[static_cast<size_t>(st.perm[d])];
          stride[d] = in_stride[static_cast<size_t>(st.perm[d])];
        }
        s << "void " << st.ident << "(const " << type_name(st.in[0]) << " x[" << size << "], "
          << out_t << " y[" << size << "]) {\n"
          << "#pragma HLS INLINE off\n"
          << "  const int dims[" << r << "] = " << int_list(dims, "    ") << ";\n"
          << "  const int stride[" << r << "] = " << int_list(stride, "    ") << ";\n"
          << "Elements:\n"
          << "  for (int i = 0; i < " << size << "; ++i) {\n"
          << "#pragma HLS PIPELINE II=1\n"
          << "    int rest = i, src = 0;\n"
          << "    for (int d = " << r - 1 << "; d >= 0; --d) {\n"
          << "      src += (rest % dims[d]) * stride[d];\n"
          << "      rest /= dims[d];\n    }\n"
          << "    y[i] = x[src];\n  }\n}\n";
        break;
      }
      case StepKind::kRequant:
      case StepKind::kThreshold:
      case StepKind::kScale:
      case StepKind::kConcat:
      case StepKind::kSumPool:
      case StepKind::kConvTranspose: {
        // Plain loops (the cpp target's) over the ap_int types; HLS pipelines them.
        std::string text = cpp_step(p_, st, true);
        return text.substr(text.find('\n') + 1);
      }
      default:
        refuse(st, "has no device form");
    }
    return s.str();
  }

  std::string top_source() const {
    std::ostringstream s;
    s << "// " << p_.name << ": generated by bitsmith " << BITSMITH_VERSION << " from " << p_.source
      << ".\n// Device layers:\n";
    for (const Step* st : dev_) s << "//   " << describe(p_, *st) << "\n";
    s << "#include \"" << p_.name
      << ".h\"\n\n#include <stdint.h>\n\n#include \"../bitsmith_int.h\"\n\n";
    for (const Step* st : dev_) s << "// " << describe(p_, *st) << "\n" << device_step(*st) << "\n";
    s << top_signature() << " {\n";
    const bool stream = o_.io == "stream";
    if (stream) {
      for (int i : dev_in_) s << "#pragma HLS INTERFACE mode=axis port=" << port(i, true) << "\n";
      for (int i : dev_out_) s << "#pragma HLS INTERFACE mode=axis port=" << port(i, false) << "\n";
      // Streams carry one level per beat; each layer buffers its whole input (no line
      // buffers yet), and DATAFLOW overlaps layers across samples.
      s << "#pragma HLS DATAFLOW\n";
    } else {
      for (int i : dev_in_) {
        s << "#pragma HLS ARRAY_RESHAPE variable=" << port(i, true) << " complete dim=0\n"
          << "#pragma HLS INTERFACE mode=ap_vld port=" << port(i, true) << "\n";
      }
      for (int i : dev_out_) {
        s << "#pragma HLS ARRAY_PARTITION variable=" << port(i, false) << " complete dim=0\n"
          << "#pragma HLS INTERFACE mode=ap_vld port=" << port(i, false) << "\n";
      }
      // As hls4ml's io_parallel latency designs: one pipeline over the whole model.
      s << "#pragma HLS PIPELINE II=" << o_.reuse_factor << "\n";
    }
    // Every value lives in a local array; a value read by several layers is cloned
    // first, so each array has one writer and one reader (DATAFLOW's rule).
    std::map<int, int> readers, taken;
    for (const Step* st : dev_)
      for (int i : st->in) ++readers[i];
    auto declare = [&](const std::string& var, int i) {
      s << "  " << type_name(i) << " " << var << "[" << buf(i).size << "];\n";
      if (!stream) s << "#pragma HLS ARRAY_PARTITION variable=" << var << " complete dim=0\n";
    };
    auto publish = [&](int i, const std::string& from) {  // clones for several readers
      if (readers[i] < 2) return;
      for (int k = 0; k < readers[i]; ++k) declare(buf(i).ident + "_r" + std::to_string(k), i);
      s << "  for (int i = 0; i < " << buf(i).size << "; ++i) {\n"
        << (stream ? "#pragma HLS PIPELINE II=1\n" : "");
      for (int k = 0; k < readers[i]; ++k)
        s << "    " << buf(i).ident << "_r" << k << "[i] = " << from << "[i];\n";
      s << "  }\n";
    };
    auto read_name = [&](int i) {
      return readers[i] < 2 ? buf(i).ident : buf(i).ident + "_r" + std::to_string(taken[i]++);
    };
    for (int i : dev_in_) {
      declare(buf(i).ident, i);
      s << "  for (int i = 0; i < " << buf(i).size << "; ++i) {\n"
        << (stream ? "#pragma HLS PIPELINE II=1\n" : "") << "    " << buf(i).ident
        << "[i] = " << port(i, true) << (stream ? ".read()" : "[i]") << ";\n  }\n";
      publish(i, buf(i).ident);
    }
    for (const Step* st : dev_) {
      declare(buf(st->out).ident, st->out);
      std::vector<std::string> args;
      for (int i : st->in) args.push_back(read_name(i));
      s << "  " << st->ident << "(";
      for (size_t k = 0; k < args.size(); ++k) s << (k ? ", " : "") << args[k];
      s << ", " << buf(st->out).ident << ");\n";
      const bool is_out = std::find(dev_out_.begin(), dev_out_.end(), st->out) != dev_out_.end();
      if (is_out) ++readers[st->out];  // the output port is one more reader
      publish(st->out, buf(st->out).ident);
    }
    for (int i : dev_out_) {
      s << "  for (int i = 0; i < " << buf(i).size << "; ++i) {\n"
        << (stream ? "#pragma HLS PIPELINE II=1\n" : "") << "    " << port(i, false)
        << (stream ? ".write(" + read_name(i) + "[i]);\n" : "[i] = " + read_name(i) + "[i];\n")
        << "  }\n";
    }
    s << "}\n";
    return s.str();
  }

  // The host-side steps, as the cpp target writes them.
  std::string host_header() const {
    std::ostringstream s;
    const std::string guard = p_.name + "_HOST_H_";
    s << "// Host-side steps of " << p_.name << " (float32 to levels before the FPGA, exact\n"
      << "// dequantization after it), generated by bitsmith " << BITSMITH_VERSION << ".\n"
      << "#ifndef " << guard << "\n#define " << guard << "\n\n#include <cstdint>\n\n"
      << "#include \"bitsmith_rt.h\"\n\nnamespace " << p_.name << "_host {\n\n";
    for (const Step* st : pre_) s << "inline " << cpp_step(p_, *st) << "\n";
    for (const Step* st : post_) s << "inline " << cpp_step(p_, *st) << "\n";
    s << "}  // namespace " << p_.name << "_host\n\n#endif  // " << guard << "\n";
    // cpp_step writes "// comment\nconst ...\nvoid f(...)": `inline` must sit on the function.
    std::string text = s.str(), fixed;
    std::istringstream lines(text);
    std::string line;
    bool pending = false;
    while (std::getline(lines, line)) {
      if (line.rfind("inline ", 0) == 0) {
        pending = true;
        line = line.substr(7);
      }
      if (pending && line.rfind("void ", 0) == 0) {
        line = "inline " + line;
        pending = false;
      }
      fixed += line + "\n";
    }
    return fixed;
  }

  std::string testbench() const {
    std::ostringstream s;
    const std::string& n = p_.name;
    s << "// C-simulation testbench for " << n << " (bitsmith " << BITSMITH_VERSION << ").\n"
      << "//   " << n << "_test [INPUT OUTPUT]   (default tb_data/tb_input_features.dat and\n"
      << "//   tb_data/csim_results.log, as hls4ml names them)\n"
      << "// Files ending in .bin hold raw little-endian float32 values; others hold text.\n"
      << "// Each sample: float32 inputs -> levels (host) -> " << n << " (device) -> exact\n"
      << "// float32 outputs (host).\n"
      << "#include <cstdio>\n#include <string>\n#include <vector>\n\n"
      << "#include \"" << n << ".h\"\n#include \"" << n << "_host.h\"\n\n"
      << "namespace {\n\n"
      << "bool is_bin(const std::string& path) {\n"
      << "  return path.size() > 4 && path.compare(path.size() - 4, 4, \".bin\") == 0;\n}\n\n"
      << "bool read_all(const std::string& path, std::vector<float>& v) {\n"
      << "  std::FILE* f = std::fopen(path.c_str(), is_bin(path) ? \"rb\" : \"r\");\n"
      << "  if (!f) return false;\n"
      << "  if (is_bin(path)) {\n"
      << "    float buf[1024];\n    size_t got;\n"
      << "    while ((got = std::fread(buf, sizeof(float), 1024, f)) > 0) v.insert(v.end(), buf, "
         "buf + got);\n"
      << "  } else {\n    float x;\n"
      << "    while (std::fscanf(f, \"%f\", &x) == 1) v.push_back(x);\n  }\n"
      << "  std::fclose(f);\n  return true;\n}\n\n";
    // Buffers of the host steps.
    std::set<int> host;
    for (const Step* st : pre_) host.insert(st->out);
    for (const Step* st : post_) {
      host.insert(st->out);
      for (int i : st->in) host.insert(i);
    }
    for (int i : host) {
      if (std::find(p_.inputs.begin(), p_.inputs.end(), i) != p_.inputs.end() ||
          std::find(p_.outputs.begin(), p_.outputs.end(), i) != p_.outputs.end())
        continue;
      s << cpp_type(p_, buf(i)) << " " << buf(i).ident << "[" << buf(i).size << "];\n";
    }
    int64_t in_size = 0, out_size = 0;
    for (int i : p_.inputs) in_size += buf(i).size;
    for (int i : p_.outputs) out_size += buf(i).size;
    s << "\n}  // namespace\n\n"
      << "int main(int argc, char** argv) {\n"
      << "  const std::string in_path = argc > 1 ? argv[1] : \"tb_data/tb_input_features.dat\";\n"
      << "  const std::string out_path = argc > 2 ? argv[2] : \"tb_data/csim_results.log\";\n"
      << "  std::vector<float> in;\n"
      << "  if (!read_all(in_path, in)) {\n"
      << "    std::fprintf(stderr, \"%s: cannot read\\n\", in_path.c_str());\n    return 1;\n  }\n"
      << "  const size_t n = in.size() / " << in_size << ";\n"
      << "  if (n * " << in_size << " != in.size()) {\n"
      << "    std::fprintf(stderr, \"%s: not a whole number of " << in_size
      << "-value samples\\n\", in_path.c_str());\n    return 1;\n  }\n"
      << "  std::vector<float> out(n * " << out_size << ");\n"
      << "  for (size_t s = 0; s < n; ++s) {\n";
    int64_t off = 0;
    for (int i : p_.inputs) {
      s << "    const float* " << buf(i).ident << " = in.data() + s * " << in_size << " + " << off
        << ";\n";
      off += buf(i).size;
    }
    for (const Step* st : pre_) {
      s << "    " << n << "_host::" << st->ident << "(" << buf(st->in[0]).ident << ", "
        << buf(st->out).ident << ");\n";
    }
    // Device call.
    for (int i : dev_in_) {
      if (o_.io == "stream") {
        s << "    hls::stream<" << type_name(i) << "> d_" << buf(i).ident << ";\n"
          << "    for (int i = 0; i < " << buf(i).size << "; ++i) d_" << buf(i).ident << ".write("
          << type_name(i) << "(" << buf(i).ident << "[i]));\n";
      } else {
        s << "    " << type_name(i) << " d_" << buf(i).ident << "[" << buf(i).size << "];\n"
          << "    for (int i = 0; i < " << buf(i).size << "; ++i) d_" << buf(i).ident
          << "[i] = " << buf(i).ident << "[i];\n";
      }
    }
    for (int i : dev_out_) {
      if (o_.io == "stream") {
        s << "    hls::stream<" << type_name(i) << "> d_" << buf(i).ident << ";\n";
      } else {
        s << "    " << type_name(i) << " d_" << buf(i).ident << "[" << buf(i).size << "];\n";
      }
    }
    s << "    " << n << "(";
    bool first = true;
    for (int i : dev_in_) {
      s << (first ? "" : ", ") << "d_" << buf(i).ident;
      first = false;
    }
    for (int i : dev_out_) s << ", d_" << buf(i).ident;
    s << ");\n";
    for (int i : dev_out_) {
      s << "    for (int i = 0; i < " << buf(i).size << "; ++i) " << buf(i).ident << "[i] = "
        << (o_.io == "stream" ? "d_" + buf(i).ident + ".read()" : "d_" + buf(i).ident + "[i]")
        << ".to_int64();\n";
    }
    off = 0;
    for (const Step* st : post_) {
      const bool final_out =
          std::find(p_.outputs.begin(), p_.outputs.end(), st->out) != p_.outputs.end();
      std::string dst = buf(st->out).ident;
      if (final_out) {
        int64_t o = 0;
        for (int i : p_.outputs) {
          if (i == st->out) break;
          o += buf(i).size;
        }
        dst = "out.data() + s * " + std::to_string(out_size) + " + " + std::to_string(o);
      }
      s << "    " << n << "_host::" << st->ident << "(" << buf(st->in[0]).ident << ", " << dst
        << ");\n";
    }
    s << "  }\n"
      << "  const bool bin = is_bin(out_path);\n"
      << "  std::FILE* f = std::fopen(out_path.c_str(), bin ? \"wb\" : \"w\");\n"
      << "  if (!f) {\n    std::fprintf(stderr, \"%s: cannot write\\n\", out_path.c_str());\n"
      << "    return 1;\n  }\n"
      << "  if (bin) {\n    std::fwrite(out.data(), sizeof(float), out.size(), f);\n  } else {\n"
      << "    for (size_t i = 0; i < out.size(); ++i)\n"
      << "      std::fprintf(f, (i + 1) % " << out_size
      << " ? \"%.9g \" : \"%.9g\\n\", out[i]);\n  }\n"
      << "  return std::fclose(f) == 0 ? 0 : 1;\n}\n";
    return s.str();
  }

  std::string tcl() const {
    std::ostringstream s;
    s << "# Vitis HLS project for " << p_.name << ", generated by bitsmith " << BITSMITH_VERSION
      << ".\n"
      << "#   vitis_hls -f build_prj.tcl [csim=1] [synth=1] [cosim=0] [export=0]\n"
      << "array set opt {csim 1 synth 1 cosim 0 export 0}\n"
      << "foreach arg $::argv {\n"
      << "  foreach {key value} [split $arg =] { set opt($key) $value }\n}\n"
      << "open_project -reset " << p_.name << "_prj\n"
      << "set_top " << p_.name << "\n"
      << "add_files firmware/" << p_.name << ".cpp -cflags \"-std=c++14\"\n"
      << "add_files -tb " << p_.name << "_test.cpp -cflags \"-std=c++14 -Ifirmware\"\n"
      << "add_files -tb " << p_.name << "_host.h\n"
      << "add_files -tb bitsmith_rt.h\n"
      << "add_files -tb tb_data\n"
      << "open_solution -reset solution1 -flow_target vivado\n"
      << "set_part {" << o_.part << "}\n"
      << "create_clock -period " << o_.clock_ns << " -name default\n"
      << "if {$opt(csim)} { csim_design }\n"
      << "if {$opt(synth)} { csynth_design }\n"
      << "if {$opt(cosim)} { cosim_design }\n"
      << "if {$opt(export)} { export_design -format ip_catalog }\n"
      << "exit\n";
    return s.str();
  }

  std::string readme() const {
    std::ostringstream s;
    s << "# " << p_.name << " (Vitis HLS)\n\nGenerated by bitsmith " << BITSMITH_VERSION
      << " from `" << p_.source << "`: io_" << o_.io << ", ReuseFactor " << o_.reuse_factor
      << ", Strategy " << o_.strategy << ", part " << o_.part << ", clock " << o_.clock_ns
      << " ns.\n\n"
      << "- `firmware/" << p_.name << ".cpp`: the top function `" << top_signature()
      << "` and one function per layer; types in `firmware/" << p_.name << ".h`.\n"
      << "- `" << p_.name << "_host.h`: host-side steps (float32 inputs to integer levels, exact\n"
      << "  dequantization of the outputs); `" << p_.name << "_test.cpp`: the C-simulation "
      << "testbench.\n"
      << "- `build_prj.tcl`: `vitis_hls -f build_prj.tcl` (C simulation reads\n"
      << "  `tb_data/tb_input_features.dat`, writes `tb_data/csim_results.log`).\n\n"
      << "The device's interface is integer levels: each input level q stands for the real\n"
      << "value its quantizer gives it, each output is an integer the host dequantizes\n"
      << "exactly. C simulation with g++ and the ap_types headers equals bitsmith's exact\n"
      << "engine bit for bit (`bitsmith verify MODEL --target hls`).\n";
    for (const std::string& note : p_.notes) s << "\nNote: " << note << ".\n";
    return s.str();
  }

  const Program& p_;
  const HlsOptions& o_;
  std::vector<const Step*> pre_, dev_, post_;
  std::vector<int> dev_in_, dev_out_;
};

}  // namespace

Project emit_hls(const Program& program, const HlsOptions& options) {
  return HlsEmitter(program, options).emit();
}

}  // namespace bitsmith::codegen
