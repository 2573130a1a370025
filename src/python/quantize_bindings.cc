// Low-level access to src/core/quantize for tests: the same rounding and IntQuant
// the engine uses, applied element-wise to numpy arrays.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>

#include <cmath>
#include <limits>

#include "arrays.h"
#include "core/quantize.h"
#include "ops/broadcast.h"

namespace nb = nanobind;

namespace bitsmith::py {
namespace {

template <class T>
std::vector<T> checked(const AnyArray& a, const char* arg, const char* want) {
  if (!has_dtype<T>(a)) {
    throw nb::type_error(
        (std::string(arg) + " must be a " + want + " array, got " + dtype_name(a)).c_str());
  }
  return copy_elements<T>(a);
}

AnyArray as_array(nb::handle obj, const char* arg) {
  AnyArray a;
  if (nb::try_cast(obj, a)) return a;
  nb::object converted = nb::module_::import_("numpy").attr("asarray")(obj);
  if (!nb::try_cast(converted, a))
    throw nb::type_error((std::string(arg) + " must be an array").c_str());
  return a;
}

// exact: the decision on the true value of each double; otherwise numpy's own double arithmetic.
nb::object round_array(nb::handle x_obj, const std::string& mode_name, bool exact) {
  AnyArray x = as_array(x_obj, "x");
  RoundingMode mode = parse_rounding_mode(mode_name);
  std::vector<double> v = checked<double>(x, "x", "float64");
  for (double& e : v) {
    if (!exact) {
      e = round_float<double>(e, mode);
    } else if (std::isfinite(e) && std::fabs(e) < 0x1p52) {
      // Beyond 2^52 every double is an integer already; NaN and inf pass through as in numpy.
      double r = static_cast<double>(round_exact(Exact::from_double(e), mode));
      e = r == 0 ? std::copysign(0.0, e) : r;  // numpy keeps the sign of a zero result
    }
  }
  return vector_to_numpy(std::move(v), shape_of(x));
}

nb::object round_float32(nb::handle x_obj, const std::string& mode_name) {
  AnyArray x = as_array(x_obj, "x");
  RoundingMode mode = parse_rounding_mode(mode_name);
  std::vector<float> v = checked<float>(x, "x", "float32");
  for (float& e : v) e = round_float<float>(e, mode);
  return vector_to_numpy(std::move(v), shape_of(x));
}

struct QuantArgs {
  std::vector<float> x, s, z;
  Shape xs, ss, zs, out;
  IntQuantAttrs attrs;
};

QuantArgs quant_args(nb::handle x_obj, nb::handle s_obj, nb::handle z_obj, int bits, bool is_signed,
                     bool narrow, const std::string& rounding_mode) {
  QuantArgs q;
  AnyArray x = as_array(x_obj, "x"), s = as_array(s_obj, "scale"),
           z = as_array(z_obj, "zero_point");
  q.x = checked<float>(x, "x", "float32");
  q.s = checked<float>(s, "scale", "float32");
  q.z = checked<float>(z, "zero_point", "float32");
  q.xs = shape_of(x);
  q.ss = shape_of(s);
  q.zs = shape_of(z);
  q.out = broadcast_shape({q.xs, q.ss, q.zs});
  q.attrs.is_signed = is_signed;
  q.attrs.narrow = narrow;
  q.attrs.mode = parse_rounding_mode(rounding_mode);
  int_range(bits, is_signed, narrow);  // rejects bad widths before any work
  return q;
}

nb::object int_quant(nb::handle x, nb::handle scale, nb::handle zero_point, int bits,
                     bool is_signed, bool narrow, const std::string& rounding_mode, bool exact) {
  QuantArgs q = quant_args(x, scale, zero_point, bits, is_signed, narrow, rounding_mode);
  std::vector<float> y(static_cast<size_t>(checked_num_elements(q.out, ElemType::kFloat32)));
  for_each_broadcast<3>(q.out, {&q.xs, &q.ss, &q.zs},
                        [&](int64_t o, const std::array<int64_t, 3>& p) {
                          float xv = q.x[p[0]], sv = q.s[p[1]], zv = q.z[p[2]];
                          if (exact) {
                            y[o] = int_quant_exact(Exact::from_double(xv), Exact::from_double(sv),
                                                   Exact::from_double(zv), bits, q.attrs)
                                       .to_float();
                          } else {
                            y[o] = int_quant_float<float>(xv, sv, zv, bits, q.attrs);
                          }
                        });
  return vector_to_numpy(std::move(y), q.out);
}

// The PyTorch fake-quant forward: float meaning (qonnx's float32 arithmetic), written
// straight into `out` (a view of a torch tensor) without copies. x and out are
// C-contiguous with one shape; scale and zero point broadcast to it.
using F32In = nb::ndarray<const float, nb::c_contig, nb::device::cpu>;
using F32Out = nb::ndarray<float, nb::c_contig, nb::device::cpu>;

void int_quant_into(F32In x, F32In scale, F32In zero_point, F32Out out, int bits, bool is_signed,
                    bool narrow, const std::string& rounding_mode) {
  Shape xs(x.ndim()), ss(scale.ndim()), zs(zero_point.ndim()), os(out.ndim());
  for (size_t d = 0; d < x.ndim(); ++d) xs[d] = static_cast<int64_t>(x.shape(d));
  for (size_t d = 0; d < scale.ndim(); ++d) ss[d] = static_cast<int64_t>(scale.shape(d));
  for (size_t d = 0; d < zero_point.ndim(); ++d) zs[d] = static_cast<int64_t>(zero_point.shape(d));
  for (size_t d = 0; d < out.ndim(); ++d) os[d] = static_cast<int64_t>(out.shape(d));
  if (broadcast_shape({xs, ss, zs}) != xs || os != xs) {
    fail(ErrorKind::kInput, "int_quant_into: out must have x's shape " + shape_str(xs) +
                                " and scale/zero point must broadcast to it");
  }
  IntQuantAttrs a{is_signed, narrow, parse_rounding_mode(rounding_mode)};
  IntRange r = int_range(bits, is_signed, narrow);
  const float *xp = x.data(), *sp = scale.data(), *zp = zero_point.data();
  float* yp = out.data();
  nb::gil_scoped_release release;
  if (scale.size() == 1 && zero_point.size() == 1) {  // per-tensor: one tight loop
    const float s = sp[0], z = zp[0];
    for (size_t i = 0; i < x.size(); ++i) yp[i] = int_quant_float<float>(xp[i], s, z, bits, a, r);
    return;
  }
  for_each_broadcast<3>(xs, {&xs, &ss, &zs}, [&](int64_t o, const std::array<int64_t, 3>& p) {
    yp[o] = int_quant_float<float>(xp[p[0]], sp[p[1]], zp[p[2]], bits, a, r);
  });
}

nb::object int_quant_level(nb::handle x, nb::handle scale, nb::handle zero_point, int bits,
                           bool is_signed, bool narrow, const std::string& rounding_mode) {
  QuantArgs q = quant_args(x, scale, zero_point, bits, is_signed, narrow, rounding_mode);
  std::vector<int64_t> y(static_cast<size_t>(checked_num_elements(q.out, ElemType::kInt64)));
  for_each_broadcast<3>(
      q.out, {&q.xs, &q.ss, &q.zs}, [&](int64_t o, const std::array<int64_t, 3>& p) {
        float xv = q.x[p[0]], sv = q.s[p[1]], zv = q.z[p[2]];
        if (std::isnan(xv) || std::isnan(sv) || std::isnan(zv) || sv == 0 || std::isinf(sv) ||
            std::isinf(zv)) {
          fail(ErrorKind::kInput,
               "int_quant_level: element " + std::to_string(o) +
                   " has no integer level (NaN, infinite or zero scale/zero point)");
        }
        y[o] = static_cast<int64_t>(int_quant_level_exact(
            Exact::from_double(xv), Exact::from_double(sv), Exact::from_double(zv), bits, q.attrs));
      });
  return vector_to_numpy(std::move(y), q.out);
}

// FloatQuant (minifloat) on broadcast float32 x and scale; max_val caps the format's
// largest magnitude (pass +inf for the formula alone). exact=False: qonnx's numpy
// arithmetic with every operand float32 (FloatQuantDtypes' defaults).
nb::object float_quant(nb::handle x_obj, nb::handle s_obj, int exp_bits, int mant_bits, int bias,
                       double max_val, bool saturation, bool has_inf, bool has_nan,
                       const std::string& rounding_mode, bool exact) {
  AnyArray xa = as_array(x_obj, "x"), sa = as_array(s_obj, "scale");
  std::vector<float> x = checked<float>(xa, "x", "float32");
  std::vector<float> s = checked<float>(sa, "scale", "float32");
  Shape xs = shape_of(xa), ss = shape_of(sa);
  Shape out = broadcast_shape({xs, ss});
  MiniFloatFormat f{exp_bits, mant_bits, bias};
  FloatQuantAttrs a{parse_rounding_mode(rounding_mode), saturation, has_inf, has_nan};
  check_float_quant(f, a);  // rejects bad formats before any work
  FloatQuantDtypes d;
  Exact max_exact = Exact::from_double(max_val);
  std::vector<float> y(static_cast<size_t>(checked_num_elements(out, ElemType::kFloat32)));
  for_each_broadcast<2>(out, {&xs, &ss}, [&](int64_t o, const std::array<int64_t, 2>& p) {
    float xv = x[p[0]], sv = s[p[1]];
    if (exact) {
      y[o] = float_quant_exact(Exact::from_double(xv), Exact::from_double(sv), max_exact, f, a)
                 .to_float();
    } else {
      y[o] = float_quant_float(xv, sv, max_val, f, a, d);
    }
  });
  return vector_to_numpy(std::move(y), out);
}

}  // namespace

void bind_quantize(nb::module_& m) {
  m.def("round", &round_array, nb::arg("x"), nb::arg("mode"), nb::arg("exact") = true,
        "Rounds a float64 array to integers (exact=True: decided on the true value).");
  m.def("round_float32", &round_float32, nb::arg("x"), nb::arg("mode"),
        "Rounds a float32 array as numpy does in float32 precision.");
  m.def(
      "int_range",
      [](int bits, bool is_signed, bool narrow) {
        IntRange r = int_range(bits, is_signed, narrow);
        return nb::make_tuple(r.min, r.max);
      },
      nb::arg("bits"), nb::arg("signed"), nb::arg("narrow"), "(min, max) of an integer bit width.");
  m.def("int_quant", &int_quant, nb::arg("x"), nb::arg("scale"), nb::arg("zero_point"),
        nb::arg("bits"), nb::arg("signed"), nb::arg("narrow"), nb::arg("rounding_mode"),
        nb::arg("exact") = true,
        "QONNX Quant on broadcast float32 arrays (exact=False: qonnx's float32 arithmetic).");
  m.def("int_quant_into", &int_quant_into, nb::arg("x"), nb::arg("scale"), nb::arg("zero_point"),
        nb::arg("out"), nb::arg("bits"), nb::arg("signed"), nb::arg("narrow"),
        nb::arg("rounding_mode"),
        "QONNX Quant in float meaning, written into out (C-contiguous, x's shape) without copies.");
  m.def("int_quant_level", &int_quant_level, nb::arg("x"), nb::arg("scale"), nb::arg("zero_point"),
        nb::arg("bits"), nb::arg("signed"), nb::arg("narrow"), nb::arg("rounding_mode"),
        "The integer level q of QONNX Quant, as int64.");
  m.def("float_quant", &float_quant, nb::arg("x"), nb::arg("scale"), nb::arg("exp_bits"),
        nb::arg("mant_bits"), nb::arg("bias"), nb::arg("max_val"), nb::arg("saturation"),
        nb::arg("has_inf"), nb::arg("has_nan"), nb::arg("rounding_mode"), nb::arg("exact") = true,
        "QONNX FloatQuant on broadcast float32 arrays (exact=False: qonnx's float32 arithmetic).");
}

}  // namespace bitsmith::py
