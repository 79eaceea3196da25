// The implicit-GEMM forward pass and weight gradient of KxK convolutions (kernels/cpu/conv_implicit.cpp, the kernels
// of kernels/cpu/isa/conv_gemm_blocked.inl) against a direct loop in double, on each ISA that has them: ResNet
// shapes (several k blocks, whole register tiles) and edge shapes (odd channel counts, narrow output slivers, short
// pixel panels, padding, stride 2, dilation, one output pixel), with the output poisoned by NaN beforehand.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "fer/kernels/conv.hpp"
#include "fer/kernels/cpu_isa.hpp"
#include "fer/ops/common.hpp"
#include "gradcheck.hpp"
#include "kernels/cpu/conv_implicit.hpp"

using namespace fer;

namespace {

struct ImplicitCase {
  const char* what;
  int64_t n, h, w, c, o, kh, kw, stride, dil, pad_top, pad_left, pad_bottom, pad_right;
};

const std::vector<ImplicitCase> kImplicitCases = {
    {"resnet 64->64 s1", 2, 16, 16, 64, 64, 3, 3, 1, 1, 1, 1, 1, 1},
    {"resnet 64->128 s2", 2, 16, 16, 64, 128, 3, 3, 2, 1, 1, 1, 1, 1},
    {"resnet 128->128 s1", 2, 8, 8, 128, 128, 3, 3, 1, 1, 1, 1, 1, 1},
    {"resnet 256->256 s1 (several k blocks)", 2, 4, 4, 256, 256, 3, 3, 1, 1, 1, 1, 1, 1},
    {"resnet 512->512 s1 2x2", 2, 2, 2, 512, 512, 3, 3, 1, 1, 1, 1, 1, 1},
    {"odd channels 19->23", 3, 7, 7, 19, 23, 3, 3, 1, 1, 1, 1, 1, 1},
    {"narrow output 17->5", 2, 9, 9, 17, 5, 3, 3, 1, 1, 1, 1, 1, 1},
    {"stride 2 odd input, 33->40", 2, 9, 11, 33, 40, 3, 3, 2, 1, 1, 1, 1, 1},
    {"dilation 2, uneven padding", 2, 13, 11, 24, 37, 3, 3, 1, 2, 2, 1, 1, 2},
    {"5x5 one-sided padding", 1, 10, 12, 16, 48, 5, 5, 1, 1, 2, 0, 2, 4},
    {"2x3 no padding", 2, 6, 7, 20, 33, 2, 3, 1, 1, 0, 0, 0, 0},
    {"one output pixel", 3, 3, 3, 40, 70, 3, 3, 1, 1, 0, 0, 0, 0},
    {"one output pixel, all padding but the centre", 1, 1, 1, 64, 64, 3, 3, 1, 1, 1, 1, 1, 1},
};

kernels::ConvGeometry implicit_case_geometry(const ImplicitCase& cc) {
  kernels::ConvGeometry g;
  g.n = cc.n, g.h = cc.h, g.w = cc.w, g.c = cc.c, g.o = cc.o, g.kh = cc.kh, g.kw = cc.kw;
  g.stride_h = g.stride_w = cc.stride, g.dil_h = g.dil_w = cc.dil, g.pad_top = cc.pad_top, g.pad_left = cc.pad_left;
  g.ho = (cc.h + cc.pad_top + cc.pad_bottom - cc.dil * (cc.kh - 1) - 1) / cc.stride + 1;
  g.wo = (cc.w + cc.pad_left + cc.pad_right - cc.dil * (cc.kw - 1) - 1) / cc.stride + 1;
  return g;
}

// y[p, oc] = bias[oc] + sum over taps and channels of x * w, in double.
std::vector<double> implicit_reference(const kernels::ConvGeometry& g, const Tensor& x, const Tensor& w,
                                       const Tensor& bias) {
  const std::vector<double> xv = x.to_vector(), wv = w.to_vector();
  const std::vector<double> bv = bias.defined() ? bias.to_vector() : std::vector<double>(size_t(g.o), 0.0);
  std::vector<double> y(size_t(g.n * g.ho * g.wo * g.o));
  for (int64_t b = 0; b < g.n; ++b)
    for (int64_t oh = 0; oh < g.ho; ++oh)
      for (int64_t ow = 0; ow < g.wo; ++ow)
        for (int64_t oc = 0; oc < g.o; ++oc) {
          double acc = bv[size_t(oc)];
          for (int64_t i = 0; i < g.kh; ++i)
            for (int64_t j = 0; j < g.kw; ++j) {
              const int64_t ih = oh * g.stride_h - g.pad_top + i * g.dil_h;
              const int64_t iw = ow * g.stride_w - g.pad_left + j * g.dil_w;
              if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
              for (int64_t ci = 0; ci < g.c; ++ci)
                acc += xv[size_t(((b * g.h + ih) * g.w + iw) * g.c + ci)] *
                       wv[size_t(((oc * g.kh + i) * g.kw + j) * g.c + ci)];
            }
          y[size_t(((b * g.ho + oh) * g.wo + ow) * g.o + oc)] = acc;
        }
  return y;
}

Tensor implicit_nan_filled(const Shape& s) {
  Tensor t = Tensor::empty(s);
  float* p = t.data<float>();
  for (int64_t e = 0; e < t.numel(); ++e) p[e] = std::numeric_limits<float>::quiet_NaN();
  return t;
}

bool implicit_all_nan(const Tensor& t) {
  const float* p = t.data<float>();
  for (int64_t e = 0; e < t.numel(); ++e)
    if (!std::isnan(p[e])) return false;
  return true;
}

// f32 sums of up to kh * kw * c products of values in [-1, 1]: relative to 1 + |y|, well under 1e-5 (measured
// 1e-6 and below); a wrong tap, channel or k block is off by O(1).
constexpr double kImplicitTolerance = 2e-5;

// Forces the ISA and the implicit path for the cases below; false (a message, no checks) where the CPU lacks the ISA.
bool implicit_force(kernels::CpuIsa isa) {
  if (!kernels::cpu_isa_supported(isa)) {
    MESSAGE("skipped: this CPU cannot run ", kernels::cpu_isa_name(isa));
    return false;
  }
  kernels::set_cpu_isa(isa);
  kernels::set_conv_implicit_mode(kernels::ConvImplicitMode::always);
  return true;
}

void implicit_restore() {
  kernels::set_conv_implicit_mode(kernels::ConvImplicitMode::automatic);
  kernels::set_cpu_isa("auto");
}

void check_implicit_forward_on(kernels::CpuIsa isa) {
  if (!implicit_force(isa)) return;
  Generator gen(23);
  for (const ImplicitCase& cc : kImplicitCases) {
    CAPTURE(std::string(cc.what));
    const kernels::ConvGeometry g = implicit_case_geometry(cc);
    const kernels::ConvPlan plan = kernels::plan_conv2d(g);
    REQUIRE(plan.algo == kernels::ConvAlgo::im2col);
    REQUIRE(kernels::conv_implicit_forward_chosen(g));
    Tensor x = Tensor::rand({g.n, g.h, g.w, g.c}, DType::f32, gen, -1, 1);
    Tensor w = Tensor::rand({g.o, g.kh, g.kw, g.c}, DType::f32, gen, -1, 1);
    Tensor bias = Tensor::rand({g.o}, DType::f32, gen, -1, 1);
    for (bool with_bias : {false, true}) {
      CAPTURE(with_bias);
      Tensor y = implicit_nan_filled({g.n, g.ho, g.wo, g.o});
      // The implicit path never touches the im2col workspace: it stays NaN.
      Tensor ws = implicit_nan_filled({std::max<int64_t>(1, plan.workspace)});
      const Tensor b = with_bias ? bias : Tensor();
      kernels::conv2d_forward_cpu({plan, kernels::ref(x), kernels::ref(w), kernels::ref(b), kernels::ref(y),
                                   kernels::ref(ws)});
      CHECK(fer::testing::max_rel_error(y, implicit_reference(g, x, w, b)) < kImplicitTolerance);
      CHECK(implicit_all_nan(ws));
    }
  }
  implicit_restore();
}

// The kernel entry itself on a pixel range: accumulate adds to y there, and pixels outside the range keep their
// values (a worker writes only its own share).
void check_implicit_range_on(kernels::CpuIsa isa) {
  if (!implicit_force(isa)) return;
  Generator gen(29);
  for (const ImplicitCase& cc : {kImplicitCases[0], kImplicitCases[5], kImplicitCases[8]}) {
    CAPTURE(std::string(cc.what));
    const kernels::ConvGeometry g = implicit_case_geometry(cc);
    const int64_t pixels = g.n * g.ho * g.wo, p0 = 7, p1 = pixels - 5;
    Tensor x = Tensor::rand({g.n, g.h, g.w, g.c}, DType::f32, gen, -1, 1);
    Tensor w = Tensor::rand({g.o, g.kh, g.kw, g.c}, DType::f32, gen, -1, 1);
    const std::vector<double> conv = implicit_reference(g, x, w, Tensor());
    for (bool accumulate : {false, true}) {
      CAPTURE(accumulate);
      Tensor y0 = Tensor::rand({g.n, g.ho, g.wo, g.o}, DType::f32, gen, -1, 1);
      Tensor y = accumulate ? y0.clone() : implicit_nan_filled(y0.shape());
      kernels::conv_implicit_gemm_forward(g, x.data<float>(), w.data<float>(), y.data<float>(), p0, p1, accumulate);
      const std::vector<double> start = y0.to_vector();
      double worst = 0;
      int64_t outside_changed = 0;
      for (int64_t p = 0; p < pixels; ++p)
        for (int64_t oc = 0; oc < g.o; ++oc) {
          const size_t e = size_t(p * g.o + oc);
          const double got = y.flat(int64_t(e));
          if (p < p0 || p >= p1) {
            outside_changed += accumulate ? got != start[e] : !std::isnan(got);
            continue;
          }
          const double want = conv[e] + (accumulate ? start[e] : 0.0);
          const double err = std::abs(got - want) / (1.0 + std::abs(want));
          worst = std::isnan(err) ? err : std::max(worst, err);
        }
      CHECK(worst < kImplicitTolerance);
      CHECK(outside_changed == 0);
    }
  }
  implicit_restore();
}

// gw[oc, i, j, ci] = sum over output pixels of gy[p, oc] * x at tap (i, j) of p, in double.
std::vector<double> implicit_wgrad_reference(const kernels::ConvGeometry& g, const Tensor& x, const Tensor& gy) {
  const std::vector<double> xv = x.to_vector(), gv = gy.to_vector();
  std::vector<double> gw(size_t(g.o * g.kh * g.kw * g.c), 0.0);
  for (int64_t b = 0; b < g.n; ++b)
    for (int64_t oh = 0; oh < g.ho; ++oh)
      for (int64_t ow = 0; ow < g.wo; ++ow)
        for (int64_t i = 0; i < g.kh; ++i)
          for (int64_t j = 0; j < g.kw; ++j) {
            const int64_t ih = oh * g.stride_h - g.pad_top + i * g.dil_h;
            const int64_t iw = ow * g.stride_w - g.pad_left + j * g.dil_w;
            if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
            const double* xp = xv.data() + ((b * g.h + ih) * g.w + iw) * g.c;
            const double* gp = gv.data() + ((b * g.ho + oh) * g.wo + ow) * g.o;
            for (int64_t oc = 0; oc < g.o; ++oc) {
              double* wp = gw.data() + ((oc * g.kh + i) * g.kw + j) * g.c;
              for (int64_t ci = 0; ci < g.c; ++ci) wp[ci] += gp[oc] * xp[ci];
            }
          }
  return gw;
}

// The weight gradient adds to gw: split by pixels with per-worker partial sums (poisoned with NaN: each worker
// zeroes its own), split by output channels (no more pixels than channels), and on one worker (no partials).
void check_implicit_wgrad_on(kernels::CpuIsa isa) {
  if (!implicit_force(isa)) return;
  Generator gen(37);
  for (const ImplicitCase& cc : kImplicitCases) {
    CAPTURE(std::string(cc.what));
    const kernels::ConvGeometry g = implicit_case_geometry(cc);
    const kernels::ConvPlan plan = kernels::plan_conv2d(g);
    REQUIRE(kernels::conv_implicit_wgrad_chosen(g));
    Tensor x = Tensor::rand({g.n, g.h, g.w, g.c}, DType::f32, gen, -1, 1);
    Tensor gy = Tensor::rand({g.n, g.ho, g.wo, g.o}, DType::f32, gen, -1, 1);
    Tensor gw0 = Tensor::rand({g.o, g.kh, g.kw, g.c}, DType::f32, gen, -1, 1);
    std::vector<double> want = implicit_wgrad_reference(g, x, gy);
    const std::vector<double> start = gw0.to_vector();
    for (size_t e = 0; e < want.size(); ++e) want[e] += start[e];
    for (bool with_partials : {true, false}) {
      CAPTURE(with_partials);
      Tensor gw = gw0.clone();
      Tensor ws = implicit_nan_filled({std::max<int64_t>(1, plan.workspace)});
      Tensor partials = with_partials && plan.weight_grad_workspace > 0
                            ? implicit_nan_filled({plan.weight_grad_workspace})
                            : Tensor();
      kernels::conv2d_backward_weight_cpu({plan, kernels::ref(gy), kernels::ref(x), kernels::ref(gw), kernels::ref(ws),
                                           kernels::ref(partials)});
      // Sums over up to n * ho * wo pixels: the same f32 bound relative to 1 + |gw|.
      CHECK(fer::testing::max_rel_error(gw, want) < kImplicitTolerance);
      CHECK(implicit_all_nan(ws));
    }
  }
  implicit_restore();
}

}  // namespace

