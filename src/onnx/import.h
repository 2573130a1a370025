// ONNX/QONNX import: protobuf (ONNX's own schema, Debian's libonnx) -> Graph.
// Loading also verifies the graph and runs shape and type inference, so a model
// that loads is a model that runs.
#pragma once

#include <memory>
#include <string>

#include "ir/graph.h"

namespace bitsmith {

std::shared_ptr<Graph> load_model_file(const std::string& path);
std::shared_ptr<Graph> load_model_bytes(const std::string& bytes,
                                        const std::string& source = "<bytes>");

}  // namespace bitsmith
