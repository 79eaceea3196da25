#pragma once
// A recorded training step (fer::Graph) captured into CUDA graphs: one cudaGraphLaunch replays every kernel of
// the forward and the backward, with no per-op launch or allocation cost on the host.
//
// What a graph replays is the device work that was queued while it was captured, in the same buffers, with the
// same kernel arguments. Hence:
//  - Inputs are placeholders: copy each batch INTO the recorded input tensors (x.copy_(batch)) and the upstream
//    gradient into the seed tensor; rebinding a variable to a new tensor changes nothing the graph sees.
//  - Nothing that talks to the host can be inside: an op whose forward returns a host value (cross_entropy copies
//    its normalizer to the host), item()/host(), a synchronization. Inside a capture these throw a clear error
//    (fer::cuda::copy / synchronize refuse), and the capture is discarded.
//  - Host values are frozen at capture: the optimizer step (Adam's bias corrections, the learning rate of a
//    schedule are host scalars of each step) stays outside and runs eagerly; dropout on CUDA draws its 64-bit key
//    on the host per forward, so a captured dropout repeats one mask on every replay (switch it off, or eval()).
//  - Gradient buffers are the ones that existed at capture: zero them in place (optimizer.zero_grad()), never
//    drop them (zero_grad(true), drop_grad()); replay() checks and throws if one was replaced.
//  - Memory: every device block taken during the capture (op scratch, cuDNN/cuBLAS workspaces from the caching
//    allocator, buffers created lazily) belongs to the graph's private pool until this object is destroyed (see
//    fer/kernels/runtime.hpp). The Graph's tensors stay alive as long as this object.
//
// The usual pattern: the model's forward and backward are captured, the loss runs eagerly between them (split
// mode), and the optimizer step runs eagerly after:
//
//   Tensor x = Tensor::empty({B, H, W, 3}, DType::f32, dev);              // input placeholder
//   x.copy_(first.images);
//   Graph g = Graph::capture([&] { return model.forward(x); });          // records and runs the forward once
//   Tensor dlogits = Tensor::zeros(g.output().shape(), g.output().dtype(), dev);   // seed placeholder
//   auto loss_and_grad = [&](const Tensor& logits, const Tensor& y) {    // eager loss, its gradient -> dlogits
//     Tensor l = logits.detach().set_requires_grad(true);
//     Tensor loss = cross_entropy(l, y);
//     backward(loss);
//     dlogits.copy_(l.grad());
//     return loss;
//   };
//   loss_and_grad(g.output(), first.labels.to(dev));
//   g.backward(dlogits);                                                  // eager warm-up of the backward
//   opt.step(); opt.zero_grad();
//   CudaGraphStep step(std::move(g), dlogits, CudaGraphStep::Mode::split);
//   for (const Batch& b : batches) {
//     x.copy_(b.images);                     // upload from pinned memory: asynchronous, queued before the replay
//     step.forward();                        // one launch: the whole forward, logits in step.output()
//     Tensor loss = loss_and_grad(step.output(), b.labels.to(dev));
//     step.backward();                       // one launch: the whole backward into the parameters' .grad
//     opt.step(); opt.zero_grad();
//   }
//
// When the whole step up to a scalar is capturable (a loss built from device ops only), Mode::fused captures
// forward and backward into ONE graph: the seed is then a device scalar 1 and replay() does everything.
#include <memory>
#include <utility>
#include <vector>

#include "fer/autograd/tape.hpp"
#include "fer/core/tensor.hpp"
#include "fer/kernels/runtime.hpp"

namespace fer {

class CudaGraphStep {
 public:
  enum class Mode {
    fused,  // one graph: forward + backward(seed); replay()
    split,  // two graphs: forward(), then (after the eager loss fills the seed) backward()
  };

