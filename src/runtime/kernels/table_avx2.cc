// The avx2 kernel table (only pointers; the kernels check nothing themselves:
// table_for() refuses this table on a CPU without avx2).
#include "runtime/kernels/kernel_table.h"

namespace bitsmith::kernels {

const Table kAvx2Table = {avx2::gemm_u8s8,    avx2::gemm_s8s8,     avx2::gemm_s16s16,
                          avx2::gemm_xnor,    avx2::threshold_i32, avx2::max_pool_i32,
                          avx2::sum_pool_i32, avx2::depthwise_u8,  avx2::depthwise_s8};

}  // namespace bitsmith::kernels
