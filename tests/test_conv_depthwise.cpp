// The depthwise convolution kernels (kernels/cpu/conv_depthwise.cpp, kernels/cpu/isa/conv_depthwise.inl) called
// through the conv2d kernel contract, against direct loops in double: forward, input gradient (written and
// accumulated) and weight gradient (accumulated, with and without the per-worker partials), f32 on every ISA path
// (forced in turn) and f64. Shapes: the depthwise layers of mobilenet_v3_large and efficientnet_b0 at 48 and 64 px
// (batch reduced to keep the reference loops short: the batch only lengthens the row range), and edge cases:
// channel counts that leave vector tails, padding wider than the kernel's reach, stride 2, dilation, even and large
// kernels, a channel multiplier (the per-channel path).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "fer/fer.hpp"
#include "fer/kernels/conv.hpp"
#include "fer/kernels/cpu_isa.hpp"

using fer::kernels::CpuIsa;

namespace {

struct DwtCase {
  int64_t n, h, w, c, mult, k, stride, pad, dil;
};

const std::vector<DwtCase> kDwtCases = {
    // mobilenet_v3_large at 64 px (stage inputs 32, 16, 8, 4, 2 px) and 48 px (24, 12, 6, 3, 2 px)
    {2, 32, 32, 16, 1, 3, 1, 1, 1},
    {2, 32, 32, 64, 1, 3, 2, 1, 1},
    {2, 16, 16, 72, 1, 5, 2, 2, 1},
    {2, 8, 8, 120, 1, 5, 1, 2, 1},
    {2, 8, 8, 240, 1, 3, 2, 1, 1},
    {2, 4, 4, 200, 1, 3, 1, 1, 1},
    {2, 4, 4, 672, 1, 5, 2, 2, 1},
    {2, 2, 2, 960, 1, 5, 1, 2, 1},
    {2, 24, 24, 16, 1, 3, 1, 1, 1},
    {2, 12, 12, 72, 1, 5, 2, 2, 1},
    {2, 6, 6, 184, 1, 3, 1, 1, 1},
    {2, 3, 3, 480, 1, 3, 1, 1, 1},
    // efficientnet_b0 at 64 px and 48 px
    {2, 32, 32, 32, 1, 3, 1, 1, 1},
    {2, 32, 32, 96, 1, 3, 2, 1, 1},
    {2, 16, 16, 144, 1, 5, 2, 2, 1},
    {2, 8, 8, 240, 1, 3, 2, 1, 1},
    {2, 4, 4, 480, 1, 5, 1, 2, 1},
    {2, 4, 4, 672, 1, 5, 2, 2, 1},
    {2, 2, 2, 1152, 1, 5, 1, 2, 1},
    {2, 2, 2, 1152, 1, 3, 1, 1, 1},
    {2, 24, 24, 96, 1, 3, 2, 1, 1},
    {2, 6, 6, 240, 1, 3, 2, 1, 1},
    // edges: tails of every vector width, wide padding, dilation, even/large/1x1 kernels, odd sizes, a multiplier
    {3, 7, 9, 13, 1, 3, 1, 1, 1},
    {1, 9, 7, 19, 1, 5, 1, 2, 1},
    {2, 5, 6, 33, 1, 3, 2, 0, 1},
    {1, 6, 6, 2, 1, 3, 1, 1, 1},
    {2, 4, 4, 36, 1, 3, 1, 3, 1},
    {1, 12, 11, 17, 1, 3, 1, 2, 2},
    {1, 9, 9, 24, 1, 4, 2, 1, 1},
    {1, 11, 11, 20, 1, 7, 1, 3, 1},
    {1, 7, 7, 40, 1, 1, 1, 0, 1},
    {1, 10, 10, 8, 1, 3, 3, 1, 1},
    {2, 7, 7, 6, 2, 3, 1, 1, 1},
    {1, 8, 8, 5, 3, 3, 2, 1, 1},
};

struct DwtReference {
  std::vector<double> y, gx, gw;            // values
  std::vector<double> y_abs, gx_abs, gw_abs;  // sums of |term|
  int64_t y_terms = 0, gx_terms = 0, gw_terms = 0;
};

fer::kernels::ConvGeometry dwt_geometry(const DwtCase& s) {
  fer::kernels::ConvGeometry g;
  g.n = s.n, g.h = s.h, g.w = s.w, g.c = s.c, g.o = s.c * s.mult, g.kh = g.kw = s.k;
  g.ho = (s.h + 2 * s.pad - s.dil * (s.k - 1) - 1) / s.stride + 1;
  g.wo = (s.w + 2 * s.pad - s.dil * (s.k - 1) - 1) / s.stride + 1;
  g.stride_h = g.stride_w = s.stride, g.pad_top = g.pad_left = s.pad, g.dil_h = g.dil_w = s.dil, g.groups = s.c;
  return g;
}

DwtReference dwt_reference(const fer::kernels::ConvGeometry& g, const std::vector<double>& x,
                           const std::vector<double>& w, const std::vector<double>& b, const std::vector<double>& gy) {
  DwtReference r;
  r.y.assign(gy.size(), 0.0), r.y_abs.assign(gy.size(), 0.0);
  r.gx.assign(x.size(), 0.0), r.gx_abs.assign(x.size(), 0.0);
  r.gw.assign(w.size(), 0.0), r.gw_abs.assign(w.size(), 0.0);
  const int64_t mult = g.o / g.c;
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t oh = 0; oh < g.ho; ++oh)
      for (int64_t ow = 0; ow < g.wo; ++ow)
        for (int64_t oc = 0; oc < g.o; ++oc) {
          const size_t yi = size_t(((n * g.ho + oh) * g.wo + ow) * g.o + oc);
          r.y[yi] = b[size_t(oc)], r.y_abs[yi] = std::fabs(b[size_t(oc)]);
          for (int64_t i = 0; i < g.kh; ++i)
            for (int64_t j = 0; j < g.kw; ++j) {
              const int64_t ih = oh * g.stride_h - g.pad_top + i * g.dil_h, iw = ow * g.stride_w - g.pad_left + j * g.dil_w;
              if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
              const size_t xi = size_t(((n * g.h + ih) * g.w + iw) * g.c + oc / mult);
              const size_t wi = size_t((oc * g.kh + i) * g.kw + j);
              r.y[yi] += x[xi] * w[wi], r.y_abs[yi] += std::fabs(x[xi] * w[wi]);
              r.gx[xi] += gy[yi] * w[wi], r.gx_abs[xi] += std::fabs(gy[yi] * w[wi]);
              r.gw[wi] += gy[yi] * x[xi], r.gw_abs[wi] += std::fabs(gy[yi] * x[xi]);
            }
        }
  r.y_terms = g.kh * g.kw + 1;
  r.gx_terms = g.kh * g.kw * mult;
  r.gw_terms = g.n * g.ho * g.wo + 64;  // the pixel sum, then the per-worker partials
  return r;
}

