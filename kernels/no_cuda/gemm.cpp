// The gemm contract's CUDA side in a build without CUDA.
#include "fer/kernels/gemm.hpp"
#include "kernels/no_cuda/no_cuda.hpp"

namespace fer::kernels {
void set_allow_tf32(bool) { no_cuda("set_allow_tf32"); }
bool allow_tf32() { return false; }
void linear_forward_cuda(const LinearArgs&) { no_cuda("linear_forward"); }
void linear_backward_cuda(const LinearBackwardArgs&) { no_cuda("linear_backward"); }
void matmul_into_cuda(const MatmulArgs&) { no_cuda("matmul_into"); }
void add_column_sums_cuda(const ColumnSumArgs&) { no_cuda("add_column_sums"); }
void fill_rows_cuda(const FillRowsArgs&) { no_cuda("fill_rows"); }
}  // namespace fer::kernels
