#pragma once
// Reverse-mode autograd on a define-by-run tape.
//
// Every op runs its forward at once and, when a gradient may be needed, appends a Node holding a forward
// and a backward closure. The tape is in execution order, which is a topological order, so backward is a
// single reverse walk. Backward closures accumulate (+=) into the inputs' gradient buffers, except where a recorded
// Graph found that the closure is the first to write a whole buffer (autograd::overwrites): there it writes (=),
// and the Graph skips zero-filling that buffer before the walk.
//
// Because each Node also keeps its forward closure and its output buffers, a whole step can be recorded
// once (Graph::capture) and replayed with the same shapes: forward and backward run again in the same
// buffers, so the steady state allocates nothing. The same recording is what a CUDA graph captures. In a Graph the
// intermediate gradients share one arena by live interval in the walk (fer/autograd/grad_arena.hpp): they exist only
// while the walk needs them, unless Graph::retain_grad keeps one.
#include <functional>
#include <memory>
#include <unordered_set>
#include <utility>
#include <vector>

#include "fer/autograd/grad_arena.hpp"
#include "fer/autograd/grad_mode.hpp"
#include "fer/autograd/node.hpp"
#include "fer/autograd/written_grads.hpp"
#include "fer/core/tensor.hpp"

namespace fer {

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

// Writes `seed` (or 1 for a scalar root when undefined) into root's gradient buffer.
inline void seed_gradient(const Tensor& root, const Tensor& seed) {
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
}

// Whether the backward walk runs n: it has a backward and a gradient reached one of its outputs.
inline bool node_reached(const Node& n) {
  if (!n.backward) return false;
  for (const Tensor& o : n.outputs)
    if (o.impl()->grad != nullptr) return true;
  return false;
}

// One step of the backward walk (call under NoGradGuard): runs n's backward when a gradient reached one of its
// outputs, with autograd::overwrites() answering for n. Returns whether it ran.
inline bool backward_node(Node& n) {
  if (!node_reached(n)) {
    // A skipped first writer contributes zero: the later writers, which add, must find zeros.
    for (size_t i = 0; i < n.overwrite.size(); ++i)
      if (n.overwrite[i]) n.inputs[i].zero_grad();
    return false;
  }
  struct Running {
    explicit Running(const Node* n) { autograd::detail::running_node() = n; }
    ~Running() { autograd::detail::running_node() = nullptr; }
  } running(&n);
  n.backward();
  return true;
}

// Seeds root's gradient and walks `nodes` backward. Nodes with no gradient on any output are skipped.
inline void run_backward(const std::vector<std::unique_ptr<Node>>& nodes, const Tensor& root, const Tensor& seed) {
  seed_gradient(root, seed);
  NoGradGuard no_grad;  // backward closures never record
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) backward_node(**it);
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
// `writable`: the inputs i for which the backward asks overwrites(i) and then writes i's whole gradient (=).
inline void apply(const char* name, std::vector<Tensor> inputs, std::vector<Tensor> outputs,
                  std::function<void()> forward, std::function<void()> backward, WritableGrads writable = {}) {
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
  node->writable = writable;
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
    g.plan_gradient_writes();
    return g;
  }

  // With `on`, every backward accumulates into zero-filled buffers, as before written gradients (a reference to
  // compare with, and the old scheme for benchmarks).
  void set_always_accumulate(bool on) {
    always_accumulate_ = on;
    plan_gradient_writes();
  }
  bool always_accumulate() const { return always_accumulate_; }

  // With `on` (the default), intermediate gradients share one arena by live interval (fer/autograd/grad_arena.hpp)
  // and are gone after backward; with `off`, each keeps a buffer of its own for the Graph's life (the old scheme).
  void set_gradient_arena(bool on) {
    use_arena_ = on;
    plan_gradient_writes();
  }
  bool gradient_arena() const { return use_arena_; }
  // Keeps t's gradient out of the arena, so that t.grad() holds its gradient after each backward.
  void retain_grad(const Tensor& t) {
    FER_CHECK(t.defined(), "Graph::retain_grad: undefined tensor");
    if (retained_.insert(t.impl()).second) {
      retained_tensors_.push_back(t);
      plan_gradient_writes();
    }
  }
  // The arena's size and the sum of the gradients it holds (bytes; 0 without an arena).
  size_t gradient_arena_bytes() const { return arena_.bytes(); }
  size_t arena_gradient_bytes() const { return arena_.gradient_bytes(); }
  const autograd::GradArena& arena() const { return arena_; }

  // Re-runs every recorded forward in order, in the recorded buffers.
  void forward() {
    for (auto& n : nodes_) n->forward();
  }
  // Backpropagates from the output (parameters' gradients accumulate, as after an eager backward). Intermediate
  // gradients whose first writer adds are zero-filled first: those in the arena just before that writer, the others
  // at the start.
  void backward(const Tensor& seed = Tensor()) {
    backward(seed, [](Node& n) { return backward_node(n); });
  }
  // The same walk with `run(node)` in place of backward_node (a profiler timing each node calls backward_node).
  template <class Run>
  void backward(const Tensor& seed, Run&& run) {
    for (const Tensor& t : zeroed_first_) t.zero_grad();
    seed_gradient(output_, seed);
    NoGradGuard no_grad;  // backward closures never record
    arena_.detach_all();
    for (size_t i = nodes_.size(); i-- > 0;) {
      Node& n = *nodes_[i];
      if (arena_.attaches(i) && node_reached(n)) arena_.attach(i, n);
      run(n);
      arena_.detach(i);
    }
  }
  // The intermediate tensors whose gradients are zero-filled before their first writer in each backward.
  const std::vector<Tensor>& zeroed_gradients() const { return zeroed_; }
  const Tensor& output() const { return output_; }
  size_t num_nodes() const { return nodes_.size(); }
  const std::vector<std::unique_ptr<Node>>& nodes() const { return nodes_; }

 private:
  // Fills Node::overwrite and zeroed_ (fer/autograd/written_grads.hpp), then plans the arena.
  void plan_gradient_writes() {
    zeroed_ = autograd::plan_written_grads(nodes_, output_, always_accumulate_);
    if (use_arena_) arena_.plan(nodes_, output_, retained_);
    else arena_.clear();
    zeroed_first_.clear();
    std::unordered_set<const TensorImpl*> in_arena;
    for (const auto& s : arena_.slots()) in_arena.insert(s.tensor.impl());
    for (const Tensor& t : zeroed_)
      if (!in_arena.count(t.impl())) zeroed_first_.push_back(t);
  }

  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<Tensor> zeroed_;
  std::vector<Tensor> zeroed_first_;  // zeroed_ less the arena's gradients, which attach() zero-fills
  autograd::GradArena arena_;
  std::unordered_set<const TensorImpl*> retained_;
  std::vector<Tensor> retained_tensors_;  // keeps retained_'s keys alive
  Tensor output_;
  bool always_accumulate_ = false;
  bool use_arena_ = true;
};

}  // namespace fer
