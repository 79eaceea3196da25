#!/usr/bin/python3
"""Runs torch.optim.{SGD, Adam, AdamW} (PyTorch 1.13, single-tensor code path: foreach=False) for 5 steps on
small parameters with fixed gradient sequences and writes what tests/test_optim.cpp replays:
tests/data/optim/{sgd,adam,adamw}.json.

Run with Debian's Python:  /usr/bin/python3 tools/make_optim_fixtures.py

Each case: the optimizer and its keyword arguments, the parameter groups (indices into `params0` with their
lr / weight_decay), the initial parameters, per step the gradient of each parameter (null = no gradient, the
parameter is skipped), the parameters after each step, and the final optimizer state per parameter.
"""
import json
import os
import zlib

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "optim")
STEPS = 5


def run_case(name, opt_name, kwargs, groups, sizes, dtype=torch.float64, grad_scales=None, missing=()):
    gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    params = [torch.randn(n, generator=gen, dtype=torch.float64).to(dtype).requires_grad_() for n in sizes]
    params0 = [p.detach().double().tolist() for p in params]
    torch_groups = [dict(params=[params[i] for i in g["params"]], **{k: v for k, v in g.items() if k != "params"})
                    for g in groups]
    opt = getattr(torch.optim, opt_name)(torch_groups, foreach=False, **kwargs)
    grads, after = [], []
    for step in range(STEPS):
        scale = grad_scales[step] if grad_scales else 1.0
        step_grads = []
        for i, p in enumerate(params):
            if (step, i) in missing:
                p.grad = None
                step_grads.append(None)
            else:
                g = (torch.randn(p.shape, generator=gen, dtype=torch.float64) * scale).to(dtype)
                if i == 0 and step == 1:
                    g[0] = 0.0  # a zero gradient entry (Adam's denominator is then eps-dominated)
                p.grad = g
                step_grads.append(g.double().tolist())
        grads.append(step_grads)
        opt.step()
        after.append([p.detach().double().tolist() for p in params])
    state = {}
    for i, p in enumerate(params):
        for key, value in opt.state.get(p, {}).items():
            if value is not None:  # SGD without momentum keeps momentum_buffer = None
                state[f"{i}.{key}"] = value.double().reshape(-1).tolist()
    return dict(name=name, optimizer=opt_name, dtype="f32" if dtype == torch.float32 else "f64", options=kwargs,
                groups=groups, params0=params0, grads=grads, params=after, state=state)


def main():
    one = [dict(params=[0])]
    cases = [
        run_case("sgd_plain", "SGD", dict(lr=0.1), one, [6]),
        run_case("sgd_momentum_dampening_wd", "SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01), one, [7]),
        run_case("sgd_nesterov_wd", "SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.05), one, [5]),
        run_case("sgd_maximize_momentum", "SGD", dict(lr=0.02, momentum=0.5, maximize=True), one, [4]),
        run_case("sgd_two_groups_missing_grad", "SGD", dict(lr=0.1, momentum=0.8),
                 [dict(params=[0], lr=0.3, weight_decay=0.1), dict(params=[1])], [3, 4], missing={(0, 1), (3, 0)}),
        run_case("adam_defaults", "Adam", dict(lr=1e-3), one, [6]),
        run_case("adam_betas_eps_wd", "Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1), one, [7]),
        run_case("adam_amsgrad_shrinking_grads", "Adam", dict(lr=0.02, amsgrad=True, weight_decay=0.01), one, [5],
                 grad_scales=[3.0, 1.0, 0.1, 2.0, 0.01]),
        run_case("adam_two_groups_missing_grad", "Adam", dict(lr=0.01),
                 [dict(params=[0], weight_decay=0.2), dict(params=[1], lr=0.05)], [3, 4], missing={(1, 1), (2, 0)}),
        run_case("adamw_wd", "AdamW", dict(lr=0.01, weight_decay=0.1), one, [6]),
        run_case("adamw_amsgrad_maximize", "AdamW", dict(lr=0.005, betas=(0.5, 0.9), weight_decay=0.01, amsgrad=True,
                                                         maximize=True), one, [5], grad_scales=[1.0, 5.0, 0.2, 0.2, 1.0]),
        run_case("adamw_two_groups_missing_grad", "AdamW", dict(lr=0.01, weight_decay=0.05),
                 [dict(params=[0], lr=0.02, weight_decay=0.0), dict(params=[1])], [2, 3], missing={(0, 0), (4, 1)}),
        run_case("adam_f32", "Adam", dict(lr=0.01, weight_decay=0.01), one, [9], dtype=torch.float32),
        run_case("sgd_nesterov_f32", "SGD", dict(lr=0.1, momentum=0.9, nesterov=True), one, [9], dtype=torch.float32),
    ]
    for c in cases:  # JSON has no tuples; keep betas as a list
        if "betas" in c["options"]:
            c["options"]["betas"] = list(c["options"]["betas"])
    os.makedirs(OUT, exist_ok=True)
    for opt_name in ("SGD", "Adam", "AdamW"):  # one small file per optimizer
        mine = [c for c in cases if c["optimizer"] == opt_name]
        with open(os.path.join(OUT, opt_name.lower() + ".json"), "w") as f:
            json.dump(dict(torch_version=torch.__version__, steps=STEPS, cases=mine), f)
            f.write("\n")
    print("wrote", len(cases), "cases to", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
