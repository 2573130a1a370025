// Pooling and depthwise loops compiled for AVX-512 (16 x int32 per vector).
#include "runtime/kernels/pool_loops.h"

BITSMITH_DEFINE_LOOP_KERNELS(avx512)
