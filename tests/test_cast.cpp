// The recorded dtype cast: exact widening, round-to-nearest-even narrowing, the gradient carried back in the source
// dtype (finite-difference check through f64 -> f32 -> f64), accumulation, and autocast leaving CPU ops alone.
#include <doctest/doctest.h>

#include <cmath>

#include "fer/ops/cast.hpp"
#include "fer/ops/elementwise.hpp"
#include "gradcheck.hpp"

using namespace fer;
using namespace fer::testing;

TEST_CASE("cast: values convert as the dtypes round") {
  Tensor x = Tensor::from_vector(std::vector<double>{1.0, -2.5, 1.0 + 1.0 / 1024, 65504.0, 1e-8, 3.140625}, {6});
  Tensor h = cast(x, DType::f16), b = cast(x, DType::bf16), f = cast(x, DType::f32);
  CHECK(h.dtype() == DType::f16);
  CHECK(h.flat(0) == 1.0);
  CHECK(h.flat(1) == -2.5);
  CHECK(h.flat(2) == 1.0 + 1.0 / 1024);  // exactly representable in f16 (10-bit mantissa)
  CHECK(b.flat(2) == 1.0);               // not in bf16 (7-bit mantissa): rounds to even
  CHECK(h.flat(3) == 65504.0);
  CHECK(h.flat(4) == 0.0);               // below f16's smallest subnormal (6e-8) / 2
  CHECK(b.flat(5) == 3.140625);
  CHECK(f.flat(4) == doctest::Approx(1e-8).epsilon(1e-7));
  CHECK(cast(x, DType::f64).same(x));  // no-op cast returns the input
  CHECK_THROWS_WITH_AS(cast(Tensor::empty({2}, DType::i64), DType::f32), doctest::Contains("floating"), fer::Error);
}

TEST_CASE("cast: gradient flows back in the source dtype (finite differences through a round trip)") {
  Generator g(3);
  Tensor x = Tensor::randn({3, 5, 7}, DType::f64, g).set_requires_grad();
  // f64 -> f32 -> f64: the numeric derivative of the round trip is 1 within f32 rounding of the central difference.
  GradcheckOptions opt;
  opt.eps = 1e-3, opt.atol = 1e-4, opt.rtol = 1e-4;
  CHECK(gradcheck([](const std::vector<Tensor>& in) { return cast(cast(in[0], DType::f32), DType::f64); }, {x}, opt) <= 1.0);
}

TEST_CASE("cast: the backward accumulates into an existing gradient, converting") {
  Tensor x = Tensor::from_vector(std::vector<float>{1, 2, 3}, {3}).set_requires_grad();
  x.grad_buffer().copy_(Tensor::from_vector(std::vector<float>{10, 20, 30}, {3}));
  Tensor y = cast(x, DType::bf16);
  backward(y, Tensor::from_vector(std::vector<double>{0.5, 0.25, -1}, {3}).to(DType::bf16));
  CHECK(x.grad().flat(0) == 10.5);
  CHECK(x.grad().flat(1) == 20.25);
  CHECK(x.grad().flat(2) == 29.0);
}

TEST_CASE("autocast leaves CPU tensors alone and restores the previous mode") {
  Tensor x = Tensor::from_vector(std::vector<float>{1, 2}, {2});
  CHECK_FALSE(autocast_enabled());
  {
    AutocastGuard on(DType::bf16);
    CHECK(autocast_dtype() == DType::bf16);
    CHECK(ops_detail::autocast_input(x, ops_detail::AutocastPolicy::lower).same(x));
    {
      AutocastGuard off(DType::f32);
      CHECK_FALSE(autocast_enabled());
    }
    CHECK(autocast_enabled());
  }
  CHECK_FALSE(autocast_enabled());
  CHECK_THROWS_AS(AutocastGuard(DType::i32), fer::Error);
  Tensor a = Tensor::from_vector(std::vector<float>{1.5f}, {1}), b = cast(a, DType::bf16);
  ops_detail::autocast_pair(a, b);
  CHECK(a.dtype() == DType::f32);
  CHECK(b.dtype() == DType::f32);
}
