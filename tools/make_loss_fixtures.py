#!/usr/bin/python3
"""Reference values for cross-entropy (weights x label smoothing x reductions x ignore_index, probability targets),
softmax/log-softmax and channel shuffle from PyTorch (Debian python3-torch).

Writes tests/data/loss/cases.json. Run: /usr/bin/python3 tools/make_loss_fixtures.py
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(7)
torch.set_default_dtype(torch.float64)


def main():
    n, c = 6, 5
    logits = torch.randn(n, c) * 2
    target = torch.tensor([0, 4, 2, 2, 1, 3])
    target_ignored = torch.tensor([0, -100, 2, 2, -100, 3])
    weight = torch.rand(c) + 0.2
    probs = torch.softmax(torch.randn(n, c), 1)
    ce = []
    for use_weight in (False, True):
        for smoothing in (0.0, 0.1):
            for reduction in ("mean", "sum", "none"):
                for ignored in (False, True):
                    t = target_ignored if ignored else target
                    x = logits.clone().requires_grad_(True)
                    loss = F.cross_entropy(x, t, weight=weight if use_weight else None, label_smoothing=smoothing,
                                           reduction=reduction)
                    (loss.sum() if reduction == "none" else loss).backward()
                    ce.append({"weight": use_weight, "smoothing": smoothing, "reduction": reduction,
                               "ignored": ignored, "loss": loss.detach().flatten().tolist(),
                               "grad": x.grad.flatten().tolist()})
            x = logits.clone().requires_grad_(True)
            loss = F.cross_entropy(x, probs, weight=weight if use_weight else None, label_smoothing=smoothing)
            loss.backward()
            ce.append({"weight": use_weight, "smoothing": smoothing, "reduction": "mean", "probs": True,
                       "loss": [loss.item()], "grad": x.grad.flatten().tolist()})
    xs = torch.randn(2, 3, 4)
    soft = {"x": xs.flatten().tolist(), "softmax_dim1": torch.softmax(xs, 1).flatten().tolist(),
            "log_softmax_last": torch.log_softmax(xs, -1).flatten().tolist()}
    # channel_shuffle on NCHW [1, 6, 2, 1] with 3 groups, expressed in NHWC order.
    xc = torch.arange(12.0).reshape(1, 6, 2, 1)
    shuffled = F.channel_shuffle(xc, 3) if hasattr(F, "channel_shuffle") else torch.channel_shuffle(xc, 3)
    shuffle = {"x": xc.permute(0, 2, 3, 1).flatten().tolist(), "y": shuffled.permute(0, 2, 3, 1).flatten().tolist()}
    out = {"n": n, "c": c, "logits": logits.flatten().tolist(), "target": target.tolist(),
           "target_ignored": target_ignored.tolist(), "weight": weight.tolist(), "probs": probs.flatten().tolist(),
           "cross_entropy": ce, "softmax": soft, "channel_shuffle": shuffle}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "loss", "cases.json")
    with open(path, "w") as f:
        json.dump(out, f)
    print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
