#!/usr/bin/env python3
"""PyTorch peer of bench/bench_cuda_kernels.cpp and of bench/bench_backbones.cpp --device cuda, on the same GPU.

    python3 tools/bench_cuda_peer.py [--json OUT.json] [--repetitions 3] [--min-time 0.1] [--steps 30] [--only kernels|train]
    python3 tools/bench_cuda_peer.py --table --fer kernels.json train.jsonl --torch torch.json   # join (run_cuda_bench.sh)

Rows carry fer's benchmark names, and every rate uses fer's formula for that name (bytes of the minimal traffic,
FLOPs, images), so fer/torch is the inverse ratio of the times. PyTorch runs its natural op for each row: out-of-place
gradients where fer accumulates (+=), its own mask layout for dropout, and so on; rows where PyTorch has no such op
(bias_act, upfirdn2d, modulated convolution) are absent. Tensors are channels_last (NHWC in memory). Timing: CUDA
events around `reps` back-to-back calls, as fer's benchmarks do; the best repetition and the median are kept.
Training: torchvision models (7 classes), channels_last, AdamW (foreach), batch 256 at 64x64, f32 and
torch.autocast(bfloat16), random data on the device, warm-up steps then timed steps.
"""
import argparse
import json
import math
import statistics
import sys

REPS = 5
ACTS = [(256, 32, 32, 64), (256, 16, 16, 256), (256, 8, 8, 512)]


def shape_name(s):
    return "x".join(str(v) for v in s)


def numel(s):
    return math.prod(s)


# ------------------------------------------------------------------------------------------------ timing


def time_calls(torch, fn, reps, min_time, repetitions):
    """Seconds per call for each repetition (mean over timed batches of `reps` calls lasting >= min_time)."""
    fn()
    torch.cuda.synchronize()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    out = []
    for _ in range(repetitions):
        total, calls = 0.0, 0
        while total < min_time:
            start.record()
            for _ in range(reps):
                fn()
            stop.record()
            stop.synchronize()
            total += start.elapsed_time(stop) * 1e-3
            calls += reps
        out.append(total / calls)
    return out


# ------------------------------------------------------------------------------------------------ kernels


