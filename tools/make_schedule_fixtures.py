#!/usr/bin/python3
"""Learning rates from torch.optim.lr_scheduler (Debian python3-torch) for fer's schedules:
StepLR, linear warmup + cosine annealing (SequentialLR of LinearLR and CosineAnnealingLR), OneCycleLR (lr and
momentum), and the gradient-norm clipping of torch.nn.utils.clip_grad_norm_.

Writes tests/data/train/schedules.json. Run: /usr/bin/python3 tools/make_schedule_fixtures.py
"""
import json
import os

import torch


def lrs(make, steps, base_lr=0.1, momentum_of=None):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base_lr, momentum=0.9)
    sched = make(opt)
    out, mom = [], []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        mom.append(opt.param_groups[0]["momentum"])
        opt.step()
        sched.step()
    return out, mom


def main():
    res = {}
    res["step"] = lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5), 10)[0]
    res["warmup_cosine"] = lrs(lambda o: torch.optim.lr_scheduler.SequentialLR(
        o, [torch.optim.lr_scheduler.LinearLR(o, start_factor=0.01, end_factor=1.0, total_iters=3),
            torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=7, eta_min=1e-4)], milestones=[3]), 10)[0]
    lr, mom = lrs(lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=20, pct_start=0.3), 20)
    res["one_cycle"] = lr
    res["one_cycle_momentum"] = mom
    g = torch.Generator().manual_seed(3)
    grads = [torch.randn(4, 3, generator=g), torch.randn(5, generator=g)]
    params = [torch.nn.Parameter(torch.zeros_like(t)) for t in grads]
    for p, t in zip(params, grads):
        p.grad = t.clone()
    total = torch.nn.utils.clip_grad_norm_(params, max_norm=1.5)
    res["clip"] = {"grads": [t.flatten().tolist() for t in grads], "max_norm": 1.5, "total_norm": total.item(),
                   "clipped": [p.grad.flatten().tolist() for p in params]}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "train", "schedules.json")
    with open(path, "w") as f:
        json.dump(res, f, indent=1)
    print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
