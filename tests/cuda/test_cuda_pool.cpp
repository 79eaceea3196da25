// CUDA pooling against the CPU backend: max pool (argmax, ties, NaN, dilation, ceil_mode), avg pool (padding with
// and without count_include_pad, ceil_mode), adaptive avg pool (shrinking and growing); forward and backward through
// the ops with autograd on odd sizes, in f64 (kTolF64), f32 with a preexisting gradient (kTolF32), bf16 and f16
// against the CPU's f32 result on the same rounded inputs (kTolBf16 / kTolF16); outputs of the raw kernels are
// poisoned with NaN first, so an element left unwritten fails.
#include <functional>
#include <vector>

#include "cuda/cuda_parity.hpp"

#include "fer/autograd/tape.hpp"
#include "fer/kernels/pool.hpp"
#include "fer/ops/pool.hpp"

// Each file of the unity-built fer_cuda_tests keeps its helpers to itself.
namespace test_cuda_pool {

using namespace fer;
using namespace fer::cuda_test;

namespace {

Device dev0() { return cuda_test::cuda0(); }

using Op = std::function<Tensor(const Tensor&)>;

// The op on the GPU against the CPU backend in every dtype.
void check_op(const Op& op, const Shape& shape, uint64_t seed, double lo = -2, double hi = 2) {
  Generator g(seed);
  Tensor x = random_cpu(shape, g, lo, hi, DType::f64);
  Tensor y_shape = op(x.to(DType::f32));  // for the seed's shape
  Tensor gy = random_cpu(y_shape.shape(), g, -1, 1, DType::f64);
  Tensor pre = random_cpu(shape, g, -1, 1, DType::f64);
  check_dtype_modes("pool op", [&op](const std::vector<Tensor>& t, Device) { return op(t[0]); }, {x}, gy, {pre});
}

}  // namespace

TEST_CASE("max_pool2d: values, argmax and gradients match the CPU") {
  Pool2dParams p = Pool2dParams::make(3, 2, 1);
  check_op([&](const Tensor& x) { return max_pool2d(x, p); }, {3, 13, 11, 7}, 1);
  Pool2dParams q;
  q.kernel = {2, 3}, q.stride = {1, 2}, q.padding = {1, 1}, q.dilation = {2, 1}, q.ceil_mode = true;
  check_op([&](const Tensor& x) { return max_pool2d(x, q); }, {2, 9, 10, 33}, 2);
  // Overlapping windows on a coarse grid of values: many ties (the first maximum wins, and only it gets gradient).
  Pool2dParams r = Pool2dParams::make(3, 1, 1);
  Generator g(3);
  Tensor x = random_cpu({2, 7, 6, 5}, g, 0, 3, DType::f64);
  for (int64_t i = 0; i < x.numel(); ++i) x.set_flat(i, std::floor(x.flat(i)));
  auto [y_cpu, a_cpu] = max_pool2d_with_indices(x, r);
  auto [y_gpu, a_gpu] = max_pool2d_with_indices(x.to(dev0()), r);
  CHECK(rel_l2(y_gpu, y_cpu) == 0.0);
  CHECK(rel_l2(a_gpu.to(DType::f64), a_cpu.to(DType::f64)) == 0.0);
}

TEST_CASE("max_pool2d: NaN wins (the last one), as on the CPU") {
  Generator g(4);
  Tensor x = random_cpu({1, 5, 5, 3}, g, -1, 1, DType::f32);
  x.set_flat(3 * 6 + 1, std::nan(""));
  x.set_flat(3 * 7 + 1, std::nan(""));
  Pool2dParams p = Pool2dParams::make(2, 1);
  auto [y_cpu, a_cpu] = max_pool2d_with_indices(x, p);
  auto [y_gpu, a_gpu] = max_pool2d_with_indices(x.to(dev0()), p);
  Tensor yh = y_gpu.host();
  for (int64_t i = 0; i < yh.numel(); ++i) CHECK(std::isnan(yh.flat(i)) == std::isnan(y_cpu.flat(i)));
  CHECK(rel_l2(a_gpu.to(DType::f64), a_cpu.to(DType::f64)) == 0.0);
}

TEST_CASE("avg_pool2d: padding with and without count_include_pad, ceil_mode") {
  for (bool include : {true, false})
    for (bool ceil : {false, true}) {
      CAPTURE(include);
      CAPTURE(ceil);
      Pool2dParams p;
      p.kernel = {3, 2}, p.stride = {2, 2}, p.padding = {1, 1}, p.ceil_mode = ceil, p.count_include_pad = include;
      check_op([&](const Tensor& x) { return avg_pool2d(x, p); }, {2, 11, 8, 9}, 10 + 2 * include + ceil);
    }
  check_op([](const Tensor& x) { return avg_pool2d(x, Pool2dParams::make(2)); }, {3, 6, 10, 40}, 20);
}

TEST_CASE("adaptive_avg_pool2d: shrinking, global and growing windows") {
  check_op([](const Tensor& x) { return adaptive_avg_pool2d(x, 3, 4); }, {2, 10, 7, 13}, 30);
  check_op([](const Tensor& x) { return adaptive_avg_pool2d(x, 1, 1); }, {4, 5, 9, 37}, 31);
  check_op([](const Tensor& x) { return adaptive_avg_pool2d(x, 7, 5); }, {2, 3, 4, 6}, 32);
}

TEST_CASE("every output element is written (outputs poisoned with NaN)") {
  Generator g(40);
  Tensor x = random_cpu({2, 9, 7, 5}, g);
  Tensor xd = x.to(dev0());
  Pool2dParams p = Pool2dParams::make(3, 2, 1);
  kernels::PoolGeometry geo = ops_detail::pool_geometry("max_pool2d", x, p);
  Shape ys{geo.n, geo.ho, geo.wo, geo.c};
  Tensor y = poisoned(ys), a = Tensor::full(ys, -7, DType::i32).to(dev0());
  kernels::max_pool2d_forward_cuda({geo, kernels::ref(xd), kernels::ref(y), kernels::ref(a)});
  auto [y_ref, a_ref] = max_pool2d_with_indices(x, p);
  CHECK(rel_l2(y, y_ref) <= kTolF32);
  CHECK(rel_l2(a.to(DType::f64), a_ref.to(DType::f64)) == 0.0);
  Tensor ya = poisoned(ys);
  kernels::avg_pool2d_forward_cuda({geo, kernels::ref(xd), kernels::ref(ya)});
  CHECK(rel_l2(ya, avg_pool2d(x, p)) <= kTolF32);
  Tensor yd = poisoned({2, 4, 3, 5});
  kernels::adaptive_avg_pool2d_forward_cuda({kernels::ref(xd), kernels::ref(yd)});
  CHECK(rel_l2(yd, adaptive_avg_pool2d(x, 4, 3)) <= kTolF32);
}

}  // namespace test_cuda_pool