def kernel_cases(torch):
    """Yields (name, unit, amount per call, setup) with setup() -> the callable to time."""
    F = torch.nn.functional
    aten = torch.ops.aten
    dev = "cuda"
    dts = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}

    def rand(shape, dt, lo=-1.0, hi=1.0):
        return torch.empty(shape, device=dev, dtype=torch.float32).uniform_(lo, hi).to(dt)

    def nhwc(shape, dt, lo=-1.0, hi=1.0):
        n, h, w, c = shape
        return rand((n, h, w, c), dt, lo, hi).permute(0, 3, 1, 2)  # NCHW view of NHWC memory = channels_last

    es = {"f32": 4, "bf16": 2, "f16": 2}

    # ceilings
    def copy_setup():
        a = torch.empty(1 << 30, dtype=torch.uint8, device=dev)
        b = torch.empty_like(a)
        return lambda: b.copy_(a)

    yield "copy d2d 1GiB", "GB/s", 2.0 * (1 << 30), copy_setup
    for label, dt, tf32 in (("f32", "f32", False), ("tf32", "f32", True), ("bf16", "bf16", False),
                            ("f16", "f16", False)):
        def gemm_setup(dt=dt, tf32=tf32):
            torch.backends.cuda.matmul.allow_tf32 = tf32
            n = 8192
            a, b = rand((n, n), dts[dt]), rand((n, n), dts[dt])
            c = torch.empty((n, n), device=dev, dtype=dts[dt])
            return lambda: torch.mm(a, b, out=c)

        yield f"gemm {label} 8192x8192x8192", "TFLOP/s", 2.0 * 8192 ** 3, gemm_setup

    for op, fwd, bwd in (("relu", F.relu, lambda gy, x, y: aten.threshold_backward(gy, y, 0)),
                         ("gelu", F.gelu, lambda gy, x, y: aten.gelu_backward(gy, x)),
                         ("silu", F.silu, lambda gy, x, y: aten.silu_backward(gy, x))):
        for d in ("f32", "bf16"):
            for s in ACTS:
                tail = f" {d} {shape_name(s)}"

                def fs(s=s, d=d, fwd=fwd):
                    x = rand(s, dts[d])
                    return lambda: fwd(x)

                def bs(s=s, d=d, fwd=fwd, bwd=bwd):
                    x, gy = rand(s, dts[d]), rand(s, dts[d])
                    y = fwd(x)
                    return lambda: bwd(gy, x, y)

                yield f"{op} fwd{tail}", "GB/s", 2 * numel(s) * es[d], fs
                yield f"{op} bwd{tail}", "GB/s", 4 * numel(s) * es[d], bs

    for d in ("f32", "bf16"):
        for s in ACTS:
            for per_sample in (False, True):
                bsh = (s[0] if per_sample else 1, 1, 1, s[3])
                tail = f" {d} {shape_name(s)}+{shape_name(bsh)}"

                def fs(s=s, d=d, bsh=bsh):
                    a, b = rand(s, dts[d]), rand(bsh, dts[d])
                    return lambda: a + b

                def bs(s=s, d=d, bsh=bsh, per_sample=per_sample):
                    gy = rand(s, dts[d])
                    dims = (1, 2) if per_sample else (0, 1, 2)
                    return lambda: gy.sum(dim=dims, keepdim=True)  # ga is gy itself in PyTorch's autograd

                yield f"add fwd{tail}", "GB/s", (2 * numel(s) + numel(bsh)) * es[d], fs
                yield f"add bwd{tail}", "GB/s", (3 * numel(s) + 2 * numel(bsh)) * es[d], bs

    for d in ("f32", "bf16"):
        for s in ACTS:
            def ss(s=s, d=d):
                x = rand(s, dts[d])
                return lambda: x.sum(dim=(0, 1, 2), keepdim=True)

            yield f"sum_to {d} {shape_name(s)}", "GB/s", (numel(s) + s[3]) * es[d], ss

    for d in ("f32", "bf16"):
        for s in ACTS:
            for per_sample in (False, True):
                tail = (" per-sample " if per_sample else " ") + f"{d} {shape_name(s)}"
                groups = s[0] if per_sample else numel(s)
                ms = 4  # fer's mask is f32 for f32 and bf16

                def fs(s=s, d=d, per_sample=per_sample):
                    x = rand(s, dts[d])
                    if per_sample:  # torchvision's stochastic_depth
                        return lambda: x * torch.empty((s[0], 1, 1, 1), device=dev, dtype=x.dtype).bernoulli_(0.8).div_(0.8)
                    return lambda: aten.native_dropout(x, 0.2, True)

                def bs(s=s, d=d, per_sample=per_sample):
                    gy = rand(s, dts[d])
                    if per_sample:
                        noise = torch.empty((s[0], 1, 1, 1), device=dev, dtype=gy.dtype).bernoulli_(0.8).div_(0.8)
                        return lambda: gy * noise
                    _, mask = aten.native_dropout(gy, 0.2, True)
                    return lambda: aten.native_dropout_backward(gy, mask, 1.0 / 0.8)

                yield f"dropout fwd{tail}", "GB/s", 2 * numel(s) * es[d] + 2 * groups * ms, fs
                yield f"dropout bwd{tail}", "GB/s", 3 * numel(s) * es[d] + groups * ms, bs

    for s in ACTS:
        def cf(s=s):
            x = rand(s, torch.float32)
            return lambda: x.to(torch.bfloat16)

        def cb(s=s):
            gy, gx = rand(s, torch.bfloat16), torch.zeros(s, device=dev)
            return lambda: gx.add_(gy)

        yield f"cast f32->bf16 fwd {shape_name(s)}", "GB/s", numel(s) * 6, cf
        yield f"cast f32->bf16 bwd {shape_name(s)}", "GB/s", numel(s) * 10, cb

    for d in ("f32", "bf16"):
        for s in ACTS:
            c = s[3]
            tail = f" {d} {shape_name(s)}"

            def st(s=s, d=d):
                x = nhwc(s, dts[d])
                return lambda: torch.batch_norm_stats(x, 1e-5)

            def ap(s=s, d=d, c=c):
                x = nhwc(s, dts[d])
                mean, invstd = torch.batch_norm_stats(x, 1e-5)
                w, b = rand((c,), dts[d]), rand((c,), dts[d])
                return lambda: torch.batch_norm_elemt(x, w, b, mean, invstd, 1e-5)

            def bw(s=s, d=d, c=c):
                x, gy = nhwc(s, dts[d]), nhwc(s, dts[d])
                mean, invstd = torch.batch_norm_stats(x, 1e-5)
                w = rand((c,), dts[d])
                return lambda: aten.native_batch_norm_backward(gy, x, w, None, None, mean, invstd, True, 1e-5,
                                                               [True, True, True])

            yield f"batch_norm stats{tail}", "GB/s", numel(s) * es[d], st
            yield f"batch_norm apply{tail}", "GB/s", 2 * numel(s) * es[d], ap
            yield f"batch_norm bwd{tail}", "GB/s", 4 * numel(s) * es[d], bw

    for d in ("f32", "bf16"):
        for s in ((256, 16, 16, 96), (256, 8, 8, 192), (256, 4, 4, 384)):
            c, m = s[3], numel(s) // s[3]
            tail = f" {d} {shape_name(s)}"

            def lf(s=s, d=d, c=c):
                x, w, b = rand(s, dts[d]), rand((c,), dts[d]), rand((c,), dts[d])
                return lambda: aten.native_layer_norm(x, [c], w, b, 1e-6)

            def lb(s=s, d=d, c=c):
                x, gy, w, b = rand(s, dts[d]), rand(s, dts[d]), rand((c,), dts[d]), rand((c,), dts[d])
                _, mean, rstd = aten.native_layer_norm(x, [c], w, b, 1e-6)
                return lambda: aten.native_layer_norm_backward(gy, x, [c], mean, rstd, w, b, [True, True, True])

            yield f"layer_norm fwd{tail}", "GB/s", (2 * numel(s) + 2 * m) * es[d], lf
            yield f"layer_norm bwd{tail}", "GB/s", (4 * numel(s) + 2 * m) * es[d], lb

    for d in ("f32", "bf16"):
        s, so = (256, 32, 32, 64), (256, 16, 16, 64)

        def mf(s=s, d=d):
            x = nhwc(s, dts[d])
            return lambda: F.max_pool2d(x, 3, 2, 1, return_indices=True)

        def mb(s=s, so=so, d=d):
            x = nhwc(s, dts[d])
            _, idx = F.max_pool2d(x, 3, 2, 1, return_indices=True)
            gy = nhwc(so, dts[d])
            return lambda: aten.max_pool2d_with_indices_backward(gy, x, [3, 3], [2, 2], [1, 1], [1, 1], False, idx)

        yield f"max_pool 3x3s2 fwd {d} {shape_name(s)}", "GB/s", (numel(s) + numel(so)) * es[d] + numel(so) * 4, mf
        yield f"max_pool 3x3s2 bwd {d} {shape_name(s)}", "GB/s", (numel(so) + 2 * numel(s)) * es[d] + numel(so) * 4, mb
        s, so = (256, 16, 16, 256), (256, 8, 8, 256)

        def af(s=s, d=d):
            x = nhwc(s, dts[d])
            return lambda: F.avg_pool2d(x, 2, 2)

        def ab(s=s, so=so, d=d):
            x, gy = nhwc(s, dts[d]), nhwc(so, dts[d])
            return lambda: aten.avg_pool2d_backward(gy, x, [2, 2], [2, 2], [0, 0], False, True, None)

        yield f"avg_pool 2x2s2 fwd {d} {shape_name(s)}", "GB/s", (numel(s) + numel(so)) * es[d], af
        yield f"avg_pool 2x2s2 bwd {d} {shape_name(s)}", "GB/s", (numel(so) + 2 * numel(s)) * es[d], ab
        s, so = (256, 8, 8, 512), (256, 1, 1, 512)

        def gf(s=s, d=d):
            x = nhwc(s, dts[d])
            return lambda: F.adaptive_avg_pool2d(x, 1)

        def gb(s=s, so=so, d=d):
            x, gy = nhwc(s, dts[d]), nhwc(so, dts[d])
            return lambda: aten._adaptive_avg_pool2d_backward(gy, x)

        yield f"adaptive_avg_pool 1x1 fwd {d} {shape_name(s)}", "GB/s", (numel(s) + numel(so)) * es[d], gf
        yield f"adaptive_avg_pool 1x1 bwd {d} {shape_name(s)}", "GB/s", (numel(so) + 2 * numel(s)) * es[d], gb

    for s in ((256, 7), (16384, 1000)):
        rows = s[0]
        for d in ("f32", "bf16"):
            def sf(s=s, d=d):
                x = rand(s, dts[d], -4, 4)
                return lambda: torch.softmax(x, 1)

            def sb(s=s, d=d):
                x, gy = rand(s, dts[d], -4, 4), rand(s, dts[d])
                y = torch.softmax(x, 1)
                return lambda: aten._softmax_backward_data(gy, y, 1, x.dtype)

            yield f"softmax fwd {d} {shape_name(s)}", "GB/s", 2 * numel(s) * es[d], sf
            yield f"softmax bwd {d} {shape_name(s)}", "GB/s", 4 * numel(s) * es[d], sb

        def target(s=s):
            return (torch.arange(s[0], device=dev) * 7919) % s[1]

        def cf(s=s):
            x, t = rand(s, torch.float32, -4, 4), target()
            return lambda: F.cross_entropy(x, t)

        def cb(s=s):
            x, t = rand(s, torch.float32, -4, 4).requires_grad_(), target()
            loss = F.cross_entropy(x, t)
            return lambda: torch.autograd.grad(loss, x, retain_graph=True)

        yield f"cross_entropy fwd f32 {shape_name(s)}", "GB/s", numel(s) * 4 + rows * 16, cf
        yield f"cross_entropy bwd f32 {shape_name(s)}", "GB/s", 3 * numel(s) * 4 + rows * 12, cb

    for d in ("f32", "bf16"):
        for k, s in ((3, (256, 32, 32, 64)), (3, (256, 16, 16, 144)), (5, (256, 8, 8, 240)), (7, (256, 16, 16, 96)),
                     (7, (256, 8, 8, 192))):
            c = s[3]
            nx, nw = numel(s), c * k * k
            flops = 2.0 * nx * k * k
            for pname, nbytes, mask in (("fwd", 2 * nx + nw, None), ("bwd_input", 3 * nx + nw, [True, False, False]),
                                        ("bwd_weight", 2 * nx + 2 * nw, [False, True, False])):
                def dw(s=s, d=d, k=k, c=c, mask=mask):
                    x, gy = nhwc(s, dts[d]), nhwc(s, dts[d])
                    w = rand((c, 1, k, k), dts[d], -0.2, 0.2).contiguous(memory_format=torch.channels_last)
                    p = k // 2
                    if mask is None:
                        return lambda: F.conv2d(x, w, None, 1, p, 1, c)
                    return lambda: aten.convolution_backward(gy, x, w, None, [1, 1], [p, p], [1, 1], False, [0, 0], c,
                                                             mask)

                # keyed by fer's own kernel's row; fer's cuDNN rows are the other comparison
                yield f"dwconv{k}x{k} {pname} fer {d} {shape_name(s)}", "GFLOP/s", flops, dw

    for adam in (False, True):
        def opt(adam=adam):
            ps = []
            for s in resnet50_shapes():
                p = torch.nn.Parameter(rand(s, torch.float32))
                p.grad = rand(s, torch.float32, -1e-2, 1e-2)
                ps.append(p)
            if adam:
                try:
                    o = torch.optim.AdamW(ps, lr=1e-3, weight_decay=1e-2, fused=True)
                except (TypeError, RuntimeError):
                    o = torch.optim.AdamW(ps, lr=1e-3, weight_decay=1e-2, foreach=True)
            else:
                o = torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=5e-5, foreach=True)
            o.step()  # creates the state
            return o.step

        values = sum(numel(s) for s in resnet50_shapes())
        yield (f"{'adamw' if adam else 'sgd momentum'} multi-tensor step f32 resnet50", "GB/s",
               values * 4 * (7 if adam else 5), opt)

    for d in ("f32", "bf16"):
        def half(d=d):
            x = rand((256, 16, 16, 232), dts[d])
            return lambda: x[..., 116:].contiguous()

        def perm(d=d):
            x = rand((256, 32, 32, 64), dts[d])
            return lambda: x.permute(0, 3, 1, 2).contiguous()

        def pf(d=d):
            x = nhwc((256, 32, 32, 64), dts[d])
            return lambda: F.pad(x, (1, 1, 1, 1))

        def pb(d=d):
            gy = nhwc((256, 34, 34, 64), dts[d])
            return lambda: F.pad(gy, (-1, -1, -1, -1)).contiguous(memory_format=torch.channels_last)

        n_half, n_perm = 256 * 16 * 16 * 116, 256 * 32 * 32 * 64
        yield f"gather_strided channel-half {d} 256x16x16x232", "GB/s", 2 * n_half * es[d], half
        yield f"gather_strided nhwc->nchw {d} 256x32x32x64", "GB/s", 2 * n_perm * es[d], perm
        yield f"pad2d 1 fwd {d} 256x32x32x64", "GB/s", (n_perm + 256 * 34 * 34 * 64) * es[d], pf
        yield f"pad2d 1 bwd {d} 256x32x32x64", "GB/s", 3 * n_perm * es[d], pb


