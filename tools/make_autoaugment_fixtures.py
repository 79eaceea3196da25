#!/usr/bin/python3
"""AutoAugment / RandAugment / TrivialAugmentWide references from torchvision 0.14 for tests/test_auto_augment.cpp.

1. The tables: AutoAugment's ImageNet policy (sub-policies of (op, probability, magnitude bin)), and the
   augmentation spaces (op order, magnitudes as torch computes them, signed or not) of AutoAugment (10 bins),
   RandAugment (31 bins) and TrivialAugmentWide (31 bins) for the image sizes the test uses.
2. Every operation on uint8 tensors through torchvision's own `_apply_op` (the function all three policies call):
   nearest interpolation, fill None and a per-channel fill, each op at several magnitudes of both signs taken
   from the spaces above, on small RGB and grayscale images (noise over a gradient, a narrow value range so
   AutoContrast and Equalize change it), and the geometric ops on a 40x40 grayscale image.
Outputs are written as raw bytes (ops.bin, HWC uint8, concatenated) with an index (ops.json: op, magnitude, image,
fill, offset). Run: /usr/bin/python3 tools/make_autoaugment_fixtures.py
"""
import json
import os

import numpy as np
import torch
import torchvision
from torchvision.transforms import InterpolationMode
from torchvision.transforms import autoaugment as aa


def space(d):
    out = []
    for name, (mags, signed) in d.items():
        out.append({"op": name, "signed": bool(signed),
                    "magnitudes": [float(v) for v in mags.flatten().tolist()] if mags.ndim > 0 else []})
    return out


def images(rng):
    def make(h, w, c, lo, hi):
        grad = np.linspace(0, 1, h * w).reshape(h, w, 1)
        x = lo + (hi - lo) * (0.6 * grad + 0.4 * rng.random((h, w, c)))
        return np.clip(np.round(x), 0, 255).astype(np.uint8)
    return {"rgb": make(10, 14, 3, 30, 220), "gray": make(9, 11, 1, 60, 180), "rgb_square": make(16, 16, 3, 0, 255),
            "gray_large": make(40, 40, 1, 0, 255)}  # the geometric ops only: many grid points per case


def main():
    assert torchvision.__version__.startswith("0.14"), torchvision.__version__
    rng = np.random.default_rng(9)
    imgs = images(rng)
    auto = aa.AutoAugment(aa.AutoAugmentPolicy.IMAGENET)
    rand = aa.RandAugment(num_ops=2, magnitude=9, num_magnitude_bins=31)
    trivial = aa.TrivialAugmentWide(num_magnitude_bins=31)
    tables = {"imagenet_policy": [[[op, p, m] for op, p, m in sub] for sub in auto.policies], "spaces": []}
    for h, w in ((10, 14), (48, 48), (64, 40)):
        tables["spaces"].append({"h": h, "w": w, "autoaugment": space(auto._augmentation_space(10, (h, w))),
                                 "randaugment": space(rand._augmentation_space(31, (h, w)))})
    tables["trivialaugment"] = space(trivial._augmentation_space(31))

    # Magnitudes per op: from the three spaces (for the 10x14 image), both signs where the op is signed.
    a10 = {e["op"]: e for e in tables["spaces"][0]["autoaugment"]}
    r31 = {e["op"]: e for e in tables["spaces"][0]["randaugment"]}
    t31 = {e["op"]: e for e in tables["trivialaugment"]}
    cases = []
    blob = bytearray()
    for name, img in imgs.items():
        h, w, c = img.shape
        t = torch.from_numpy(img).permute(2, 0, 1).contiguous()
        fills = [None, [float(v) for v in (17, 130, 250)[:c]]]
        for op in ["Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color",
                   "Contrast", "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize", "Invert"]:
            if op in ("Identity", "AutoContrast", "Equalize", "Invert"):
                mags = [0.0]
            elif op == "Posterize":
                mags = sorted(set(a10[op]["magnitudes"] + t31[op]["magnitudes"]))
            elif op == "Solarize":
                mags = [a10[op]["magnitudes"][i] for i in (0, 3, 5, 9)] + [t31[op]["magnitudes"][i] for i in (1, 17, 29)]
            else:
                base = [a10[op]["magnitudes"][i] for i in (1, 5, 9)] + [r31[op]["magnitudes"][9]]
                base += [t31[op]["magnitudes"][i] for i in (7, 20, 30)]
                mags = base + [-m for m in base]
            geometric = op in ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")
            if name == "gray_large" and not geometric:
                continue
            for mag in mags:
                for fill in (fills if geometric and name != "gray_large" else [None]):
                    out = aa._apply_op(t, op, float(mag), interpolation=InterpolationMode.NEAREST, fill=fill)
                    arr = out.permute(1, 2, 0).contiguous().numpy()
                    assert arr.dtype == np.uint8 and arr.shape == img.shape
                    cases.append({"op": op, "magnitude": float(mag), "image": name, "fill": fill, "offset": len(blob)})
                    blob += arr.tobytes()
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "autoaugment")
    os.makedirs(root, exist_ok=True)
    index = {"torchvision": torchvision.__version__, "torch": torch.__version__,
             "images": {k: {"h": v.shape[0], "w": v.shape[1], "c": v.shape[2], "pixels": v.flatten().tolist()}
                        for k, v in imgs.items()},
             "cases": cases, "tables": tables}
    with open(os.path.join(root, "ops.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(root, "ops.bin"), "wb") as f:
        f.write(bytes(blob))
    print(root, len(cases), "cases,", len(blob), "bytes of outputs")


if __name__ == "__main__":
    main()
