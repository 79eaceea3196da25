#!/usr/bin/python3
"""Reference values for batch norm, layer norm and pooling from PyTorch (Debian python3-torch).

Writes tests/data/norm_pool/cases.json. Tensors are stored flattened in fer's layout (NHWC: PyTorch's NCHW
tensors are permuted before flattening). Run: /usr/bin/python3 tools/make_norm_pool_fixtures.py
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(20261123)
torch.set_default_dtype(torch.float64)


def nhwc(t):
    return t.permute(0, 2, 3, 1).contiguous().flatten().tolist()


def case_batch_norm():
    x1 = torch.randn(3, 5, 4, 7) * 2 + 0.5  # N, C, H, W
    x2 = torch.randn(3, 5, 4, 7) - 1
    bn = torch.nn.BatchNorm2d(5, momentum=0.2, eps=1e-4)
    with torch.no_grad():
        bn.weight.copy_(torch.randn(5))
        bn.bias.copy_(torch.randn(5))
    bn.train()
    y1 = bn(x1)
    y2 = bn(x2)
    bn.eval()
    y3 = bn(x1)
    return {
        "shape": [3, 4, 7, 5], "momentum": 0.2, "eps": 1e-4,
        "weight": bn.weight.tolist(), "bias": bn.bias.tolist(),
        "x1": nhwc(x1), "x2": nhwc(x2), "y1": nhwc(y1.detach()), "y2": nhwc(y2.detach()),
        "running_mean": bn.running_mean.tolist(), "running_var": bn.running_var.tolist(),
        "num_batches_tracked": int(bn.num_batches_tracked), "y_eval": nhwc(y3.detach()),
    }


def case_layer_norm():
    x = torch.randn(2, 3, 5, 6) * 3  # channels-last data [N, H, W, C]
    w, b = torch.randn(6), torch.randn(6)
    y = F.layer_norm(x, (6,), w, b, eps=1e-6)
    return {"shape": [2, 3, 5, 6], "x": x.flatten().tolist(), "weight": w.tolist(), "bias": b.tolist(),
            "y": y.flatten().tolist()}


def pool_cases():
    cases = []
    x = torch.randn(2, 3, 9, 8)
    configs = [
        dict(kind="max", k=(3, 3), s=(2, 2), p=(1, 1), d=(1, 1), ceil=False),
        dict(kind="max", k=(3, 2), s=(2, 3), p=(1, 0), d=(1, 1), ceil=True),
        dict(kind="max", k=(2, 2), s=(2, 2), p=(0, 0), d=(1, 1), ceil=True),
        dict(kind="max", k=(3, 3), s=(1, 2), p=(1, 1), d=(2, 1), ceil=False),
        dict(kind="avg", k=(2, 2), s=(2, 2), p=(0, 0), ceil=False, cip=True),
        dict(kind="avg", k=(3, 3), s=(2, 2), p=(1, 1), ceil=True, cip=True),
        dict(kind="avg", k=(3, 3), s=(2, 2), p=(1, 1), ceil=True, cip=False),
        dict(kind="avg", k=(3, 2), s=(3, 2), p=(1, 1), ceil=False, cip=False),
    ]
    for c in configs:
        if c["kind"] == "max":
            y = F.max_pool2d(x, c["k"], c["s"], c["p"], c["d"], ceil_mode=c["ceil"])
        else:
            y = F.avg_pool2d(x, c["k"], c["s"], c["p"], ceil_mode=c["ceil"], count_include_pad=c["cip"])
        cases.append({**c, "d": c.get("d", (1, 1)), "cip": c.get("cip", True),
                      "out_shape": [y.shape[0], y.shape[2], y.shape[3], y.shape[1]], "y": nhwc(y)})
    adaptive = []
    xa = torch.randn(2, 3, 11, 9)
    for (oh, ow) in [(1, 1), (2, 2), (3, 3), (7, 7), (4, 5)]:
        adaptive.append({"out": [oh, ow], "y": nhwc(F.adaptive_avg_pool2d(xa, (oh, ow)))})
    return {"x_shape": [2, 9, 8, 3], "x": nhwc(x), "cases": cases,
            "adaptive_x_shape": [2, 11, 9, 3], "adaptive_x": nhwc(xa), "adaptive": adaptive}


def main():
    out = {"batch_norm": case_batch_norm(), "layer_norm": case_layer_norm(), "pool": pool_cases()}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "norm_pool", "cases.json")
    with open(path, "w") as f:
        json.dump(out, f)
    print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
