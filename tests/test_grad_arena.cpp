// Intermediate gradients of a recorded step shared in one arena by live interval (fer/autograd/grad_arena.hpp)
// against each in a buffer of its own (Graph::set_gradient_arena(false)): on every backbone of the registry and every
// op of the op table (but those drawing a random mask) the parameters' (leaves') gradients of a replayed step are bit for bit the same, with the whole
// arena poisoned with NaN before the first replay (a gradient whose first writer adds and that was not zero-filled
// would spread it) and again after a second replay that finds the first one's values in the arena. Also: a retained
// intermediate gradient survives the backward intact, the arena is smaller than the gradients it holds, and slice's
// written gradient (zeros outside the slice) equals the added one.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "fer/autograd/tape.hpp"
#include "fer/ops/common.hpp"
#include "fer/ops/elementwise.hpp"
#include "fer/ops/loss.hpp"
#include "fer/ops/shape.hpp"
#include "models/registry.hpp"
#include "gradcheck.hpp"
#include "op_table.hpp"
#include "replayed_grads.hpp"

using namespace fer;
using fer::testing::max_abs_diff;

namespace grad_arena_test {

// NaN in every byte range of the arena a gradient occupies.
void poison_arena(const Graph& g) {
  for (const auto& s : g.arena().slots()) Tensor(s.view).fill_(std::nan(""));
}

std::vector<Tensor> arena_step_grads(Graph& g, const std::vector<Tensor>& leaves) {
  return fer::testing::replayed_leaf_grads(g, leaves, 23);
}

void check_same_grads(const std::vector<Tensor>& got, const std::vector<Tensor>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    CAPTURE(i);
    REQUIRE(got[i].defined() == want[i].defined());
    if (want[i].defined()) CHECK(max_abs_diff(got[i], want[i]) == 0.0);
  }
}

// Replays g without the arena (the reference), then with it twice: the arena poisoned before the first replay, the
// first replay's values left in it for the second. Returns the number of gradients the arena held.
size_t check_arena_against_own_buffers(Graph& g, const std::vector<Tensor>& leaves) {
  g.set_gradient_arena(false);
  const std::vector<Tensor> reference = arena_step_grads(g, leaves);
  g.set_gradient_arena(true);
  poison_arena(g);
  check_same_grads(arena_step_grads(g, leaves), reference);
  check_same_grads(arena_step_grads(g, leaves), reference);
  for (const auto& s : g.arena().slots()) CHECK_FALSE(s.tensor.grad().defined());  // detached, never stale
  return g.arena().slots().size();
}

void check_backbone_arena(const std::string& name, int64_t size) {
  CAPTURE(name);
  fer::testing::BackboneStep step = fer::testing::backbone_step(name, size);
  CHECK(check_arena_against_own_buffers(step.graph, step.model->parameters()) > 0);
}

}  // namespace grad_arena_test

using namespace grad_arena_test;

TEST_CASE("gradient arena: every backbone's parameter gradients equal those with a buffer per gradient") {
  for (const std::string& name : models::model_names()) check_backbone_arena(name, 32);
}

TEST_CASE("gradient arena: every op of the op table, f64, bit for bit, arena poisoned") {
  for (const op_table::OpEntry& e : op_table::ops()) {
    // A random mask is drawn anew in each replay of one recording (the backbones above re-seed the default generator).
    if (e.drop_p > 0) continue;
    CAPTURE(e.name);
    std::vector<Tensor> leaves;
    Graph g = fer::testing::op_entry_step(e, leaves);
    check_arena_against_own_buffers(g, leaves);
  }
}

TEST_CASE("gradient arena: a retained intermediate gradient is intact after backward") {
  fer::testing::BackboneStep step = fer::testing::backbone_step("resnet18", 32);
  Graph& g = step.graph;
  REQUIRE(g.arena().slots().size() > 10);
  // An activation from the middle of the network: its gradient's bytes are reused by later tenants of the walk.
  const Tensor kept = g.arena().slots()[g.arena().slots().size() / 2].tensor;
  const std::vector<Tensor> params = step.model->parameters();

  g.set_gradient_arena(false);
  arena_step_grads(g, params);
  const Tensor want = kept.grad().clone();
  REQUIRE(want.defined());
  CHECK(max_abs_diff(want, Tensor::zeros(want.shape(), want.dtype())) > 0.0);

  g.set_gradient_arena(true);
  CHECK(g.arena().holds(kept));
  arena_step_grads(g, params);
  CHECK_FALSE(kept.grad().defined());  // by default an arena gradient is gone after backward

  g.retain_grad(kept);
  CHECK_FALSE(g.arena().holds(kept));
  poison_arena(g);
  arena_step_grads(g, params);
  REQUIRE(kept.grad().defined());
  CHECK(max_abs_diff(kept.grad(), want) == 0.0);
}

