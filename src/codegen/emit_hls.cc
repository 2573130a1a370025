#include "codegen/project.h"
#include "core/error.h"
namespace bitsmith::codegen {
Project emit_hls(const Program&, const HlsOptions&) {
  throw Error(ErrorKind::kUnsupported, "hls target: in progress");
}
}  // namespace bitsmith::codegen
