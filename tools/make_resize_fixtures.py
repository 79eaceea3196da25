#!/usr/bin/python3
"""Writes the reference outputs that tests/test_resize.cpp compares fer::data::resize_bilinear against.

Run with Debian's Python (PIL 9.4, torch 1.13):  /usr/bin/python3 tools/make_resize_fixtures.py

Inputs are not stored: both sides generate them from the flat index i of an [H, W, C] image,
    u8 value  = ((i * 2654435761 + 12345) mod 2^32) >> 24
    f32/f64   = u8 value / 255
so only the expected outputs are written, as raw little-endian arrays [out_h, out_w, C], to
tests/data/resize/<name>.bin, listed in tests/data/resize/cases.json.

References:
  pil      PIL Image.resize((w, h), BILINEAR) on mode 'L' (C=1) or 'RGB' (C=3) u8 images
  pil_f    the same on mode 'F' (float32) images, one per channel
  torch    torch.nn.functional.interpolate(mode='bilinear', align_corners=False, antialias=...) in float64
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "resize")


def input_u8(h, w, c):
    i = np.arange(h * w * c, dtype=np.uint64)
    v = ((i * np.uint64(2654435761) + np.uint64(12345)) % np.uint64(2**32)) >> np.uint64(24)
    return v.astype(np.uint8).reshape(h, w, c)


def pil_u8(img, oh, ow):
    mode = {1: "L", 3: "RGB"}[img.shape[2]]
    src = Image.fromarray(img[:, :, 0] if img.shape[2] == 1 else img, mode)
    out = np.asarray(src.resize((ow, oh), Image.BILINEAR))
    return out.reshape(oh, ow, img.shape[2])


def pil_f32(img, oh, ow):
    chans = [np.asarray(Image.fromarray(img[:, :, k], "F").resize((ow, oh), Image.BILINEAR)) for k in range(img.shape[2])]
    return np.stack(chans, axis=2).astype(np.float32)


def torch_f64(img, oh, ow, antialias):
    x = torch.from_numpy(img).permute(2, 0, 1)[None]  # NCHW
    y = F.interpolate(x, size=(oh, ow), mode="bilinear", align_corners=False, antialias=antialias)
    return y[0].permute(1, 2, 0).contiguous().numpy()


def main():
    os.makedirs(OUT, exist_ok=True)
    # name, reference, dtype, (h, w, c), (out_h, out_w), antialias
    cases = [
        ("u8_up_28_48_c1", "pil", "u8", (28, 28, 1), (48, 48), True),
        ("u8_down_48_28_c3", "pil", "u8", (48, 48, 3), (28, 28), True),
        ("u8_down_64_37_c3", "pil", "u8", (64, 64, 3), (37, 37), True),
        ("u8_mixed_30x20_17x45_c3", "pil", "u8", (30, 20, 3), (17, 45), True),
        ("u8_width_only_13x40_13x9_c1", "pil", "u8", (13, 40, 1), (13, 9), True),
        ("f32_down_24_13_c3", "pil_f", "f32", (24, 24, 3), (13, 13), True),
        ("f32_up_10_23_c1", "pil_f", "f32", (10, 10, 1), (23, 23), True),
        ("f64_aa_down_20_11_c3", "torch", "f64", (20, 20, 3), (11, 11), True),
        ("f64_noaa_down_20x17_7x9_c2", "torch", "f64", (20, 17, 2), (7, 9), False),
        ("f64_up_9x7_20x13_c2", "torch", "f64", (9, 7, 2), (20, 13), False),
    ]
    listing = []
    for name, ref, dtype, (h, w, c), (oh, ow), aa in cases:
        img = input_u8(h, w, c)
        if ref == "pil":
            out = pil_u8(img, oh, ow)
        elif ref == "pil_f":
            out = pil_f32((img.astype(np.float32) / np.float32(255)), oh, ow)
        else:
            out = torch_f64(img.astype(np.float64) / 255.0, oh, ow, aa)
        assert out.shape == (oh, ow, c), (name, out.shape)
        out = np.ascontiguousarray(out.astype({"u8": "<u1", "f32": "<f4", "f64": "<f8"}[dtype]))
        out.tofile(os.path.join(OUT, name + ".bin"))
        listing.append(dict(name=name, reference=ref, dtype=dtype, h=h, w=w, c=c, out_h=oh, out_w=ow, antialias=aa))
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(listing, f, indent=1)
        f.write("\n")
    print("wrote", len(listing), "cases to", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
