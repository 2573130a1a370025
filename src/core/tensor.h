// Dense tensors for the reference engine. One storage type is active at a time:
// float32 (float mode and file constants), int64 (shapes, indices, integer
// initializers) or Exact (exact mode). Row-major, numpy layout.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/exact.h"

namespace bitsmith {

enum class ElemType : uint8_t { kFloat32, kInt64, kExact };
const char* elem_type_name(ElemType t);

using Shape = std::vector<int64_t>;

// Refuse tensors beyond these limits before allocating (absurd shapes in a file
// must give an error, not an out-of-memory kill).
inline constexpr int64_t kMaxTensorElements = int64_t{1} << 31;
inline constexpr int64_t kMaxTensorBytes = int64_t{8} << 30;

// Product of dims; throws Error(kInvalidModel) on negative dims or past the limits.
int64_t checked_num_elements(const Shape& shape, ElemType type);
std::string shape_str(const Shape& shape);
Shape strides_of(const Shape& shape);

class Tensor {
 public:
  Tensor() = default;
  Tensor(ElemType type, Shape shape);  // zero-filled; checks the size limits
  static Tensor from_f32(Shape shape, std::vector<float> data);
  static Tensor from_i64(Shape shape, std::vector<int64_t> data);
  static Tensor from_exact(Shape shape, std::vector<Exact> data);
  static Tensor scalar_f32(float v) { return from_f32({}, {v}); }
  static Tensor scalar_i64(int64_t v) { return from_i64({}, {v}); }

  ElemType type() const { return type_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int axis) const { return shape_.at(static_cast<size_t>(axis)); }
  int64_t size() const;

  std::vector<float>& f32() { return f_; }
  const std::vector<float>& f32() const { return f_; }
  std::vector<int64_t>& i64() { return i_; }
  const std::vector<int64_t>& i64() const { return i_; }
  std::vector<Exact>& exact() { return x_; }
  const std::vector<Exact>& exact() const { return x_; }

  template <class T>
  std::vector<T>& data();
  template <class T>
  const std::vector<T>& data() const;

  // Converts storage: int64/float32 -> Exact is exact; Exact -> float32 rounds to
  // nearest even; float32 -> int64 truncates toward zero (ONNX Cast).
  Tensor to(ElemType type) const;
  // Element i as a double / as an int64 (rounded toward zero), for small parameter tensors.
  double as_double(int64_t i) const;
  int64_t as_int(int64_t i) const;
  std::vector<int64_t> to_int_vector() const;

  Tensor reshaped(Shape shape) const&;
  Tensor reshaped(Shape shape) &&;  // reuses this tensor's storage

  // Calls fn(std::vector<T>&) with the active storage; for type-agnostic kernels.
  template <class Fn>
  decltype(auto) visit(Fn&& fn) {
    switch (type_) {
      case ElemType::kFloat32:
        return fn(f_);
      case ElemType::kInt64:
        return fn(i_);
      case ElemType::kExact:
        break;
    }
    return fn(x_);
  }
  template <class Fn>
  decltype(auto) visit(Fn&& fn) const {
    switch (type_) {
      case ElemType::kFloat32:
        return fn(f_);
      case ElemType::kInt64:
        return fn(i_);
      case ElemType::kExact:
        break;
    }
    return fn(x_);
  }

 private:
  template <class T>
  static Tensor from_vector(Shape shape, std::vector<T> data);

  ElemType type_ = ElemType::kFloat32;
  Shape shape_;
  std::vector<float> f_;
  std::vector<int64_t> i_;
  std::vector<Exact> x_;
};

template <>
inline std::vector<float>& Tensor::data<float>() {
  return f_;
}
template <>
inline std::vector<int64_t>& Tensor::data<int64_t>() {
  return i_;
}
template <>
inline std::vector<Exact>& Tensor::data<Exact>() {
  return x_;
}
template <>
inline const std::vector<float>& Tensor::data<float>() const {
  return f_;
}
template <>
inline const std::vector<int64_t>& Tensor::data<int64_t>() const {
  return i_;
}
template <>
inline const std::vector<Exact>& Tensor::data<Exact>() const {
  return x_;
}

template <class T>
constexpr ElemType elem_type_of();
template <>
constexpr ElemType elem_type_of<float>() {
  return ElemType::kFloat32;
}
template <>
constexpr ElemType elem_type_of<int64_t>() {
  return ElemType::kInt64;
}
template <>
constexpr ElemType elem_type_of<Exact>() {
  return ElemType::kExact;
}

}  // namespace bitsmith
