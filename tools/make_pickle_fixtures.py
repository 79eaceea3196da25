#!/usr/bin/python3
"""Writes the small pickles under tests/data/pickle/ used by tests/test_pickle.cpp.

Run with Debian's Python (it has torch): /usr/bin/python3 tools/make_pickle_fixtures.py

tiny_G.pkl imitates NVIDIA's network pickle layout (a dict whose 'G_ema' is
torch_utils.persistence._reconstruct_persistent_obj(meta)) with stand-in modules registered in sys.modules,
so no NVIDIA code is needed; its tensors are real torch tensors with values the test recomputes. The other
files are malformed or hostile variants. Nothing here is ever unpickled.
"""
import collections
import os
import pickle
import struct
import sys
import types

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "pickle")


def fake_module(name, **attrs):
    """Registers a module so that pickle can store references to the stand-ins by name."""
    mod = types.ModuleType(name)
    for k, v in attrs.items():
        v.__module__ = name
        v.__qualname__ = k
        setattr(mod, k, v)
    sys.modules[name] = mod
    return mod


def _reconstruct_persistent_obj(meta):  # never called: only referenced by name
    raise RuntimeError("stand-in")


class EasyDict(dict):
    pass


fake_module("torch_utils")
fake_module("torch_utils.persistence", _reconstruct_persistent_obj=_reconstruct_persistent_obj)
fake_module("dnnlib")
fake_module("dnnlib.util", EasyDict=EasyDict)


class Persistent:
    """Pickles like an NVIDIA persistent module."""

    def __init__(self, class_name, params=(), buffers=(), modules=(), non_persistent=(), init_args=(), init_kwargs=None,
                 **attrs):
        state = dict(training=False)
        state["_parameters"] = collections.OrderedDict(params)
        state["_buffers"] = collections.OrderedDict(buffers)
        state["_non_persistent_buffers_set"] = set(non_persistent)
        state["_modules"] = collections.OrderedDict(modules)
        state.update(attrs)
        state["_init_args"] = tuple(init_args)
        state["_init_kwargs"] = init_kwargs if init_kwargs is not None else {}
        self.meta = dict(type="class", version=6, module_src="# source text (never executed)\n",
                         class_name=class_name, state=state)

    def __reduce__(self):
        return (_reconstruct_persistent_obj, (self.meta,))


