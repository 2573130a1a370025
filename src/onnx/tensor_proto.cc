#include "onnx/tensor_proto.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/error.h"
#include "onnx/onnx_pb.h"

namespace bitsmith {
namespace {

namespace fs = std::filesystem;
using onnx::TensorProto;

[[noreturn]] void bad(const std::string& what, const std::string& reason) {
  fail(ErrorKind::kInvalidModel, what + ": " + reason);
}

int elem_size(int dt) {
  switch (dt) {
    case TensorProto::FLOAT:
    case TensorProto::INT32:
    case TensorProto::UINT32:
      return 4;
    case TensorProto::DOUBLE:
    case TensorProto::INT64:
    case TensorProto::UINT64:
      return 8;
    case TensorProto::INT16:
    case TensorProto::UINT16:
    case TensorProto::FLOAT16:
      return 2;
    case TensorProto::INT8:
    case TensorProto::UINT8:
    case TensorProto::BOOL:
      return 1;
    default:
      return 0;
  }
}

// Reads [offset, offset+length) of an external data file that must lie in base_dir.
std::string read_external(const TensorProto& p, const std::string& base_dir,
                          const std::string& what) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : p.external_data()) {
    try {
      if (kv.key() == "location") location = kv.value();
      if (kv.key() == "offset") offset = std::stoll(kv.value());
      if (kv.key() == "length") length = std::stoll(kv.value());
    } catch (const std::exception&) {
      bad(what, "external data entry '" + kv.key() + "' is not a number: '" + kv.value() + "'");
    }
  }
  if (location.empty()) bad(what, "external data without a location");
  if (base_dir.empty()) bad(what, "external data needs a model loaded from a file");
  std::error_code ec;
  fs::path base = fs::weakly_canonical(fs::path(base_dir), ec);
  fs::path file = fs::weakly_canonical(base / location, ec);
  auto rel = file.lexically_relative(base);
  if (ec || rel.empty() || *rel.begin() == "..") {
    bad(what, "external data '" + location + "' lies outside the model's folder");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) bad(what, "cannot open external data file '" + file.string() + "'");
  in.seekg(0, std::ios::end);
  auto size = static_cast<int64_t>(in.tellg());
  if (offset < 0 || offset > size || (length >= 0 && offset + length > size)) {
    bad(what, "external data range lies outside '" + file.string() + "' (" + std::to_string(size) +
                  " bytes)");
  }
  if (length < 0) length = size - offset;
  std::string data(static_cast<size_t>(length), '\0');
  in.seekg(offset);
  in.read(data.data(), length);
  if (!in) bad(what, "cannot read external data file '" + file.string() + "'");
  return data;
}

template <class T>
T load_le(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));  // the host is little-endian, like the format
  return v;
}

double raw_element(const std::string& raw, int dt, size_t i) {
  const char* p = raw.data() + i * static_cast<size_t>(elem_size(dt));
  switch (dt) {
    case TensorProto::FLOAT:
      return load_le<float>(p);
    case TensorProto::DOUBLE:
      return load_le<double>(p);
    case TensorProto::INT32:
      return load_le<int32_t>(p);
    case TensorProto::UINT32:
      return load_le<uint32_t>(p);
    case TensorProto::INT16:
      return load_le<int16_t>(p);
    case TensorProto::UINT16:
      return load_le<uint16_t>(p);
    case TensorProto::INT8:
      return load_le<int8_t>(p);
    case TensorProto::UINT8:
    case TensorProto::BOOL:
      return load_le<uint8_t>(p);
    default:
      return 0;
  }
}

bool is_integer_type(int dt) {
  return dt != TensorProto::FLOAT && dt != TensorProto::DOUBLE;
}

}  // namespace

