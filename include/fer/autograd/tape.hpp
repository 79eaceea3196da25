#pragma once
// Reverse-mode autograd on a define-by-run tape.
//
// Every op runs its forward at once and, when a gradient may be needed, appends a Node holding a forward
// and a backward closure. The tape is in execution order, which is a topological order, so backward is a
// single reverse walk. Backward closures accumulate (+=) into the inputs' gradient buffers.
//
// Because each Node also keeps its forward closure and its output buffers, a whole step can be recorded
// once (Graph::capture) and replayed with the same shapes: forward and backward run again in the same
// buffers, so the steady state allocates nothing. The same recording is what a CUDA graph captures.
#include <functional>
#include <memory>
#include <unordered_set>
#include <utility>
#include <vector>

#include "fer/autograd/grad_mode.hpp"
#include "fer/core/tensor.hpp"

namespace fer {

struct Node {
  const char* name = "";
  std::vector<Tensor> inputs;
  std::vector<Tensor> outputs;
  std::function<void()> forward;
  std::function<void()> backward;
};

class Tape {
 public:
  static Tape& current() {
    thread_local Tape tape;
    return tape;
  }
  void push(std::unique_ptr<Node> n) { nodes_.push_back(std::move(n)); }
  size_t size() const { return nodes_.size(); }
  void clear() { nodes_.clear(); }
  std::vector<std::unique_ptr<Node>> take() { return std::exchange(nodes_, {}); }
  const std::vector<std::unique_ptr<Node>>& nodes() const { return nodes_; }
  // True while a Graph is being captured: every op is recorded, even ones needing no gradient.
  bool capturing = false;

 private:
  std::vector<std::unique_ptr<Node>> nodes_;
};

// Seeds root's gradient and walks `nodes` backward. Nodes with no gradient on any output are skipped.
inline void run_backward(const std::vector<std::unique_ptr<Node>>& nodes, const Tensor& root, const Tensor& seed) {
  FER_CHECK(root.defined(), "backward on an undefined tensor");
  FER_CHECK(root.requires_grad(), "backward: the tensor does not require grad (no parameter reaches it?)");
  Tensor g = root.grad_buffer();
  if (seed.defined()) {
    FER_CHECK(seed.shape() == root.shape(), "backward: seed shape ", seed.shape().str(), " vs ", root.shape().str());
    g.copy_(seed.dtype() == g.dtype() ? seed : seed.to(g.dtype()));
  } else {
    FER_CHECK(root.numel() == 1, "backward without a seed needs a scalar, got ", root.shape().str());
    Tensor one = Tensor::full(root.shape(), 1.0, root.dtype());
    g.copy_(one);
  }
  NoGradGuard no_grad;  // backward closures never record
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
    Node& n = **it;
    bool any = false;
    for (const Tensor& o : n.outputs) any = any || (o.impl()->grad != nullptr);
    if (any && n.backward) n.backward();
  }
}

// Backward from `root` over the current tape, then clears the tape (unless retain).
inline void backward(const Tensor& root, const Tensor& seed = Tensor(), bool retain = false) {
  Tape& tape = Tape::current();
  if (retain) {
    run_backward(tape.nodes(), root, seed);
    return;
  }
  auto nodes = tape.take();
  run_backward(nodes, root, seed);
}

namespace autograd {

// Runs an op: executes `forward` now and records a Node when a gradient may flow through it (grad mode on
// and an input requires grad) or a Graph is being captured. Outputs then require grad and stop being leaves.
inline void apply(const char* name, std::vector<Tensor> inputs, std::vector<Tensor> outputs,
                  std::function<void()> forward, std::function<void()> backward) {
  forward();
  Tape& tape = Tape::current();
  bool needs_grad = false;
  if (grad_enabled())
    for (const Tensor& t : inputs) needs_grad = needs_grad || t.requires_grad();
  if (!needs_grad && !tape.capturing) return;
  for (Tensor& o : outputs) {
    o.impl()->requires_grad = needs_grad;
    o.impl()->is_leaf = false;
  }
  auto node = std::make_unique<Node>();
  node->name = name;
  node->inputs = std::move(inputs);
  node->outputs = std::move(outputs);
  node->forward = std::move(forward);
  if (needs_grad) node->backward = std::move(backward);
  tape.push(std::move(node));
}

}  // namespace autograd

// A recorded step, replayed with static shapes in the same buffers.
//
//   Tensor x = Tensor::empty({B, H, W, C}), y = ...;          // placeholders
//   Graph g = Graph::capture([&] { return loss_fn(model(x), y); });
//   for (...) { x.copy_(batch); y.copy_(labels); g.forward(); g.backward(); opt.step(); }
class Graph {
 public:
  template <class F>
  static Graph capture(F&& step) {
    Tape& tape = Tape::current();
    FER_CHECK(!tape.capturing, "Graph::capture: already capturing");
    FER_CHECK(tape.size() == 0, "Graph::capture: the tape is not empty (", tape.size(), " nodes); run backward or clear it first");
    tape.capturing = true;
    Graph g;
    try {
      g.output_ = step();
    } catch (...) {
      tape.capturing = false;
      tape.clear();
      throw;
    }
    tape.capturing = false;
    g.nodes_ = tape.take();
    // Once each: a buffer written in place by several nodes (DenseNet's block buffer) is zeroed once per backward.
    std::unordered_set<const TensorImpl*> seen;
    for (auto& n : g.nodes_)
      for (const Tensor& o : n->outputs)
        if (seen.insert(o.impl()).second) g.intermediates_.push_back(o);
    return g;
  }

  // Re-runs every recorded forward in order, in the recorded buffers.
  void forward() {
    for (auto& n : nodes_) n->forward();
  }
  // Clears the gradients of intermediate tensors, then backpropagates from the output (parameters' gradients
  // accumulate, as after an eager backward).
  void backward(const Tensor& seed = Tensor()) {
    for (Tensor& t : intermediates_) t.zero_grad();
    run_backward(nodes_, output_, seed);
  }
  const Tensor& output() const { return output_; }
  size_t num_nodes() const { return nodes_.size(); }
  const std::vector<std::unique_ptr<Node>>& nodes() const { return nodes_; }

 private:
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<Tensor> intermediates_;
  Tensor output_;
};

}  // namespace fer
