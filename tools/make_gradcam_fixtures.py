#!/usr/bin/python3
"""Reference Grad-CAM and Grad-CAM++ maps from PyTorch hooks on torchvision 0.14 models, for tests/test_gradcam.cpp.

Weights are not stored: every parameter and buffer comes from the name formula of tools/make_fixtures.py (det_values),
which the C++ test evaluates too; the input is its sine pattern (det_input, 2 images). The models run in float64
in eval mode. A forward hook on the explained module keeps its output A (NCHW) and a tensor hook its gradient g
for the score of a fixed class per image (the logit, before softmax). Then, per image:
  Grad-CAM    w_k = mean_ij g_kij                                           map = sum_k w_k A_kij
  Grad-CAM++  alpha = g^2 / (2 g^2 + sum_ij(A_k) g^3 + 1e-6), 0 where g == 0;  w_k = sum_ij alpha relu(g)
              map = sum_k w_k A_kij
Stored per model: input size, module name, targets, logits, raw maps (before ReLU) and post-ReLU maps, flat [N, h, w],
and the penultimate features: the input of the last nn.Linear in model.modules() order (a forward pre-hook).
Writes tests/data/gradcam/maps.json. Run: /usr/bin/python3 tools/make_gradcam_fixtures.py
"""
import json
import os
import sys

import torch
import torchvision.models as tvm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_custom_cnn_fixture import twin  # noqa: E402  the custom CNN's PyTorch twin
from make_fixtures import det_input, fill  # noqa: E402  the shared weight formula

NUM_CLASSES = 7
TARGETS = [1, 5]
# model -> (input size, module to explain, how to get it from the PyTorch model)
CASES = {
    "resnet18": (128, "layer4", lambda m: m.layer4),
    "mobilenet_v3_small": (96, "features", lambda m: m.features),
    "custom_cnn": (48, "features", lambda m: m.features),
    "densenet121": (96, "features.norm5", lambda m: m.features),  # torchvision's features output is norm5's
    "efficientnet_b0": (96, "features", lambda m: m.features),
    "shufflenet_v2_x0_5": (96, "conv5", lambda m: m.conv5),
    "convnext_tiny": (96, "features", lambda m: m.features),
}


def build(name):
    return twin(NUM_CLASSES) if name == "custom_cnn" else getattr(tvm, name)(num_classes=NUM_CLASSES)


def cams(model, module, x, targets):
    kept = {}
    last_linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    pre = last_linear.register_forward_pre_hook(lambda _m, inp: kept.__setitem__("penultimate", inp[0].detach()))

    def on_forward(_m, _inp, out):
        # The model continues with a clone, so an in-place op after the module (DenseNet's F.relu(features,
        # inplace=True)) cannot overwrite the kept activation: A and g are the module's own output and its gradient.
        kept["A"] = out
        out.register_hook(lambda g: kept.__setitem__("g", g))
        return out.clone()

    handle = module.register_forward_hook(on_forward)
    logits = model(x)
    handle.remove()
    pre.remove()
    score = logits[torch.arange(len(targets)), torch.tensor(targets)].sum()
    score.backward()
    A, g = kept["A"].detach(), kept["g"].detach()
    gradcam = (g.mean(dim=(2, 3), keepdim=True) * A).sum(dim=1)
    g2 = g * g
    alpha = g2 / (2 * g2 + A.sum(dim=(2, 3), keepdim=True) * g2 * g + 1e-6)
    alpha = torch.where(g != 0, alpha, torch.zeros_like(alpha))
    w = (alpha * g.clamp(min=0)).sum(dim=(2, 3), keepdim=True)
    gradcam_pp = (w * A).sum(dim=1)
    return logits.detach(), gradcam, gradcam_pp, kept["penultimate"]


def main():
    torch.set_num_threads(2)
    out = {}
    for name, (size, layer, get) in CASES.items():
        model = build(name)
        with torch.no_grad():
            fill(model)
        model = model.double().eval()
        logits, gc, gcpp, feats = cams(model, get(model), det_input(size).double(), TARGETS)
        out[name] = {"input_size": size, "layer": layer, "targets": TARGETS, "map_shape": list(gc.shape),
                     "logits": logits.flatten().tolist(), "penultimate_shape": list(feats.shape),
                     "penultimate": feats.flatten().tolist(),
                     "gradcam": gc.flatten().tolist(), "gradcam_relu": gc.clamp(min=0).flatten().tolist(),
                     "gradcam_pp": gcpp.flatten().tolist(), "gradcam_pp_relu": gcpp.clamp(min=0).flatten().tolist()}
        print(name, "maps", list(gc.shape), "positive fraction", float((gc > 0).double().mean()))
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "gradcam", "maps.json")
    with open(path, "w") as f:
        json.dump(out, f)
    print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
