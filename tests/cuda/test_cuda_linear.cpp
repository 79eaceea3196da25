// CUDA linear and matmul against the CPU backend: forward and every gradient through autograd (2-d and 3-d inputs,
// with and without bias, a bias gradient over many rows that takes the chunked column sums), plain and batched
// matmul, the transposed and accumulating variants of matmul_into, in f64 (kTolF64), f32 (kTolF32), TF32
// (kTolTf32, flag on), f16 (kTolF16) and bf16 (kTolBf16); and accumulation into preexisting gradients.
#include "cuda/cuda_parity.hpp"

#include "fer/kernels/gemm.hpp"
#include "fer/ops/linear.hpp"

// Each file of the unity-built fer_cuda_tests keeps its helpers to itself.
namespace test_cuda_linear {

using namespace fer;
using namespace fer::cuda_test;

static const Device kGpu = Device::cuda(0);

namespace {

DType ref_of(DType dt) { return dt == DType::f64 ? DType::f64 : DType::f32; }

struct Tf32Guard {
  explicit Tf32Guard(bool on) { fer::kernels::set_allow_tf32(on); }
  ~Tf32Guard() { fer::kernels::set_allow_tf32(false); }
};

// Makes CPU (reference dtype) and GPU (dtype dt) leaves of the same rounded values; with `accumulate` their
// gradients start from the same nonzero values.
std::pair<Tensor, Tensor> leaf_pair(const Shape& s, Generator& g, DType dt, bool accumulate) {
  Tensor v = random_cpu(s, g, -1, 1, dt);
  Tensor c = v.to(ref_of(dt)), d = v.to(kGpu);
  c.set_requires_grad();
  d.set_requires_grad();
  if (accumulate) {
    Tensor pre = random_cpu(s, g, -2, 2, dt);
    c.grad_buffer().copy_(pre.to(ref_of(dt)));
    d.grad_buffer().copy_(pre.to(kGpu));
  }
  return {c, d};
}

void check_linear(const Shape& x_shape, int64_t out, bool bias, DType dt, double tol, bool accumulate, uint64_t seed) {
  CAPTURE(x_shape.str());
  CAPTURE(out);
  CAPTURE(bias);
  CAPTURE(std::string(dtype_name(dt)));
  CAPTURE(accumulate);
  Generator g(seed);
  auto [xc, xg] = leaf_pair(x_shape, g, dt, accumulate);
  auto [wc, wg] = leaf_pair({out, x_shape[x_shape.nd - 1]}, g, dt, accumulate);
  Tensor bc, bg;
  if (bias) std::tie(bc, bg) = leaf_pair({out}, g, dt, accumulate);
  Tensor yc = linear(xc, wc, bc);
  Tensor gy = random_cpu(yc.shape(), g, -1, 1, dt);
  backward(yc, gy.to(ref_of(dt)));
  Tensor yg = linear(xg, wg, bg);
  REQUIRE(yg.device() == kGpu);
  backward(yg, gy.to(kGpu));
  CHECK(rel_l2(yg, yc) <= tol);
  CHECK(rel_l2(xg.grad(), xc.grad()) <= tol);
  CHECK(rel_l2(wg.grad(), wc.grad()) <= tol);
  if (bias) CHECK(rel_l2(bg.grad(), bc.grad()) <= tol);
}

void check_matmul(const Shape& a_shape, const Shape& b_shape, DType dt, double tol, bool accumulate, uint64_t seed) {
  CAPTURE(a_shape.str());
  CAPTURE(b_shape.str());
  CAPTURE(std::string(dtype_name(dt)));
  Generator g(seed);
  auto [ac, ag] = leaf_pair(a_shape, g, dt, accumulate);
  auto [bc, bg] = leaf_pair(b_shape, g, dt, accumulate);
  Tensor cc = matmul(ac, bc);
  Tensor gc = random_cpu(cc.shape(), g, -1, 1, dt);
  backward(cc, gc.to(ref_of(dt)));
  Tensor cg = matmul(ag, bg);
  backward(cg, gc.to(kGpu));
  CHECK(rel_l2(cg, cc) <= tol);
  CHECK(rel_l2(ag.grad(), ac.grad()) <= tol);
  CHECK(rel_l2(bg.grad(), bc.grad()) <= tol);
}

void check_all(DType dt, double tol, uint64_t seed) {
  for (bool acc : {false, true}) {
    check_linear({7, 13}, 9, true, dt, tol, acc, seed++);
    check_linear({2, 5, 11}, 6, false, dt, tol, acc, seed++);
    check_linear({1, 3}, 1, true, dt, tol, acc, seed++);
    check_linear({3000, 7}, 5, true, dt, tol, acc, seed++);  // many rows: chunked bias gradient
    check_matmul({5, 9}, {9, 4}, dt, tol, acc, seed++);
    check_matmul({3, 6, 7}, {3, 7, 5}, dt, tol, acc, seed++);
    check_matmul({1, 33, 17}, {1, 17, 65}, dt, tol, acc, seed++);
  }
}

}  // namespace

TEST_CASE("linear and matmul f64 match the CPU backend tightly") { check_all(DType::f64, kTolF64, 10); }

TEST_CASE("linear and matmul f32 match the CPU backend (exact f32 by default)") {
  CHECK_FALSE(fer::kernels::allow_tf32());
  check_all(DType::f32, kTolF32, 100);
}

TEST_CASE("linear and matmul f32 with TF32 allowed") {
  Tf32Guard tf32(true);
  check_all(DType::f32, kTolTf32, 200);
}

TEST_CASE("linear and matmul f16 / bf16 against the CPU in f32 on the same rounded inputs") {
  check_all(DType::f16, kTolF16, 300);
  check_all(DType::bf16, kTolBf16, 400);
}

TEST_CASE("matmul_into: every transpose combination, batched, overwrite and accumulate, into NaN-poisoned output") {
  Generator g(500);
  for (DType dt : {DType::f64, DType::f32, DType::f16, DType::bf16}) {
    const DType ref = ref_of(dt);
    const double tol = dt == DType::f64 ? kTolF64 : dt == DType::f32 ? kTolF32 : dt == DType::f16 ? kTolF16 : kTolBf16;
    for (int64_t batch : {0, 1, 4}) {
      for (bool ta : {false, true}) {
        for (bool tb : {false, true}) {
          for (bool acc : {false, true}) {
            CAPTURE(std::string(dtype_name(dt)));
            CAPTURE(batch);
            CAPTURE(ta);
            CAPTURE(tb);
            CAPTURE(acc);
            const int64_t m = 7, k = 11, n = 5;
            auto shape = [&](int64_t r, int64_t c) { return batch ? Shape{batch, r, c} : Shape{r, c}; };
            Tensor a = random_cpu(ta ? shape(k, m) : shape(m, k), g, -1, 1, dt);
            Tensor b = random_cpu(tb ? shape(n, k) : shape(k, n), g, -1, 1, dt);
            Tensor c0 = random_cpu(shape(m, n), g, -1, 1, dt);
            Tensor cc = c0.to(ref).clone();
            kernels::matmul_into_cpu({kernels::ref(a.to(ref)), ta, kernels::ref(b.to(ref)), tb, kernels::ref(cc), acc});
            Tensor cg = acc ? c0.to(kGpu) : poisoned(shape(m, n), dt);
            kernels::matmul_into_cuda(
                {kernels::ref(a.to(kGpu)), ta, kernels::ref(b.to(kGpu)), tb, kernels::ref(cg), acc});
            CHECK(rel_l2(cg, cc) <= tol);
          }
        }
      }
    }
  }
}

TEST_CASE("matmul with an empty inner dimension writes zeros") {
  Tensor a = Tensor::empty({3, 0}), b = Tensor::empty({0, 4});
  Tensor c = poisoned({3, 4});
  kernels::matmul_into_cuda({kernels::ref(a.to(kGpu)), false, kernels::ref(b.to(kGpu)), false, kernels::ref(c), false});
  CHECK(rel_l2(c, Tensor::zeros({3, 4})) == 0.0);
}

}  // namespace test_cuda_linear
