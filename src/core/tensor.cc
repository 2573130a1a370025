#include "core/tensor.h"

#include <cmath>
#include <limits>

#include "core/error.h"

namespace bitsmith {

const char* elem_type_name(ElemType t) {
  switch (t) {
    case ElemType::kFloat32:
      return "float32";
    case ElemType::kInt64:
      return "int64";
    case ElemType::kExact:
      return "exact";
  }
  return "?";
}

static int64_t elem_bytes(ElemType t) {
  switch (t) {
    case ElemType::kFloat32:
      return 4;
    case ElemType::kInt64:
      return 8;
    case ElemType::kExact:
      return static_cast<int64_t>(sizeof(Exact));
  }
  return 8;
}

int64_t checked_num_elements(const Shape& shape, ElemType type) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) fail(ErrorKind::kInvalidModel, "negative dimension in shape " + shape_str(shape));
    if (d != 0 && n > kMaxTensorElements / d) {
      fail(ErrorKind::kInvalidModel, "shape " + shape_str(shape) + " has more than " +
                                         std::to_string(kMaxTensorElements) + " elements");
    }
    n *= d;
  }
  if (n > kMaxTensorElements || n * elem_bytes(type) > kMaxTensorBytes) {
    fail(ErrorKind::kInvalidModel, "shape " + shape_str(shape) + " of " + elem_type_name(type) +
                                       " needs more than " + std::to_string(kMaxTensorBytes >> 30) +
                                       " GiB");
  }
  return n;
}

std::string shape_str(const Shape& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += shape[i] < 0 ? "?" : std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

Shape strides_of(const Shape& shape) {
  Shape st(shape.size(), 1);
  for (int i = static_cast<int>(shape.size()) - 2; i >= 0; --i) {
    st[static_cast<size_t>(i)] = st[static_cast<size_t>(i) + 1] * shape[static_cast<size_t>(i) + 1];
  }
  return st;
}

Tensor::Tensor(ElemType type, Shape shape) : type_(type), shape_(std::move(shape)) {
  auto n = static_cast<size_t>(checked_num_elements(shape_, type_));
  visit([n](auto& v) { v.resize(n); });
}

int64_t Tensor::size() const {
  return visit([](const auto& v) { return static_cast<int64_t>(v.size()); });
}

static void check_data(const Shape& shape, size_t n, ElemType t) {
  if (static_cast<int64_t>(n) != checked_num_elements(shape, t)) {
    fail(ErrorKind::kInvalidModel, "tensor data has " + std::to_string(n) + " elements but shape " +
                                       shape_str(shape) + " needs " +
                                       std::to_string(checked_num_elements(shape, t)));
  }
}

template <class T>
Tensor Tensor::from_vector(Shape shape, std::vector<T> data) {
  check_data(shape, data.size(), elem_type_of<T>());
  Tensor t;
  t.type_ = elem_type_of<T>();
  t.shape_ = std::move(shape);
  t.data<T>() = std::move(data);
  return t;
}

Tensor Tensor::from_f32(Shape shape, std::vector<float> data) {
  return from_vector(std::move(shape), std::move(data));
}
Tensor Tensor::from_i64(Shape shape, std::vector<int64_t> data) {
  return from_vector(std::move(shape), std::move(data));
}
Tensor Tensor::from_exact(Shape shape, std::vector<Exact> data) {
  return from_vector(std::move(shape), std::move(data));
}

static int64_t float_to_int(double v) {
  if (std::isnan(v)) return std::numeric_limits<int64_t>::min();
  if (v >= 9.2233720368547758e18) return std::numeric_limits<int64_t>::max();
  if (v <= -9.2233720368547758e18) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(v);
}

Tensor Tensor::to(ElemType type) const {
  if (type == type_) return *this;
  Tensor out(type, shape_);
  size_t n = static_cast<size_t>(size());
  for (size_t i = 0; i < n; ++i) {
    switch (type) {
      case ElemType::kFloat32:
        out.f_[i] = type_ == ElemType::kInt64 ? static_cast<float>(i_[i]) : x_[i].to_float();
        break;
      case ElemType::kInt64:
        if (type_ == ElemType::kFloat32) {
          out.i_[i] = float_to_int(f_[i]);
        } else {
          const Exact& e = x_[i];
          out.i_[i] = e.is_finite() ? static_cast<int64_t>(e.sign() < 0 ? e.ceil() : e.floor())
                                    : float_to_int(e.to_double());
        }
        break;
      case ElemType::kExact:
        out.x_[i] = type_ == ElemType::kInt64 ? Exact::from_int(i_[i]) : Exact::from_double(f_[i]);
        break;
    }
  }
  return out;
}

double Tensor::as_double(int64_t i) const {
  auto k = static_cast<size_t>(i);
  switch (type_) {
    case ElemType::kFloat32:
      return f_.at(k);
    case ElemType::kInt64:
      return static_cast<double>(i_.at(k));
    case ElemType::kExact:
      break;
  }
  return x_.at(k).to_double();
}

int64_t Tensor::as_int(int64_t i) const {
  if (type_ == ElemType::kInt64) return i_.at(static_cast<size_t>(i));
  return float_to_int(as_double(i));
}

std::vector<int64_t> Tensor::to_int_vector() const {
  std::vector<int64_t> v(static_cast<size_t>(size()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = as_int(static_cast<int64_t>(i));
  return v;
}

Tensor Tensor::reshaped(Shape shape) const& {
  return Tensor(*this).reshaped(std::move(shape));
}

Tensor Tensor::reshaped(Shape shape) && {
  if (checked_num_elements(shape, type_) != size()) {
    fail(ErrorKind::kInvalidModel,
         "cannot reshape " + shape_str(shape_) + " to " + shape_str(shape));
  }
  shape_ = std::move(shape);
  return std::move(*this);
}

}  // namespace bitsmith
