// Gradients written by their first writer (fer/autograd/written_grads.hpp) against the old scheme, every intermediate
// gradient zero-filled and then added to (Graph::set_always_accumulate): on every backbone of the registry the
// parameter gradients of a replayed step agree, with every gradient buffer the new scheme does not zero poisoned with
// NaN first (a written buffer that was read would spread the NaN). DenseNet runs with and without its in-place
// block buffer, whose channel-prefix views share one gradient storage. Every op of the op table (tests/op_table.hpp)
// is checked the same way on its own, in f64, bit for bit; and the unary kernels one by one: written (accumulate
// false) into NaN equals added into zeros.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <unordered_set>
#include <vector>

#include "fer/autograd/tape.hpp"
#include "fer/kernels/elementwise.hpp"
#include "fer/ops/common.hpp"
#include "fer/ops/elementwise.hpp"
#include "models/densenet.hpp"
#include "models/registry.hpp"
#include "gradcheck.hpp"
#include "op_table.hpp"
#include "replayed_grads.hpp"

using namespace fer;
using fer::testing::max_abs_diff;

namespace written_grads_test {

double max_abs(const Tensor& a) {
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(a.flat(i)));
  return m;
}

// Every parameter's gradient after one replayed backward of g, parameters' gradients cleared first.
std::vector<Tensor> parameter_grads(Graph& g, const std::vector<Tensor>& params) {
  return fer::testing::replayed_leaf_grads(g, params, 17);
}

// Fills with NaN the existing gradient of every intermediate tensor that g will not zero-fill.
void poison_written_grads(const Graph& g) {
  std::unordered_set<const TensorImpl*> zeroed;
  for (const Tensor& t : g.zeroed_gradients()) zeroed.insert(t.impl());
  for (const auto& n : g.nodes())
    for (const Tensor& o : n->outputs)
      if (!zeroed.count(o.impl()) && o.grad().defined()) o.grad().fill_(std::nan(""));
}

void check_backbone(const std::string& name, int64_t size) {
  CAPTURE(name);
  fer::testing::BackboneStep step = fer::testing::backbone_step(name, size);
  const std::vector<Tensor> params = step.model->parameters();
  Graph& g = step.graph;
  g.set_gradient_arena(false);  // every gradient keeps its buffer, which poison_written_grads reaches
  g.backward();  // creates every gradient buffer

  g.set_always_accumulate(true);
  const std::vector<Tensor> reference = parameter_grads(g, params);
  const size_t all_zeroed = g.zeroed_gradients().size();

  g.set_always_accumulate(false);
  CHECK(g.zeroed_gradients().size() < all_zeroed);  // some first writers write
  poison_written_grads(g);
  const std::vector<Tensor> written = parameter_grads(g, params);

  REQUIRE(written.size() == reference.size());
  for (size_t i = 0; i < params.size(); ++i) {
    CAPTURE(i);
    REQUIRE(written[i].defined() == reference[i].defined());
    if (!reference[i].defined()) continue;
    // f32 with the same operations in the same order: 0 + v == v, so the values agree up to rounding at most.
    CHECK(max_abs_diff(written[i], reference[i]) <= 1e-6 * (1.0 + max_abs(reference[i])));
  }
}

// One op-table entry in f64 inside a recorded step (fer::testing::op_entry_step). Returns the leaves' gradients
// after a replayed backward, with the old scheme or with written gradients (poisoned first).
std::vector<Tensor> op_entry_grads(const op_table::OpEntry& e, bool always_accumulate) {
  std::vector<Tensor> leaves;
  Graph g = fer::testing::op_entry_step(e, leaves);
  // Each intermediate keeps a buffer of its own, so that poison_written_grads reaches it after the warm-up.
  g.set_gradient_arena(false);
  g.set_always_accumulate(always_accumulate);
  g.backward();  // creates every gradient buffer
  if (!always_accumulate) poison_written_grads(g);
  for (const Tensor& l : leaves) l.zero_grad();
  g.forward();
  g.backward();
  std::vector<Tensor> grads;
  for (const Tensor& l : leaves) grads.push_back(l.grad().defined() ? l.grad().clone() : Tensor());
  return grads;
}

}  // namespace written_grads_test

