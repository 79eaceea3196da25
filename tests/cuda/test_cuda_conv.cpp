// CUDA conv2d against the CPU backend: forward, input, weight and bias gradients through autograd, for 1x1, 3x3
// and 5x5 kernels, strides, dilation, groups, asymmetric (TF "same") padding both ways, depthwise convolutions
// (the hand-written kernel: 3x3 / 5x5 / 7x7 / 4x4, vectorized and scalar channel counts, one and many weight-grad
// chunks; and a channel multiplier, which goes to cuDNN), in f64 (kTolF64), f32 (kTolF32), TF32 (kTolTf32, with
// the flag on), f16 (kTolF16) and bf16 (kTolBf16); and accumulation into preexisting gradients.
#include "cuda/cuda_parity.hpp"

#include "fer/kernels/conv.hpp"
#include "fer/kernels/gemm.hpp"
#include "fer/ops/conv.hpp"

// Each file of the unity-built fer_cuda_tests keeps its helpers to itself.
namespace test_cuda_conv {

using namespace fer;
using namespace fer::cuda_test;

static const Device kGpu = Device::cuda(0);

namespace {

struct Case {
  const char* name;
  int64_t n, h, w, c, o, kh, kw;
  Conv2dParams p;
  bool bias = true;
};

Conv2dParams params(std::array<int64_t, 2> stride, std::array<int64_t, 4> pad, std::array<int64_t, 2> dil = {1, 1},
                    int64_t groups = 1) {
  Conv2dParams p;
  p.stride = stride, p.padding = pad, p.dilation = dil, p.groups = groups;
  return p;
}

std::vector<Case> cases() {
  return {
      {"1x1", 2, 7, 5, 6, 10, 1, 1, params({1, 1}, {0, 0, 0, 0})},
      {"1x1 stride 2, no bias", 3, 9, 8, 5, 4, 1, 1, params({2, 2}, {0, 0, 0, 0}), false},
      {"3x3 s1 p1", 2, 9, 7, 5, 8, 3, 3, params({1, 1}, {1, 1, 1, 1})},
      {"3x3 s2 p1", 3, 11, 9, 4, 6, 3, 3, params({2, 2}, {1, 1, 1, 1})},
      {"5x5 s2 TF-same (bottom/right pad larger)", 2, 10, 12, 3, 5, 5, 5, params({2, 2}, {1, 2, 1, 2})},
      {"3x3 s2 top/left pad larger (crop)", 2, 9, 9, 3, 4, 3, 3, params({2, 2}, {1, 0, 1, 0})},
      {"3x5 s(2,1) mixed asymmetric", 1, 8, 7, 2, 3, 3, 5, params({2, 1}, {0, 2, 3, 0})},
      {"3x3 dilation 2", 2, 11, 10, 4, 6, 3, 3, params({1, 1}, {2, 2, 2, 2}, {2, 2})},
      {"3x3 groups 2", 2, 8, 9, 6, 8, 3, 3, params({1, 1}, {1, 1, 1, 1}, {1, 1}, 2)},
      {"odd: 1 channel, 3x5 s(2,1)", 3, 7, 9, 1, 3, 3, 5, params({2, 1}, {1, 1, 2, 2})},
      {"depthwise 3x3 s1 (vectorized)", 2, 9, 7, 16, 16, 3, 3, params({1, 1}, {1, 1, 1, 1}, {1, 1}, 16)},
      {"depthwise 3x3 s2", 2, 10, 9, 12, 12, 3, 3, params({2, 2}, {1, 1, 1, 1}, {1, 1}, 12)},
      {"depthwise 5x5 s2 odd channels", 2, 11, 9, 7, 7, 5, 5, params({2, 2}, {2, 2, 2, 2}, {1, 1}, 7)},
      {"depthwise 5x5 s1 asymmetric", 1, 8, 9, 8, 8, 5, 5, params({1, 1}, {1, 3, 2, 2}, {1, 1}, 8)},
      {"depthwise 5x5 s2 TF-same", 2, 10, 10, 8, 8, 5, 5, params({2, 2}, {1, 2, 1, 2}, {1, 1}, 8)},
      {"depthwise 7x7 s1", 2, 9, 10, 24, 24, 7, 7, params({1, 1}, {3, 3, 3, 3}, {1, 1}, 24)},
      {"depthwise 7x7 s2", 1, 13, 11, 6, 6, 7, 7, params({2, 2}, {3, 3, 3, 3}, {1, 1}, 6)},
      {"depthwise 4x4 (runtime size)", 2, 8, 8, 6, 6, 4, 4, params({2, 2}, {1, 2, 1, 2}, {1, 1}, 6)},
      {"depthwise 3x3 dilation 2", 2, 9, 9, 4, 4, 3, 3, params({1, 1}, {2, 2, 2, 2}, {2, 2}, 4)},
      {"depthwise tiny (one weight-grad chunk)", 1, 3, 3, 5, 5, 3, 3, params({1, 1}, {1, 1, 1, 1}, {1, 1}, 5)},
      {"depthwise multiplier 2 (cuDNN)", 2, 7, 8, 4, 8, 3, 3, params({1, 1}, {1, 1, 1, 1}, {1, 1}, 4)},
  };
}

// Runs conv2d and its backward on the CPU (reference dtype) and on the GPU (dtype dt) with the same rounded inputs
// and upstream gradient; with `accumulate` every gradient starts from the same nonzero values.
void check(const Case& k, DType dt, double tol, bool accumulate, uint64_t seed) {
  CAPTURE(k.name);
  CAPTURE(std::string(dtype_name(dt)));
  CAPTURE(accumulate);
  Generator g(seed);
  const DType ref = dt == DType::f64 ? DType::f64 : DType::f32;
  Tensor x = random_cpu({k.n, k.h, k.w, k.c}, g, -1, 1, dt);
  Tensor w = random_cpu({k.o, k.kh, k.kw, k.c / k.p.groups}, g, -1, 1, dt);
  Tensor b = k.bias ? random_cpu({k.o}, g, -1, 1, dt) : Tensor();

  Tensor xc = x.to(ref), wc = w.to(ref), bc = k.bias ? b.to(ref) : Tensor();
  Tensor xg = x.to(kGpu), wg = w.to(kGpu), bg = k.bias ? b.to(kGpu) : Tensor();
  std::vector<Tensor*> cpu_params = {&xc, &wc}, gpu_params = {&xg, &wg};
  if (k.bias) cpu_params.push_back(&bc), gpu_params.push_back(&bg);
  for (size_t i = 0; i < cpu_params.size(); ++i) {
    cpu_params[i]->set_requires_grad();
    gpu_params[i]->set_requires_grad();
    if (accumulate) {
      Tensor pre = random_cpu(cpu_params[i]->shape(), g, -2, 2, dt);
      cpu_params[i]->grad_buffer().copy_(pre.to(ref));
      gpu_params[i]->grad_buffer().copy_(pre.to(kGpu));
    }
  }

  Tensor yc = conv2d(xc, wc, bc, k.p);
  Tensor gy = random_cpu(yc.shape(), g, -1, 1, dt);
  backward(yc, gy.to(ref));

  Tensor yg = conv2d(xg, wg, bg, k.p);
  REQUIRE(yg.device() == kGpu);
  REQUIRE(yg.shape() == yc.shape());
  backward(yg, gy.to(kGpu));

  CHECK(rel_l2(yg, yc) <= tol);
  CHECK(rel_l2(xg.grad(), xc.grad()) <= tol);
  CHECK(rel_l2(wg.grad(), wc.grad()) <= tol);
  if (k.bias) CHECK(rel_l2(bg.grad(), bc.grad()) <= tol);
}

struct Tf32Guard {
  explicit Tf32Guard(bool on) { fer::kernels::set_allow_tf32(on); }
  ~Tf32Guard() { fer::kernels::set_allow_tf32(false); }
};

}  // namespace

TEST_CASE("conv2d routing: the depthwise kernel takes groups == c == o up to 7x7") {
  kernels::ConvGeometry g;
  g.c = g.o = g.groups = 16, g.kh = g.kw = 3;
  CHECK(fer::kernels::conv2d_uses_depthwise_kernel(g));
  g.o = 32;  // channel multiplier
  CHECK_FALSE(fer::kernels::conv2d_uses_depthwise_kernel(g));
  g.o = 16, g.kh = g.kw = 9;
  CHECK_FALSE(fer::kernels::conv2d_uses_depthwise_kernel(g));
  g.kh = g.kw = 3, g.groups = 1;
  CHECK_FALSE(fer::kernels::conv2d_uses_depthwise_kernel(g));
}

TEST_CASE("conv2d f64 matches the CPU backend tightly") {
  uint64_t seed = 100;
  for (const Case& k : cases()) check(k, DType::f64, kTolF64, false, seed++);
}

TEST_CASE("conv2d f32 matches the CPU backend (exact f32 math by default)") {
  CHECK_FALSE(fer::kernels::allow_tf32());
  uint64_t seed = 200;
  for (const Case& k : cases()) check(k, DType::f32, kTolF32, false, seed++);
}

TEST_CASE("conv2d gradients accumulate into preexisting gradients") {
  uint64_t seed = 300;
  for (const Case& k : cases()) check(k, DType::f32, kTolF32, true, seed++);
  seed = 350;
  for (const Case& k : cases()) check(k, DType::f64, kTolF64, true, seed++);
}

TEST_CASE("conv2d f32 with TF32 allowed stays within the TF32 tolerance") {
  Tf32Guard tf32(true);
  uint64_t seed = 400;
  for (const Case& k : cases()) check(k, DType::f32, kTolTf32, false, seed++);
}

TEST_CASE("conv2d f16 and bf16 (f32 accumulation) against the CPU in f32 on the same rounded inputs") {
  uint64_t seed = 500;
  for (const Case& k : cases()) {
    check(k, DType::f16, kTolF16, false, seed++);
    check(k, DType::bf16, kTolBf16, false, seed++);
  }
  check(cases()[2], DType::f16, kTolF16, true, seed++);
  check(cases()[10], DType::bf16, kTolBf16, true, seed++);
}

TEST_CASE("conv2d on CUDA tensors rejects mixed devices") {
  Generator g(600);
  Tensor x = random_cpu({1, 5, 5, 2}, g).to(kGpu);
  Tensor w = random_cpu({3, 3, 3, 2}, g);
  CHECK_THROWS_AS(conv2d(x, w, Tensor(), Conv2dParams::make(1, 1)), fer::Error);
}

}  // namespace test_cuda_conv
