#!/usr/bin/python3
"""Writes the safetensors fixtures with an independent writer (torch for the values and dtype conversions, json +
struct for the container) whose files the C++ reader must read exactly:
  tests/data/safetensors/torch_written.safetensors  every dtype fer reads, known values
  tests/data/safetensors/toy_net.safetensors        a real torch state_dict of a mini ResNet-like net (the C++
                                                    test mirrors it as ToyNet and must load it strictly)

Run with Debian's python (it has torch):  /usr/bin/python3 tools/make_safetensors_fixtures.py
It prints the values the C++ test (tests/test_safetensors.cpp) hard-codes.
"""
import json
import os
import struct

import torch
import torch.nn as nn

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "safetensors")

CODES = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
         torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8"}


def raw_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: reinterpret the bits
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def tensors():
    # Insertion order (not sorted) on purpose: the data layout follows it.
    return [
        ("weights.f32", (torch.arange(24, dtype=torch.float32) * 0.25 - 3.0).reshape(2, 3, 4)),
        ("conv.weight", (torch.arange(2 * 3 * 2 * 2, dtype=torch.float32) + 1).reshape(2, 3, 2, 2)),
        ("half.f16", torch.tensor([0.1, -2.5, 65504.0, 6.103515625e-05, 1e-7, 3.14159], dtype=torch.float16)),
        ("brain.bf16", torch.tensor([[0.1, -2.5, 3.0e38], [1e-30, 7.0, -0.0]], dtype=torch.bfloat16)),
        ("double.f64", torch.tensor([1.0 / 3.0, -1e300, 2.5], dtype=torch.float64)),
        ("count.i64", torch.tensor([-(2 ** 62), -1, 0, 2 ** 40 + 7], dtype=torch.int64)),
        ("labels.i32", torch.tensor([[7, -3], [2 ** 31 - 1, -(2 ** 31)]], dtype=torch.int32)),
        ("pixels.u8", torch.tensor([0, 1, 127, 128, 255], dtype=torch.uint8)),
        ("scalar.f32", torch.tensor(2.75, dtype=torch.float32)),
        ("empty.f32", torch.zeros(0, 3, dtype=torch.float32)),
    ]


def write(path, named, metadata):
    header = {"__metadata__": metadata}
    data = b""
    for name, t in named:
        b = raw_bytes(t)
        header[name] = {"dtype": CODES[t.dtype], "shape": list(t.shape), "data_offsets": [len(data), len(data) + len(b)]}
        data += b
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        f.write(data)
    print("wrote", os.path.normpath(path), 8 + len(text) + len(data), "bytes")


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(c)


class ToyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.layer1 = nn.Sequential(Block(4), Block(4))
        self.fc = nn.Linear(4, 5)


def toy_net_state():
    torch.manual_seed(0)
    net = ToyNet()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_()
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(11)
    return list(net.state_dict().items())


def main():
    write(os.path.join(DATA, "torch_written.safetensors"), tensors(),
          {"writer": "tools/make_safetensors_fixtures.py", "format": "pt"})
    for name, t in tensors():
        print(name, list(t.shape), [repr(v) for v in t.flatten().tolist()])
    state = toy_net_state()
    write(os.path.join(DATA, "toy_net.safetensors"), state, {"format": "pt"})
    print("toy_net:", [(k, list(v.shape)) for k, v in state])
    print("toy_net conv1.weight[1, 2, 0, 1] =", repr(state[0][1][1, 2, 0, 1].item()))


if __name__ == "__main__":
    main()
