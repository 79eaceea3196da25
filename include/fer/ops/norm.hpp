#pragma once
// Normalization over the channel (last) dim with autograd: batch norm (training with running statistics, eval),
// batch norm fused with a following ReLU (and with a residual add before it), and layer norm (ConvNeXt's
// channels-last LayerNorm).
#include "fer/kernels/norm.hpp"
#include "fer/ops/common.hpp"
#include "fer/ops/cast.hpp"

namespace fer {

// The kernels' workspace (fer/kernels/norm.hpp) as tensors on one device; ref() is what the kernels see of it.
struct NormWorkspaceTensors {
  Tensor acc, coef;
  kernels::NormWorkspace ref() const { return {kernels::ref(acc), kernels::ref(coef)}; }
};
inline NormWorkspaceTensors make_norm_workspace(int64_t m, int64_t c, DType dtype, Device device = Device::cpu()) {
  return {Tensor::empty({2 * kernels::norm_row_chunks(m, c) + 2, c}, DType::f64, device),
          Tensor::empty({3, c}, dtype, device)};
}

namespace ops_detail {
inline void check_channel_param(const char* op, const Tensor& p, int64_t c, const char* what, const Tensor& x) {
  if (!p.defined()) return;
  require_same_device(op, {&x, &p});
  FER_CHECK(p.dim() == 1 && p.size(0) == c, op, ": ", what, " must be [", c, "] for input ", x.shape().str(),
            ", got ", p.shape().str());
  require_same_dtype(op, x, p);
}

// Per-channel parameters are read as plain arrays: a strided view goes through a (recorded) contiguous copy.
inline Tensor contiguous_or_undefined(const Tensor& p) { return p.defined() ? contiguous(p) : Tensor(); }

// Whether the node being built may run backward (its workspace is only needed then).
inline bool may_need_grad(std::initializer_list<const Tensor*> inputs) {
  if (Tape::current().capturing) return true;
  if (!grad_enabled()) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

// The kernels' workspace, on x's device.
inline NormWorkspaceTensors norm_workspace(int64_t m, int64_t c, const Tensor& x) {
  return make_norm_workspace(m, c, x.dtype(), x.device());
}

// batch_norm, or batch_norm_relu when `relu`, or batch_norm_add_relu when `residual_arg` is defined (relu then).
inline Tensor batch_norm_maybe_relu(bool relu, const Tensor& x_arg, const Tensor& weight_in, const Tensor& bias_in,
                                    const Tensor& running_mean, const Tensor& running_var, bool training,
                                    double momentum, double eps, const Tensor& num_batches_tracked,
                                    const Tensor& residual_arg = Tensor()) {
  const Tensor x_in = autocast_input(x_arg, AutocastPolicy::upcast);  // statistics in f32 under autocast
  FER_CHECK(x_in.defined() && x_in.dim() >= 2, "batch_norm: input must be at least 2-d [..., C], got ",
            x_in.defined() ? x_in.shape().str() : std::string("undefined"));
  int64_t c = x_in.size(x_in.dim() - 1), m = x_in.numel() / std::max<int64_t>(c, 1);
  check_channel_param("batch_norm", weight_in, c, "weight", x_in);
  check_channel_param("batch_norm", bias_in, c, "bias", x_in);
  check_channel_param("batch_norm", running_mean, c, "running_mean", x_in);
  check_channel_param("batch_norm", running_var, c, "running_var", x_in);
  FER_CHECK(running_mean.defined() == running_var.defined(), "batch_norm: give both running_mean and running_var or neither");
  FER_CHECK(!running_mean.defined() || (running_mean.is_contiguous() && running_var.is_contiguous()),
            "batch_norm: running_mean and running_var are updated in place and must be contiguous");
  FER_CHECK(!num_batches_tracked.defined() ||
                (num_batches_tracked.dtype() == DType::i64 && num_batches_tracked.numel() == 1),
            "batch_norm: num_batches_tracked must be a one-element i64 tensor");
  require_same_device("batch_norm", {&x_in, &num_batches_tracked});
  bool batch_stats = training || !running_mean.defined();
  FER_CHECK(!batch_stats || m > 1, "batch_norm: expected more than 1 value per channel when training, got input ",
            x_in.shape().str());
  Tensor residual;
  if (residual_arg.defined()) {
    const Tensor r = autocast_input(residual_arg, AutocastPolicy::upcast);
    require_same_device("batch_norm_add_relu", {&x_in, &r});
    require_same_dtype("batch_norm_add_relu", x_in, r);
    FER_CHECK(r.shape() == x_in.shape(), "batch_norm_add_relu: residual ", r.shape().str(), " must have the input's shape ",
              x_in.shape().str());
    residual = contiguous(r);
  }
  // Evenly spaced rows (a channel prefix of a wider NHWC buffer, DenseNet's growing input) are read in place.
  Tensor x = kernels::norm_row_stride_or_0(kernels::ref(x_in)) > 0 ? x_in : contiguous(x_in);
  Tensor weight = contiguous_or_undefined(weight_in), bias = contiguous_or_undefined(bias_in);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor mean = Tensor::empty({c}, x.dtype(), x.device()), invstd = Tensor::empty({c}, x.dtype(), x.device());
  Tensor var = batch_stats ? Tensor::empty({c}, x.dtype(), x.device()) : Tensor();
  const NormWorkspaceTensors ws = norm_workspace(m, c, x);
  bool update = training && running_mean.defined();
  autograd::apply(
      residual.defined() ? "batch_norm_add_relu" : relu ? "batch_norm_relu" : "batch_norm", {x, weight, bias, residual}, {y},
      [=] {
        using kernels::ref;
        if (batch_stats) {
          kernels::batch_norm_stats({ref(x), ws.ref(), ref(mean), ref(invstd), ref(var), eps});
          if (update) {
            kernels::running_update({ref(running_mean), ref(mean), momentum, 1.0});
            kernels::running_update({ref(running_var), ref(var), momentum, double(m) / double(m - 1)});
          }
        } else {
          mean.copy_(running_mean);
          kernels::inverse_std({ref(running_var), ref(invstd), eps});
        }
        if (training && num_batches_tracked.defined()) kernels::increment_i64({ref(num_batches_tracked)});
        if (residual.defined())
          kernels::batch_norm_add_relu_apply(
              {ref(x), ref(mean), ref(invstd), ref(weight), ref(bias), ref(residual), ws.ref(), ref(y)});
        else
          kernels::batch_norm_apply({ref(x), ref(mean), ref(invstd), ref(weight), ref(bias), ws.ref(), ref(y), relu});
      },
      [=] {
        using kernels::ref;
        if (residual.defined()) {
          kernels::batch_norm_add_relu_backward(
              {ref(x), ref(mean), ref(invstd), ref(weight), ref(y.grad()), ref(y), batch_stats, ws.ref(),
               ref(x.requires_grad() ? x.grad_buffer() : Tensor()),
               ref(weight.defined() && weight.requires_grad() ? weight.grad_buffer() : Tensor()),
               ref(bias.defined() && bias.requires_grad() ? bias.grad_buffer() : Tensor()),
               ref(residual.requires_grad() ? residual.grad_buffer() : Tensor()), !autograd::overwrites(0),
               !autograd::overwrites(3)});
          return;
        }
        kernels::batch_norm_backward({ref(x), ref(mean), ref(invstd), ref(weight), ref(y.grad()), batch_stats, ws.ref(),
                                      ref(x.requires_grad() ? x.grad_buffer() : Tensor()),
                                      ref(weight.defined() && weight.requires_grad() ? weight.grad_buffer() : Tensor()),
                                      ref(bias.defined() && bias.requires_grad() ? bias.grad_buffer() : Tensor()),
                                      ref(relu ? y : Tensor()), !autograd::overwrites(0)});
      },
      writable_grads({0, 3}));  // x and the residual; weight and bias add
  return y;
}
}  // namespace ops_detail


// Normalizes over every dim but the last (channels), as PyTorch's BatchNorm over NCHW channels.
// weight/bias: [C] or undefined (affine=False); running_mean/var: [C] or undefined (track_running_stats=False:
// batch statistics in eval too). training: batch statistics (biased variance) normalize, and the running
// statistics are updated in place, running = (1 - momentum) * running + momentum * batch (unbiased variance), inside
// the recorded forward, so a replayed step updates them as an eager one does; num_batches_tracked (i64, one
// element, optional) is incremented there too.
inline Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                         const Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5,
                         const Tensor& num_batches_tracked = Tensor()) {
  return ops_detail::batch_norm_maybe_relu(false, x, weight, bias, running_mean, running_var, training, momentum, eps,
                                           num_batches_tracked);
}

// relu(batch_norm(...)) in one pass forward and one backward: the ReLU's backward reads the sign of the output, so
// the BN output before the ReLU is neither kept nor written (one activation tensor and one pass less each way).
inline Tensor batch_norm_relu(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                              const Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5,
                              const Tensor& num_batches_tracked = Tensor()) {
  return ops_detail::batch_norm_maybe_relu(true, x, weight, bias, running_mean, running_var, training, momentum, eps,
                                           num_batches_tracked);
}

// relu(batch_norm(x, ...) + residual) in one pass forward and one backward (the end of a ResNet block, in training):
// residual has x's shape; as in batch_norm_relu, neither the BN output nor the sum before the ReLU is kept (the
// backward reads the sign of the output). Values equal the unfused sequence relu(add(batch_norm(x), residual)).
inline Tensor batch_norm_add_relu(const Tensor& x, const Tensor& residual, const Tensor& weight, const Tensor& bias,
                                  const Tensor& running_mean, const Tensor& running_var, bool training,
                                  double momentum = 0.1, double eps = 1e-5, const Tensor& num_batches_tracked = Tensor()) {
  FER_CHECK(residual.defined(), "batch_norm_add_relu: undefined residual");
  return ops_detail::batch_norm_maybe_relu(true, x, weight, bias, running_mean, running_var, training, momentum, eps,
                                           num_batches_tracked, residual);
}

// LayerNorm over the last dim (biased variance), weight/bias [C] or undefined.
inline Tensor layer_norm(const Tensor& x_arg, const Tensor& weight_in, const Tensor& bias_in, double eps = 1e-6) {
  using namespace ops_detail;
  const Tensor x_in = autocast_input(x_arg, AutocastPolicy::upcast);  // statistics in f32 under autocast
  FER_CHECK(x_in.defined() && x_in.dim() >= 1, "layer_norm: undefined or 0-d input");
  int64_t c = x_in.size(x_in.dim() - 1), rows = x_in.numel() / std::max<int64_t>(c, 1);
  check_channel_param("layer_norm", weight_in, c, "weight", x_in);
  check_channel_param("layer_norm", bias_in, c, "bias", x_in);
  Tensor x = contiguous(x_in), weight = contiguous_or_undefined(weight_in), bias = contiguous_or_undefined(bias_in);
  Tensor y = Tensor::empty_like(x);
  Tensor mean = Tensor::empty({rows}, x.dtype(), x.device()), invstd = Tensor::empty({rows}, x.dtype(), x.device());
  const NormWorkspaceTensors ws =
      may_need_grad({&x, &weight, &bias}) ? norm_workspace(rows, c, x) : NormWorkspaceTensors{};
  autograd::apply(
      "layer_norm", {x, weight, bias}, {y},
      [=] {
        using kernels::ref;
        kernels::layer_norm_forward({ref(x), ref(weight), ref(bias), eps, ref(y), ref(mean), ref(invstd)});
      },
      [=] {
        using kernels::ref;
        kernels::layer_norm_backward({ref(x), ref(weight), ref(mean), ref(invstd), ref(y.grad()), ws.ref(),
                                      ref(x.requires_grad() ? x.grad_buffer() : Tensor()),
                                      ref(weight.defined() && weight.requires_grad() ? weight.grad_buffer() : Tensor()),
                                      ref(bias.defined() && bias.requires_grad() ? bias.grad_buffer() : Tensor())});
      });
  return y;
}

}  // namespace fer