TEST_CASE("implicit-GEMM conv2d forward against a direct loop: AVX2") {
  check_implicit_forward_on(kernels::CpuIsa::avx2);
}
TEST_CASE("implicit-GEMM conv2d forward against a direct loop: AVX-512") {
  check_implicit_forward_on(kernels::CpuIsa::avx512);
}
TEST_CASE("implicit-GEMM kernel on a pixel range, written and accumulated: AVX2") {
  check_implicit_range_on(kernels::CpuIsa::avx2);
}
TEST_CASE("implicit-GEMM kernel on a pixel range, written and accumulated: AVX-512") {
  check_implicit_range_on(kernels::CpuIsa::avx512);
}

TEST_CASE("implicit-GEMM choice: one-group KxK f32 convolutions on AVX2 / AVX-512 only; f64 and generic run im2col") {
  kernels::set_conv_implicit_mode(kernels::ConvImplicitMode::always);
  kernels::ConvGeometry g = implicit_case_geometry(kImplicitCases[0]);
  g.groups = 2;
  CHECK_FALSE(kernels::conv_implicit_forward_chosen(g));  // grouped: im2col per group
  CHECK_FALSE(kernels::conv_implicit_wgrad_chosen(g));
  const kernels::ConvGeometry pw = implicit_case_geometry({"1x1", 2, 8, 8, 32, 32, 1, 1, 1, 1, 0, 0, 0, 0});
  CHECK(kernels::plan_conv2d(pw).algo == kernels::ConvAlgo::pointwise);
  CHECK_FALSE(kernels::conv_implicit_forward_chosen(pw));

  // f64 takes im2col whatever the mode; so does f32 on the generic ISA (on Eigen).
  const ImplicitCase cc = kImplicitCases[5];
  const kernels::ConvGeometry g5 = implicit_case_geometry(cc);
  const kernels::ConvPlan plan = kernels::plan_conv2d(g5);
  Generator gen(31);
  Tensor x = Tensor::rand({g5.n, g5.h, g5.w, g5.c}, DType::f64, gen, -1, 1);
  Tensor w = Tensor::rand({g5.o, g5.kh, g5.kw, g5.c}, DType::f64, gen, -1, 1);
  Tensor y = Tensor::zeros({g5.n, g5.ho, g5.wo, g5.o}, DType::f64);
  Tensor ws = Tensor::zeros({plan.workspace}, DType::f64);
  kernels::conv2d_forward_cpu({plan, kernels::ref(x), kernels::ref(w), {}, kernels::ref(y), kernels::ref(ws)});
  CHECK(fer::testing::max_rel_error(y, implicit_reference(g5, x, w, Tensor())) < 1e-12);

  kernels::set_cpu_isa(kernels::CpuIsa::generic);
  CHECK_FALSE(kernels::conv_implicit_forward_chosen(g5));
  CHECK_FALSE(kernels::conv_implicit_wgrad_chosen(g5));
  Tensor xf = x.to(DType::f32), wf = w.to(DType::f32);
  Tensor yf = implicit_nan_filled({g5.n, g5.ho, g5.wo, g5.o});
  Tensor wsf = Tensor::zeros({plan.workspace});
  kernels::conv2d_forward_cpu({plan, kernels::ref(xf), kernels::ref(wf), {}, kernels::ref(yf), kernels::ref(wsf)});
  CHECK(fer::testing::max_rel_error(yf, implicit_reference(g5, xf, wf, Tensor())) < kImplicitTolerance);
  kernels::set_cpu_isa("auto");

  kernels::set_conv_implicit_mode(kernels::ConvImplicitMode::never);
  CHECK_FALSE(kernels::conv_implicit_forward_chosen(g5));
  kernels::set_conv_implicit_mode(kernels::ConvImplicitMode::automatic);
}

TEST_CASE("implicit-GEMM conv2d weight gradient against a direct loop: AVX2") {
  check_implicit_wgrad_on(kernels::CpuIsa::avx2);
}
TEST_CASE("implicit-GEMM conv2d weight gradient against a direct loop: AVX-512") {
  check_implicit_wgrad_on(kernels::CpuIsa::avx512);
}