def resnet50_shapes():
    """The same list as bench_cuda_kernels.cpp (ResNet-50, 7 classes; layouts do not matter for the optimizer)."""
    out = [(64, 7, 7, 3), (64,), (64,)]
    cin = 64
    for planes, blocks in ((64, 3), (128, 4), (256, 6), (512, 3)):
        for b in range(blocks):
            out += [(planes, 1, 1, cin), (planes,), (planes,), (planes, 3, 3, planes), (planes,), (planes,),
                    (4 * planes, 1, 1, planes), (4 * planes,), (4 * planes,)]
            if b == 0:
                out += [(4 * planes, 1, 1, cin), (4 * planes,), (4 * planes,)]
            cin = 4 * planes
    return out + [(7, 2048), (7,)]


# ------------------------------------------------------------------------------------------------ training

BACKBONES = ["resnet18", "resnet50", "efficientnet_b0", "mobilenet_v3_large", "shufflenet_v2_x1_0", "densenet121",
             "convnext_tiny"]


def train_rates(torch, steps, warmup, repetitions):
    import torchvision

    out = {}
    for name in BACKBONES:
        for amp in (False, True):
            row = f"train {name} {'amp-bf16' if amp else 'f32'} 64x64 b256"
            try:
                torch.manual_seed(1)
                model = getattr(torchvision.models, name)(num_classes=7).cuda().to(memory_format=torch.channels_last)
                model.train()
                opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2, foreach=True)
                x = torch.empty((256, 3, 64, 64), device="cuda").uniform_(-2, 2).contiguous(
                    memory_format=torch.channels_last)
                y = torch.randint(0, 7, (256,), device="cuda")

                def step():
                    opt.zero_grad(set_to_none=True)
                    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                        loss = torch.nn.functional.cross_entropy(model(x), y)
                    loss.backward()
                    opt.step()

                for _ in range(warmup):
                    step()
                torch.cuda.synchronize()
                start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                rates = []  # one figure per repetition: `steps` steps, each timed alone, as fer's benchmark does
                for _ in range(repetitions):
                    total = 0.0
                    for _ in range(steps):
                        start.record()
                        step()
                        stop.record()
                        stop.synchronize()
                        total += start.elapsed_time(stop) * 1e-3
                    rates.append(256 * steps / total)
                out[row] = {"unit": "images/s", "all": rates}
                print(f"{row:60s} {max(rates):10.1f} images/s (median {statistics.median(rates):.1f})", flush=True)
                del model, opt
                torch.cuda.empty_cache()
            except Exception as e:  # one failing model must not lose the others
                print(f"{row}: failed: {e}", file=sys.stderr, flush=True)
    return out


