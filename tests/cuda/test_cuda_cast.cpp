// The CUDA dtype cast against the CPU's, every floating pair, forward and accumulating backward; outputs poisoned.
#include <cstring>

#include "cuda/cuda_parity.hpp"

#include "fer/kernels/cast.hpp"
#include "fer/ops/cast.hpp"

// Each file of the unity-built fer_cuda_tests keeps its helpers to itself.
namespace test_cuda_cast {

using namespace fer;
using namespace fer::cuda_test;

TEST_CASE("cast forward and backward equal the CPU's bit for bit, every floating pair") {
  Generator g(7);
  const DType types[] = {DType::f32, DType::f64, DType::f16, DType::bf16};
  for (DType from : types)
    for (DType to : types) {
      CAPTURE(dtype_name(from));
      CAPTURE(dtype_name(to));
      Tensor x = random_cpu({1031}, g, -70000, 70000, from);  // beyond f16's range too: overflow to inf must match
      Tensor y_cpu = Tensor::empty({1031}, to);
      kernels::cast_forward_cpu({kernels::ref(x), kernels::ref(y_cpu)});
      Tensor y_gpu = poisoned({1031}, to);
      kernels::cast_forward_cuda({kernels::ref(x.to(cuda0())), kernels::ref(y_gpu)});
      CHECK(std::memcmp(y_gpu.host().raw_data(), y_cpu.raw_data(), y_cpu.nbytes()) == 0);

      Tensor gx_cpu = random_cpu({1031}, g, -1, 1, from), gy = random_cpu({1031}, g, -1, 1, to);
      Tensor gx_gpu = gx_cpu.to(cuda0());
      kernels::cast_backward_cpu({kernels::ref(gy), kernels::ref(gx_cpu)});
      kernels::cast_backward_cuda({kernels::ref(gy.to(cuda0())), kernels::ref(gx_gpu)});
      double tol = (from == DType::f64 || from == DType::f32) ? 0.0 : 1e-2;  // 16-bit sums may round differently
      CHECK(rel_l2(gx_gpu, gx_cpu) <= tol);
    }
}

TEST_CASE("autocast on a CUDA tensor lowers for GEMM-like ops and upcasts for reductions") {
  Generator g(8);
  Tensor x = random_cpu({4, 9}, g).to(cuda0());
  AutocastGuard on(DType::bf16);
  CHECK(ops_detail::autocast_input(x, ops_detail::AutocastPolicy::lower).dtype() == DType::bf16);
  Tensor low = cast(x, DType::bf16);
  CHECK(ops_detail::autocast_input(low, ops_detail::AutocastPolicy::upcast).dtype() == DType::f32);
  CHECK(rel_l2(cast(low, DType::f32), x) <= kTolBf16);
}

}  // namespace test_cuda_cast
