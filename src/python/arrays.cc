#include "arrays.h"

namespace bitsmith::py {

std::string dtype_name(const AnyArray& a) {
  nb::dlpack::dtype t = a.dtype();
  std::string bits = std::to_string(t.bits);
  switch (static_cast<nb::dlpack::dtype_code>(t.code)) {
    case nb::dlpack::dtype_code::Int:
      return "int" + bits;
    case nb::dlpack::dtype_code::UInt:
      return "uint" + bits;
    case nb::dlpack::dtype_code::Float:
      return "float" + bits;
    case nb::dlpack::dtype_code::Bfloat:
      return "bfloat" + bits;
    case nb::dlpack::dtype_code::Complex:
      return "complex" + bits;
    case nb::dlpack::dtype_code::Bool:
      return "bool";
    default:
      break;
  }
  return "an unsupported " + bits + "-bit type";
}

Shape shape_of(const AnyArray& a) {
  Shape s(a.ndim());
  for (size_t d = 0; d < a.ndim(); ++d) s[d] = static_cast<int64_t>(a.shape(d));
  return s;
}

nb::object to_numpy(Tensor t) {
  if (t.type() == ElemType::kExact) t = t.to(ElemType::kFloat32);
  if (t.type() == ElemType::kInt64) return vector_to_numpy(std::move(t.i64()), t.shape());
  return vector_to_numpy(std::move(t.f32()), t.shape());
}

}  // namespace bitsmith::py