# ------------------------------------------------------------------------------------------------ join


def fer_results(paths):
    """name -> {unit: [per-repetition values]} from Google Benchmark JSON files."""
    out, context = {}, {}
    for path in paths:
        if path.endswith(".jsonl"):  # bench_backbones --device cuda: one line per training configuration
            with open(path) as f:
                for line in f:
                    r = json.loads(line)
                    name = (f"train {r['model']} {'amp-bf16' if r['amp'] == 'bf16' else 'f32'} "
                            f"{r['size']}x{r['size']} b{r['batch']}")
                    out.setdefault(name, {}).setdefault("images/s", []).extend(r["batch"] / t for t in r["times_s"])
            continue
        with open(path) as f:
            data = json.load(f)
        context.update(data.get("context", {}))
        for b in data.get("benchmarks", []):
            if b.get("run_type") != "iteration" or b.get("error_occurred"):
                continue
            name = b.get("run_name", b["name"]).split("/")[0]
            for unit in ("GB/s", "of_copy", "GFLOP/s", "TFLOP/s", "images/s"):
                if unit in b:
                    out.setdefault(name, {}).setdefault(unit, []).append(b[unit])
            if b.get("label"):
                out.setdefault(name, {})["label"] = b["label"]
    return out, context


def table(fer_paths, torch_paths):
    fer, context = fer_results(fer_paths)
    torch_rows, meta = {}, {}
    for path in torch_paths:
        with open(path) as f:
            data = json.load(f)
        meta = data
        for name, r in data["results"].items():
            torch_rows.setdefault(name, {"unit": r["unit"], "all": []})["all"].extend(r["all"])
    print(f"device: {context.get('device', '?')}; torch {meta.get('torch', '?')} on {meta.get('device', '?')}")
    copy = fer.get("copy d2d 1GiB", {}).get("GB/s")
    tcopy = torch_rows.get("copy d2d 1GiB", {}).get("all")
    if copy:
        print(f"copy ceiling (read + write, best): fer {max(copy):.1f} GB/s"
              + (f", torch {max(tcopy):.1f} GB/s" if tcopy else ""))
    print("Figures: best repetition (median in parentheses). fer/torch > 1: fer is faster.")
    print()
    print("| benchmark | unit | fer | torch | fer/torch | fer / copy ceiling |")
    print("|---|---|---:|---:|---:|---:|")
    for name, units in fer.items():
        unit = next((u for u in ("images/s", "TFLOP/s", "GFLOP/s", "GB/s") if u in units), None)
        if unit is None:
            continue
        v = units[unit]
        t = torch_rows.get(name)
        t_cell = f"{max(t['all']):.1f} ({statistics.median(t['all']):.1f})" if t and t["unit"] == unit else "-"
        ratio = f"{max(v) / max(t['all']):.2f}" if t and t["unit"] == unit else "-"
        frac = f"{max(units['of_copy']):.2f}" if "of_copy" in units else "-"
        label = f" ({units['label']})" if "label" in units else ""
        print(f"| {name}{label} | {unit} | {max(v):.1f} ({statistics.median(v):.1f}) | {t_cell} | {ratio} | {frac} |")


