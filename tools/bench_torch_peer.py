#!/usr/bin/python3
"""PyTorch peer of fer's CPU benchmarks (bench/bench_gemm.cpp, bench/bench_conv.cpp): the same shapes, the
same GFLOP formula, two threads, channels_last activations.

    /usr/bin/python3 tools/bench_torch_peer.py [--json OUT.json] [--repetitions 5] [--min-time 0.3]

Prints one row per shape (best and median GFLOP/s over the repetitions); --json writes them for
bench/make_table.py. Each repetition times a loop of iterations lasting at least --min-time seconds.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

GEMMS = [  # name, trans_a, trans_b, m, n, k   (as bench_gemm.cpp)
    ("gemm 256x256x256", False, False, 256, 256, 256),
    ("gemm 512x512x512", False, False, 512, 512, 512),
    ("gemm 1024x1024x1024", False, False, 1024, 1024, 1024),
    ("gemm conv3x3 fwd 8192x64x576", False, True, 8192, 64, 576),
    ("gemm conv3x3 wgrad 64x576x8192", True, False, 64, 576, 8192),
    ("gemm conv1x1 fwd 8192x64x256", False, True, 8192, 64, 256),
    ("gemm linear 32x1000x512", False, True, 32, 1000, 512),
]

CONVS = [  # name, n, h, w, c, o, k, stride, pad, groups   (as bench_conv.cpp)
    ("conv3x3 64->64 16x16 s1", 32, 16, 16, 64, 64, 3, 1, 1, 1),
    ("conv3x3 64->128 16x16 s2", 32, 16, 16, 64, 128, 3, 2, 1, 1),
    ("conv1x1 256->64 16x16", 32, 16, 16, 256, 64, 1, 1, 0, 1),
    ("dwconv3x3 C144 16x16", 32, 16, 16, 144, 144, 3, 1, 1, 144),
    ("dwconv7x7 C96 16x16", 32, 16, 16, 96, 96, 7, 1, 3, 96),
]


def measure(step, flops, repetitions, min_time):
    """GFLOP/s of `step` per repetition: iterations calibrated to last at least min_time seconds."""
    step()  # warm-up (allocations, oneDNN primitive creation)
    iters = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(iters):
            step()
        dt = time.perf_counter() - t0
        if dt >= min_time:
            break
        iters *= 2 if dt < min_time / 4 else max(2, int(min_time / max(dt, 1e-9) * iters * 1.2) // iters)
    rates = []
    for _ in range(repetitions):
        t0 = time.perf_counter()
        for _ in range(iters):
            step()
        rates.append(flops * iters / (time.perf_counter() - t0) * 1e-9)
    return rates


def gemm_case(trans_a, trans_b, m, n, k):
    a = torch.rand(k, m) * 2 - 1 if trans_a else torch.rand(m, k) * 2 - 1
    b = torch.rand(n, k) * 2 - 1 if trans_b else torch.rand(k, n) * 2 - 1
    c = torch.empty(m, n)
    opa = a.t() if trans_a else a
    opb = b.t() if trans_b else b

    def step():
        torch.mm(opa, opb, out=c)

    return step, 2.0 * m * n * k


def conv_case(n, h, w, c, o, k, stride, pad, groups, backward):
    x = (torch.rand(n, c, h, w) * 2 - 1).contiguous(memory_format=torch.channels_last)
    wt = ((torch.rand(o, c // groups, k, k) * 2 - 1) * 0.1).contiguous(memory_format=torch.channels_last)
    ho = (h + 2 * pad - k) // stride + 1
    wo = (w + 2 * pad - k) // stride + 1
    flops = 2.0 * n * ho * wo * o * k * k * (c // groups)
    if not backward:
        def step():
            with torch.no_grad():
                F.conv2d(x, wt, None, stride, pad, 1, groups)
        return step, flops
    x.requires_grad_(True)
    wt.requires_grad_(True)
    seed = (torch.rand(n, o, ho, wo) * 2 - 1).contiguous(memory_format=torch.channels_last)

    def step():
        x.grad = None
        wt.grad = None
        F.conv2d(x, wt, None, stride, pad, 1, groups).backward(seed)

    return step, 3.0 * flops


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--repetitions", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.3)
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(1)
    cases = [(name, gemm_case(*dims)) for name, *dims in GEMMS]
    for backward in (False, True):
        for name, *dims in CONVS:
            cases.append((name + (" fwd+bwd" if backward else " fwd"), conv_case(*dims, backward)))
    results = {}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'shape':40s} {'best GFLOP/s':>13s} {'median':>8s}")
    for name, (step, flops) in cases:
        rates = measure(step, flops, args.repetitions, args.min_time)
        results[name] = {"best": max(rates), "median": statistics.median(rates), "all": rates}
        print(f"{name:40s} {max(rates):13.1f} {statistics.median(rates):8.1f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "threads": torch.get_num_threads(), "results": results}, f,
                      indent=1)


if __name__ == "__main__":
    main()