TEST_CASE("gradient arena: smaller than the gradients it holds") {
  // resnet18 at 64 px, batch 8: most activations' gradients live only between a node's backward and its producer's.
  Generator gen(5);
  auto model = models::make_model("resnet18", 7, 64, gen);
  model->train();
  const Tensor x = Tensor::rand({8, 64, 64, 3}, DType::f32, gen, -2, 2);
  const Tensor y = Tensor::from_vector(std::vector<int64_t>{1, 5, 0, 2, 3, 4, 6, 1}, {8});
  Graph g = Graph::capture([&] { return cross_entropy(model->forward(x), y); });
  const double held = double(g.arena_gradient_bytes()), arena = double(g.gradient_arena_bytes());
  MESSAGE("resnet18 64 px batch 8: gradients ", held / (1 << 20), " MiB, arena ", arena / (1 << 20), " MiB");
  CHECK(held > 0);
  CHECK(arena <= 0.35 * held);  // measured: 4.0 MiB of 12.9
  // Two gradients live at one step of the walk never overlap in the arena.
  const auto& slots = g.arena().slots();
  size_t overlaps = 0;
  for (size_t a = 0; a < slots.size(); ++a)
    for (size_t b = a + 1; b < slots.size(); ++b) {
      const bool in_time = slots[a].first <= slots[b].last && slots[b].first <= slots[a].last;
      const bool in_bytes = slots[a].offset < slots[b].offset + slots[b].bytes &&
                            slots[b].offset < slots[a].offset + slots[a].bytes;
      overlaps += in_time && in_bytes;
    }
  CHECK(overlaps == 0);
  for (const auto& s : slots) CHECK(s.offset % autograd::GradArena::kAlignment == 0);
}

TEST_CASE("gradient arena: switched off, intermediate gradients keep their own buffers after backward") {
  Generator gen(5);
  const Tensor x = Tensor::rand({3, 4}, DType::f64, gen, -1, 1).set_requires_grad();
  Tensor h;
  Graph g = Graph::capture([&] {
    h = scale(x, 2.0);
    return sum(mul(h, h));
  });
  g.backward();
  CHECK_FALSE(h.grad().defined());
  g.set_gradient_arena(false);
  x.zero_grad();
  g.forward();
  g.backward();
  REQUIRE(h.grad().defined());
  for (int64_t i = 0; i < h.numel(); ++i) CHECK(h.grad().flat(i) == 2.0 * h.flat(i));
}

TEST_CASE("slice writes its input's whole gradient where it is the first writer, zeros outside the slice") {
  // split (slices) and a strided slice, each the first writer of the sliced tensor's gradient in the walk; that
  // gradient is poisoned with NaN first, so a write that left any element untouched would show.
  for (bool split_it : {false, true}) {
    CAPTURE(split_it);
    Generator gen(9);
    const Tensor x = Tensor::rand({2, 7, 3}, DType::f64, gen, -1, 1).set_requires_grad();
    Tensor inner;
    const Tensor w = Tensor::rand({2, 7, 3}, DType::f64, gen, -1, 1);
    auto run = [&] {
      inner = scale(x, 1.0);
      if (split_it) {
        const std::vector<Tensor> parts = split(inner, {2, 5}, 1);
        return add(sum(mul(parts[0], slice(w, 1, 0, 2))), sum(mul(parts[1], slice(w, 1, 2, 7))));
      }
      return sum(mul(slice(inner, 1, 1, 6, 2), slice(w, 1, 1, 6, 2)));
    };
    std::vector<Tensor> grads;
    for (bool accumulate : {true, false}) {
      Graph g = Graph::capture(run);
      g.set_gradient_arena(false);
      g.set_always_accumulate(accumulate);
      g.backward();  // creates the gradient buffers
      size_t writers = 0;
      for (const auto& n : g.nodes())
        if (std::string(n->name) == "slice" && n->inputs[0].same(inner)) writers += n->overwrite[0];
      CHECK(writers == (accumulate ? 0u : 1u));
      REQUIRE(inner.grad().defined());
      inner.grad().fill_(std::nan(""));  // the old scheme zero-fills it before the walk
      x.zero_grad();
      g.forward();
      g.backward();
      grads.push_back(x.grad().clone());
    }
    CHECK(max_abs_diff(grads[1], grads[0]) == 0.0);
    // d/dx of sum(slice(x) * slice(w)): w on the sliced elements, 0 elsewhere.
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t j = 0; j < 7; ++j)
        for (int64_t c = 0; c < 3; ++c) {
          const bool in = split_it || (j >= 1 && j < 6 && (j - 1) % 2 == 0);
          CHECK(grads[1].at(b, j, c) == (in ? w.at(b, j, c) : 0.0));
        }
  }
}
