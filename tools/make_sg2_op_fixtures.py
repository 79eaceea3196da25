#!/usr/bin/python3
"""Reference values for the StyleGAN2 generator ops (upfirdn2d, bias_act, modulate_weights, modulated_conv2d).

Run with Debian's python (it has torch):  /usr/bin/python3 tools/make_sg2_op_fixtures.py
Writes tests/data/sg2ops/{upfirdn2d,bias_act,modconv}.json.

  /usr/bin/python3 tools/make_sg2_op_fixtures.py --check-generator [/work/shared/fixtures/stylegan2]
runs the synthesis network of NVIDIA's G_small fixture on its stored ws with these reference ops and compares
the images NVIDIA's own code produced: the proof that the references (and so the fixtures) are NVIDIA's ops.

Every reference is written here with plain torch ops, following the semantics of NVIDIA's stylegan2-ada-pytorch
generator as described in /work/shared/stylegan2.md:
  upfirdn2d   zero-insertion upsample, pad (negative = crop), convolve with the FIR filter (flipped unless
              flip_filter, times gain), keep every down-th sample;
  bias_act    act(x + b) * gain, then clamp to [-clamp, clamp];
  modconv     the per-sample grouped convolution, the up-2 path as a stride-2 transposed convolution followed by
              the resampling filter (gain 4) with the padding that makes the output exactly twice the input.
Everything is computed in float64. Tensors are stored flattened in the fer layouts (activations NHWC, conv
weights OHWI), with their shapes. Each case also holds the gradients of sum(out * cot) for the cotangent
cot[i] = cos(0.7 i + 0.3), i the flat index in the fer layout.
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

torch.manual_seed(20240611)
DT = torch.float64
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "sg2ops")


def nchw_to_nhwc(t):
    return t.permute(0, 2, 3, 1)


def oihw_to_ohwi(t):
    return t.permute(0, 2, 3, 1)


def flat(t):
    # 10 significant digits: far below every tolerance the tests use, and keeps the files small
    return {"shape": list(t.shape), "data": [float("%.10g" % v) for v in t.detach().contiguous().reshape(-1).tolist()]}


def cotangent(shape):
    """The fixed cotangent every case backpropagates; the tests rebuild it with the same formula."""
    n = math.prod(shape)
    return torch.cos(0.7 * torch.arange(n, dtype=DT) + 0.3).reshape(shape)


def rand(*shape, lo=-1.0, hi=1.0):
    return (torch.rand(*shape, dtype=DT) * (hi - lo) + lo)


# ------------------------------------------------------------------ upfirdn2d
def upfirdn2d_ref(x, f, up=(1, 1), down=(1, 1), pad=(0, 0, 0, 0), flip_filter=False, gain=1.0):
    """x NCHW, f [fh, fw]; up/down (x, y); pad (x0, x1, y0, y1)."""
    upx, upy = up
    downx, downy = down
    px0, px1, py0, py1 = pad
    n, c, h, w = x.shape
    # zero insertion: every sample followed by up-1 zeros
    x = x.reshape(n, c, h, 1, w, 1)
    x = F.pad(x, [0, upx - 1, 0, 0, 0, upy - 1])
    x = x.reshape(n, c, h * upy, w * upx)
    # pad the positive sides, crop the negative ones
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]
    # torch's conv2d is a correlation: flipping the filter makes it a true convolution
    f = f * gain
    if not flip_filter:
        f = f.flip([0, 1])
    weight = f[None, None].repeat(c, 1, 1, 1)
    x = F.conv2d(x, weight, groups=c)
    return x[:, :, ::downy, ::downx]


def setup_filter(taps):
    t = torch.tensor(taps, dtype=DT)
    f = torch.outer(t, t)
    return f / f.sum()


def upsample2d_pads(fw, fh, up, p):
    return (p + (fw + up - 1) // 2, p + (fw - up) // 2, p + (fh + up - 1) // 2, p + (fh - up) // 2)


def downsample2d_pads(fw, fh, down, p):
    return (p + (fw - down + 1) // 2, p + (fw - down) // 2, p + (fh - down + 1) // 2, p + (fh - down) // 2)


def upfirdn2d_cases():
    f1331 = setup_filter([1, 3, 3, 1])
    cases = [
        dict(name="upsample2d_1331", shape=(2, 4, 3, 2), f=f1331, up=(2, 2), down=(1, 1),
             pad=upsample2d_pads(4, 4, 2, 0), flip=False, gain=4.0),
        dict(name="downsample2d_1331_odd", shape=(1, 7, 6, 2), f=f1331, up=(1, 1), down=(2, 2),
             pad=downsample2d_pads(4, 4, 2, 0), flip=False, gain=1.0),
        dict(name="nonsquare_negpads_flip", shape=(2, 6, 5, 2), f=rand(3, 2), up=(2, 1), down=(1, 2),
             pad=(-1, 2, 1, -2), flip=True, gain=1.7),
        dict(name="up3_down2_asym", shape=(1, 4, 5, 2), f=rand(2, 3), up=(3, 3), down=(2, 2),
             pad=(2, -1, 0, 3), flip=False, gain=0.6),
        dict(name="plain_fir_pad1", shape=(2, 4, 4, 3), f=rand(3, 3), up=(1, 1), down=(1, 1),
             pad=(1, 1, 1, 1), flip=False, gain=1.0),
        dict(name="upsample2d_pad1_c1", shape=(1, 3, 3, 1), f=f1331, up=(2, 2), down=(1, 1),
             pad=upsample2d_pads(4, 4, 2, 1), flip=False, gain=4.0),
    ]
    out = []
    for c in cases:
        n, h, w, ch = c["shape"]
        x = rand(n, ch, h, w).requires_grad_(True)  # NCHW
        y = upfirdn2d_ref(x, c["f"], c["up"], c["down"], c["pad"], c["flip"], c["gain"])
        cot = cotangent(nchw_to_nhwc(y).shape).permute(0, 3, 1, 2)
        (y * cot).sum().backward()
        out.append(dict(name=c["name"], up=list(c["up"]), down=list(c["down"]), pad=list(c["pad"]),
                        flip_filter=c["flip"], gain=c["gain"], f=flat(c["f"]), x=flat(nchw_to_nhwc(x)),
                        y=flat(nchw_to_nhwc(y)), grad_x=flat(nchw_to_nhwc(x.grad))))
    return out


# ------------------------------------------------------------------ bias_act
ACTS = {
    # name: (function of (x, alpha), default alpha, default gain)
    "linear": (lambda x, a: x, 0.0, 1.0),
    "relu": (lambda x, a: F.relu(x), 0.0, math.sqrt(2)),
    "lrelu": (lambda x, a: F.leaky_relu(x, a), 0.2, math.sqrt(2)),
    "tanh": (lambda x, a: torch.tanh(x), 0.0, 1.0),
    "sigmoid": (lambda x, a: torch.sigmoid(x), 0.0, 1.0),
    "elu": (lambda x, a: F.elu(x), 0.0, 1.0),
    "selu": (lambda x, a: F.selu(x), 0.0, 1.0),
    "softplus": (lambda x, a: F.softplus(x), 0.0, 1.0),
    "swish": (lambda x, a: torch.sigmoid(x) * x, 0.0, 1.0),
}


def bias_act_ref(x, b, act, alpha=None, gain=None, clamp=None):
    """x channels-last (bias along the last dim)."""
    func, def_alpha, def_gain = ACTS[act]
    alpha = def_alpha if alpha is None else alpha
    gain = def_gain if gain is None else gain
    if b is not None:
        x = x + b
    x = func(x, alpha) * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def bias_act_cases():
    cases = []
    for act in ACTS:
        cases.append(dict(name=act, shape=(2, 2, 3, 4), bias=True, act=act, alpha=None, gain=None, clamp=None))
    cases += [
        dict(name="lrelu_clamp", shape=(2, 3, 3, 4), bias=True, act="lrelu", alpha=None, gain=None, clamp=0.9),
        dict(name="lrelu_alpha_gain", shape=(3, 7), bias=True, act="lrelu", alpha=0.05, gain=1.3, clamp=None),
        dict(name="linear_nobias_clamp", shape=(2, 2, 3, 3), bias=False, act="linear", alpha=None, gain=2.0,
             clamp=1.1),
        dict(name="tanh_clamp_gain", shape=(1, 4, 2, 6), bias=True, act="tanh", alpha=None, gain=3.0, clamp=2.0),
    ]
    out = []
    for c in cases:
        x = rand(*c["shape"], lo=-2.5, hi=2.5).requires_grad_(True)
        b = rand(c["shape"][-1]).requires_grad_(True) if c["bias"] else None
        y = bias_act_ref(x, b, c["act"], c["alpha"], c["gain"], c["clamp"])
        cot = cotangent(y.shape)
        (y * cot).sum().backward()
        e = dict(name=c["name"], act=c["act"], x=flat(x), y=flat(y), grad_x=flat(x.grad))
        if b is not None:
            e["bias"] = flat(b)
            e["grad_bias"] = flat(b.grad)
        for k in ("alpha", "gain", "clamp"):
            if c[k] is not None:
                e[k] = c[k]
        out.append(e)
    return out


# ------------------------------------------------------------------ modulated conv
def modulate_ref(w, s, demodulate, eps=1e-8):
    """w OIHW [O, I, kh, kw], s [N, I] -> [N, O, I, kh, kw]."""
    wm = w[None] * s[:, None, :, None, None]
    if demodulate:
        wm = wm * (wm.square().sum(dim=[2, 3, 4], keepdim=True) + eps).rsqrt()
    return wm


def conv2d_resample_ref(x, w, f, up, padding, groups, flip_weight):
    """The grouped convolution with optional 2x upsampling, as NVIDIA's conv2d_resample (down = 1)."""
    out_ch, in_per_group, kh, kw = w.shape

    def conv(x, w, stride=1, pad=0, transpose=False, flip=True):
        # flip=False asks for a true convolution (torch's conv is a correlation)
        if not flip and (kh > 1 or kw > 1):
            w = w.flip([2, 3])
        if transpose:
            return F.conv_transpose2d(x, w, stride=stride, padding=pad, groups=groups)
        return F.conv2d(x, w, stride=stride, padding=pad, groups=groups)

    if up == 1:
        return conv(x, w, pad=padding, flip=flip_weight)
    fh, fw = f.shape
    px0 = padding + (fw + up - 1) // 2
    px1 = padding + (fw - up) // 2
    py0 = padding + (fh + up - 1) // 2
    py1 = padding + (fh - up) // 2
    if kh == 1 and kw == 1:  # 1x1: convolve, then upsample
        x = conv(x, w, flip=flip_weight)
        return upfirdn2d_ref(x, f, up=(up, up), pad=(px0, px1, py0, py1), gain=up * up)
    # transposed convolution: torch wants the weight as [in, out / groups, kh, kw]
    w = w.reshape(groups, out_ch // groups, in_per_group, kh, kw).transpose(1, 2)
    w = w.reshape(groups * in_per_group, out_ch // groups, kh, kw)
    px0 -= kw - 1
    px1 -= kw - up
    py0 -= kh - 1
    py1 -= kh - up
    pxt = max(min(-px0, -px1), 0)
    pyt = max(min(-py0, -py1), 0)
    x = conv(x, w, stride=up, pad=[pyt, pxt], transpose=True, flip=not flip_weight)
    return upfirdn2d_ref(x, f, pad=(px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt), gain=up * up)


def modconv_ref(x, w, s, demodulate, padding, up, f, flip_weight, noise):
    """x NCHW, w OIHW, s [N, I]; noise NCHW [N or 1, 1, H, W] (already scaled) or None."""
    n = x.shape[0]
    out_ch, in_ch, kh, kw = w.shape
    wm = modulate_ref(w, s, demodulate).reshape(n * out_ch, in_ch, kh, kw)
    y = conv2d_resample_ref(x.reshape(1, n * in_ch, *x.shape[2:]), wm, f, up, padding, n, flip_weight)
    y = y.reshape(n, out_ch, *y.shape[2:])
    if noise is not None:
        y = y + noise
    return y


def modulate_cases():
    out = []
    for name, (n, o, i, k), demod in [("demod_3x3", (2, 3, 4, 3), True), ("nodemod_1x1", (3, 2, 5, 1), False),
                                      ("demod_2x3", (2, 4, 3, None), True)]:
        kh, kw = (k, k) if k else (2, 3)
        w = rand(o, i, kh, kw).requires_grad_(True)
        s = rand(n, i, lo=0.2, hi=1.5).requires_grad_(True)
        y = modulate_ref(w, s, demod)  # [N, O, I, kh, kw]
        y_fer = y.permute(0, 1, 3, 4, 2)  # [N, O, kh, kw, I]
        (y_fer * cotangent(y_fer.shape)).sum().backward()
        out.append(dict(name=name, demodulate=demod, w=flat(oihw_to_ohwi(w)), styles=flat(s), y=flat(y_fer),
                        grad_w=flat(oihw_to_ohwi(w.grad)), grad_styles=flat(s.grad)))
    return out


def modconv_cases():
    f1331 = setup_filter([1, 3, 3, 1])
    # (name, N, H, W, I, O, k, demod, padding, up, flip_weight, noise)
    specs = [
        ("conv1_3x3", 2, 5, 4, 3, 2, 3, True, 1, 1, True, None),
        ("conv0_up2_3x3", 2, 3, 3, 3, 2, 3, True, 1, 2, False, None),
        ("torgb_1x1", 2, 3, 4, 3, 1, 1, False, 0, 1, True, None),
        ("flipped_up1", 1, 4, 5, 2, 3, 3, True, 1, 1, False, None),
        ("flipped_up2", 1, 3, 4, 2, 3, 3, True, 1, 2, True, None),
        ("up2_pad0", 1, 4, 4, 2, 2, 3, True, 0, 2, False, None),
        ("up2_1x1", 2, 3, 3, 3, 2, 1, False, 0, 2, False, None),
        ("conv1_noise_batch", 2, 3, 4, 2, 2, 3, True, 1, 1, True, "batch"),
        ("conv0_up2_noise_const", 2, 3, 3, 2, 3, 3, True, 1, 2, False, "const"),
    ]
    out = []
    for name, n, h, wd, i, o, k, demod, pad, up, flip, noise_kind in specs:
        x = rand(n, i, h, wd).requires_grad_(True)
        w = torch.randn(o, i, k, k, dtype=DT).requires_grad_(True)
        s = rand(n, i, lo=0.2, hi=1.5).requires_grad_(True)
        noise = None
        if noise_kind is not None:
            y0 = modconv_ref(x, w, s, demod, pad, up, f1331, flip, None)
            noise = rand(n if noise_kind == "batch" else 1, 1, *y0.shape[2:])
        y = modconv_ref(x, w, s, demod, pad, up, f1331, flip, noise)
        cot = cotangent(nchw_to_nhwc(y).shape).permute(0, 3, 1, 2)
        (y * cot).sum().backward()
        e = dict(name=name, demodulate=demod, padding=pad, up=up, flip_weight=flip, x=flat(nchw_to_nhwc(x)),
                 w=flat(oihw_to_ohwi(w)), styles=flat(s), y=flat(nchw_to_nhwc(y)),
                 grad_x=flat(nchw_to_nhwc(x.grad)), grad_w=flat(oihw_to_ohwi(w.grad)), grad_styles=flat(s.grad))
        if noise is not None:
            e["noise"] = flat(nchw_to_nhwc(noise))
        out.append(e)
    return out


# ------------------------------------------------------------------ the whole synthesis network, as a check
def read_safetensors(path):
    with open(path, "rb") as fh:
        blob = fh.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        assert meta["dtype"] == "F32", (name, meta["dtype"])
        a, b = meta["data_offsets"]
        t = torch.frombuffer(bytearray(blob[8 + n + a: 8 + n + b]), dtype=torch.float32)
        out[name] = t.reshape(meta["shape"]).to(DT)
    return out


def synthesis_ref(G, ws):
    """NVIDIA's SynthesisNetwork (skip architecture, noise const, conv_clamp 256) from the reference ops; NCHW."""
    def affine(prefix, w):
        weight = G[prefix + ".affine.weight"]
        return w @ (weight / math.sqrt(weight.shape[1])).t() + G[prefix + ".affine.bias"]

    def layer(prefix, x, w, up):
        styles = affine(prefix, w)
        noise = G[prefix + ".noise_const"] * G[prefix + ".noise_strength"] if noise_const else None
        x = modconv_ref(x, G[prefix + ".weight"], styles, True, 1, up, G[prefix + ".resample_filter"], up == 1, noise)
        b = G[prefix + ".bias"].reshape(1, -1, 1, 1)
        return bias_act_ref(x.permute(0, 2, 3, 1), b.reshape(-1), "lrelu", clamp=256 * math.sqrt(2)).permute(0, 3, 1, 2)

    def torgb(prefix, x, w):
        weight = G[prefix + ".weight"]
        styles = affine(prefix, w) / math.sqrt(weight.shape[1])
        y = modconv_ref(x, weight, styles, False, 0, 1, None, True, None)
        return bias_act_ref(y.permute(0, 2, 3, 1), G[prefix + ".bias"], "linear", clamp=256).permute(0, 3, 1, 2)

    n = ws.shape[0]
    x = G["synthesis.b4.const"][None].repeat(n, 1, 1, 1)
    x = layer("synthesis.b4.conv1", x, ws[:, 0], 1)
    img = torgb("synthesis.b4.torgb", x, ws[:, 1])
    idx, res = 1, 8
    while f"synthesis.b{res}.conv0.weight" in G:
        p = f"synthesis.b{res}"
        x = layer(p + ".conv0", x, ws[:, idx], 2)
        x = layer(p + ".conv1", x, ws[:, idx + 1], 1)
        f = G[p + ".resample_filter"]
        img = upfirdn2d_ref(img, f, up=(2, 2), pad=upsample2d_pads(f.shape[1], f.shape[0], 2, 0), gain=4.0)
        img = img + torgb(p + ".torgb", x, ws[:, idx + 2])
        idx, res = idx + 2, res * 2
    return img


def check_generator(folder):
    global noise_const
    G = read_safetensors(os.path.join(folder, "G_small.safetensors"))
    io = read_safetensors(os.path.join(folder, "G_small.io.safetensors"))
    worst = 0.0
    for case in ("psi1_const", "psi07_const", "psi07_cut4_const", "psi1_none"):
        noise_const = case.endswith("_const")
        want = io["img_" + case]
        got = synthesis_ref(G, io["ws_" + case])
        err = ((got - want).abs().max() / want.abs().max()).item()
        worst = max(worst, err)
        print(f"{case}: max |ref - NVIDIA| / max |NVIDIA| = {err:.3g}  (image range {want.min():.3f} .. {want.max():.3f})")
    print("OK" if worst < 1e-5 else "MISMATCH")
    return worst < 1e-5


noise_const = True


def write(name, obj):
    os.makedirs(OUT_DIR, exist_ok=True)
    path = os.path.join(OUT_DIR, name)
    with open(path, "w") as fh:
        json.dump(obj, fh, separators=(",", ":"))
    print(f"wrote {os.path.relpath(path)} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--check-generator":
        folder = sys.argv[2] if len(sys.argv) > 2 else "/work/shared/fixtures/stylegan2"
        sys.exit(0 if check_generator(folder) else 1)
    write("upfirdn2d.json", upfirdn2d_cases())
    write("bias_act.json", bias_act_cases())
    write("modconv.json", {"modulate_weights": modulate_cases(), "modulated_conv2d": modconv_cases()})
