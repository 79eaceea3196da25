// Tensor-level side of the CUDA softmax and cross-entropy kernels: checks devices and shapes, unpacks, launches.
#include "fer/backend/cuda/loss.hpp"

#include "fer/kernels/runtime.hpp"
#include "fer/core/error.hpp"
#include "kernels/cuda/loss_launch.hpp"
#include "kernels/gpu/tensor_checks.hpp"

namespace fer::gpu {

namespace {

cuda::CrossEntropyArgs args_of(const char* op, const Tensor& logits, const Tensor& target, const CrossEntropySpec& s) {
  const Tensor& w = *s.weight;
  FER_CHECK(logits.dim() == 2, op, ": logits must be [N, C], got ", logits.shape().str());
  if (s.prob_targets)
    FER_CHECK(target.dtype() == logits.dtype() && target.shape() == logits.shape(), op,
              ": probability targets must match the logits ", logits.shape().str());
  else
    FER_CHECK((target.dtype() == DType::i64 || target.dtype() == DType::i32) && target.numel() == logits.size(0), op,
              ": targets must be i64/i32 [", logits.size(0), "]");
  if (w.defined())
    FER_CHECK(w.dtype() == logits.dtype() && w.numel() == logits.size(1), op, ": weight must be [", logits.size(1), "]");
  return {w.defined() ? w.raw_data() : nullptr, target.raw_data(), target.dtype() == DType::i64, s.label_smoothing,
          s.ignore_index, s.prob_targets};
}

}  // namespace

void softmax_forward(const Tensor& x, const Tensor& y, int64_t outer, int64_t dim, int64_t inner, bool log) {
  int dev = cuda_device_of(log ? "log_softmax" : "softmax", {&x, &y});
  FER_CHECK(x.numel() == outer * dim * inner && y.numel() == x.numel() && y.dtype() == x.dtype(),
            "softmax: sizes do not match");
  cuda::launch_softmax_forward(x.dtype(), x.raw_data(), y.raw_data(), outer, dim, inner, log, dev);
}

void softmax_backward(const Tensor& y, const Tensor& gy, const Tensor& gx, int64_t outer, int64_t dim, int64_t inner,
                      bool log) {
  int dev = cuda_device_of("softmax backward", {&y, &gy, &gx});
  FER_CHECK(y.numel() == outer * dim * inner && gy.numel() == y.numel() && gx.numel() == y.numel() &&
                gy.dtype() == y.dtype() && gx.dtype() == y.dtype(),
            "softmax backward: sizes do not match");
  cuda::launch_softmax_backward(y.dtype(), y.raw_data(), gy.raw_data(), gx.raw_data(), outer, dim, inner, log, dev);
}

double cross_entropy_forward(const Tensor& logits, const Tensor& target, const CrossEntropySpec& spec,
                             const Tensor& row_loss, const Tensor& lse) {
  int dev = cuda_device_of("cross_entropy", {&logits, &target, spec.weight, &row_loss, &lse});
  cuda::CrossEntropyArgs a = args_of("cross_entropy", logits, target, spec);
  int64_t n = logits.size(0), c = logits.size(1);
  FER_CHECK(row_loss.numel() == n && lse.numel() == n, "cross_entropy: row_loss and lse must be [", n, "]");
  if (spec.prob_targets) {
    cuda::launch_cross_entropy_forward(logits.dtype(), logits.raw_data(), a, n, c, row_loss.raw_data(), lse.raw_data(),
                                       nullptr, dev);
    return double(n);
  }
  Tensor normalizer = Tensor::empty({1}, DType::f64, logits.device());
  cuda::launch_cross_entropy_forward(logits.dtype(), logits.raw_data(), a, n, c, row_loss.raw_data(), lse.raw_data(),
                                     normalizer.data<double>(), dev);
  double total = 0;
  cuda::copy(&total, normalizer.raw_data(), sizeof(double), cuda::CopyKind::device_to_host, dev);  // waits
  return total;
}

void cross_entropy_backward(const Tensor& logits, const Tensor& target, const CrossEntropySpec& spec, const Tensor& lse,
                            const Tensor& row_scale, double scale, const Tensor& glogits) {
  int dev = cuda_device_of("cross_entropy backward", {&logits, &target, spec.weight, &lse, &row_scale, &glogits});
  cuda::CrossEntropyArgs a = args_of("cross_entropy backward", logits, target, spec);
  int64_t n = logits.size(0), c = logits.size(1);
  FER_CHECK(glogits.shape() == logits.shape() && glogits.dtype() == logits.dtype() && lse.numel() == n,
            "cross_entropy backward: gradient or lse does not match the logits");
  FER_CHECK(!row_scale.defined() || (row_scale.numel() == n && row_scale.dtype() == logits.dtype()),
            "cross_entropy backward: row_scale must be [", n, "]");
  cuda::launch_cross_entropy_backward(logits.dtype(), logits.raw_data(), a, lse.raw_data(), n, c,
                                      row_scale.defined() ? row_scale.raw_data() : nullptr, 1, 1.0, scale,
                                      glogits.raw_data(), dev);
}

void cross_entropy_reduce(const Tensor& rows, double divisor, const Tensor& out) {
  int dev = cuda_device_of("cross_entropy", {&rows, &out});
  FER_CHECK(out.numel() == 1 && out.dtype() == rows.dtype(), "cross_entropy: the reduced loss must be one element");
  cuda::launch_sum_rows(rows.dtype(), rows.raw_data(), rows.numel(), divisor, out.raw_data(), dev);
}

void cross_entropy_backward_scalar(const Tensor& logits, const Tensor& target, const CrossEntropySpec& spec,
                                   const Tensor& lse, const Tensor& grad, double divisor, const Tensor& glogits) {
  int dev = cuda_device_of("cross_entropy backward", {&logits, &target, spec.weight, &lse, &grad, &glogits});
  cuda::CrossEntropyArgs a = args_of("cross_entropy backward", logits, target, spec);
  int64_t n = logits.size(0), c = logits.size(1);
  FER_CHECK(glogits.shape() == logits.shape() && glogits.dtype() == logits.dtype() && lse.numel() == n,
            "cross_entropy backward: gradient or lse does not match the logits");
  FER_CHECK(grad.numel() == 1 && grad.dtype() == logits.dtype(), "cross_entropy backward: upstream gradient must be "
            "one element of the logits' dtype");
  cuda::launch_cross_entropy_backward(logits.dtype(), logits.raw_data(), a, lse.raw_data(), n, c, grad.raw_data(), 0,
                                      divisor, 0.0, glogits.raw_data(), dev);
}

}  // namespace fer::gpu