// Every element within (terms + 2) u sum|term| of the exact value (u: the unit roundoff, 2^-24 for f32, 2^-53 for
// f64), the worst-case bound of a sum of that many products in any order, and nothing NaN. A wrong index
// (a tap missed, taken twice or from a neighbour) is off by a whole term, well above the bound.
template <class T>
void dwt_expect_close(const char* what, const fer::Tensor& got, const std::vector<double>& exact,
                      const std::vector<double>& abs_sum, const std::vector<double>& start, int64_t terms) {
  const std::vector<double> v = got.to_vector();
  const double u = std::is_same_v<T, float> ? std::ldexp(1.0, -24) : std::ldexp(1.0, -53);
  int64_t bad = 0;
  double worst = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    const double e = exact[i] + (start.empty() ? 0.0 : start[i]);
    const double scale = abs_sum[i] + (start.empty() ? 0.0 : std::fabs(start[i]));
    const double rel = std::fabs(v[i] - e) / (scale > 0 ? scale : 1.0);
    if (!(rel <= double(terms + 2) * u)) ++bad;
    if (!(rel <= worst)) worst = rel;
  }
  INFO(what, ": worst error relative to the sum of |terms| ", worst, " (bound ", double(terms + 2) * u, ")");
  CHECK(bad == 0);
}

template <class T>
std::vector<double> dwt_random(std::mt19937& rng, size_t count) {
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  std::vector<double> v(count);
  for (double& e : v) e = double(T(dist(rng)));  // representable in T, so the reference sees T's inputs
  return v;
}

template <class T>
fer::Tensor dwt_tensor(const std::vector<double>& v, const fer::Shape& shape) {
  std::vector<T> t(v.begin(), v.end());
  return fer::Tensor::from_vector(t, shape);
}

