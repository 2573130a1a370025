// TensorProto -> Tensor, with every size checked before anything is allocated.
#pragma once

#include <string>

#include "core/tensor.h"

namespace onnx {
class TensorProto;
}

namespace bitsmith {

// `base_dir` is the model's folder: external data must lie inside it. `what`
// names the tensor in messages ("file: initializer 'w'").
Tensor tensor_from_proto(const onnx::TensorProto& proto, const std::string& base_dir,
                         const std::string& what);

}  // namespace bitsmith
