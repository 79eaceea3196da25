#!/usr/bin/python3
"""Reference weights and outputs for examples/verify, from any torchvision or timm model.

  /usr/bin/python3 tools/make_verify_io.py resnet18 --num-classes 7 --sizes 224,64,48,57,97 --train-step \
      --weights-out r18.pt --io-out r18.io.safetensors

The model is built with its library's own initialization (torchvision's, or timm's for --timm; --pretrained NAME
loads torchvision weights from torch's cache instead); then, for random weights, every normalization layer's affine
parameters are perturbed and its running statistics are measured on random images and perturbed around them
(seeded), so that batch norm really transforms its input and the logits depend on the image. Writes:
  --weights-out   the state dict: .pt/.pth by torch.save (--legacy: its pre-1.6 format), or .safetensors;
                  --half stores floating tensors as float16 (the references are computed from those rounded values)
  --io-out        safetensors: input_<S> (NCHW float32, seeded normal) and logits_<S> (eval mode) per size S;
                  with --train-step also train_input/train_target (4 images at the first size), loss and grad.<param>
                  of one training-mode step (batch norm in training mode, dropout and stochastic depth off, as verify
                  runs it), for every parameter or those named by --grads; and logits64_<S>, loss64, grad64.<param>:
                  the same computed in float64, so that verify can tell rounding sensitivity from error; and
                  loss32spread, grad32spread.<param>: the largest relative L2 distance from float64 of PyTorch's
                  float32 step over variants that change only rounding (see float32_variants)
tf_efficientnet_b0_ns needs timm (not a Debian package): run with a Python that has it (see tools/make_fixtures.py).
"""
import argparse
import copy
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from export_torchvision import save_safetensors  # noqa: E402


def build(name, num_classes, use_timm, pretrained):
    if use_timm:
        import timm
        return timm.create_model(name, num_classes=num_classes)
    import torchvision.models as tvm
    if pretrained:
        model = getattr(tvm, name)(weights=pretrained)
        assert num_classes == 1000, "--pretrained keeps the 1000 ImageNet classes"
        return model
    return getattr(tvm, name)(weights=None, num_classes=num_classes)


