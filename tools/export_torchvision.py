#!/usr/bin/python3
"""Export a torchvision (or timm) model's state_dict to safetensors for fer (names and PyTorch layouts as they are:
fer converts conv weights OIHW -> OHWI itself when loading).

  /usr/bin/python3 tools/export_torchvision.py resnet18 --weights DEFAULT --out resnet18_imagenet.safetensors
  /usr/bin/python3 tools/export_torchvision.py resnet18 --checkpoint my_finetuned.pth --num-classes 7 --out r18.safetensors
  /usr/bin/python3 tools/export_torchvision.py tf_efficientnet_b0_ns --timm --out effb0_ns.safetensors

--weights needs the weights in torch's cache (this machine cannot download them); --checkpoint loads a local
state_dict (.pth/.pt, optionally under a "state_dict" or "model" key). Then: train --pretrained FILE.
"""
import argparse
import json
import struct

import torch

DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
          torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8"}


def save_safetensors(path, tensors, metadata):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        data = t.view(torch.uint8).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--out", required=True)
    ap.add_argument("--weights", help="torchvision weights name, e.g. DEFAULT or IMAGENET1K_V1")
    ap.add_argument("--checkpoint", help="a local state_dict file")
    ap.add_argument("--num-classes", type=int, default=None)
    ap.add_argument("--timm", action="store_true", help="build the model with timm instead of torchvision")
    a = ap.parse_args()
    kwargs = {} if a.num_classes is None else {"num_classes": a.num_classes}
    if a.timm:
        import timm  # not a Debian package; pip install timm
        model = timm.create_model(a.model, pretrained=bool(a.weights), **kwargs)
    else:
        import torchvision.models as tvm
        model = getattr(tvm, a.model)(weights=a.weights, **kwargs)
    if a.checkpoint:
        sd = torch.load(a.checkpoint, map_location="cpu")
        for key in ("state_dict", "model"):
            if isinstance(sd, dict) and key in sd and isinstance(sd[key], dict):
                sd = sd[key]
        model.load_state_dict({k.removeprefix("module."): v for k, v in sd.items()})
    sd = {k: v for k, v in model.state_dict().items()}
    save_safetensors(a.out, sd, {"source": ("timm:" if a.timm else "torchvision:") + a.model,
                                 "weights": a.weights or a.checkpoint or "random"})
    print(f"{a.out}: {len(sd)} tensors")


if __name__ == "__main__":
    main()
