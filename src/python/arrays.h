// Conversions between nanobind ndarrays (numpy, or anything speaking DLPack)
// and bitsmith tensors. Inputs are read in place, whatever their strides, and
// copied once into the tensor; outputs hand the tensor's buffer to numpy.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <string>
#include <vector>

#include "core/tensor.h"

namespace bitsmith::py {

namespace nb = nanobind;

// Any array on the CPU, read-only, any dtype and layout.
using AnyArray = nb::ndarray<nb::ro, nb::device::cpu>;

// numpy's name for an array's element type ("float32", "float64", "bfloat16", ...).
std::string dtype_name(const AnyArray& a);

// True when the element type is exactly T.
template <class T>
bool has_dtype(const AnyArray& a) {
  return a.dtype() == nb::dtype<T>();
}

Shape shape_of(const AnyArray& a);

// Copies the elements (of type T, already checked) in row-major order.
template <class T>
std::vector<T> copy_elements(const AnyArray& a) {
  const size_t rank = a.ndim();
  size_t total = 1;
  for (size_t d = 0; d < rank; ++d) total *= a.shape(d);
  std::vector<T> out(total);
  if (total == 0) return out;
  const T* base = static_cast<const T*>(a.data());
  bool contiguous = true;
  int64_t expect = 1;
  for (size_t d = rank; d-- > 0;) {
    if (a.shape(d) != 1 && a.stride(d) != expect) contiguous = false;
    expect *= static_cast<int64_t>(a.shape(d));
  }
  if (contiguous) {
    std::copy(base, base + total, out.begin());
    return out;
  }
  // An odometer over the index; strides are in elements and may be zero or negative.
  std::vector<size_t> idx(rank, 0);
  int64_t pos = 0;
  for (size_t o = 0; o < total; ++o) {
    out[o] = base[pos];
    for (size_t d = rank; d-- > 0;) {
      if (++idx[d] < a.shape(d)) {
        pos += a.stride(d);
        break;
      }
      pos -= a.stride(d) * static_cast<int64_t>(a.shape(d) - 1);
      idx[d] = 0;
    }
  }
  return out;
}

// A numpy array that takes over the tensor's buffer (float32 or int64; Exact is
// rounded to float32 first).
nb::object to_numpy(Tensor t);

// Copies a float32 / int64 / float64 vector into a new numpy array of that shape.
template <class T>
nb::object vector_to_numpy(std::vector<T> v, const Shape& shape) {
  auto* owned = new std::vector<T>(std::move(v));
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  std::vector<size_t> dims(shape.begin(), shape.end());
  nb::ndarray<nb::numpy, T> arr(owned->data(), dims.size(), dims.data(), owner);
  return nb::cast(arr, nb::rv_policy::automatic);
}

}  // namespace bitsmith::py