def perturb_norms(model, gen, size):
    """Norm layers that really transform: affine parameters (and ConvNeXt's layer scales, 1e-6 at initialization)
    perturbed, then running statistics measured on random images in training mode and perturbed around those, so
    that in eval mode the signal neither vanishes nor explodes and the logits depend on the input."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.modules.batchnorm._BatchNorm, torch.nn.LayerNorm)) and m.weight is not None:
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=gen))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
        for n, p in model.named_parameters():
            if n.endswith("layer_scale"):
                p.copy_(0.3 + 0.1 * torch.randn(p.shape, generator=gen))
        momenta = [m.momentum for m in bns]
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # a plain average over the calibration batches
        no_random_layers(model)
        for _ in range(2):
            model(torch.randn(8, 3, size, size, generator=gen))
        for m, momentum in zip(bns, momenta):
            m.momentum = momentum
            std = m.running_var.sqrt()
            m.running_mean.add_(0.1 * std * torch.randn(std.shape, generator=gen))
            m.running_var.mul_(torch.exp(0.2 * torch.randn(std.shape, generator=gen)))
            m.num_batches_tracked.fill_(int(torch.randint(1, 1000, (1,), generator=gen)))
    model.eval()


def spread(logits):
    """How much the logits of different images differ, relative to their size (near 0: the reference ignores its input)."""
    return float((logits[1:] - logits[:1]).norm() / logits[:1].norm().clamp_min(1e-30) / max(1, len(logits) - 1) ** 0.5)


def no_random_layers(model):
    """Training mode with dropout and stochastic depth off (as verify --train-step)."""
    model.train()
    for m in model.modules():
        kind = type(m).__name__
        if isinstance(m, torch.nn.Dropout) or kind in ("StochasticDepth", "DropPath"):
            m.eval()


def train_step(model, state, x, target, memory_format=torch.contiguous_format):
    """Loss and gradients of one verify training step from `state`, on a copy of the model."""
    m = copy.deepcopy(model)
    m.load_state_dict(state)
    m = m.to(memory_format=memory_format)
    no_random_layers(m)
    m.zero_grad()
    loss = torch.nn.functional.cross_entropy(m(x.contiguous(memory_format=memory_format)), target)
    loss.backward()
    return loss.detach().reshape(1), {n: p.grad.detach().clone() for n, p in m.named_parameters()}


def float32_variants(model, state, x, target, gen):
    """The same float32 step under changes that only move rounding: channels-last layout (other kernels and
    summation orders, the layout fer computes in), one thread instead of several (other reduction splits) and the
    input moved by about one float32 rounding (two draws). A training-mode batch norm over few values per channel
    followed by a ReLU turns an activation within rounding of 0 into a gradient that moves by percents: the spread
    of these runs around float64 measures that condition, per output."""
    runs = [train_step(model, state, x, target, torch.channels_last)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runs.append(train_step(model, state, x, target))
    finally:
        torch.set_num_threads(threads)
    for _ in range(2):
        nudged = (x.double() * (1 + 2.0 ** -24 * torch.randn(x.shape, generator=gen, dtype=torch.float64))).float()
        runs.append(train_step(model, state, nudged, target))
    return runs


def max_rel_err(runs, exact):
    """Largest relative L2 distance of float32 runs from the float64 result, as a one-element float64 tensor."""
    den = exact.double().norm().clamp_min(1e-300)
    return torch.tensor([max(float((r.double() - exact.double()).norm() / den) for r in runs)], dtype=torch.float64)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--num-classes", type=int, default=7)
    ap.add_argument("--sizes", default="64", help="comma-separated input sizes")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--timm", action="store_true", help="build the model with timm")
    ap.add_argument("--pretrained", help="torchvision weights name (from torch's cache), e.g. DEFAULT")
    ap.add_argument("--train-step", action="store_true")
    ap.add_argument("--grads", default="all", help="'all' or comma-separated parameter names")
    ap.add_argument("--half", action="store_true", help="store floating weights as float16")
    ap.add_argument("--legacy", action="store_true", help="torch.save's legacy (non-zip) format")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--without", action="append", default=[],
                    help="leave keys with this prefix out of the weights file (a stand-in for state dicts saved without "
                         "their head, as the thesis's tf_efficientnet_b0_ns file without 'classifier.')")
    ap.add_argument("--weights-out", required=True)
    ap.add_argument("--io-out", required=True)
    a = ap.parse_args()

    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed + 1)
    model = build(a.model, a.num_classes, a.timm, a.pretrained)
    sizes = [int(s) for s in a.sizes.split(",")]
    if not a.pretrained:
        perturb_norms(model, gen, sizes[0])
    sd = model.state_dict()
    if a.half:
        sd = {k: v.half() if v.is_floating_point() else v for k, v in sd.items()}
        model.load_state_dict(sd)  # the references use the rounded values
    sd = {k: v for k, v in sd.items() if not any(k.startswith(p) for p in a.without)}
    if a.weights_out.endswith(".safetensors"):
        save_safetensors(a.weights_out, sd, {"source": a.model})
    else:
        torch.save(sd, a.weights_out, _use_new_zipfile_serialization=not a.legacy)

    io = {}
    model.eval()
    model64 = copy.deepcopy(model).double()  # the same computation in float64: how far float32 rounding alone moves it
    with torch.no_grad():
        for s in sizes:
            x = torch.randn(a.batch, 3, s, s, generator=gen)
            io[f"input_{s}"] = x
            io[f"logits_{s}"] = model(x)
            io[f"logits64_{s}"] = model64(x.double())
            if a.batch > 1 and spread(io[f"logits_{s}"]) < 1e-3:
                print(f"warning: logits_{s} hardly depend on the input (spread {spread(io[f'logits_{s}']):.1e})")
    if a.train_step:
        no_random_layers(model)
        x = torch.randn(4, 3, sizes[0], sizes[0], generator=gen)
        target = torch.randint(0, a.num_classes, (4,), generator=gen)
        state = copy.deepcopy(model.state_dict())
        loss = torch.nn.functional.cross_entropy(model(x), target)
        loss.backward()
        io["train_input"], io["train_target"], io["loss"] = x, target, loss.detach().reshape(1)
        # The same step in float64 (training-mode batch norm on 4 images can be ill-conditioned: some gradients move
        # by percents with float32 rounding alone; verify then measures fer against this exact answer).
        model64 = copy.deepcopy(model).double()
        model64.load_state_dict(state)
        no_random_layers(model64)
        model64.zero_grad()
        loss64 = torch.nn.functional.cross_entropy(model64(x.double()), target)
        loss64.backward()
        io["loss64"] = loss64.detach().reshape(1)
        grads64 = dict(model64.named_parameters())
        variants = float32_variants(model, state, x, target, gen)
        io["loss32spread"] = max_rel_err([loss.detach().reshape(1)] + [v[0] for v in variants], io["loss64"])
        wanted = None if a.grads == "all" else set(a.grads.split(","))
        for n, p in model.named_parameters():
            if wanted is None or n in wanted:
                io["grad." + n] = p.grad
                io["grad64." + n] = grads64[n].grad
                io["grad32spread." + n] = max_rel_err([p.grad] + [v[1][n] for v in variants], grads64[n].grad)
        missing = (wanted or set()) - {n for n, _ in model.named_parameters()}
        assert not missing, f"no such parameters: {sorted(missing)}"
    save_safetensors(a.io_out, io, {"model": a.model, "num_classes": str(a.num_classes), "torch": torch.__version__})
    print(f"{a.weights_out}: {len(sd)} tensors; {a.io_out}: {len(io)} tensors")


if __name__ == "__main__":
    main()
