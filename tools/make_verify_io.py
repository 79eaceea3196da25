#!/usr/bin/python3
"""Reference weights and outputs for examples/verify, from any torchvision or timm model.

  /usr/bin/python3 tools/make_verify_io.py resnet18 --num-classes 7 --sizes 224,64,48,57,97 --train-step \
      --weights-out r18.pt --io-out r18.io.safetensors

The model is built with its library's own initialization (torchvision's, or timm's for --timm; --pretrained NAME
loads torchvision weights from torch's cache instead), then every normalization layer's running statistics and
affine parameters are perturbed (seeded) so that batch norm really transforms its input. Writes:
  --weights-out   the state dict: .pt/.pth by torch.save (--legacy: its pre-1.6 format), or .safetensors;
                  --half stores floating tensors as float16 (the references are computed from those rounded values)
  --io-out        safetensors: input_<S> (NCHW float32, seeded normal) and logits_<S> (eval mode) per size S;
                  with --train-step also train_input/train_target (4 images at the first size), loss and grad.<param>
                  of one training-mode step (batch norm in training mode, dropout and stochastic depth off, as verify
                  runs it), for every parameter or those named by --grads
tf_efficientnet_b0_ns needs timm (not a Debian package): run with a Python that has it (see tools/make_fixtures.py).
"""
import argparse
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


def perturb_norms(model, gen):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.2)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) * 1.5 + 0.5)
                m.num_batches_tracked.fill_(int(torch.randint(1, 1000, (1,), generator=gen)))
            if isinstance(m, (torch.nn.modules.batchnorm._BatchNorm, torch.nn.LayerNorm)) and m.weight is not None:
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=gen))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=gen))


def no_random_layers(model):
    """Training mode with dropout and stochastic depth off (as verify --train-step)."""
    model.train()
    for m in model.modules():
        kind = type(m).__name__
        if isinstance(m, torch.nn.Dropout) or kind in ("StochasticDepth", "DropPath"):
            m.eval()


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
    ap.add_argument("--weights-out", required=True)
    ap.add_argument("--io-out", required=True)
    a = ap.parse_args()

    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed + 1)
    model = build(a.model, a.num_classes, a.timm, a.pretrained)
    perturb_norms(model, gen)
    sd = model.state_dict()
    if a.half:
        sd = {k: v.half() if v.is_floating_point() else v for k, v in sd.items()}
        model.load_state_dict(sd)  # the references use the rounded values
    if a.weights_out.endswith(".safetensors"):
        save_safetensors(a.weights_out, sd, {"source": a.model})
    else:
        torch.save(sd, a.weights_out, _use_new_zipfile_serialization=not a.legacy)

    io = {}
    model.eval()
    sizes = [int(s) for s in a.sizes.split(",")]
    with torch.no_grad():
        for s in sizes:
            x = torch.randn(a.batch, 3, s, s, generator=gen)
            io[f"input_{s}"] = x
            io[f"logits_{s}"] = model(x)
    if a.train_step:
        no_random_layers(model)
        x = torch.randn(4, 3, sizes[0], sizes[0], generator=gen)
        target = torch.randint(0, a.num_classes, (4,), generator=gen)
        loss = torch.nn.functional.cross_entropy(model(x), target)
        loss.backward()
        io["train_input"], io["train_target"], io["loss"] = x, target, loss.detach().reshape(1)
        wanted = None if a.grads == "all" else set(a.grads.split(","))
        for n, p in model.named_parameters():
            if wanted is None or n in wanted:
                io["grad." + n] = p.grad
        missing = (wanted or set()) - {n for n, _ in model.named_parameters()}
        assert not missing, f"no such parameters: {sorted(missing)}"
    save_safetensors(a.io_out, io, {"model": a.model, "num_classes": str(a.num_classes), "torch": torch.__version__})
    print(f"{a.weights_out}: {len(sd)} tensors; {a.io_out}: {len(io)} tensors")


if __name__ == "__main__":
    main()
