// CUDA batch norm and layer norm against the CPU backend: forward and every input gradient through the ops with
// autograd (training with and without affine parameters, eval with running statistics, untracked eval, 2-d input,
// an input large enough for many reduction chunks), in f64 (kTolF64), f32 with preexisting gradients (kTolF32),
// bf16 and f16 against the CPU's f32 result on the same rounded inputs (kTolBf16 / kTolF16); the running statistics
// and num_batches_tracked after training steps; raw kernels writing into NaN-poisoned outputs.
#include <functional>
#include <vector>

#include "cuda/cuda_parity.hpp"

#include "fer/autograd/tape.hpp"
#include "fer/kernels/norm.hpp"
#include "fer/ops/norm.hpp"

// Each file of the unity-built fer_cuda_tests keeps its helpers to itself.
namespace test_cuda_norm {

using namespace fer;
using namespace fer::cuda_test;

namespace {

Device dev0() { return cuda_test::cuda0(); }

// An op of (x, weight, bias); undefined weight/bias stay undefined.
using Op = std::function<Tensor(const Tensor&, const Tensor&, const Tensor&, Device)>;

void check_op(const Op& op, const Shape& shape, bool affine, uint64_t seed) {
  Generator g(seed);
  int64_t c = shape[shape.size() - 1];
  std::vector<Tensor> in{random_cpu(shape, g, -1.5, 2.5, DType::f64),
                         affine ? random_cpu({c}, g, 0.5, 1.5, DType::f64) : Tensor(),
                         affine ? random_cpu({c}, g, -0.5, 0.5, DType::f64) : Tensor()};
  std::vector<Tensor> pre;
  for (const Tensor& t : in) pre.push_back(t.defined() ? random_cpu(t.shape(), g, -1, 1, DType::f64) : Tensor());
  Tensor gy = random_cpu(shape, g, -1, 1, DType::f64);
  check_dtype_modes("norm op", [&op](const std::vector<Tensor>& t, Device d) { return op(t[0], t[1], t[2], d); }, in, gy,
                    pre);
}

// Running statistics for batch_norm in eval mode, on the op's device.
Tensor running(const Shape& s, uint64_t seed, double lo, double hi, Device d) {
  Generator g(seed);
  return random_cpu(s, g, lo, hi, DType::f64).to(DType::f64).to(d);
}

}  // namespace

TEST_CASE("batch_norm training: output and gradients match the CPU") {
  Op train = [](const Tensor& x, const Tensor& w, const Tensor& b, Device) {
    return batch_norm(x, w, b, Tensor(), Tensor(), true, 0.1, 1e-5);
  };
  check_op(train, {5, 7, 6, 19}, true, 1);
  check_op(train, {37, 11}, false, 2);
  check_op(train, {3, 1, 1, 45}, true, 3);
  check_op(train, {32, 16, 16, 40}, true, 4);  // many row chunks
}

TEST_CASE("batch_norm eval (running statistics) and untracked eval match the CPU") {
  Op eval = [](const Tensor& x, const Tensor& w, const Tensor& b, Device d) {
    int64_t c = x.size(-1);
    Tensor rm = running({c}, 11, -0.5, 0.5, d).to(x.dtype()), rv = running({c}, 12, 0.5, 2.0, d).to(x.dtype());
    return batch_norm(x, w, b, rm, rv, false, 0.1, 1e-3);
  };
  check_op(eval, {4, 5, 3, 21}, true, 5);
  check_op(eval, {9, 13}, false, 6);
  Op untracked = [](const Tensor& x, const Tensor& w, const Tensor& b, Device) {
    return batch_norm(x, w, b, Tensor(), Tensor(), false, 0.1, 1e-5);
  };
  check_op(untracked, {6, 5, 7, 10}, true, 7);
}

TEST_CASE("batch_norm training updates running statistics and num_batches_tracked as on the CPU") {
  for (DType dt : {DType::f64, DType::f32}) {
    CAPTURE(dtype_name(dt));
    Generator g(20);
    Tensor rm = Tensor::zeros({13}, dt), rv = Tensor::ones({13}, dt), nbt = Tensor::zeros({1}, DType::i64);
    Tensor rm_d = rm.to(dev0()), rv_d = rv.to(dev0()), nbt_d = nbt.to(dev0());
    for (int step = 0; step < 3; ++step) {
      Tensor x = random_cpu({6, 5, 4, 13}, g, -1, 3, dt);
      Tensor y = batch_norm(x, Tensor(), Tensor(), rm, rv, true, 0.2, 1e-5, nbt);
      Tensor yd = batch_norm(x.to(dev0()), Tensor(), Tensor(), rm_d, rv_d, true, 0.2, 1e-5, nbt_d);
      CHECK(rel_l2(yd, y) <= (dt == DType::f64 ? kTolF64 : kTolF32));
    }
    CHECK(rel_l2(rm_d, rm) <= (dt == DType::f64 ? kTolF64 : kTolF32));
    CHECK(rel_l2(rv_d, rv) <= (dt == DType::f64 ? kTolF64 : kTolF32));
    CHECK(nbt_d.host().flat(0) == 3.0);
    CHECK(nbt.flat(0) == 3.0);
  }
}

TEST_CASE("layer_norm: output and gradients match the CPU") {
  Op ln = [](const Tensor& x, const Tensor& w, const Tensor& b, Device) { return layer_norm(x, w, b, 1e-6); };
  check_op(ln, {3, 5, 7, 29}, true, 30);
  check_op(ln, {4, 65}, false, 31);
  check_op(ln, {2, 3, 3, 301}, true, 32);  // rows longer than a warp's several strides
  check_op(ln, {300, 96}, true, 33);       // many rows and row chunks for the parameter gradients
}

TEST_CASE("every output element is written (outputs poisoned with NaN)") {
  Generator g(40);
  const int64_t m = 77, c = 35;
  Tensor x = random_cpu({m, c}, g, -1, 2), w = random_cpu({c}, g), b = random_cpu({c}, g);
  Tensor xd = x.to(dev0()), wd = w.to(dev0()), bd = b.to(dev0());
  NormWorkspaceTensors ws = make_norm_workspace(m, c, DType::f32);
  Tensor mean = Tensor::empty({c}), invstd = Tensor::empty({c}), var = Tensor::empty({c}), y = Tensor::empty({m, c});
  kernels::batch_norm_stats_cpu({kernels::ref(x), ws.ref(), kernels::ref(mean), kernels::ref(invstd), kernels::ref(var), 1e-5});
  kernels::batch_norm_apply_cpu({kernels::ref(x), kernels::ref(mean), kernels::ref(invstd), kernels::ref(w), kernels::ref(b), ws.ref(), kernels::ref(y)});
  NormWorkspaceTensors wsd = make_norm_workspace(m, c, DType::f32, dev0());
  Tensor mean_d = poisoned({c}), invstd_d = poisoned({c}), var_d = poisoned({c}), y_d = poisoned({m, c});
  kernels::batch_norm_stats_cuda({kernels::ref(xd), wsd.ref(), kernels::ref(mean_d), kernels::ref(invstd_d), kernels::ref(var_d), 1e-5});
  kernels::batch_norm_apply_cuda({kernels::ref(xd), kernels::ref(mean_d), kernels::ref(invstd_d), kernels::ref(wd), kernels::ref(bd), wsd.ref(), kernels::ref(y_d)});
  CHECK(rel_l2(mean_d, mean) <= kTolF32);
  CHECK(rel_l2(invstd_d, invstd) <= kTolF32);
  CHECK(rel_l2(var_d, var) <= kTolF32);
  CHECK(rel_l2(y_d, y) <= kTolF32);
  Tensor lm = Tensor::empty({m}), li = Tensor::empty({m}), ly = Tensor::empty({m, c});
  kernels::layer_norm_forward_cpu({kernels::ref(x), kernels::ref(w), kernels::ref(b), 1e-6, kernels::ref(ly), kernels::ref(lm), kernels::ref(li)});
  Tensor lm_d = poisoned({m}), li_d = poisoned({m}), ly_d = poisoned({m, c});
  kernels::layer_norm_forward_cuda({kernels::ref(xd), kernels::ref(wd), kernels::ref(bd), 1e-6, kernels::ref(ly_d), kernels::ref(lm_d), kernels::ref(li_d)});
  CHECK(rel_l2(lm_d, lm) <= kTolF32);
  CHECK(rel_l2(li_d, li) <= kTolF32);
  CHECK(rel_l2(ly_d, ly) <= kTolF32);
}

}  // namespace test_cuda_norm
