#!/usr/bin/python3
"""The peer of bench/bench_stylegan2.cpp: NVIDIA's reference formulation of the synthesis network (modulated conv
as one grouped conv2d, upfirdn2d, bias_act; tools/make_sg2_op_fixtures.py, which matches NVIDIA's images to 8e-7)
in PyTorch 1.13 on the CPU (2 threads, f32), plus the mapping network, on the same paper256-width network at
batch 8. Prints images/s for 64x64 and 256x256. NVIDIA's own repository is not available on this machine; this is
the same computation written with the same PyTorch ops its reference (non-CUDA) path uses.
Run: /usr/bin/python3 tools/bench_stylegan2_peer.py"""
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_sg2_op_fixtures as ref  # noqa: E402

torch.set_num_threads(2)
ref.noise_const = True


def random_g(res_max, z=512, w=512, c=7, img=3, cbase=16384, cmax=512):
    g = torch.Generator().manual_seed(1)
    G = {}

    def put(name, shape, scale=0.1):
        G[name] = torch.randn(shape, generator=g) * scale

    put("mapping.w_avg", (w,)), put("mapping.embed.weight", (w, c)), put("mapping.embed.bias", (w,))
    for i in range(8):
        put(f"mapping.fc{i}.weight", (w, z + w if i == 0 else w), 1.0), put(f"mapping.fc{i}.bias", (w,))
    res = 4
    while res <= res_max:
        b, out = f"synthesis.b{res}", min(cbase // res, cmax)
        cin_block = out if res == 4 else min(cbase // (res // 2), cmax)
        if res == 4:
            put(b + ".const", (out, 4, 4), 1.0)
        for conv in ("conv0", "conv1"):
            if res == 4 and conv == "conv0":
                continue
            p, cin = f"{b}.{conv}", (cin_block if conv == "conv0" else out)
            put(p + ".weight", (out, cin, 3, 3), 1.0), put(p + ".bias", (out,))
            put(p + ".affine.weight", (cin, w), 1.0), put(p + ".affine.bias", (cin,))
            put(p + ".noise_const", (res, res), 1.0), put(p + ".noise_strength", ())
            G[p + ".resample_filter"] = ref.setup_filter([1, 3, 3, 1]).float()
        put(b + ".torgb.weight", (img, out, 1, 1), 1.0), put(b + ".torgb.bias", (img,))
        put(b + ".torgb.affine.weight", (out, w), 1.0), put(b + ".torgb.affine.bias", (out,))
        G[b + ".resample_filter"] = ref.setup_filter([1, 3, 3, 1]).float()
        res *= 2
    return G


def mapping(G, z, c, num_ws, psi=0.7):
    def norm(x):
        return x * (x.square().mean(1, keepdim=True) + 1e-8).rsqrt()

    def fc(p, x, lr, act):
        wgt = G[p + ".weight"] * (lr / math.sqrt(G[p + ".weight"].shape[1]))
        x = x @ wgt.t() + G[p + ".bias"] * lr
        return torch.nn.functional.leaky_relu(x, 0.2) * math.sqrt(2) if act else x

    x = torch.cat([norm(z), norm(fc("mapping.embed", c, 1.0, False))], 1)
    for i in range(8):
        x = fc(f"mapping.fc{i}", x, 0.01, True)
    ws = x[:, None].repeat(1, num_ws, 1)
    return G["mapping.w_avg"].lerp(ws, psi)


def main():
    for res in (64, 256):
        G = random_g(res)
        num_ws = 2 * int(math.log2(res)) - 2
        z = torch.randn(8, 512)
        c = torch.nn.functional.one_hot(torch.arange(8) % 7, 7).float()
        with torch.no_grad():
            ref.synthesis_ref(G, mapping(G, z, c, num_ws))  # warm-up
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < 4.0 or n < 2:
                ref.synthesis_ref(G, mapping(G, z, c, num_ws))
                n += 1
            dt = (time.perf_counter() - t0) / n
        print(f"pytorch reference formulation, {res}x{res}, batch 8: {8 / dt:.2f} images/s ({dt * 1000:.0f} ms per batch)")


if __name__ == "__main__":
    main()
