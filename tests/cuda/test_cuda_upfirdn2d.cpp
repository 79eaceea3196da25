// CUDA upfirdn2d against the CPU backend: forward and backward (the adjoint) through the op with autograd, for
// StyleGAN2's up/down resampling, crops, odd sizes, flip/gain, in f64 (kTolF64) and f32 (kTolF32), the 16-bit
// storage types against the CPU f32 result of the same rounded inputs, and gradient accumulation.
#include "cuda/cuda_parity.hpp"

#include "fer/autograd/tape.hpp"
#include "fer/ops/upfirdn2d.hpp"

// Each file of the unity-built fer_cuda_tests keeps its helpers to itself.
namespace test_cuda_upfirdn2d {

using namespace fer;
using namespace fer::cuda_test;

namespace {

struct Case {
  const char* name;
  Shape x;
  int64_t fh, fw;
  UpFirDnParams p;
};

std::vector<Case> cases() {
  std::vector<Case> out;
  const Tensor f4 = setup_filter({1, 3, 3, 1});
  out.push_back({"up2 [1,3,3,1]", {2, 7, 5, 3}, 4, 4, upsample2d_params(4, 4, 2)});
  out.push_back({"up2 padded", {1, 6, 9, 5}, 4, 4, upsample2d_params(4, 4, 2, 1)});
  out.push_back({"down2 [1,3,3,1]", {3, 9, 11, 2}, 4, 4, downsample2d_params(4, 4, 2)});
  out.push_back({"down2 padded", {2, 8, 7, 3}, 4, 4, downsample2d_params(4, 4, 2, 1)});
  UpFirDnParams crop;
  crop.pad_x0 = -1, crop.pad_x1 = 2, crop.pad_y0 = 1, crop.pad_y1 = -2;
  out.push_back({"crop and pad, odd filter", {2, 9, 8, 4}, 3, 5, crop});
  UpFirDnParams odd;
  odd.up_x = 3, odd.up_y = 2, odd.down_x = 2, odd.down_y = 3, odd.pad_x0 = 2, odd.pad_x1 = 1, odd.pad_y0 = 0;
  odd.pad_y1 = 3, odd.flip_filter = true, odd.gain = 2.5;
  out.push_back({"mixed factors, flip, gain", {2, 7, 6, 3}, 3, 4, odd});
  UpFirDnParams conv_resample;  // what modulated_conv2d hands over for up = 2
  conv_resample.pad_x0 = 1, conv_resample.pad_x1 = 1, conv_resample.pad_y0 = 1, conv_resample.pad_y1 = 1;
  conv_resample.gain = 4;
  out.push_back({"modconv's resample", {2, 11, 11, 33}, 4, 4, conv_resample});
  UpFirDnParams one;
  out.push_back({"1x1 filter, identity", {1, 3, 5, 7}, 1, 1, one});
  return out;
}

// Runs upfirdn2d on x (requires grad) with upstream gradient gy; returns y and x's gradient (accumulated onto
// `prior` when defined).
std::pair<Tensor, Tensor> run(const Tensor& x0, const Tensor& f, const UpFirDnParams& p, const Tensor& gy_cpu,
                              Device d, const Tensor& prior = Tensor()) {
  Tensor x = x0.to(d).clone();
  x.set_requires_grad(true);
  if (prior.defined()) x.grad_buffer().copy_(prior.to(d));
  Tensor y = upfirdn2d(x, f, p);
  backward(y, gy_cpu.to(d));
  return {y, x.grad()};
}

}  // namespace

TEST_CASE("upfirdn2d: CUDA forward and backward match the CPU in f64 and f32") {
  Generator gen(11);
  for (const Case& c : cases()) {
    for (DType dt : {DType::f64, DType::f32}) {
      CAPTURE(c.name);
      CAPTURE(dtype_name(dt));
      Tensor x = random_cpu(c.x, gen, -1, 1, dt);
      Tensor f = random_cpu({c.fh, c.fw}, gen, 0.1, 1, dt);
      Tensor y_ref = upfirdn2d(x, f, c.p);
      Tensor gy = random_cpu(y_ref.shape(), gen, -1, 1, dt);
      Tensor prior = random_cpu(c.x, gen, -1, 1, dt);
      auto [yc, gxc] = run(x, f, c.p, gy, Device::cpu(), prior);
      auto [yg, gxg] = run(x, f, c.p, gy, cuda_test::cuda0(), prior);
      CHECK(yg.device() == cuda_test::cuda0());
      const double tol = dt == DType::f64 ? kTolF64 : kTolF32;
      CHECK(rel_l2(yg, yc) <= tol);
      CHECK(rel_l2(gxg, gxc) <= tol);  // includes the prior: accumulation, not overwrite
      // A filter already on the device gives the same result.
      Tensor yd = upfirdn2d(x.to(cuda_test::cuda0()), f.to(cuda_test::cuda0()), c.p);
      CHECK(rel_l2(yd, yc) <= tol);
    }
  }
}

TEST_CASE("upfirdn2d: the output is fully written (poisoned buffer) and the helpers run on CUDA") {
  Generator gen(12);
  Tensor x = random_cpu({2, 8, 8, 5}, gen);
  Tensor f = setup_filter({1, 3, 3, 1});
  Tensor up_c = upsample2d(x, f), down_c = downsample2d(x, f);
  CHECK(rel_l2(upsample2d(x.to(cuda_test::cuda0()), f), up_c) <= kTolF32);
  CHECK(rel_l2(downsample2d(x.to(cuda_test::cuda0()), f), down_c) <= kTolF32);
  // Direct backend call into a NaN-filled output.
  UpFirDnParams p = upsample2d_params(4, 4, 2);
  Tensor y = poisoned(up_c.shape());
  kernels::upfirdn2d_forward_cuda({kernels::ref(x.to(cuda_test::cuda0())), kernels::ref(f.to(cuda_test::cuda0())), kernels::ref(y), p});
  CHECK(rel_l2(y, up_c) <= kTolF32);
}

TEST_CASE("upfirdn2d: f16 and bf16 storage match the CPU f32 result of the rounded inputs") {
  Generator gen(13);
  for (DType dt : {DType::f16, DType::bf16}) {
    CAPTURE(dtype_name(dt));
    UpFirDnParams p = upsample2d_params(4, 4, 2, 1);
    Tensor x16 = random_cpu({2, 7, 9, 6}, gen, -1, 1, dt);
    Tensor x32 = x16.to(DType::f32);
    Tensor f = setup_filter({1, 3, 3, 1});
    Tensor y_ref = upfirdn2d(x32, f, p);
    Tensor gy16 = random_cpu(y_ref.shape(), gen, -1, 1, dt);
    auto [yc, gxc] = run(x32, f, p, gy16.to(DType::f32), Device::cpu());
    auto [yg, gxg] = run(x16, f, p, gy16, cuda_test::cuda0());
    CHECK(yg.dtype() == dt);
    const double tol = dt == DType::bf16 ? kTolBf16 : kTolF16;
    CHECK(rel_l2(yg, yc) <= tol);
    CHECK(rel_l2(gxg, gxc) <= tol);
  }
}

}  // namespace test_cuda_upfirdn2d
