#!/usr/bin/python3
"""Reference outputs of torchvision 0.14's backbones (Debian python3-torch/torchvision) on deterministic weights.

Weights are not stored: both this script and tests/test_model_equality.cpp fill every parameter and buffer from
the same formula of its state_dict name (see det_values), so only small outputs are committed:
  - eval-mode logits for a 2-image batch at 64x64 and at 224x224;
  - one training-mode step on 4 images at 64x64 (dropout and stochastic depth off, batch norm in training mode): the loss,
    the gradients of the first conv weight and of the classifier (first 256 values each), and the first batch-norm
    layer's updated running statistics.
  - logits_f32_noise: the relative L2 distance between the f32 and the f64 eval logits at each size, i.e. how far
    f32 rounding alone moves them (the test's tolerance for the logits grows to 3x this where it exceeds 1e-4).
Writes tests/data/models/equality.json. Run: /usr/bin/python3 tools/make_fixtures.py [model ...]
With --logit-noise first, only logits_f32_noise is (re)computed and added to the named records already there, every
other value kept: how tf_efficientnet_b0_ns's figure was made (2026-12-03, torch 2.15 + timm 1.0.31, .venv-bench).
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.models as tvm
from torchvision.ops import StochasticDepth

# tf_efficientnet_b0_ns comes from timm (not a Debian package): run the script for it from a virtual environment
# that sees Debian's torch, e.g. python3 -m venv --system-site-packages /tmp/t && /tmp/t/bin/pip install timm==0.9.2
# && /tmp/t/bin/python tools/make_fixtures.py tf_efficientnet_b0_ns
MODELS = ["resnet18", "resnet50", "efficientnet_b0", "mobilenet_v3_large", "mobilenet_v3_small",
          "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "densenet121", "convnext_tiny"]
NUM_CLASSES = 7
KEEP = 256


def fnv1a32(s):
    h = 0x811C9DC5
    for b in s.encode():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def det_uniform(name, n):
    """n values in [-1, 1) from an integer hash of (name, index): exact in any language (uint32 arithmetic)."""
    m = np.uint64(0xFFFFFFFF)
    x = (np.arange(n, dtype=np.uint64) + np.uint64(fnv1a32(name))) & m
    for mul in (0x9E3779B1, 0x85EBCA6B, 0xC2B2AE35):
        x = (x * np.uint64(mul)) & m
        x ^= x >> np.uint64(15)
    return x.astype(np.float64) / 2.0**31 - 1.0


def det_values(name, shape):
    """The deterministic value of every element of tensor `name` (PyTorch layout), in float64."""
    n = int(np.prod(shape)) if len(shape) else 1
    s = det_uniform(name, n)
    if name.endswith("running_var"):
        v = 0.75 + 0.25 * s
    elif name.endswith("running_mean"):
        v = 0.1 * s
    elif name.endswith("layer_scale"):
        v = 0.5 + 0.1 * s
    elif len(shape) >= 2:
        fan_in = n // shape[0]
        v = s * math.sqrt(6.0 / fan_in)  # He-uniform scale
    elif name.endswith("weight"):
        v = 1.0 + 0.1 * s
    else:
        v = 0.05 * s
    return v.reshape(shape)


def fill(model):
    sd = model.state_dict()
    for name, t in sd.items():
        if name.endswith("num_batches_tracked"):
            t.zero_()
        else:
            t.copy_(torch.from_numpy(det_values(name, tuple(t.shape))).to(t.dtype))


def det_input(size, batch=2):
    n = batch * 3 * size * size
    x = np.sin(0.013 * np.arange(n, dtype=np.float64) + 0.5).reshape(batch, 3, size, size)
    return torch.from_numpy(x).float()


def first_of(t):
    return t.detach().flatten()[:KEEP].tolist()


def build(name):
    if name.startswith("tf_"):
        import timm
        return timm.create_model(name, num_classes=NUM_CLASSES)
    return getattr(tvm, name)(num_classes=NUM_CLASSES)


def train_step(model, dtype):
    with torch.no_grad():
        fill(model)
    model = model.to(dtype)
    model.train()
    for m in model.modules():
        if isinstance(m, (torch.nn.Dropout, StochasticDepth)) or type(m).__name__ == "DropPath":
            m.eval()
    logits = model(det_input(64, 4).to(dtype))
    loss = F.cross_entropy(logits, torch.tensor([1, 5, 0, 3]))
    loss.backward()
    params = [(n, p) for n, p in model.named_parameters()]
    chosen = [next((n, p) for n, p in params if p.dim() == 4), [(n, p) for n, p in params if p.dim() == 2][-1], params[-1]]
    bn = next((n for n, _ in model.named_buffers() if n.endswith("running_mean")), None)
    bufs = dict(model.named_buffers())
    stats = {}
    if bn:  # ConvNeXt has no batch norm
        prefix = bn[: -len("running_mean")]
        stats = {prefix + k: bufs[prefix + k] for k in ("running_mean", "running_var")}
    return {"loss": loss.item(), "grads": {n: p.grad.detach() for n, p in chosen}, "bn": stats}


def logits_f32_noise(name):
    """Per input size: rel-L2 of the f32 eval logits from the f64 ones (same weights, same input)."""
    logits = {}
    for dt in (torch.float32, torch.float64):
        model = build(name)
        with torch.no_grad():
            fill(model)
            model = model.to(dt).eval()
            logits[dt] = {s: model(det_input(s).to(dt)).double() for s in (64, 224)}
    f32, f64 = logits[torch.float32], logits[torch.float64]
    return {str(s): ((f32[s] - f64[s]).norm() / f64[s].norm()).item() for s in (64, 224)}


def main():
    noise_only = sys.argv[1:2] == ["--logit-noise"]
    names = sys.argv[2 if noise_only else 1:] or MODELS
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "models", "equality.json")
    out = json.load(open(path)) if os.path.exists(path) else {}
    torch.set_num_threads(2)
    for name in names:
        if noise_only:
            out[name]["logits_f32_noise"] = logits_f32_noise(name)
            print(name, "logits_f32_noise", out[name]["logits_f32_noise"])
            continue
        model = build(name)
        with torch.no_grad():
            fill(model)
        model.eval()
        rec = {}
        with torch.no_grad():
            rec["logits64"] = model(det_input(64)).flatten().tolist()
            rec["logits224"] = model(det_input(224)).flatten().tolist()
        # One training step: BN in training mode, dropout / stochastic depth off. It runs in f32 (the values
        # committed) and in f64: their difference is how sensitive each gradient is to f32 rounding (deep
        # batch-normalized nets amplify it), recorded as grad_f32_noise so the test can tell rounding from error.
        steps = {dt: train_step(build(name), dt) for dt in (torch.float32, torch.float64)}
        f32, f64 = steps[torch.float32], steps[torch.float64]
        rec["loss"] = f32["loss"]
        rec["grads"] = {n: first_of(g) for n, g in f32["grads"].items()}
        rec["grad_f32_noise"] = {n: ((g.double() - f64["grads"][n]).flatten()[:KEEP].norm() /
                                     f64["grads"][n].flatten()[:KEEP].norm()).item() for n, g in f32["grads"].items()}
        rec["bn"] = {n: first_of(b) for n, b in f32["bn"].items()}
        rec["logits_f32_noise"] = logits_f32_noise(name)
        out[name] = rec
        print(name, "loss", rec["loss"])
    with open(path, "w") as f:
        json.dump(out, f)
    print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
