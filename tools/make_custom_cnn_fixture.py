#!/usr/bin/python3
"""Reference logits of the custom CNN's PyTorch twin (models/custom_cnn.hpp) for tests/test_custom_cnn.cpp.

Run with Debian's Python:  /usr/bin/python3 tools/make_custom_cnn_fixture.py

Weights, BatchNorm statistics and the input come from an integer hash that the C++ test evaluates too (exactly),
so no weights are stored. With h(i, e) = ((i + 7919 e) * 2654435761 mod 2^32) / 2^32 - 0.5, for state_dict
entry e (in order) and flat index i (PyTorch layout):
    conv / linear weight   3.4 h / sqrt(fan_in)
    conv / linear bias     0.2 h
    BN weight              1 + 0.4 h
    BN bias, running_mean  0.2 h
    BN running_var         1 + 2 h^2
input NCHW [2, 3, 48, 48], flat index i: 2 h(i, 1000).
Prints the eval-mode logits [2, 10] in float64, and how far they move when Flatten uses NHWC order instead.
"""
import math

import torch
import torch.nn as nn


class Twin(nn.Module):
    def forward(self, x):
        return self.classifier(self.features(x))


def twin(num_classes=10):
    m = Twin()
    m.features = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2))
    m.classifier = nn.Sequential(nn.Flatten(), nn.Linear(64 * 6 * 6, 128), nn.Dropout(0.25), nn.ReLU(),
                                 nn.Linear(128, num_classes))
    return m


def hashed(n, e):
    i = torch.arange(n, dtype=torch.int64)
    return ((i + 7919 * e) * 2654435761 % 2**32).double() / 2**32 - 0.5


def formula_state(model):
    sd = model.state_dict()
    bn_prefixes = {k.rsplit(".", 1)[0] for k in sd if k.endswith("running_mean")}
    out = {}
    for e, (key, t) in enumerate(sd.items()):
        if key.endswith("num_batches_tracked"):
            out[key] = torch.zeros_like(t)
            continue
        s = hashed(t.numel(), e)
        prefix, leaf = key.rsplit(".", 1)
        if prefix in bn_prefixes:
            v = {"weight": 1 + 0.4 * s, "bias": 0.2 * s, "running_mean": 0.2 * s, "running_var": 1 + 2 * s * s}[leaf]
        elif leaf == "weight":
            v = 3.4 * s / math.sqrt(t[0].numel())
        else:
            v = 0.2 * s
        out[key] = v.reshape(t.shape)
    return out


def main():
    model = twin().double()
    model.load_state_dict(formula_state(model))
    model.eval()
    x = (2 * hashed(2 * 3 * 48 * 48, 1000)).reshape(2, 3, 48, 48)
    with torch.no_grad():
        y = model(x)
        wrong = model.classifier[1:](model.features(x).permute(0, 2, 3, 1).flatten(1))
    for row in y.tolist():
        print(", ".join(repr(v) for v in row))
    print("max |logit change| with NHWC flatten order:", float((wrong - y).abs().max()))


if __name__ == "__main__":
    main()
