// conv2d's input and weight gradients against a direct loop in double, on each path of the CPU kernels
// (kernels/cpu/conv.cpp): patch-matrix products with workers owning whole images or, with one image, the products
// split by the GEMM; weight gradients split by pixels (partial sums) or by output channels; pointwise; depthwise (kernels/cpu/conv_depthwise.cpp; its own reference test is test_conv_depthwise.cpp). f32 on each ISA
// the GEMM can be forced to, and f64. The f64 gradchecks of test_conv.cpp run smaller shapes than these, which
// reach several k blocks and whole register tiles of the f32 micro-kernels.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "fer/kernels/cpu_isa.hpp"
#include "fer/ops/conv.hpp"
#include "fer/ops/elementwise.hpp"
#include "gradcheck.hpp"

using namespace fer;
using fer::testing::max_rel_error;

namespace {

struct BackwardCase {
  const char* what;
  int64_t n, h, w, c, o, kh, kw;
  int64_t stride, dil, groups;
  int64_t pad_top, pad_bottom, pad_left, pad_right;
};

// Both gradients of sum(conv(x, w) * gy) by the definition of the convolution, in double.
struct Reference {
  std::vector<double> gx, gw;
};

Reference reference_grads(const BackwardCase& cc, const Tensor& x, const Tensor& w, const Tensor& gy) {
  const int64_t ho = gy.size(1), wo = gy.size(2), cg = cc.c / cc.groups, og = cc.o / cc.groups;
  const std::vector<double> xv = x.to_vector(), wv = w.to_vector(), gv = gy.to_vector();
  Reference r{std::vector<double>(xv.size(), 0.0), std::vector<double>(wv.size(), 0.0)};
  for (int64_t b = 0; b < cc.n; ++b)
    for (int64_t oh = 0; oh < ho; ++oh)
      for (int64_t ow = 0; ow < wo; ++ow)
        for (int64_t oc = 0; oc < cc.o; ++oc) {
          const double g = gv[size_t(((b * ho + oh) * wo + ow) * cc.o + oc)];
          for (int64_t i = 0; i < cc.kh; ++i)
            for (int64_t j = 0; j < cc.kw; ++j) {
              const int64_t ih = oh * cc.stride - cc.pad_top + i * cc.dil, iw = ow * cc.stride - cc.pad_left + j * cc.dil;
              if (ih < 0 || ih >= cc.h || iw < 0 || iw >= cc.w) continue;
              for (int64_t ci = 0; ci < cg; ++ci) {
                const size_t xi = size_t(((b * cc.h + ih) * cc.w + iw) * cc.c + oc / og * cg + ci);
                const size_t wi = size_t(((oc * cc.kh + i) * cc.kw + j) * cg + ci);
                r.gx[xi] += g * wv[wi];
                r.gw[wi] += g * xv[xi];
              }
            }
        }
  return r;
}

const std::vector<BackwardCase> kCases = {
    {"3x3 s1", 2, 12, 12, 8, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1},
    {"3x3 s1 deep (several k blocks)", 3, 10, 10, 48, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1},
    {"3x3 s1 one image (products split by the GEMM)", 1, 16, 16, 32, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1},
    {"3x3 s2", 2, 12, 12, 8, 12, 3, 3, 2, 1, 1, 1, 1, 1, 1},
    {"3x3 s1 wide weight on few pixels (workers own output channels)", 2, 3, 3, 16, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1},
    {"3x3 s1 dilation 2, uneven padding", 2, 13, 11, 6, 5, 3, 3, 1, 2, 1, 2, 1, 1, 2},
    {"2x3 s1 one-sided padding", 2, 11, 14, 7, 9, 2, 3, 1, 1, 1, 1, 0, 1, 1},
    {"3x3 s1 two groups", 2, 12, 12, 8, 12, 3, 3, 1, 1, 2, 1, 1, 1, 1},
    {"1x1 pointwise", 2, 9, 9, 24, 40, 1, 1, 1, 1, 1, 0, 0, 0, 0},
    {"depthwise 3x3 s1", 2, 9, 9, 20, 20, 3, 3, 1, 1, 20, 1, 1, 1, 1},
    {"depthwise 5x5 s2", 2, 11, 11, 20, 20, 5, 5, 2, 1, 20, 2, 2, 2, 2},
};

void check_cases(DType dtype, double tolerance) {
  Generator gen(17);
  for (const BackwardCase& cc : kCases) {
    CAPTURE(std::string(cc.what));
    Tensor x = Tensor::rand({cc.n, cc.h, cc.w, cc.c}, dtype, gen, -1, 1);
    Tensor w = Tensor::rand({cc.o, cc.kh, cc.kw, cc.c / cc.groups}, dtype, gen, -1, 1);
    x.set_requires_grad(true), w.set_requires_grad(true);
    Conv2dParams p = Conv2dParams::make(cc.stride, 0, cc.dil, cc.groups);
    p.padding = {cc.pad_top, cc.pad_bottom, cc.pad_left, cc.pad_right};
    Tensor y = conv2d(x, w, Tensor(), p);
    Tensor gy = Tensor::rand(y.shape(), dtype, gen, -1, 1);
    backward(fer::sum(y * gy));  // d/dy = gy, exactly
    const Reference want = reference_grads(cc, x, w, gy);
    CHECK(max_rel_error(x.grad(), want.gx) < tolerance);
    CHECK(max_rel_error(w.grad(), want.gw) < tolerance);
  }
}

void check_f32_on(kernels::CpuIsa isa) {
  if (!kernels::cpu_isa_supported(isa)) {
    MESSAGE("skipped: this CPU cannot run ", kernels::cpu_isa_name(isa));
    return;
  }
  kernels::set_cpu_isa(isa);
  check_cases(DType::f32, 1e-4);
  kernels::set_cpu_isa("auto");
}

}  // namespace

TEST_CASE("conv2d gradients against a direct loop: f64") { check_cases(DType::f64, 1e-12); }
TEST_CASE("conv2d gradients against a direct loop: f32, generic GEMM") { check_f32_on(kernels::CpuIsa::generic); }
TEST_CASE("conv2d gradients against a direct loop: f32, AVX2 GEMM") { check_f32_on(kernels::CpuIsa::avx2); }
TEST_CASE("conv2d gradients against a direct loop: f32, AVX-512 GEMM") { check_f32_on(kernels::CpuIsa::avx512); }
