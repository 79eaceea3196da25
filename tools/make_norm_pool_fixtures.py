#!/usr/bin/python3
"""Reference values for batch norm, layer norm and pooling from PyTorch 1.13 (Debian python3-torch).

Writes tests/data/norm_pool/norm.json and pool.json, read by tests/test_norm.cpp and tests/test_pool.cpp.
Tensors are stored flattened in fer's layout (channels last: PyTorch's NCHW tensors are permuted before
flattening). Inputs are rounded to a few decimals (so they are short and exact in f64, and max-pool windows hold
ties); PyTorch computes in f64 and outputs are stored to 12 significant digits.
Run: /usr/bin/python3 tools/make_norm_pool_fixtures.py
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(20261123)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "norm_pool")


def short(v):
    return float(f"{v:.12g}")


def flat(t):
    """Flattened values; 4-d tensors are NCHW and are stored NHWC."""
    t = t.detach()
    if t.dim() == 4:
        t = t.permute(0, 2, 3, 1)
    return [short(v) for v in t.contiguous().flatten().tolist()]


def nhwc_shape(t):
    return [t.shape[0], t.shape[2], t.shape[3], t.shape[1]] if t.dim() == 4 else list(t.shape)


def rounded(t, decimals):
    return torch.round(t * 10**decimals) / 10**decimals


def batch_norm_cases():
    cases = []
    # Two training steps updating the running statistics, then eval with them (affine, momentum 0.2).
    x1 = rounded(torch.randn(2, 4, 2, 3) * 2 + 0.5, 3)  # N, C, H, W
    x2 = rounded(torch.randn(2, 4, 2, 3) - 1, 3)
    bn = torch.nn.BatchNorm2d(4, momentum=0.2, eps=1e-4)
    with torch.no_grad():
        bn.weight.copy_(rounded(torch.randn(4), 3))
        bn.bias.copy_(rounded(torch.randn(4), 3))
    y1, y2 = bn(x1), bn(x2)
    rm, rv = bn.running_mean.clone(), bn.running_var.clone()
    bn.eval()
    y3 = bn(x1)
    cases.append({"name": "affine, 2 train steps then eval", "momentum": 0.2, "eps": 1e-4, "affine": True,
                  "shape": nhwc_shape(x1), "weight": flat(bn.weight), "bias": flat(bn.bias),
                  "steps": [{"x": flat(x1), "y": flat(y1)}, {"x": flat(x2), "y": flat(y2)}],
                  "running_mean": flat(rm), "running_var": flat(rv),
                  "num_batches_tracked": int(bn.num_batches_tracked), "eval_x": flat(x1), "eval_y": flat(y3)})
    # No affine parameters, default momentum: one training step, then eval.
    x = rounded(torch.randn(3, 3, 2, 3) * 0.5 - 2, 3)
    bn = torch.nn.BatchNorm2d(3, affine=False)
    y = bn(x)
    rm, rv = bn.running_mean.clone(), bn.running_var.clone()
    bn.eval()
    cases.append({"name": "no affine, 1 train step then eval", "momentum": 0.1, "eps": 1e-5, "affine": False,
                  "shape": nhwc_shape(x), "steps": [{"x": flat(x), "y": flat(y)}], "running_mean": flat(rm),
                  "running_var": flat(rv), "num_batches_tracked": 1, "eval_x": flat(x), "eval_y": flat(bn(x))})
    # 2-d input [N, C] (BatchNorm1d).
    x = rounded(torch.randn(6, 4) * 3, 3)
    bn = torch.nn.BatchNorm1d(4, momentum=0.3)
    with torch.no_grad():
        bn.weight.copy_(rounded(torch.rand(4) + 0.5, 3))
        bn.bias.copy_(rounded(torch.randn(4), 3))
    y = bn(x)
    cases.append({"name": "2-d input, 1 train step", "momentum": 0.3, "eps": 1e-5, "affine": True,
                  "shape": list(x.shape), "weight": flat(bn.weight), "bias": flat(bn.bias),
                  "steps": [{"x": flat(x), "y": flat(y)}], "running_mean": flat(bn.running_mean),
                  "running_var": flat(bn.running_var), "num_batches_tracked": 1})
    # track_running_stats=False: batch statistics in eval mode too.
    x = rounded(torch.randn(2, 3, 3, 2), 3)
    bn = torch.nn.BatchNorm2d(3, track_running_stats=False, affine=False).eval()
    cases.append({"name": "untracked, eval uses batch statistics", "momentum": 0.1, "eps": 1e-5, "affine": False,
                  "untracked": True, "shape": nhwc_shape(x), "eval_x": flat(x), "eval_y": flat(bn(x))})
    return cases


def layer_norm_cases():
    cases = []
    for shape, affine, eps in [([2, 2, 3, 6], True, 1e-6), ([4, 7], False, 1e-5), ([3, 1, 2, 1], True, 1e-6)]:
        x = rounded(torch.randn(*shape) * 3 + 1, 3)  # already channels-last data [..., C]
        c = shape[-1]
        w = rounded(torch.randn(c), 3) if affine else None
        b = rounded(torch.randn(c), 3) if affine else None
        y = F.layer_norm(x, (c,), w, b, eps=eps)
        case = {"shape": shape, "eps": eps, "x": [short(v) for v in x.flatten().tolist()],
                "y": [short(v) for v in y.flatten().tolist()]}
        if affine:
            case["weight"], case["bias"] = w.tolist(), b.tolist()
        cases.append(case)
    return cases


def pool_cases():
    # One decimal in [-3, 3]: many windows hold ties, which checks that the first maximum wins.
    inputs = {"x": rounded(torch.randn(1, 2, 9, 8), 1), "small": rounded(torch.randn(1, 2, 4, 4), 1)}
    configs = [
        dict(kind="max", k=(3, 3), s=(2, 2), p=(1, 1)),  # ResNet's stem
        dict(kind="max", k=(3, 3), s=(2, 2), p=(0, 0), ceil=True),
        dict(kind="max", k=(3, 2), s=(2, 3), p=(1, 0), ceil=True),
        dict(kind="max", k=(2, 2), s=(3, 3), p=(1, 1), ceil=True),  # W: the window starting in the padding is dropped
        dict(kind="max", k=(3, 3), s=(1, 2), p=(1, 1), d=(2, 1)),
        dict(kind="max", k=(2, 3), s=(2, 2), p=(1, 1), d=(2, 3), ceil=True),
        dict(kind="max", k=(5, 5), s=(2, 2), p=(0, 0), ceil=True, input="small"),  # window overhangs the input
        dict(kind="avg", k=(2, 2), s=(2, 2), p=(0, 0)),
        dict(kind="avg", k=(3, 3), s=(1, 1), p=(1, 1)),
        dict(kind="avg", k=(3, 3), s=(2, 2), p=(1, 1), ceil=True),
        dict(kind="avg", k=(3, 3), s=(2, 2), p=(1, 1), ceil=True, cip=False),
        dict(kind="avg", k=(3, 2), s=(3, 2), p=(1, 1), cip=False),
        dict(kind="avg", k=(2, 2), s=(3, 3), p=(1, 1), ceil=True),  # divisor clipped to the padded extent
        dict(kind="avg", k=(5, 5), s=(2, 2), p=(0, 0), ceil=True, input="small"),
        dict(kind="avg", k=(5, 4), s=(2, 3), p=(2, 1), ceil=True, cip=False, input="small"),
    ]
    cases = []
    for c in configs:
        c = {"d": (1, 1), "ceil": False, "cip": True, "input": "x", **c}
        x = inputs[c["input"]]
        if c["kind"] == "max":
            y, idx = F.max_pool2d(x, c["k"], c["s"], c["p"], c["d"], ceil_mode=c["ceil"], return_indices=True)
            c["indices"] = [int(v) for v in idx.permute(0, 2, 3, 1).flatten().tolist()]
        else:
            y = F.avg_pool2d(x, c["k"], c["s"], c["p"], ceil_mode=c["ceil"], count_include_pad=c["cip"])
        c.update(out_shape=nhwc_shape(y), y=flat(y))
        cases.append(c)
    adaptive = []
    xa = rounded(torch.randn(1, 2, 11, 9), 2)
    for out in [(1, 1), (2, 2), (3, 3), (7, 7), (4, 5), (5, 13)]:
        adaptive.append({"out": list(out), "y": flat(F.adaptive_avg_pool2d(xa, out))})
    return {"inputs": {k: {"shape": nhwc_shape(v), "x": flat(v)} for k, v in inputs.items()}, "cases": cases,
            "adaptive_x": {"shape": nhwc_shape(xa), "x": flat(xa)}, "adaptive": adaptive}


def write(name, obj):
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
    print(os.path.normpath(path), os.path.getsize(path), "bytes")


def main():
    os.makedirs(OUT, exist_ok=True)
    write("norm.json", {"batch_norm": batch_norm_cases(), "layer_norm": layer_norm_cases()})
    write("pool.json", pool_cases())


if __name__ == "__main__":
    main()