Tensor tensor_from_proto(const TensorProto& p, const std::string& base_dir,
                         const std::string& what) {
  const int dt = p.data_type();
  if (dt == TensorProto::FLOAT16 || dt == TensorProto::BFLOAT16 || dt == TensorProto::STRING ||
      elem_size(dt) == 0) {
    fail(ErrorKind::kUnsupported,
         what + ": tensor data type " + std::to_string(dt) + " (" +
             TensorProto::DataType_Name(static_cast<TensorProto::DataType>(dt)) +
             ") is not supported");
  }
  Shape shape(p.dims().begin(), p.dims().end());
  ElemType storage = is_integer_type(dt) ? ElemType::kInt64 : ElemType::kFloat32;
  int64_t n = 0;
  try {
    n = checked_num_elements(shape, storage);
  } catch (const Error& e) {
    bad(what, e.what());
  }
  const auto count = static_cast<size_t>(n);

  std::string external;
  const std::string* raw = nullptr;
  if (p.data_location() == TensorProto::EXTERNAL) {
    external = read_external(p, base_dir, what);
    raw = &external;
  } else if (p.has_raw_data()) {
    raw = &p.raw_data();
  }

  if (raw) {
    size_t want = count * static_cast<size_t>(elem_size(dt));
    if (raw->size() != want) {
      bad(what, "holds " + std::to_string(raw->size()) + " bytes but shape " + shape_str(shape) +
                    " needs " + std::to_string(want));
    }
    if (dt == TensorProto::INT64 || dt == TensorProto::UINT64) {
      std::vector<int64_t> v(count);
      for (size_t i = 0; i < count; ++i) v[i] = load_le<int64_t>(raw->data() + 8 * i);
      return Tensor::from_i64(shape, std::move(v));
    }
    if (is_integer_type(dt)) {
      std::vector<int64_t> v(count);
      for (size_t i = 0; i < count; ++i) v[i] = static_cast<int64_t>(raw_element(*raw, dt, i));
      return Tensor::from_i64(shape, std::move(v));
    }
    std::vector<double> d(count);
    for (size_t i = 0; i < count; ++i) d[i] = raw_element(*raw, dt, i);
    if (dt == TensorProto::FLOAT)
      return Tensor::from_f32(shape, std::vector<float>(d.begin(), d.end()));
    // float64 data: keep it exact when float32 cannot hold it.
    bool fits = true;
    for (double x : d)
      fits = fits && (std::isnan(x) || static_cast<double>(static_cast<float>(x)) == x);
    if (fits) return Tensor::from_f32(shape, std::vector<float>(d.begin(), d.end()));
    std::vector<Exact> x(count);
    for (size_t i = 0; i < count; ++i) x[i] = Exact::from_double(d[i]);
    return Tensor::from_exact(shape, std::move(x));
  }

  auto check_count = [&](int have) {
    if (static_cast<size_t>(have) != count) {
      bad(what, "holds " + std::to_string(have) + " values but shape " + shape_str(shape) +
                    " needs " + std::to_string(count));
    }
  };
  switch (dt) {
    case TensorProto::FLOAT:
      check_count(p.float_data_size());
      return Tensor::from_f32(shape,
                              std::vector<float>(p.float_data().begin(), p.float_data().end()));
    case TensorProto::DOUBLE: {
      check_count(p.double_data_size());
      std::vector<Exact> x;
      for (double v : p.double_data()) x.push_back(Exact::from_double(v));
      return Tensor::from_exact(shape, std::move(x));
    }
    case TensorProto::INT64:
      check_count(p.int64_data_size());
      return Tensor::from_i64(shape,
                              std::vector<int64_t>(p.int64_data().begin(), p.int64_data().end()));
    case TensorProto::UINT64:
    case TensorProto::UINT32:
      check_count(p.uint64_data_size());
      return Tensor::from_i64(shape,
                              std::vector<int64_t>(p.uint64_data().begin(), p.uint64_data().end()));
    default:
      check_count(p.int32_data_size());
      return Tensor::from_i64(shape,
                              std::vector<int64_t>(p.int32_data().begin(), p.int32_data().end()));
  }
}

}  // namespace bitsmith
