// Pooling and depthwise loops compiled for AVX2 (the compiler vectorizes the
// contiguous channel loop 8 x int32 wide).
#include "runtime/kernels/pool_loops.h"

BITSMITH_DEFINE_LOOP_KERNELS(avx2)