  // `graph` must have been run eagerly once, forward AND backward(seed) (a warm-up: gradient buffers, cuDNN and
  // cuBLAS state exist afterwards). `seed` is the upstream-gradient placeholder: a device tensor of the output's
  // shape and dtype. Capturing runs nothing: values and states are unchanged until the first replay.
  CudaGraphStep(Graph graph, Tensor seed, Mode mode = Mode::fused)
      : graph_(std::move(graph)), seed_(std::move(seed)), mode_(mode) {
    FER_CHECK(built_with_cuda(), "CudaGraphStep: this build of fer has no CUDA backend");
    const Tensor& out = graph_.output();
    FER_CHECK(graph_.num_nodes() > 0 && out.defined(), "CudaGraphStep: the graph is empty");
    FER_CHECK(out.device().is_cuda(), "CudaGraphStep: the graph's output is on ", out.device().str(), ", not a CUDA device");
    device_ = out.device().index;
    FER_CHECK(seed_.defined() && seed_.device() == out.device() && seed_.shape() == out.shape() &&
                  seed_.dtype() == out.dtype() && seed_.is_contiguous(),
              "CudaGraphStep: the seed must be a contiguous ", out.device().str(), " tensor of shape ",
              out.shape().str(), " and the output's dtype");
    FER_CHECK(out.grad().defined(), "CudaGraphStep: run graph.backward(seed) once eagerly before capturing (the "
              "warm-up creates the gradient buffers the graph will write)");
    for (const auto& n : graph_.nodes()) {
      // An op with a host output runs on the CPU: capture would not record it and replays would skip it.
      for (const Tensor& t : n->outputs)
        FER_CHECK(!t.defined() || t.device() == out.device(), "CudaGraphStep: op ", n->name, " has an output on ",
                  t.device().str(), "; a CUDA graph can hold only work of ", out.device().str());
      for (const Tensor& t : n->inputs) {
        if (!t.defined() || !t.is_leaf() || !t.requires_grad() || t.device() != out.device()) continue;
        t.grad_buffer();  // exists after the warm-up; made now (outside the capture) if not
        grads_.emplace_back(t, t.impl()->grad);
      }
    }
    if (mode_ == Mode::fused) {
      fused_ = cuda::capture(device_, [&] {
        graph_.forward();
        graph_.backward(seed_);
      });
    } else {
      forward_ = cuda::capture(device_, [&] { graph_.forward(); });
      backward_ = cuda::capture(device_, [&] { graph_.backward(seed_); });
    }
  }

  // Fused mode: the whole step (forward, then backward from the seed), one launch; returns without waiting.
  void replay() {
    FER_CHECK(mode_ == Mode::fused, "CudaGraphStep::replay needs Mode::fused; use forward()/backward() in split mode");
    check_buffers();
    fused_.launch();
  }
  // Split mode: the forward graph, then the backward graph (fill the seed in between).
  void forward() {
    FER_CHECK(mode_ == Mode::split, "CudaGraphStep::forward needs Mode::split; use replay() in fused mode");
    forward_.launch();
  }
  void backward() {
    FER_CHECK(mode_ == Mode::split, "CudaGraphStep::backward needs Mode::split; use replay() in fused mode");
    check_buffers();
    backward_.launch();
  }

  Graph& graph() { return graph_; }
  const Tensor& output() const { return graph_.output(); }
  const Tensor& seed() const { return seed_; }
  Mode mode() const { return mode_; }
  // Kernel, copy and memset nodes of the captured graph(s).
  size_t num_graph_nodes() const {
    return fused_.num_nodes() + forward_.num_nodes() + backward_.num_nodes();
  }

 private:
  // The graph writes the gradient buffers that existed at capture: one replaced since would silently stop receiving.
  void check_buffers() const {
    for (const auto& [t, g] : grads_)
      FER_CHECK(t.impl()->grad == g, "CudaGraphStep: a gradient buffer was dropped or replaced after capture; zero "
                "gradients in place (zero_grad()), not with zero_grad(true) or drop_grad()");
  }

  Graph graph_;
  Tensor seed_;
  Mode mode_;
  int device_ = -1;
  // Leaf tensors that receive gradients, with the buffer the graph writes (kept alive: a dropped one stays valid).
  std::vector<std::pair<Tensor, std::shared_ptr<TensorImpl>>> grads_;
  // Declared after the tensors so they are destroyed first: each releases its pool before the buffers go.
  cuda::CapturedGraph fused_, forward_, backward_;
};

}  // namespace fer
