#pragma once
// Mixed precision as a variant of the training step (--amp on CUDA): the forward runs under autocast to bf16 or
// f16 while the weights stay f32. f16 adds dynamic loss scaling, because its 5-bit exponent underflows small
// gradients; an overflowed f16 step is skipped and the scale backs off. Off (f32), it changes nothing.
#include <string>
#include <vector>

#include "fer/autograd/autocast.hpp"
#include "fer/autograd/tape.hpp"
#include "fer/core/dtype.hpp"
#include "fer/core/tensor.hpp"
#include "fer/train/loss_scale.hpp"

namespace fer::train {

class MixedPrecision {
 public:
  // `amp`: off, bf16 or fp16 (TrainConfig::amp).
  explicit MixedPrecision(const std::string& amp)
      : dtype_(amp == "bf16" ? DType::bf16 : amp == "fp16" ? DType::f16 : DType::f32), scaling_(amp == "fp16") {}

  // The dtype the forward computes in under autocast (f32: autocast off).
  DType autocast_dtype() const { return dtype_; }
  bool scales_loss() const { return scaling_; }

  // Backpropagates the loss, scaled with f16.
  void backward(const Tensor& loss) const {
    if (scaling_) fer::backward(loss, Tensor::full(loss.shape(), scaler_.loss_factor(), loss.dtype()));
    else fer::backward(loss);
  }

  // Unscales the gradients of an f16 step and adapts the scale; false when the step must be skipped (overflow).
  bool gradients_usable(const std::vector<Tensor>& params) {
    if (!scaling_) return true;
    const bool finite = scaler_.unscale(params);
    scaler_.update(finite);
    return finite;
  }

 private:
  DType dtype_;
  bool scaling_;
  DynamicLossScaler scaler_;
};

}  // namespace fer::train
