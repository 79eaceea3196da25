#!/usr/bin/env python3
"""PyTorch peer of bench/bench_backbones: the same training step and eval forward on torchvision's backbones.

Run by tools/run_backbone_bench.sh with the current PyTorch release from PyPI (its own virtual environment);
any PyTorch >= 1.13 works:

    python tools/bench_backbones_peer.py --model resnet18 --mode train --size 64 --threads 2 --json out.jsonl

Per call: one model, mode and image size. A training step is zero_grad, forward, cross-entropy (7 classes), backward
and SGD with momentum 0.9 (lr 0.01), batch 32 by default; eval is a forward under torch.inference_mode() in eval
mode, batch 64. Each requested layout (channels_last, contiguous) builds the model afresh, runs --warmup untimed
steps, then times --iters steps one by one; the median is reported. --compile runs the model through
torch.compile (inductor, default mode) instead of eagerly; its compilation happens in the warm-up.
FLOPs: 2 x multiply-adds of every Conv2d / Linear module actually called (output elements x weight elements per
output channel), as bench_backbones counts fer's layers; a training step counts 3x.
One JSON object per layout is appended to --json.
"""
import argparse
import json
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

CLASSES = 7


class CustomCnn(nn.Module):
    """The study's custom CNN (models/custom_cnn.hpp): three conv-BN-ReLU-maxpool blocks, then a 2-layer head."""

    def __init__(self, size, classes=CLASSES):
        super().__init__()
        layers, widths = [], [3, 16, 32, 64]
        for cin, cout in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        side = size // 8
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(64 * side * side, 128), nn.Dropout(0.25), nn.ReLU(),
                                        nn.Linear(128, classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def make_model(name, size):
    if name == "custom_cnn":
        return CustomCnn(size)
    return getattr(torchvision.models, name)(num_classes=CLASSES)


def forward_flops(model, x):
    """2 x multiply-adds of the Conv2d / Linear modules that one forward calls."""
    total = [0]

    def hook(module, _inputs, output):
        w = module.weight
        total[0] += 2 * output.numel() * (w.numel() // w.shape[0])

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return total[0]


def measure(args, layout):
    torch.manual_seed(1)
    train = args.mode == "train"
    batch = args.batch or (32 if train else 64)
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    model = make_model(args.model, args.size).to(memory_format=fmt)
    x = (torch.rand(batch, 3, args.size, args.size) * 4 - 2).contiguous(memory_format=fmt)
    y = torch.arange(batch) % CLASSES
    model.train(train)
    flops = forward_flops(model, x) * (3 if train else 1)
    run = torch.compile(model) if args.compile else model
    if train:
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step():
            opt.zero_grad()
            F.cross_entropy(run(x), y).backward()
            opt.step()
    else:
        model.eval()

        def step():
            with torch.inference_mode():
                run(x)

    t0 = time.perf_counter()
    for _ in range(args.warmup):
        step()
    warmup_s = time.perf_counter() - t0
    times = []
    cpu0 = time.process_time()
    for _ in range(args.iters):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    cpu_busy = (time.process_time() - cpu0) / (sum(times) * torch.get_num_threads())
    max_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"impl": "torch-compile" if args.compile else "torch", "layout": layout, "model": args.model,
            "mode": args.mode, "size": args.size, "batch": batch, "threads": torch.get_num_threads(),
            "median_s": statistics.median(times), "best_s": min(times), "flops": flops, "iters": args.iters,
            "warmup_s": warmup_s, "torch": torch.__version__, "cpu_busy": cpu_busy, "max_rss_mib": max_rss_mib,
            "times_s": times}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--mode", choices=["train", "eval"], required=True)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--batch", type=int, default=0, help="default: 32 for train, 64 for eval")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--layouts", default="channels_last,contiguous")
    p.add_argument("--compile", action="store_true", help="torch.compile (inductor) instead of eager")
    p.add_argument("--json", help="append one JSON line per layout here")
    args = p.parse_args()
    if args.model != "custom_cnn" and not hasattr(torchvision.models, args.model):
        sys.exit(f"bench_backbones_peer: torchvision has no model '{args.model}'")
    torch.set_num_threads(args.threads)
    for layout in args.layouts.split(","):
        if layout not in ("channels_last", "contiguous"):
            sys.exit(f"bench_backbones_peer: unknown layout '{layout}'")
        r = measure(args, layout)
        print(f"{r['impl']} {r['model']} {r['mode']} {r['size']}px b{r['batch']} {layout}: "
              f"median {r['median_s'] * 1e3:.2f} ms, {r['batch'] / r['median_s']:.1f} images/s, "
              f"{r['flops'] / r['median_s'] * 1e-9:.1f} GFLOP/s", flush=True)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
