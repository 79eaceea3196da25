// CUDA modulated convolution against the CPU backend, through the ops with autograd: modulate_weights (both
// layouts via modulated_conv2d's up = 1 and up = 2 paths, flip, demodulation on/off) and the per-sample
// convolution (plain and transposed), forward and every input gradient (x, w, styles), with accumulation onto a
// preexisting gradient. f64: the direct kernels, kTolF64 on outputs; f32: cuDNN with FMA math (no TF32), kTolF32 on
// outputs. The gradients through demodulation cancel by construction (the output is invariant to scaling a
// sample's styles, so <gs[n], s[n]> = 0): they get 1e-10 (f64) and 1e-4 (f32).
#include "cuda/cuda_parity.hpp"

#include "fer/autograd/tape.hpp"
#include "fer/ops/modconv.hpp"

// Each file of the unity-built fer_cuda_tests keeps its helpers to itself.
namespace test_cuda_modconv {

using namespace fer;
using namespace fer::cuda_test;

namespace {

struct Result {
  Tensor y, gx, gw, gs;
};

Result run(const Tensor& x0, const Tensor& w0, const Tensor& s0, const ModConvParams& p, const Tensor& gy, Device d,
           const Result* prior) {
  Tensor x = x0.to(d).clone(), w = w0.to(d).clone(), s = s0.to(d).clone();
  for (Tensor* t : {&x, &w, &s}) t->set_requires_grad(true);
  if (prior) {
    x.grad_buffer().copy_(prior->gx.to(d));
    w.grad_buffer().copy_(prior->gw.to(d));
    s.grad_buffer().copy_(prior->gs.to(d));
  }
  Tensor y = modulated_conv2d(x, w, s, p);
  backward(y, gy.to(d));
  return {y, x.grad(), w.grad(), s.grad()};
}

struct Case {
  const char* name;
  int64_t n, h, w, cin, cout, k;
  ModConvParams p;
};

}  // namespace

TEST_CASE("modulated_conv2d: CUDA matches the CPU, forward and all gradients, f64 and f32") {
  std::vector<Case> cases;
  ModConvParams same;  // the synthesis layers' 3x3, padding 1
  same.padding = 1;
  cases.push_back({"3x3 p1 demod", 3, 7, 9, 5, 6, 3, same});
  ModConvParams nodemod = same;
  nodemod.demodulate = false;
  cases.push_back({"3x3 p1 no demod", 2, 5, 6, 4, 3, 3, nodemod});
  ModConvParams torgb;  // 1x1 toRGB, no demodulation
  torgb.demodulate = false;
  cases.push_back({"1x1 toRGB", 3, 8, 5, 7, 3, 1, torgb});
  ModConvParams flipped = same;
  flipped.flip_weight = false;
  cases.push_back({"3x3 flipped kernel", 2, 6, 7, 3, 4, 3, flipped});
  ModConvParams up;  // 2x up-sampling: transposed convolution + [1,3,3,1] filter
  up.padding = 1, up.up = 2;
  cases.push_back({"up2 3x3", 2, 5, 7, 4, 5, 3, up});
  ModConvParams up_flip = up;
  up_flip.flip_weight = true;
  cases.push_back({"up2 3x3 flip_weight", 3, 4, 5, 3, 2, 3, up_flip});
  ModConvParams wide;
  wide.padding = 2;
  cases.push_back({"5x5 p2, odd channels", 2, 9, 7, 11, 13, 5, wide});

  Generator gen(21);
  for (const Case& c : cases) {
    for (DType dt : {DType::f64, DType::f32}) {
      CAPTURE(c.name);
      CAPTURE(dtype_name(dt));
      Tensor x = random_cpu({c.n, c.h, c.w, c.cin}, gen, -1, 1, dt);
      Tensor w = random_cpu({c.cout, c.k, c.k, c.cin}, gen, -1, 1, dt);
      Tensor s = random_cpu({c.n, c.cin}, gen, 0.5, 1.5, dt);
      Tensor y_ref = modulated_conv2d(x, w, s, c.p);
      Tensor gy = random_cpu(y_ref.shape(), gen, -1, 1, dt);
      Result prior{Tensor(), random_cpu(x.shape(), gen, -1, 1, dt), random_cpu(w.shape(), gen, -1, 1, dt),
                   random_cpu(s.shape(), gen, -1, 1, dt)};
      Result rc = run(x, w, s, c.p, gy, Device::cpu(), &prior);
      Result rg = run(x, w, s, c.p, gy, cuda_test::cuda0(), &prior);
      const bool f64 = dt == DType::f64;
      const double tol_out = f64 ? kTolF64 : kTolF32;
      const double tol_grad = f64 ? 1e-10 : 1e-4;
      CHECK(rg.y.device() == cuda_test::cuda0());
      CHECK(rel_l2(rg.y, rc.y) <= tol_out);
      CHECK(rel_l2(rg.gx, rc.gx) <= tol_out);
      CHECK(rel_l2(rg.gw, rc.gw) <= tol_grad);
      CHECK(rel_l2(rg.gs, rc.gs) <= tol_grad);
      // Without a prior gradient (fresh buffers).
      Result fc = run(x, w, s, c.p, gy, Device::cpu(), nullptr);
      Result fg = run(x, w, s, c.p, gy, cuda_test::cuda0(), nullptr);
      CHECK(rel_l2(fg.gx, fc.gx) <= tol_out);
      CHECK(rel_l2(fg.gs, fc.gs) <= tol_grad);
    }
  }
}

TEST_CASE("modulate_weights: both layouts and flip, written in full, with their gradients") {
  Generator gen(22);
  for (DType dt : {DType::f64, DType::f32}) {
    for (bool demod : {true, false}) {
      for (bool flip : {false, true}) {
        for (kernels::ModulatedLayout layout : {kernels::ModulatedLayout::per_sample, kernels::ModulatedLayout::transposed}) {
          CAPTURE(dtype_name(dt));
          CAPTURE(demod);
          CAPTURE(flip);
          const int64_t n = 3, o = 5, kh = 3, kw = 2, in = 7;
          Tensor w = random_cpu({o, kh, kw, in}, gen, -1, 1, dt), s = random_cpu({n, in}, gen, 0.5, 1.5, dt);
          Shape shape = layout == kernels::ModulatedLayout::per_sample ? Shape{n * o, kh, kw, in} : Shape{n * in, kh, kw, o};
          Tensor yc = Tensor::empty(shape, dt), dc = demod ? Tensor::empty({n, o}, dt) : Tensor();
          kernels::modulate_weights_forward_cpu({kernels::ref(w), kernels::ref(s), kernels::ref(yc), kernels::ref(dc), layout, flip, 1e-8});
          Tensor yg = poisoned(shape, dt), dg = demod ? poisoned({n, o}, dt) : Tensor();
          Tensor wg = w.to(cuda_test::cuda0()), sg = s.to(cuda_test::cuda0());
          kernels::modulate_weights_forward_cuda({kernels::ref(wg), kernels::ref(sg), kernels::ref(yg), kernels::ref(dg), layout, flip, 1e-8});
          const double tol = dt == DType::f64 ? kTolF64 : kTolF32;
          CHECK(rel_l2(yg, yc) <= tol);
          if (demod) CHECK(rel_l2(dg, dc) <= tol);
          // Backward, accumulating onto random gradients.
          Tensor gy = random_cpu(shape, gen, -1, 1, dt);
          Tensor gwc = random_cpu(w.shape(), gen, -1, 1, dt), gsc = random_cpu(s.shape(), gen, -1, 1, dt);
          Tensor gwg = gwc.to(cuda_test::cuda0()), gsg = gsc.to(cuda_test::cuda0());
          kernels::modulate_weights_backward_cpu({kernels::ref(w), kernels::ref(s), kernels::ref(dc), kernels::ref(gy), kernels::ref(gwc),
                                                  kernels::ref(gsc), kernels::ref(demod ? Tensor::empty({n, o}, dt) : Tensor()), layout, flip});
          kernels::modulate_weights_backward_cuda({kernels::ref(wg), kernels::ref(sg), kernels::ref(dg), kernels::ref(gy.to(cuda_test::cuda0())), kernels::ref(gwg),
                                                   kernels::ref(gsg), kernels::ref(demod ? poisoned({n, o}, dt) : Tensor()), layout, flip});
          const double tol_grad = dt == DType::f64 ? 1e-10 : 1e-4;
          CHECK(rel_l2(gwg, gwc) <= tol_grad);
          CHECK(rel_l2(gsg, gsc) <= tol_grad);
        }
      }
    }
  }
}

TEST_CASE("sample_conv: plain and transposed per-sample convolution, outputs fully written") {
  Generator gen(23);
  for (DType dt : {DType::f64, DType::f32}) {
    for (bool transposed : {false, true}) {
      CAPTURE(dtype_name(dt));
      CAPTURE(transposed);
      const int64_t n = 3, h = 5, wd = 6, cin = 4, cout = 5, k = 3, stride = transposed ? 2 : 1, pad = transposed ? 0 : 1;
      kernels::SampleConv sc = kernels::plan_sample_conv(n, h, wd, cin, cout, k, k, transposed, stride, pad, pad);
      Tensor x = random_cpu({n, h, wd, cin}, gen, -1, 1, dt);
      Tensor w = random_cpu({n * (transposed ? cin : cout), k, k, transposed ? cout : cin}, gen, -1, 1, dt);
      Tensor yc = Tensor::empty({n, sc.out_h, sc.out_w, cout}, dt);
      Tensor ws = sc.workspace > 0 ? Tensor::empty({sc.workspace}, dt) : Tensor();
      kernels::sample_conv_forward_cpu({sc, kernels::ref(x), kernels::ref(w), kernels::ref(yc), kernels::ref(ws)});
      Tensor yg = poisoned(yc.shape(), dt);
      kernels::sample_conv_forward_cuda({sc, kernels::ref(x.to(cuda_test::cuda0())), kernels::ref(w.to(cuda_test::cuda0())), kernels::ref(yg), {}});  // workspace from the allocator
      CHECK(rel_l2(yg, yc) <= (dt == DType::f64 ? kTolF64 : kTolF32));
      // Backward with the op's workspace size.
      Tensor gy = random_cpu(yc.shape(), gen, -1, 1, dt);
      Tensor gxc = random_cpu(x.shape(), gen, -1, 1, dt), gwc = random_cpu(w.shape(), gen, -1, 1, dt);
      Tensor gxg = gxc.to(cuda_test::cuda0()), gwg = gwc.to(cuda_test::cuda0());
      kernels::sample_conv_backward_cpu({sc, kernels::ref(x), kernels::ref(w), kernels::ref(gy), kernels::ref(gxc), kernels::ref(gwc), kernels::ref(ws), kernels::ref(transposed ? Tensor::empty_like(x) : Tensor())});
      const size_t bytes = kernels::sample_conv_workspace_bytes_cuda(sc, dt, cuda_test::cuda0().index);
      Tensor wsg = bytes > 0 ? Tensor::empty({int64_t(bytes)}, DType::u8, cuda_test::cuda0()) : Tensor();
      kernels::sample_conv_backward_cuda({sc, kernels::ref(x.to(cuda_test::cuda0())), kernels::ref(w.to(cuda_test::cuda0())), kernels::ref(gy.to(cuda_test::cuda0())), kernels::ref(gxg), kernels::ref(gwg), kernels::ref(wsg), {}});
      CHECK(rel_l2(gxg, gxc) <= (dt == DType::f64 ? kTolF64 : kTolF32));
      CHECK(rel_l2(gwg, gwc) <= (dt == DType::f64 ? kTolF64 : kTolF32));
    }
  }
}

}  // namespace test_cuda_modconv