template <class T>
void dwt_check_case(const DwtCase& s) {
  using namespace fer;
  using kernels::ref;
  const kernels::ConvGeometry g = dwt_geometry(s);
  const kernels::ConvPlan plan = kernels::plan_conv2d(g);
  REQUIRE(plan.algo == kernels::ConvAlgo::depthwise);
  std::mt19937 rng(uint32_t(s.c * 131 + s.h * 7 + s.k));
  const Shape xs{g.n, g.h, g.w, g.c}, ws{g.o, g.kh, g.kw, 1}, ys{g.n, g.ho, g.wo, g.o};
  const std::vector<double> x = dwt_random<T>(rng, size_t(xs.numel())), w = dwt_random<T>(rng, size_t(ws.numel()));
  const std::vector<double> b = dwt_random<T>(rng, size_t(g.o)), gy = dwt_random<T>(rng, size_t(ys.numel()));
  const std::vector<double> gx0 = dwt_random<T>(rng, x.size()), gw0 = dwt_random<T>(rng, w.size());
  const DwtReference r = dwt_reference(g, x, w, b, gy);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto poisoned = [&](const Shape& shape) {
    return shape.numel() > 0 ? dwt_tensor<T>(std::vector<double>(size_t(shape.numel()), nan), shape) : Tensor();
  };
  const Tensor tx = dwt_tensor<T>(x, xs), tw = dwt_tensor<T>(w, ws), tb = dwt_tensor<T>(b, Shape{g.o});
  const Tensor tgy = dwt_tensor<T>(gy, ys);
  INFO("n=", g.n, " h=", g.h, " w=", g.w, " c=", g.c, " o=", g.o, " k=", g.kh, " stride=", g.stride_h,
       " pad=", g.pad_top, " dil=", g.dil_h, " ", dtype_name(tx.dtype()), " on ", kernels::cpu_isa_name(kernels::cpu_isa()));

  // Outputs that are written start as NaN, and so do the workspaces: neither may be read before it is written.
  Tensor y = poisoned(ys);
  kernels::conv2d_forward_cpu({plan, ref(tx), ref(tw), ref(tb), ref(y), ref(poisoned(Shape{plan.workspace}))});
  dwt_expect_close<T>("forward", y, r.y, r.y_abs, {}, r.y_terms);

  Tensor gx = poisoned(xs);
  kernels::conv2d_backward_input_cpu({plan, ref(tgy), ref(tw), ref(gx), ref(poisoned(Shape{plan.workspace})), false});
  dwt_expect_close<T>("input gradient, written", gx, r.gx, r.gx_abs, {}, r.gx_terms);
  Tensor gxa = dwt_tensor<T>(gx0, xs);
  kernels::conv2d_backward_input_cpu({plan, ref(tgy), ref(tw), ref(gxa), ref(poisoned(Shape{plan.workspace})), true});
  dwt_expect_close<T>("input gradient, accumulated", gxa, r.gx, r.gx_abs, gx0, r.gx_terms);

  for (bool with_partials : {true, false}) {
    Tensor gw = dwt_tensor<T>(gw0, ws);
    const Tensor partials = with_partials ? poisoned(Shape{plan.weight_grad_workspace}) : Tensor();
    kernels::conv2d_backward_weight_cpu(
        {plan, ref(tgy), ref(tx), ref(gw), ref(poisoned(Shape{plan.workspace})), ref(partials)});
    dwt_expect_close<T>(with_partials ? "weight gradient, per-worker partials" : "weight gradient, one worker", gw,
                        r.gw, r.gw_abs, gw0, r.gw_terms);
  }
}

void dwt_check_isa(CpuIsa isa) {
  if (!fer::kernels::cpu_isa_supported(isa)) {
    MESSAGE("skipped: this CPU cannot run ", fer::kernels::cpu_isa_name(isa));
    return;
  }
  fer::kernels::set_cpu_isa(isa);
  REQUIRE(fer::kernels::cpu_isa() == isa);
  for (const DwtCase& s : kDwtCases) dwt_check_case<float>(s);
  fer::kernels::set_cpu_isa("auto");
}

}  // namespace

TEST_CASE("depthwise conv f32, AVX2 kernels, against a double reference") { dwt_check_isa(CpuIsa::avx2); }
TEST_CASE("depthwise conv f32, AVX-512 kernels, against a double reference") { dwt_check_isa(CpuIsa::avx512); }
TEST_CASE("depthwise conv f32, generic path, against a double reference") { dwt_check_isa(CpuIsa::generic); }

TEST_CASE("depthwise conv f64 against a double reference") {
  for (const DwtCase& s : kDwtCases) dwt_check_case<double>(s);
}
