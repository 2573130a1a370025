#include "core/error.h"

namespace bitsmith {

const char* error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kParse:
      return "ParseError";
    case ErrorKind::kUnsupported:
      return "UnsupportedError";
    case ErrorKind::kInvalidModel:
      return "ModelError";
    case ErrorKind::kInput:
      return "InputError";
    case ErrorKind::kRuntime:
      return "ExecutionError";
    case ErrorKind::kIo:
      return "IoError";
  }
  return "Error";
}

std::string where(const std::string& file, const std::string& node, const std::string& op) {
  std::string out;
  if (!file.empty()) out += file;
  if (!node.empty() || !op.empty()) {
    if (!out.empty()) out += ": ";
    out += "node '" + node + "'";
    if (!op.empty()) out += " (" + op + ")";
  }
  return out;
}

void fail(ErrorKind kind, const std::string& message) {
  throw Error(kind, message);
}

}  // namespace bitsmith
