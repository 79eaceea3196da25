#!/usr/bin/env python3
"""Converts an NVIDIA StyleGAN2-ADA network pickle to safetensors + JSON with NVIDIA's own code.

fer reads these pickles natively (include/fer/io/stylegan2_pkl.hpp); this script is a second route for users
who have NVIDIA's stylegan2-ada-pytorch checkout, e.g. to cross-check or to convert pickles the native reader
refuses. It UNPICKLES the file, which runs code from it: use it only on pickles you trust. It needs NVIDIA's
code (dnnlib, legacy, torch_utils) and is not run by fer's tests, which have no such checkout.

    python tools/convert_stylegan2_pkl.py --nvidia-repo ~/stylegan2-ada-pytorch network.pkl out_prefix
writes out_prefix.safetensors (G_ema's state_dict, NVIDIA's names) and out_prefix.json (its init kwargs).
"""
import argparse
import json
import sys

import numpy as np


def plain(value):
    """Constructor arguments as JSON-friendly values (numpy scalars, tuples and EasyDicts included)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nvidia-repo", required=True, help="a checkout of NVlabs/stylegan2-ada-pytorch")
    ap.add_argument("--network", default="G_ema")
    ap.add_argument("pkl")
    ap.add_argument("out_prefix")
    args = ap.parse_args()
    sys.path.insert(0, args.nvidia_repo)
    import dnnlib  # noqa: F401  (NVIDIA's; needed by the pickle)
    import legacy
    from safetensors.torch import save_file

    with open(args.pkl, "rb") as f:
        net = legacy.load_network_pkl(f)[args.network]
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    save_file(state, args.out_prefix + ".safetensors")
    kwargs = dict(plain(net.init_kwargs))
    names = ["z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs", "synthesis_kwargs"]
    kwargs.update(zip(names, plain(net.init_args)))  # positional arguments by Generator's signature
    with open(args.out_prefix + ".json", "w") as f:
        json.dump({"class_name": type(net).__name__, "init_kwargs": kwargs}, f, indent=1)
    print(f"{len(state)} tensors -> {args.out_prefix}.safetensors, kwargs -> {args.out_prefix}.json")


if __name__ == "__main__":
    main()
