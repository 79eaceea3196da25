// CUDA softmax, log-softmax and cross-entropy against the CPU backend: forward and logits gradient through the ops
// with autograd, softmax over the last and a middle dim (strided), cross-entropy with class weights, label
// smoothing, ignore_index, i32/i64 and probability targets, and the three reductions; in f64 (kTolF64), f32 with a
// preexisting gradient (kTolF32), bf16 and f16 against the CPU's f32 result on the same rounded inputs
// (kTolBf16 / kTolF16); raw kernels writing into NaN-poisoned outputs.
#include <functional>
#include <vector>

#include "cuda/cuda_parity.hpp"

#include "fer/autograd/tape.hpp"
#include "fer/kernels/loss.hpp"
#include "fer/ops/loss.hpp"

// Each file of the unity-built fer_cuda_tests keeps its helpers to itself.
namespace test_cuda_loss {

using namespace fer;
using namespace fer::cuda_test;

namespace {

Device dev0() { return cuda_test::cuda0(); }

// An op of x on device d (extra operands are built inside for that device and dtype).
using Op = std::function<Tensor(const Tensor&, Device)>;

void check_op(const Op& op, const Shape& shape, uint64_t seed, double lo = -3, double hi = 3) {
  Generator g(seed);
  Tensor x = random_cpu(shape, g, lo, hi, DType::f64);
  Tensor y_shape = op(x, Device::cpu());
  Tensor gy = random_cpu(y_shape.shape(), g, -1, 1, DType::f64);
  Tensor pre = random_cpu(shape, g, -1, 1, DType::f64);
  check_dtype_modes("loss op", [&op](const std::vector<Tensor>& t, Device d) { return op(t[0], d); }, {x}, gy, {pre});
}

// Class targets with some rows ignored (-100), as i64 or i32, on device d.
Tensor classes(int64_t n, int64_t c, uint64_t seed, DType dt, Device d) {
  Generator g(seed);
  Tensor t = Tensor::empty({n}, dt);
  for (int64_t i = 0; i < n; ++i) t.set_flat(i, i % 5 == 3 ? -100.0 : double(int64_t(g.uniform() * double(c)) % c));
  return t.to(d);
}

// Class weights in the logits' dtype, on device d.
Tensor class_weights(int64_t c, DType dt, Device d) {
  Generator g(77);
  return random_cpu({c}, g, 0.2, 2.0, DType::f64).to(dt).to(d);
}

}  // namespace

TEST_CASE("softmax and log_softmax over the last dim and a strided middle dim match the CPU") {
  for (bool log : {false, true}) {
    CAPTURE(log);
    check_op([log](const Tensor& x, Device) { return log ? log_softmax(x, -1) : softmax(x, -1); }, {37, 7}, 1);
    check_op([log](const Tensor& x, Device) { return log ? log_softmax(x, -1) : softmax(x, -1); }, {5, 3, 101}, 2);
    check_op([log](const Tensor& x, Device) { return log ? log_softmax(x, 1) : softmax(x, 1); }, {4, 9, 6, 5}, 3);
    check_op([log](const Tensor& x, Device) { return log ? log_softmax(x, 0) : softmax(x, 0); }, {11, 13}, 4);
  }
}

TEST_CASE("cross_entropy with class targets: weights, label smoothing, ignore_index, reductions") {
  using R = CrossEntropyOptions::Reduction;
  const int64_t n = 29, c = 7;
  for (DType tdt : {DType::i64, DType::i32})
    for (R red : {R::mean, R::sum, R::none})
      for (bool weighted : {false, true})
        for (double eps : {0.0, 0.1}) {
          CAPTURE(dtype_name(tdt));
          CAPTURE(int(red));
          CAPTURE(weighted);
          CAPTURE(eps);
          check_op(
              [=](const Tensor& x, Device d) {
                CrossEntropyOptions o;
                o.reduction = red, o.label_smoothing = eps;
                if (weighted) o.weight = class_weights(c, x.dtype(), d);
                return cross_entropy(x, classes(n, c, 9, tdt, d), o);
              },
              {n, c}, 10);
        }
  // Many classes (several per lane), mean reduction.
  check_op([](const Tensor& x, Device d) { return cross_entropy(x, classes(19, 300, 3, DType::i64, d)); }, {19, 300}, 11);
}

TEST_CASE("cross_entropy with probability targets") {
  using R = CrossEntropyOptions::Reduction;
  const int64_t n = 17, c = 9;
  for (R red : {R::mean, R::sum, R::none})
    for (bool weighted : {false, true}) {
      CAPTURE(int(red));
      CAPTURE(weighted);
      check_op(
          [=](const Tensor& x, Device d) {
            Generator g(5);
            Tensor p = random_cpu({n, c}, g, 0, 1, DType::f64);
            for (int64_t i = 0; i < n; ++i) {  // rows summing to 1
              double s = 0;
              for (int64_t k = 0; k < c; ++k) s += p.flat(i * c + k);
              for (int64_t k = 0; k < c; ++k) p.set_flat(i * c + k, p.flat(i * c + k) / s);
            }
            CrossEntropyOptions o;
            o.reduction = red, o.label_smoothing = 0.05;
            if (weighted) o.weight = class_weights(c, x.dtype(), d);
            return cross_entropy(x, p.to(x.dtype()).to(d), o);
          },
          {n, c}, 12);
    }
}

TEST_CASE("the normalizer counts the weights of the non-ignored rows; all ignored gives NaN, as on the CPU") {
  Generator g(30);
  Tensor x = random_cpu({6, 4}, g);
  Tensor t = Tensor::full({6}, -100.0, DType::i64);
  Tensor y_d = cross_entropy(x.to(dev0()), t.to(dev0()));
  CHECK(std::isnan(y_d.item()));
  CHECK(std::isnan(cross_entropy(x, t).item()));
}

TEST_CASE("every output element is written (outputs poisoned with NaN)") {
  Generator g(40);
  const int64_t n = 45, c = 11;
  Tensor x = random_cpu({n, c}, g, -4, 4);
  Tensor xd = x.to(dev0());
  Tensor y = Tensor::empty({n, c});
  kernels::softmax_forward_cpu({kernels::ref(x), kernels::ref(y), n, c, 1, true});
  Tensor yd = poisoned({n, c});
  kernels::softmax_forward_cuda({kernels::ref(xd), kernels::ref(yd), n, c, 1, true});
  CHECK(rel_l2(yd, y) <= kTolF32);
  Tensor t = classes(n, c, 41, DType::i64, Device::cpu()), w = class_weights(c, DType::f32, Device::cpu());
  Tensor rows = Tensor::empty({n}), lse = Tensor::empty({n});
  kernels::CrossEntropySpec spec{kernels::ref(w), 0.1, -100, false};
  double norm = kernels::cross_entropy_forward_cpu({kernels::ref(x), kernels::ref(t), spec, kernels::ref(rows), kernels::ref(lse)});
  Tensor wd = w.to(dev0()), rows_d = poisoned({n}), lse_d = poisoned({n});
  kernels::CrossEntropySpec spec_d{kernels::ref(wd), 0.1, -100, false};
  double norm_d = kernels::cross_entropy_forward_cuda({kernels::ref(xd), kernels::ref(t.to(dev0())), spec_d, kernels::ref(rows_d), kernels::ref(lse_d)});
  CHECK(std::abs(norm_d - norm) <= 1e-6 * std::abs(norm));
  CHECK(rel_l2(rows_d, rows) <= kTolF32);
  CHECK(rel_l2(lse_d, lse) <= kTolF32);
}

}  // namespace test_cuda_loss
