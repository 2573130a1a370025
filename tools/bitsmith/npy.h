// numpy's file formats for the CLI: .npy input (float32, float64, int64,
// little-endian, C order; the header is checked strictly) and .npz output
// (an uncompressed zip of .npy members, written atomically).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace bitsmith::cli {

struct NpyArray {
  std::string dtype;  // "float32", "float64" or "int64"
  Shape shape;
  std::vector<float> f32;
  std::vector<double> f64;
  std::vector<int64_t> i64;
};

// Throws Error(kIo) naming the file for anything malformed or unsupported.
NpyArray read_npy(const std::string& path);

// The arrays of an .npz file (np.savez: a zip of stored .npy members), by name.
std::map<std::string, NpyArray> read_npz(const std::string& path);

// The .npy encoding (format 1.0) of a float32 or int64 tensor.
std::string npy_bytes(const Tensor& t);

// Writes name -> tensor as `path` (np.load(path)[name] gives the array back). The
// data goes to a temporary file in the same folder that is renamed over `path`
// only when complete; on failure nothing is left behind. Throws Error(kIo).
void write_npz(const std::string& path,
               const std::vector<std::pair<std::string, const Tensor*>>& arrays);

}  // namespace bitsmith::cli