class Call:
    """Pickles as fn(*args) without calling anything."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def tiny_generator(weight_override=None, kwargs_extra=None):
    a = torch.arange(24, dtype=torch.float32).reshape(4, 6) * 0.5 - 3  # values v(i) = 0.5 i - 3
    weight = torch.nn.Parameter(a.t()[1:])  # a strided view: shape [5, 4], strides [1, 6], offset 1
    bias = torch.nn.Parameter(torch.tensor([1.5, -2.25, 1e-3], dtype=torch.float64))
    noise_strength = torch.nn.Parameter(torch.tensor(0.25))  # a 0-d tensor
    idx = torch.tensor([7, -1, 2**40], dtype=torch.int64)
    half = torch.tensor([0.5, -1.0, 65504.0], dtype=torch.float16)
    affine = Persistent("FullyConnectedLayer", params=[("weight", torch.ones(2, 3)), ("bias", None)],
                        init_kwargs=dict(bias_init=1), activation="linear")
    layer = Persistent("SynthesisLayer",
                       params=[("weight", weight_override if weight_override is not None else weight),
                               ("noise_strength", noise_strength)],
                       buffers=[("idx", idx), ("scratch", torch.zeros(2)), ("half", half)],
                       non_persistent=["scratch"], modules=[("affine", affine)], act_gain=np.float32(1.25),
                       architecture="skip")
    kwargs = dict(w_dim=4, mapping_kwargs=EasyDict(num_layers=2, lr_multiplier=np.float64(0.01)),
                  synthesis_kwargs=dict(channel_base=np.int64(512), conv_clamp=None, names=("a", "b"), flag=True,
                                        channels={4: 8, 8: 4}))
    kwargs.update(kwargs_extra or {})
    G = Persistent("Generator", params=[("bias", bias)], modules=[("layer", layer), ("missing", None)],
                   init_args=(8,), init_kwargs=kwargs)
    return G


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def tensor_record(storage, offset, size, stride):
    return Call(torch._utils._rebuild_tensor_v2, storage, offset, size, stride, False, collections.OrderedDict())


def main():
    os.makedirs(OUT, exist_ok=True)
    tiny = pickle.dumps({"G": None, "G_ema": tiny_generator(), "training_set_kwargs": None}, protocol=4)
    write("tiny_G.pkl", tiny)
    # The same network in protocol 2 (GLOBAL, BINPUT/BINGET instead of STACK_GLOBAL/MEMOIZE, no FRAME).
    write("tiny_G_proto2.pkl", pickle.dumps({"G_ema": tiny_generator()}, protocol=2))

    # ---- malformed
    write("truncated.pkl", tiny[: len(tiny) // 2])
    write("bad_opcode.pkl", b"\x80\x04\x95\x03\x00\x00\x00\x00\x00\x00\x00}\xff.")
    write("memo_out_of_range.pkl", b"\x80\x04}\x94h\x07.")
    write("huge_length.pkl", b"\x80\x04X\xff\xff\xff\xffabc")  # BINUNICODE claiming 4 GiB
    write("huge_bytes8.pkl", b"\x80\x04\x8e" + struct.pack("<Q", 2**63) + b"abc")  # BINBYTES8 claiming 8 EiB
    write("stack_underflow.pkl", b"\x80\x02)R.")
    # ---- hostile: os.system would run a command if this were unpickled by Python
    write("os_system.pkl", pickle.dumps({"G_ema": Call(os.system, "echo pwned")}, protocol=4))
    write("os_system_tensor.pkl", pickle.dumps({"G_ema": Persistent(
        "Generator", params=[("weight", Call(os.system, "echo pwned"))])}, protocol=4))
    # ---- deep nesting (past the reader's depth limit) and a self-referencing list
    deep = []
    for _ in range(400):
        deep = [deep]
    write("deep_nesting.pkl", pickle.dumps({"G_ema": tiny_generator(kwargs_extra=dict(deep=deep))}, protocol=4))
    loop = []
    loop.append(loop)
    write("cycle.pkl", pickle.dumps({"G_ema": tiny_generator(kwargs_extra=dict(loop=loop))}, protocol=4))
    # ---- tensors that do not fit their storage, and broken storage blobs
    small = torch.arange(10, dtype=torch.float32).storage()
    write("view_beyond_storage.pkl", pickle.dumps({"G_ema": tiny_generator(tensor_record(small, 0, (100,), (1,)))}, protocol=4))
    write("view_offset_beyond.pkl", pickle.dumps({"G_ema": tiny_generator(tensor_record(small, 8, (2, 2), (1, 1)))}, protocol=4))
    write("view_overflow.pkl", pickle.dumps({"G_ema": tiny_generator(
        tensor_record(small, 0, (2**62, 4), (2**62, 1)))}, protocol=4))
    write("view_expanded.pkl", pickle.dumps({"G_ema": tiny_generator(tensor_record(small, 0, (100, 10), (0, 1)))}, protocol=4))
    blob = small.__reduce__()[1][0]
    write("storage_truncated.pkl", pickle.dumps({"G_ema": tiny_generator(tensor_record(
        Call(torch.storage._load_from_bytes, blob[:-10]), 0, (10,), (1,)))}, protocol=4))
    write("storage_bad_magic.pkl", pickle.dumps({"G_ema": tiny_generator(tensor_record(
        Call(torch.storage._load_from_bytes, b"\x80\x02K\x01." + blob[15:]), 0, (10,), (1,)))}, protocol=4))
    write("no_G_ema.pkl", pickle.dumps({"G": None, "D": None}, protocol=4))


if __name__ == "__main__":
    main()
