// Work merged into fewer OpenMP regions (fer/core/region_merging.hpp) gives the same values bit for bit as the
// separate regions it replaced: the optimizer's zero_grad over all parameters, batch norm + add + ReLU's residual
// gradient written in the input gradient's pass, a convolution's input gradient zeroed inside its workers; and an
// optimizer step over all parameters in one call equals one call per parameter. On 2 threads, at sizes that split.
#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <vector>

#include "fer/core/parallel_stats.hpp"
#include "fer/core/region_merging.hpp"
#include "fer/fer.hpp"

using namespace fer;

namespace {

// Two threads and merging on for the test case; restored (and accounting off) at its end.
struct MergingCase {
  int threads = num_threads();
  MergingCase() { set_num_threads(2); }
  ~MergingCase() {
    set_region_merging(true);
    enable_parallel_stats(false);
    set_num_threads(threads);
  }
};

// A leaf's gradient values; empty when it has none (a leaf the loss does not use).
std::vector<double> merging_grad_values(const Tensor& t) {
  return t.grad().defined() ? t.grad().to_vector() : std::vector<double>{};
}

// The gradients of `leaves` after one recorded step of `loss` replayed (written gradients: Graph::capture marks
// first writers), with merging on or off.
std::vector<std::vector<double>> merging_replayed_grads(bool merged, const std::vector<Tensor>& leaves,
                                                        const std::function<Tensor()>& loss) {
  set_region_merging(merged);
  for (const Tensor& t : leaves) t.drop_grad();
  Graph g = Graph::capture(loss);
  g.backward();
  for (const Tensor& t : leaves) t.zero_grad();  // leaves add: start the replayed step from zero
  g.forward();
  g.backward();
  std::vector<std::vector<double>> out;
  for (const Tensor& t : leaves) out.push_back(merging_grad_values(t));
  return out;
}

}  // namespace

TEST_CASE("zero_grad zeroes every parameter's gradient in one region; unmerged, per parameter in none") {
  MergingCase guard;
  Generator gen(3);
  std::vector<Tensor> params;
  for (int64_t n : {int64_t(70001), int64_t(3), int64_t(40000), int64_t(1)})
    params.push_back(Tensor::randn({n}, DType::f32, gen).set_requires_grad());
  params.push_back(Tensor::randn({129, 7}, DType::f64, gen).set_requires_grad());
  Tensor no_grad = Tensor::randn({10}, DType::f32, gen).set_requires_grad();
  params.push_back(no_grad);
  optim::SGD opt(params, optim::SgdOptions{});
  for (bool merged : {true, false}) {
    set_region_merging(merged);
    for (size_t i = 0; i + 1 < params.size(); ++i) params[i].grad_buffer().fill_(1.5);
    enable_parallel_stats(true);
    opt.zero_grad();
    const ParallelStats s = parallel_stats();
    enable_parallel_stats(false);
    for (size_t i = 0; i + 1 < params.size(); ++i)
      for (double v : params[i].grad().to_vector()) REQUIRE(v == 0.0);
    CHECK(!no_grad.grad().defined());
    // 70001 + 3 + 40000 + 1 floats and 903 doubles: 447,244 bytes, two grains of 256 KiB.
    CHECK(s.regions == (merged ? 1 : 0));
  }
}

TEST_CASE("an optimizer step over all parameters in one call equals one call per parameter, bit for bit") {
  MergingCase guard;
  Generator gen(11);
  const std::vector<int64_t> sizes = {70001, 5, 33000, 1, 16384};
  for (int kind = 0; kind < 2; ++kind) {
    std::vector<Tensor> together, apart, grads;
    for (int64_t n : sizes) {
      Tensor p = Tensor::randn({n}, DType::f32, gen);
      together.push_back(p.clone().set_requires_grad());
      apart.push_back(p.clone().set_requires_grad());
      grads.push_back(Tensor::randn({n}, DType::f32, gen));
    }
    auto make = [&](const std::vector<Tensor>& ps) -> std::unique_ptr<optim::Optimizer> {
      if (kind == 0) {
        optim::SgdOptions o;
        o.lr = 0.05;
        o.momentum = 0.9;
        o.nesterov = true;
        o.weight_decay = 1e-3;
        return std::make_unique<optim::SGD>(ps, o);
      }
      return std::make_unique<optim::AdamW>(ps);
    };
    auto one = make(together);
    std::vector<std::unique_ptr<optim::Optimizer>> each;
    for (const Tensor& p : apart) each.push_back(make({p}));
    for (int step = 0; step < 3; ++step) {
      for (size_t i = 0; i < sizes.size(); ++i) {
        together[i].grad_buffer().copy_(grads[i]);
        apart[i].grad_buffer().copy_(grads[i]);
      }
      one->step();
      for (auto& o : each) o->step();
    }
    for (size_t i = 0; i < sizes.size(); ++i) CHECK(together[i].to_vector() == apart[i].to_vector());
  }
}

TEST_CASE("batch_norm_add_relu backward: the residual gradient in the input gradient's pass equals its own pass") {
  MergingCase guard;
  Generator gen(7);
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor x0 = Tensor::randn({4, 16, 16, 32}, dt, gen).set_requires_grad();
    Tensor r0 = Tensor::randn({4, 16, 16, 32}, dt, gen).set_requires_grad();
    Tensor w = Tensor::randn({32}, dt, gen).set_requires_grad(), b = Tensor::randn({32}, dt, gen).set_requires_grad();
    Tensor probe = Tensor::randn({4, 16, 16, 32}, dt, gen);
    const Tensor two = Tensor::full({}, 2.0, dt), three = Tensor::full({}, 3.0, dt);
    const std::vector<Tensor> leaves = {x0, r0, w, b};
    // Intermediate inputs (leaves always add): their gradients are written by the fused op.
    auto loss = [&] {
      return sum(mul(batch_norm_add_relu(mul(x0, two), mul(r0, three), w, b, Tensor(), Tensor(), true), probe));
    };
    CHECK(merging_replayed_grads(true, leaves, loss) == merging_replayed_grads(false, leaves, loss));
    // The same tensor as input and residual: the merged pass steps aside (the buffers overlap).
    auto same = [&] {
      Tensor xi = mul(x0, two);
      return sum(mul(batch_norm_add_relu(xi, xi, w, b, Tensor(), Tensor(), true), probe));
    };
    CHECK(merging_replayed_grads(true, leaves, same) == merging_replayed_grads(false, leaves, same));
    // Eager: every gradient adds.
    std::vector<std::vector<double>> eager[2];
    for (bool merged : {true, false}) {
      set_region_merging(merged);
      for (const Tensor& t : leaves) t.drop_grad();
      backward(loss());
      for (const Tensor& t : leaves) eager[merged].push_back(merging_grad_values(t));
    }
    CHECK(eager[0] == eager[1]);
  }
}

TEST_CASE("conv2d input gradient: zeroed inside the workers equals zeroed first") {
  MergingCase guard;
  Generator gen(9);
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor x0 = Tensor::randn({5, 12, 12, 8}, dt, gen).set_requires_grad();
    Tensor w = Tensor::randn({16, 3, 3, 8}, dt, gen).set_requires_grad();
    Tensor probe = Tensor::randn({5, 6, 6, 16}, dt, gen);
    const Tensor two = Tensor::full({}, 2.0, dt);
    auto loss = [&] { return sum(mul(conv2d(mul(x0, two), w, Tensor(), Conv2dParams::make(2, 1)), probe)); };
    CHECK(merging_replayed_grads(true, {x0, w}, loss) == merging_replayed_grads(false, {x0, w}, loss));
  }
}
