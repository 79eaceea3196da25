#pragma once
// The layer whose activations Grad-CAM explains by default: the last convolutional stage of each backbone, named as
// a PyTorch user hooks it on the torchvision model (fer's module names are torchvision's state_dict prefixes).
#include <string>

#include "fer/core/error.hpp"

namespace fer::models {

struct CamLayer {
  const char* model;
  const char* layer;
  const char* why;
};

inline constexpr CamLayer kCamLayers[] = {
    {"custom_cnn", "features", "output of the last block (conv, BN, ReLU, max-pool): 6x6 at 48 px"},
    {"scratch_cnn", "features.15", "the last block's max-pool (features.16 is the global average pool)"},
    {"resnet18", "layer4", "last residual stage"},
    {"resnet50", "layer4", "last residual stage"},
    {"efficientnet_b0", "features", "ends with the 1x1 conv + BN + SiLU head conv"},
    {"mobilenet_v3_large", "features", "ends with the 1x1 conv + BN + Hardswish"},
    {"mobilenet_v3_small", "features", "ends with the 1x1 conv + BN + Hardswish"},
    {"shufflenet_v2_x0_5", "conv5", "1x1 conv + BN + ReLU after the last stage"},
    {"shufflenet_v2_x1_0", "conv5", "1x1 conv + BN + ReLU after the last stage"},
    // torchvision's `features` Sequential ends with norm5, so hooking model.features (or model.features.norm5) in
    // PyTorch gives this same tensor: batch-normalized, before the ReLU that DenseNet.forward applies. That ReLU is
    // in place in torchvision: a PyTorch hook that keeps the output without copying it sees it rectified afterwards
    // (tools/make_gradcam_fixtures.py lets the model continue on a clone).
    {"densenet121", "features.norm5", "= torchvision's features output (norm5, before the final ReLU)"},
    {"convnext_tiny", "features", "last stage (features.7)"},
    {"tf_efficientnet_b0_ns", "blocks", "last MBConv stage (before conv_head)"},
};

// The default Grad-CAM layer of a registry model; an error for a model without one (the MLP has no convolutions).
inline std::string default_cam_layer(const std::string& model) {
  for (const auto& e : kCamLayers)
    if (model == e.model) return e.layer;
  fail("model '", model, "' has no default Grad-CAM layer (it has no convolutional stage); pick one with --layer");
}

}  // namespace fer::models
