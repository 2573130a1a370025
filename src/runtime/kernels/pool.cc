// Reference pooling and depthwise kernels: the shared loops at baseline flags.
#include "runtime/kernels/pool_loops.h"

BITSMITH_DEFINE_LOOP_KERNELS(ref)