# ------------------------------------------------------------------------------------------------ main


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--repetitions", type=int, default=3)
    ap.add_argument("--min-time", type=float, default=0.1)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--only", choices=("kernels", "train"))
    ap.add_argument("--filter", default="", help="run only kernel rows whose name contains this")
    ap.add_argument("--table", action="store_true", help="join --fer and --torch JSON files into a markdown table")
    ap.add_argument("--fer", nargs="*", default=[])
    ap.add_argument("--torch", nargs="*", default=[])
    args = ap.parse_args()
    if args.table:
        table(args.fer, args.torch)
        return

    import torch

    if not torch.cuda.is_available():
        print("bench_cuda_peer: no CUDA device: nothing run")
        return
    results = {}
    if args.only != "train":
        for name, unit, amount, setup in kernel_cases(torch):
            if args.filter not in name:
                continue
            try:
                fn = setup()
                secs = time_calls(torch, fn, REPS, args.min_time, args.repetitions)
                del fn
            except Exception as e:  # an op missing from this PyTorch version loses one row only
                print(f"{name}: failed: {e}", file=sys.stderr, flush=True)
                continue
            scale = {"GB/s": 1e-9, "GFLOP/s": 1e-9, "TFLOP/s": 1e-12}[unit]
            rates = [amount * scale / s for s in secs]
            results[name] = {"unit": unit, "all": rates}
            print(f"{name:60s} {max(rates):10.1f} {unit} (median {statistics.median(rates):.1f})", flush=True)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.cuda.empty_cache()
    if args.only != "kernels":
        results.update(train_rates(torch, args.steps, args.warmup, args.repetitions))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "device": torch.cuda.get_device_name(0), "results": results}, f,
                      indent=1)


if __name__ == "__main__":
    main()
