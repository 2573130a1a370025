// Which SIMD path the kernels take: the best one the CPU has, unless the
// BITSMITH_ISA environment variable forces one (for tests and benchmarks).
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "runtime/kernels/kernel_table.h"

namespace bitsmith::kernels {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kRef:
      return "ref";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
  }
  return "?";
}

bool isa_supported(Isa isa) {
#if defined(__x86_64__) || defined(__i386__)
  switch (isa) {
    case Isa::kRef:
      return true;
    case Isa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("popcnt");
    case Isa::kAvx512:
      // The AVX-512 files also use AVX2 instructions, so require both.
      return isa_supported(Isa::kAvx2) && __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni") &&
             __builtin_cpu_supports("avx512vpopcntdq");
  }
  return false;
#else
  return isa == Isa::kRef;
#endif
}

Isa detect_isa() {
  if (isa_supported(Isa::kAvx512)) return Isa::kAvx512;
  if (isa_supported(Isa::kAvx2)) return Isa::kAvx2;
  return Isa::kRef;
}

namespace {
Isa isa_from_env() {
  const char* env = std::getenv("BITSMITH_ISA");
  if (env == nullptr || *env == '\0' || std::string(env) == "auto") return detect_isa();
  const std::string v(env);
  for (Isa isa : {Isa::kRef, Isa::kAvx2, Isa::kAvx512}) {
    if (v != isa_name(isa)) continue;
    if (!isa_supported(isa))
      fail(ErrorKind::kInput,
           "BITSMITH_ISA=" + v + ": this CPU does not support the " + v + " kernels");
    return isa;
  }
  fail(ErrorKind::kInput, "BITSMITH_ISA=" + v + ": expected one of auto, ref, avx2, avx512");
}
}  // namespace

Isa active_isa() {
  // Read once: a static's initializer that throws is retried on the next call,
  // so a bad value keeps failing loudly instead of silently falling back.
  static const Isa isa = isa_from_env();
  return isa;
}

const Table& table_for(Isa isa) {
  if (!isa_supported(isa))
    fail(ErrorKind::kInput,
         std::string("the ") + isa_name(isa) + " kernels need a CPU this one is not");
  switch (isa) {
    case Isa::kAvx2:
      return kAvx2Table;
    case Isa::kAvx512:
      return kAvx512Table;
    case Isa::kRef:
      break;
  }
  return kRefTable;
}

}  // namespace bitsmith::kernels
