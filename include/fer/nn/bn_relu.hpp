#pragma once
// relu(bn(x)) for a BatchNorm2d layer as one fused op (batch_norm_relu: one pass forward, one backward, no stored
// pre-activation), with the layer's parameters, running statistics and mode. The models call it wherever a BN is
// directly followed by a ReLU. fuse_bn_relu(false) makes it run BN then ReLU apart (the same values), for
// measuring the fusion against the unfused sequence. batch_norm_add_relu does the same for relu(bn(x) + residual)
// (the end of a ResNet block), with its own switch fuse_bn_add_relu.
#include "fer/nn/layers.hpp"

namespace fer::nn {

inline bool& fuse_bn_relu_flag() {
  static bool on = true;
  return on;
}
inline void fuse_bn_relu(bool on) { fuse_bn_relu_flag() = on; }

inline Tensor batch_norm_relu(BatchNorm2d& bn, const Tensor& x) {
  // A hooked BN (Grad-CAM, features) runs as a module so its hook sees the BN output before the ReLU.
  if (!fuse_bn_relu_flag() || bn.has_forward_hook()) return relu(bn(x));
  FER_CHECK(x.defined() && x.dim() == 4, "BatchNorm2d: expected NHWC input [N, H, W, C], got ",
            x.defined() ? x.shape().str() : std::string("undefined"));
  return fer::batch_norm_relu(x, bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.is_training(), bn.momentum(),
                              bn.eps(), bn.num_batches_tracked);
}

inline bool& fuse_bn_add_relu_flag() {
  static bool on = true;
  return on;
}
inline void fuse_bn_add_relu(bool on) { fuse_bn_add_relu_flag() = on; }

inline Tensor batch_norm_add_relu(BatchNorm2d& bn, const Tensor& x, const Tensor& residual) {
  if (!fuse_bn_add_relu_flag() || bn.has_forward_hook()) return relu(add(bn(x), residual));
  FER_CHECK(x.defined() && x.dim() == 4, "BatchNorm2d: expected NHWC input [N, H, W, C], got ",
            x.defined() ? x.shape().str() : std::string("undefined"));
  return fer::batch_norm_add_relu(x, residual, bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.is_training(),
                                  bn.momentum(), bn.eps(), bn.num_batches_tracked);
}

}  // namespace fer::nn
