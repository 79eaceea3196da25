// Tensor-level side of the CUDA bias_act kernels: checks, [rows, C] view of x, chunking of the bias reduction.
#include "fer/backend/cuda/bias_act.hpp"

#include <algorithm>

#include "kernels/cuda/bias_act_launch.hpp"

namespace fer::gpu {

namespace {

static_assert(int(Activation::swish) == 8 && int(Activation::linear) == 0, "launcher codes follow fer::Activation");

int check_tensor(const char* what, const Tensor& t, const Tensor& like, int dev) {
  if (!t.defined()) return dev;
  FER_CHECK(t.device().is_cuda(), what, ": tensor on ", t.device().str(), " given to the CUDA backend");
  FER_CHECK(t.is_contiguous(), what, ": the CUDA backend takes contiguous tensors");
  FER_CHECK(t.dtype() == like.dtype(), what, ": dtype ", dtype_name(t.dtype()), " vs ", dtype_name(like.dtype()));
  FER_CHECK(dev < 0 || t.device().index == dev, what, ": tensors on cuda:", dev, " and ", t.device().str());
  return t.device().index;
}

int64_t channels(const Tensor& x) { return x.dim() ? x.size(-1) : 1; }

}  // namespace

void bias_act_forward(const Tensor& x, const Tensor& b, const Tensor& y, Activation act, double alpha, double gain,
                      double clamp) {
  const char* op = "bias_act";
  int dev = check_tensor(op, x, x, -1);
  dev = check_tensor(op, b, x, dev);
  dev = check_tensor(op, y, x, dev);
  const int64_t C = channels(x), rows = C ? x.numel() / C : 0;
  FER_CHECK(y.numel() == x.numel(), op, ": y ", y.shape().str(), " vs x ", x.shape().str());
  FER_CHECK(!b.defined() || b.numel() == C, op, ": bias ", b.shape().str(), " for ", C, " channels");
  cuda::launch_bias_act_forward(x.raw_data(), b.defined() ? b.raw_data() : nullptr, y.raw_data(), rows, C, int(act),
                                alpha, gain, clamp, x.dtype(), dev);
}

void bias_act_backward(const Tensor& x, const Tensor& b, const Tensor& gy, const Tensor& gx, const Tensor& gb,
                       const Tensor& partials, Activation act, double alpha, double gain, double clamp) {
  const char* op = "bias_act backward";
  if (!gx.defined() && !gb.defined()) return;
  int dev = check_tensor(op, x, x, -1);
  dev = check_tensor(op, b, x, dev);
  dev = check_tensor(op, gy, x, dev);
  dev = check_tensor(op, gx, x, dev);
  dev = check_tensor(op, gb, x, dev);
  const int64_t C = channels(x), rows = C ? x.numel() / C : 0;
  FER_CHECK(gy.numel() == x.numel() && (!gx.defined() || gx.numel() == x.numel()), op, ": gradient shapes ",
            gy.shape().str(), " for x ", x.shape().str());
  void* part = nullptr;
  int64_t chunks = 1;
  if (gb.defined()) {
    FER_CHECK(gb.numel() == C, op, ": bias gradient ", gb.shape().str(), " for ", C, " channels");
    FER_CHECK(partials.defined() && partials.device().is_cuda() && partials.device().index == dev &&
                  partials.is_contiguous() && partials.dtype() == bias_act_partials_dtype(x.dtype()) &&
                  partials.dim() == 2 && partials.size(0) >= 1 && partials.size(1) == C,
              op, ": partials must be [P, ", C, "] ", dtype_name(bias_act_partials_dtype(x.dtype())), " on cuda:", dev,
              ", got ", partials.defined() ? partials.str() : std::string("undefined"));
    // About 64 rows per chunk (8 per thread row), at most P chunks: fixed by the shapes, hence deterministic.
    chunks = std::clamp<int64_t>((rows + 63) / 64, 1, partials.size(0));
    part = partials.raw_data();
  }
  cuda::launch_bias_act_backward(x.raw_data(), b.defined() ? b.raw_data() : nullptr, gy.raw_data(),
                                 gx.defined() ? gx.raw_data() : nullptr, gb.defined() ? gb.raw_data() : nullptr, part,
                                 chunks, rows, C, int(act), alpha, gain, clamp, x.dtype(), dev);
}

}  // namespace fer::gpu
