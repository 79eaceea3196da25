#pragma once
// Recorded steps shared by the tests of how a Graph's backward fills gradient buffers (test_written_grads.cpp,
// test_grad_arena.cpp): the leaves' gradients after one replay, one op-table entry inside a recorded step, and a
// backbone's recorded training step.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fer/autograd/tape.hpp"
#include "fer/ops/elementwise.hpp"
#include "fer/ops/loss.hpp"
#include "models/registry.hpp"
#include "op_table.hpp"

namespace fer::testing {

// The leaves' gradients after one replayed step of g (their gradients cleared first). The default generator is
// re-seeded with `seed` so that dropout and stochastic depth draw the same masks in every replay.
inline std::vector<Tensor> replayed_leaf_grads(Graph& g, const std::vector<Tensor>& leaves, uint64_t seed) {
  for (const Tensor& l : leaves) l.zero_grad();
  default_generator().manual_seed(seed);
  g.forward();
  g.backward();
  std::vector<Tensor> grads;
  for (const Tensor& l : leaves) grads.push_back(l.grad().defined() ? l.grad().clone() : Tensor());
  return grads;
}

// One op-table entry in f64 inside a recorded step: leaves -> scale by 1 -> the op -> sum(op * fixed weights), so that
// the op's inputs are intermediates (leaves always accumulate) and its output gradient is not uniform. Fills `leaves`.
inline Graph op_entry_step(const op_table::OpEntry& e, std::vector<Tensor>& leaves) {
  Generator gen(op_table::seed_of(e.name));
  for (const op_table::OpInput& in : e.inputs) leaves.push_back(op_table::draw_input(in, in.shape, gen).set_requires_grad());
  return Graph::capture([&] {
    std::vector<Tensor> inner;
    for (const Tensor& l : leaves) inner.push_back(scale(l, 1.0));
    const Tensor y = e.run(inner);
    return sum(mul(y, op_table::constant_like(y, y.shape(), -1, 1, 7)));
  });
}

// A backbone's recorded training step (cross-entropy on 2 random images of `size` px, training mode); the model is
// kept with the graph, whose replays read and update its parameters.
struct BackboneStep {
  std::shared_ptr<nn::Layer> model;
  Graph graph;
};
inline BackboneStep backbone_step(const std::string& name, int64_t size) {
  Generator gen(5);
  auto model = models::make_model(name, 7, size, gen);
  model->train();
  const Tensor x = Tensor::rand({2, size, size, 3}, DType::f32, gen, -2, 2);
  const Tensor y = Tensor::from_vector(std::vector<int64_t>{1, 5}, {2});
  Graph g = Graph::capture([&] { return cross_entropy(model->forward(x), y); });
  return {model, std::move(g)};
}

}  // namespace fer::testing
