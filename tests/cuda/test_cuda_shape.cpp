// CUDA layout kernels against the CPU backend: every op of fer/ops/shape.hpp (reshape, flatten, permute, NHWC<->NCHW,
// slice, concat, split, chunk, channel shuffle, pad2d with padding and cropping) forward and backward onto
// preexisting gradients in f64/f32/f16/bf16, bit-exact copies of integer dtypes, contiguous() of strided views on the
// device, NaN-poisoned outputs, and out-of-range strided maps rejected before any launch.
#include <cstring>
#include <functional>
#include <vector>

#include "cuda/cuda_parity.hpp"

#include "fer/kernels/shape.hpp"
#include "fer/ops/elementwise.hpp"
#include "fer/ops/shape.hpp"

// Each file of the unity-built fer_cuda_tests keeps its helpers to itself.
namespace test_cuda_shape {

using namespace fer;
using namespace fer::cuda_test;

static Device dev() { return fer::cuda_test::cuda0(); }

TEST_CASE("every layout op: forward and backward match the CPU backend") {
  using Fn = std::function<Tensor(const std::vector<Tensor>&)>;
  const std::vector<std::pair<const char*, Fn>> one = {
      {"reshape", [](const std::vector<Tensor>& t) { return reshape(t[0], {5, -1}); }},
      {"flatten", [](const std::vector<Tensor>& t) { return flatten(t[0], 1, 2); }},
      {"permute", [](const std::vector<Tensor>& t) { return permute(t[0], {2, 0, 3, 1}); }},
      {"nhwc_to_nchw", [](const std::vector<Tensor>& t) { return nhwc_to_nchw(t[0]); }},
      {"nchw_to_nhwc", [](const std::vector<Tensor>& t) { return nchw_to_nhwc(t[0]); }},
      {"slice step 2", [](const std::vector<Tensor>& t) { return slice(t[0], 2, 1, 6, 2); }},
      {"slice last dim", [](const std::vector<Tensor>& t) { return slice(t[0], -1, 2, 5); }},
      {"split", [](const std::vector<Tensor>& t) { return split(t[0], {1, 4, 2}, 2)[1]; }},
      {"chunk", [](const std::vector<Tensor>& t) { return chunk(t[0], 2, 1)[1]; }},
      {"channel_shuffle", [](const std::vector<Tensor>& t) { return channel_shuffle(t[0], 3); }},
      {"pad2d", [](const std::vector<Tensor>& t) { return pad2d(t[0], {1, 2, 3, 0}, 0.5); }},
      {"pad2d crop", [](const std::vector<Tensor>& t) { return pad2d(t[0], {-1, 1, 2, -2}, -1.0); }},
      // A permuted input made strided again through a slice: chains of gathers and scatters.
      {"chain", [](const std::vector<Tensor>& t) { return channel_shuffle(permute(slice(t[0], 1, 0, 3), {0, 2, 1, 3}), 3); }},
  };
  uint64_t seed = 1;
  for (const auto& [name, fn] : one)
    for (DType dt : kFloatDtypes) check_parity(name, fn, {{{2, 5, 7, 9}}}, dt, seed++);
  // Concat of three (one repeated: its gradient gets both slices) along the last dim and a middle dim.
  for (DType dt : kFloatDtypes) {
    check_parity("concat last", [](const std::vector<Tensor>& t) { return concat({t[0], t[1], t[0]}, -1); },
                 {{{3, 4, 5}}, {{3, 4, 2}}}, dt, seed++);
    check_parity("concat middle", [](const std::vector<Tensor>& t) { return concat({t[0], t[1]}, 1); },
                 {{{3, 1, 5}}, {{3, 6, 5}}}, dt, seed++);
  }
}

TEST_CASE("copies of every dtype are bit-exact (permute, slice, concat of integer tensors)") {
  for (DType dt : {DType::u8, DType::i32, DType::i64, DType::f16}) {
    INFO(dtype_name(dt));
    Tensor h = Tensor::empty({3, 4, 5}, dt);
    for (int64_t i = 0; i < h.numel(); ++i) h.set_flat(i, double((i * 37) % 101));
    Tensor d = h.to(dev());
    auto same = [](const Tensor& a, const Tensor& b) {
      Tensor ha = a.host(), hb = b.host();
      return ha.shape() == hb.shape() && std::memcmp(ha.raw_data(), hb.raw_data(), ha.nbytes()) == 0;
    };
    CHECK(same(permute(d, {2, 0, 1}), permute(h, {2, 0, 1})));
    CHECK(same(slice(d, 1, 1, 4, 2), slice(h, 1, 1, 4, 2)));
    CHECK(same(concat({d, d}, 0), concat({h, h}, 0)));
  }
}

TEST_CASE("contiguous() of strided device views gathers with the view's strides and offset") {
  Generator g(21);
  for (DType dt : kFloatDtypes) {
    Tensor base = random_cpu({6, 10}, g, -2, 2, dt);
    const DType ref = (dt == DType::f16 || dt == DType::bf16) ? DType::f32 : dt;
    // A transposed view of rows 1..4 (shape [10, 4], strides [1, 10], offset 10).
    Tensor vc = strided_view(base.to(ref).clone(), {10, 4}, {1, 10}, 10);
    Tensor vg = strided_view(base.to(dev()), {10, 4}, {1, 10}, 10);
    REQUIRE_FALSE(vg.is_contiguous());
    vc.set_requires_grad(), vg.set_requires_grad();
    Tensor yc = contiguous(vc), yg = contiguous(vg);
    REQUIRE(yg.device() == dev());
    CHECK(rel_l2(yg, yc) == 0.0);  // a copy: exact
    Tensor up = random_cpu({10, 4}, g, -1, 1, dt);
    backward(square(yc), up.to(ref));
    backward(square(yg), up.to(dev()));
    CHECK(rel_l2(vg.grad(), vc.grad()) <= tolerance_for(dt));
  }
}

TEST_CASE("backend: every output element is written (NaN-poisoned outputs)") {
  Generator g(22);
  Tensor x = random_cpu({2, 5, 4, 3}, g);
  Tensor y = poisoned({2, 8, 3, 3});
  kernels::pad2d_forward_cuda({kernels::ref(x.to(dev())), kernels::ref(y), {}, {}, 2, -1, 0.25});
  Tensor yc = Tensor::empty({2, 8, 3, 3});
  kernels::pad2d_forward_cpu({kernels::ref(x), kernels::ref(yc), {}, {}, 2, -1, 0.25});
  CHECK(rel_l2(y, yc) == 0.0);

  // permute {1, 0, 2, 3} of x viewed as [2, 3, 5, 4]: out [3, 2, 5, 4] with source strides {20, 60, 4, 1}.
  Tensor p = poisoned({3, 2, 5, 4});
  const Tensor xv = x.to(dev()).view_as_shape({2, 3, 5, 4});
  kernels::gather_strided_cuda({kernels::ref(xv), 0, Shape{20, 60, 4, 1}, kernels::ref(p), false, kernels::span_of(xv)});
  Tensor pc = Tensor::empty({3, 2, 5, 4});
  kernels::gather_strided_cpu({kernels::ref(x.view_as_shape({2, 3, 5, 4})), 0, Shape{20, 60, 4, 1}, kernels::ref(pc), false});
  CHECK(rel_l2(p, pc) == 0.0);
}

TEST_CASE("strided maps outside the storage and racing accumulations are rejected") {
  Tensor src = Tensor::zeros({10}, DType::f32, dev()), dst = Tensor::zeros({4}, DType::f32, dev());
  const kernels::TensorRef s = kernels::ref(src), d = kernels::ref(dst);
  CHECK_THROWS_AS(kernels::gather_strided_cuda({s, 4, Shape{3}, d, false, kernels::span_of(src)}), fer::Error);  // reaches element 13
  CHECK_THROWS_AS(kernels::scatter_strided_cuda({d, s, 0, Shape{0}, true, kernels::span_of(src)}), fer::Error);  // four adds into one element
  CHECK_NOTHROW(kernels::gather_strided_cuda({s, 0, Shape{3}, d, false, kernels::span_of(src)}));  // elements 0, 3, 6, 9
}

}  // namespace test_cuda_shape