using namespace written_grads_test;

TEST_CASE("written gradients: every op of the op table, f64, bit for bit") {
  for (const op_table::OpEntry& e : op_table::ops()) {
    CAPTURE(e.name);
    const std::vector<Tensor> reference = op_entry_grads(e, true), written = op_entry_grads(e, false);
    for (size_t k = 0; k < reference.size(); ++k) {
      CAPTURE(k);
      REQUIRE(written[k].defined() == reference[k].defined());
      if (reference[k].defined()) CHECK(max_abs_diff(written[k], reference[k]) == 0.0);
    }
  }
}

TEST_CASE("written gradients: every backbone's parameter gradients match zero-filled accumulation") {
  for (const std::string& name : models::model_names()) check_backbone(name, 32);
}

TEST_CASE("written gradients: DenseNet with and without its in-place block buffer") {
  for (bool in_place : {true, false}) {
    CAPTURE(in_place);
    models::densenet_in_place(in_place);
    check_backbone("densenet121", 32);
  }
  models::densenet_in_place(true);
}

TEST_CASE("written gradients: the first writer of a DenseNet block buffer's storage is its only whole writer") {
  // The block buffer's gradient is shared with its channel-prefix views; no node reading a prefix may overwrite it.
  models::densenet_in_place(true);
  fer::testing::BackboneStep step = fer::testing::backbone_step("densenet121", 32);
  const Graph& g = step.graph;
  for (const auto& n : g.nodes())
    for (size_t i = 0; i < n->overwrite.size(); ++i)
      if (n->overwrite[i]) {
        const Tensor& t = n->inputs[i];
        CHECK(t.is_contiguous());
        if (t.grad().defined()) CHECK(size_t(t.grad().numel()) * dtype_size(t.dtype()) == t.grad().storage()->bytes());
      }
}

TEST_CASE("written gradients: an eager backward always adds") {
  Tensor x = Tensor::rand({4, 5}, DType::f64, default_generator(), -1, 1).set_requires_grad();
  Tensor h = relu(x);
  backward(sum(h * h));
  const Tensor first = x.grad().clone();
  Tensor h2 = relu(x);
  backward(sum(h2 * h2));
  for (int64_t i = 0; i < first.numel(); ++i) CHECK(x.grad().flat(i) == 2.0 * first.flat(i));
}

TEST_CASE("written gradients: unary backward written into NaN equals added into zeros") {
  using kernels::Unary;
  for (int k = 0; k <= int(Unary::abs); ++k) {
    const Unary op = Unary(k);
    CAPTURE(kernels::unary_name(op));
    for (DType dt : {DType::f32, DType::f64}) {
      Generator gen(11);
      const bool positive = op == Unary::log || op == Unary::sqrt || op == Unary::rsqrt;
      const Tensor x = Tensor::rand({1000}, dt, gen, positive ? 0.1 : -4, 4);
      const Tensor y = Tensor::empty_like(x), gy = Tensor::rand({1000}, dt, gen, -1, 1);
      kernels::unary_forward({op, kernels::ref(x), kernels::ref(y), {}, {}, 0.1});
      const Tensor added = Tensor::zeros(x.shape(), dt), written = Tensor::full(x.shape(), std::nan(""), dt);
      kernels::unary_backward({op, kernels::ref(x), kernels::ref(y), kernels::ref(gy), kernels::ref(added), 0.1, true});
      kernels::unary_backward({op, kernels::ref(x), kernels::ref(y), kernels::ref(gy), kernels::ref(written), 0.1, false});
      CHECK(max_abs_diff(written, added) == 0.0);
    }
  }
}
