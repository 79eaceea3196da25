#!/usr/bin/env python3
"""PyTorch's peak resident memory (max RSS) for the training steps bench_bn_relu runs: torchvision backbone,
7 classes, batch 32 at 64 px, cross-entropy, SGD with momentum, `--steps` steps on `--threads` threads.
Prints one line: model, layout, max RSS in MiB (whole process, import of torch included, as fer's figure).
Run one model per process: max RSS only grows."""
import argparse
import resource

import torch
import torchvision


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("model")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--channels_last", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = getattr(torchvision.models, a.model)(num_classes=7).train()
    x = torch.randn(a.batch, 3, a.size, a.size)
    y = torch.arange(a.batch) % 7
    if a.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    for _ in range(a.steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"{a.model} {'channels_last' if a.channels_last else 'contiguous'} max_rss_mib {rss:.0f}")


if __name__ == "__main__":
    main()
