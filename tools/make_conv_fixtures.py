#!/usr/bin/python3
"""Writes PyTorch conv2d reference cases for tests/test_conv.cpp into tests/data/conv/.

Run with Debian's Python (it has torch):  /usr/bin/python3 tools/make_conv_fixtures.py

Each case is one file: a first line of JSON (shapes in fer's layouts and the conv parameters), then the
raw little-endian float32 arrays x (NHWC), w (OHWI), bias ([O], if any) and y (NHWC), in that order.
Tensors are converted from PyTorch's NCHW / OIHW here, so the test reads them as they are.
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "conv")

# name, N, C, H, W, O, kh, kw, stride, padding (top, bottom, left, right), dilation, groups, bias
CASES = [
    ("basic_3x3", 2, 4, 7, 6, 5, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1, True),
    ("stride2_asym_pad", 1, 3, 9, 8, 4, 3, 3, (2, 2), (0, 1, 0, 1), (1, 1), 1, False),
    ("dilated_grouped", 2, 6, 8, 7, 4, 3, 2, (1, 2), (2, 2, 1, 1), (2, 1), 2, True),
    ("depthwise_5x5_mult2", 1, 4, 7, 7, 8, 5, 5, (2, 1), (2, 2, 2, 2), (1, 1), 4, True),
    ("pointwise", 2, 5, 4, 3, 6, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1, True),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(2024)
    for name, n, c, h, w, o, kh, kw, stride, pad, dil, groups, has_bias in CASES:
        x = torch.randn(n, c, h, w, generator=gen)
        wt = torch.randn(o, c // groups, kh, kw, generator=gen) * 0.5
        b = torch.randn(o, generator=gen) if has_bias else None
        top, bottom, left, right = pad
        xp = F.pad(x, (left, right, top, bottom))  # zero padding, possibly asymmetric
        y = F.conv2d(xp, wt, b, stride=stride, padding=0, dilation=dil, groups=groups)
        header = {
            "x": [n, h, w, c],
            "w": [o, kh, kw, c // groups],
            "bias": [o] if has_bias else None,
            "y": list(y.permute(0, 2, 3, 1).shape),
            "stride": list(stride),
            "padding": list(pad),
            "dilation": list(dil),
            "groups": groups,
        }
        arrays = [x.permute(0, 2, 3, 1), wt.permute(0, 2, 3, 1)]
        if has_bias:
            arrays.append(b)
        arrays.append(y.permute(0, 2, 3, 1))
        with open(os.path.join(OUT, name + ".bin"), "wb") as f:
            f.write((json.dumps(header) + "\n").encode())
            for a in arrays:
                f.write(np.ascontiguousarray(a.numpy(), dtype="<f4").tobytes())
        print(name, header["y"])


if __name__ == "__main__":
    main()
