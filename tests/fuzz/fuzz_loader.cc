// libFuzzer target: any byte string must either load (and then run on zeros)
// or raise bitsmith::Error — never crash, hang or allocate without bound.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "onnx/import.h"
#include "runtime/session.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    auto g = bitsmith::load_model_bytes(bytes, "<fuzz>");
    // Loading already executed the graph once on zeros (shape inference); also
    // run it in exact mode, which takes the other arithmetic path.
    bitsmith::TensorMap feeds;
    for (const auto& in : g->inputs) {
      bitsmith::Shape s = in.shape;
      for (auto& d : s) d = d < 0 ? 1 : d;
      feeds[in.name] = bitsmith::Tensor(in.elem, s);
    }
    bitsmith::execute(*g, feeds, {bitsmith::Mode::kExact, false, false});
  } catch (const bitsmith::Error&) {
  }
  return 0;
}
