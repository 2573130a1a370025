// The avx512 kernel table (only pointers; the kernels check nothing themselves:
// table_for() refuses this table on a CPU without avx512).
#include "runtime/kernels/kernel_table.h"

namespace bitsmith::kernels {

const Table kAvx512Table = {avx512::gemm_u8s8,    avx512::gemm_s8s8,     avx512::gemm_s16s16,
                            avx512::gemm_xnor,    avx512::threshold_i32, avx512::max_pool_i32,
                            avx512::sum_pool_i32, avx512::depthwise_u8,  avx512::depthwise_s8};

}  // namespace bitsmith::kernels
