#pragma once
// Softmax, log-softmax and cross-entropy with autograd, with PyTorch 1.13's semantics for class weights, label
// smoothing, ignore_index, probability targets and reductions. Losses are 0-d tensors (reduction none: [N]).
#include "fer/kernels/loss.hpp"
#include "fer/ops/common.hpp"
#include "fer/ops/cast.hpp"

namespace fer {

namespace ops_detail {
inline Tensor softmax_impl(const Tensor& x_arg, int dim, bool log) {
  const Tensor x_in = autocast_input(x_arg, AutocastPolicy::upcast);  // f32 under autocast
  const char* op = log ? "log_softmax" : "softmax";
  FER_CHECK(x_in.defined() && x_in.dim() >= 1, op, ": undefined or 0-d input");
  int r = x_in.dim(), d = dim < 0 ? dim + r : dim;
  FER_CHECK(d >= 0 && d < r, op, ": dim ", dim, " out of range for ", x_in.shape().str());
  Tensor x = contiguous(x_in);
  int64_t outer = 1, inner = 1, n = x.size(d);
  for (int k = 0; k < d; ++k) outer *= x.size(k);
  for (int k = d + 1; k < r; ++k) inner *= x.size(k);
  Tensor y = Tensor::empty_like(x);
  autograd::apply(
      op, {x}, {y}, [=] { kernels::softmax_forward({kernels::ref(x), kernels::ref(y), outer, n, inner, log}); },
      [=] {
        if (x.requires_grad())
          kernels::softmax_backward(
              {kernels::ref(y), kernels::ref(y.grad()), kernels::ref(x.grad_buffer()), outer, n, inner, log});
      });
  return y;
}
}  // namespace ops_detail

inline Tensor softmax(const Tensor& x, int dim = -1) { return ops_detail::softmax_impl(x, dim, false); }
inline Tensor log_softmax(const Tensor& x, int dim = -1) { return ops_detail::softmax_impl(x, dim, true); }

struct CrossEntropyOptions {
  Tensor weight;                // [C] class weights or undefined
  double label_smoothing = 0.0;
  enum class Reduction { mean, sum, none } reduction = Reduction::mean;
  int64_t ignore_index = -100;
};

// logits [N, C]; target i64/i32 class indices [N] or float class probabilities [N, C]. Mean reduction divides by
// the summed weight of the non-ignored targets (class indices) or by N (probabilities), as PyTorch; a batch whose
// targets are all ignored gives NaN, as in PyTorch.
inline Tensor cross_entropy(const Tensor& logits_arg, const Tensor& target, const CrossEntropyOptions& opt = {}) {
  using namespace ops_detail;
  const Tensor logits_in = autocast_input(logits_arg, AutocastPolicy::upcast);  // f32 under autocast
  using Reduction = CrossEntropyOptions::Reduction;
  FER_CHECK(logits_in.defined() && target.defined(), "cross_entropy: undefined logits or target");
  require_rank("cross_entropy", logits_in, 2, "logits [N, C]");
  require_same_device("cross_entropy", {&logits_in, &target, &opt.weight});
  const bool on_cuda = logits_in.device().is_cuda();
  int64_t n = logits_in.size(0), c = logits_in.size(1);
  FER_CHECK(c >= 1, "cross_entropy: no classes in ", logits_in.shape().str());
  FER_CHECK(opt.label_smoothing >= 0 && opt.label_smoothing <= 1, "cross_entropy: label_smoothing must be in [0, 1], got ",
            opt.label_smoothing);
  bool probs = is_floating(target.dtype());
  if (probs) {
    FER_CHECK(target.shape() == logits_in.shape(), "cross_entropy: probability targets must be ", logits_in.shape().str(),
              ", got ", target.shape().str());
    require_same_dtype("cross_entropy", logits_in, target);
  } else {
    FER_CHECK(target.dtype() == DType::i64 || target.dtype() == DType::i32, "cross_entropy: targets must be i64/i32 class "
              "indices or float probabilities, got ", dtype_name(target.dtype()));
    FER_CHECK(target.dim() == 1 && target.size(0) == n, "cross_entropy: targets must be [", n, "], got ", target.shape().str());
    // Checked on the host (a device target is copied back once, when the op is built; replays do not check).
    const Tensor target_host = target.host();
    for (int64_t i = 0; i < n; ++i) {
      int64_t y = int64_t(target_host.flat(i));
      FER_CHECK(y == opt.ignore_index || (y >= 0 && y < c), "cross_entropy: target ", y, " of row ", i, " is not a class in 0..",
                c - 1);
    }
  }
  if (opt.weight.defined()) {
    FER_CHECK(opt.weight.dim() == 1 && opt.weight.size(0) == c, "cross_entropy: weight must be [", c, "], got ",
              opt.weight.shape().str());
    require_same_dtype("cross_entropy", logits_in, opt.weight);
  }
  Tensor logits = contiguous(logits_in), tgt = contiguous(target);
  Tensor weight = opt.weight.defined() ? contiguous(opt.weight) : Tensor();
  Tensor rows = Tensor::empty({n}, logits.dtype(), logits.device()), lse = Tensor::empty({n}, logits.dtype(), logits.device());
  Tensor normalizer = Tensor::empty({1}, DType::f64);  // on the host: the forward kernel returns it as a double
  Tensor y = opt.reduction == Reduction::none ? rows : Tensor::empty(Shape{}, logits.dtype(), logits.device());
  Reduction red = opt.reduction;
  double eps = opt.label_smoothing;
  int64_t ignore = opt.ignore_index;
  // Refs are taken when the kernels run (fer/ops/common.hpp).
  auto spec = [=](const Tensor& w) { return kernels::CrossEntropySpec{kernels::ref(w), eps, ignore, probs}; };
  autograd::apply(
      "cross_entropy", {logits}, {y},
      [=] {
        using kernels::ref;
        double norm = kernels::cross_entropy_forward({ref(logits), ref(tgt), spec(weight), ref(rows), ref(lse)});
        normalizer.set_flat(0, norm);
        if (red == Reduction::none) return;
        if (on_cuda) {
          kernels::cross_entropy_reduce_cuda({ref(rows), red == Reduction::mean ? norm : 1.0, ref(y)});
          return;
        }
        double s = 0;
        for (int64_t i = 0; i < n; ++i) s += rows.flat(i);
        y.set_flat(0, red == Reduction::mean ? s / norm : s);
      },
      [=] {
        if (!logits.requires_grad()) return;
        using kernels::ref;
        Tensor g = y.grad();
        if (red == Reduction::none) {
          kernels::cross_entropy_backward(
              {ref(logits), ref(tgt), spec(weight), ref(lse), ref(g), 0.0, ref(logits.grad_buffer())});
        } else {
          if (on_cuda) {  // the upstream gradient stays on the device
            kernels::cross_entropy_backward_scalar_cuda({ref(logits), ref(tgt), spec(weight), ref(lse), ref(g),
                                                         red == Reduction::mean ? normalizer.flat(0) : 1.0,
                                                         ref(logits.grad_buffer())});
            return;
          }
          double scale = g.flat(0) / (red == Reduction::mean ? normalizer.flat(0) : 1.0);
          kernels::cross_entropy_backward_cpu(
              {ref(logits), ref(tgt), spec(weight), ref(lse), kernels::TensorRef{}, scale, ref(logits.grad_buffer())});
        }
      });
  return y;
}

}  // namespace fer
