// One error type for everything a user can get wrong: the message always names
// where (file, node) and why, so the CLI and the Python front show the same text.
#pragma once

#include <stdexcept>
#include <string>

namespace bitsmith {

enum class ErrorKind {
  kParse,         // the file is not a valid ONNX model
  kUnsupported,   // an op, attribute or type bitsmith does not implement
  kInvalidModel,  // structurally wrong: missing initializer, bad shapes, cycles
  kInput,         // wrong input name, shape or dtype given at run time
  kRuntime,       // evaluation failed (e.g. exact arithmetic out of range)
  kIo,            // reading or writing a file failed
};

const char* error_kind_name(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

// Not an error: a lowered op met a value outside the integer form the lowering
// assumed (a float input off its fixed-point grid). The fast engine then runs the
// batch on the reference graph, which gives the same bits (runtime/engine.h).
class OffGrid : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Formats "<file>: node '<name>' (<op>): <reason>", leaving out empty parts.
std::string where(const std::string& file, const std::string& node, const std::string& op);

[[noreturn]] void fail(ErrorKind kind, const std::string& message);

}  // namespace bitsmith
