#!/usr/bin/python3
"""PyTorch checkpoints written by torch.save (and hostile variants) for tests/test_torch_checkpoint.cpp.

Writes tests/data/pt/:
  base.safetensors            the reference values (f32, f16, bf16, f64 and i64 copies), written here by hand
  zip_f32.pt legacy_f32.pt    a small state dict (conv, batch norm, linear) in both torch.save formats
  wrap_state_dict.pt wrap_model.pt module_prefix.pt        {"state_dict": sd, ...}, {"model": sd, ...}, "module." keys
  zip_f16.pt zip_bf16.pt zip_f64.pt legacy_f16.pt           other storage dtypes
  views_zip.pt views_legacy.pt + views.safetensors          tensors sharing one storage (offsets, strides, transposes)
  thesis_shape.pt.gz          timm tf_efficientnet_b0_ns's state dict without `classifier` (as the thesis's
                              state_vggface2_enet0_new.pt), each tensor filled with (its index + 1) / 1000 (gzip'd:
                              constant tensors compress to a few kB)
  thesis_no_nbt_legacy.pt.gz  the same without num_batches_tracked, legacy format
  bad_*.pt                    truncated, corrupt CRC, os.system / unknown globals, huge sizes, offsets out of range,
                              a pickled module, a zip without data.pkl
  zip_f32_torch2.pt views_zip_torch2.pt                     the same from PyTorch 2 (a second run, see below)
Run with Debian's PyTorch 1.13 and timm 0.9.2 (for the thesis shape; see tools/make_fixtures.py):
  /usr/bin/python3 -m venv --system-site-packages /tmp/t && /tmp/t/bin/pip install --no-deps timm==0.9.2
  /tmp/t/bin/python tools/make_pt_fixtures.py
and once from a Python with PyTorch >= 2 for the *_torch2.pt files (it writes only those).
"""
import collections
import gzip
import io
import os
import pickle
import sys
import zipfile

import torch

sys.path.insert(0, os.path.dirname(__file__))
from export_torchvision import save_safetensors  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "pt")


def base_state_dict():
    g = torch.Generator().manual_seed(16)
    sd = collections.OrderedDict()
    sd["conv.weight"] = torch.randn(4, 3, 3, 3, generator=g)
    sd["bn.weight"] = torch.rand(4, generator=g) + 0.5
    sd["bn.bias"] = torch.randn(4, generator=g)
    sd["bn.running_mean"] = torch.randn(4, generator=g) * 0.1
    sd["bn.running_var"] = torch.rand(4, generator=g) + 0.5
    sd["bn.num_batches_tracked"] = torch.tensor(7)
    sd["fc.weight"] = torch.randn(5, 4, generator=g)
    sd["fc.bias"] = torch.randn(5, generator=g)
    return sd


def cast(sd, dtype):
    return collections.OrderedDict((k, v.to(dtype) if v.is_floating_point() else v) for k, v in sd.items())


def save(obj, name, legacy=False):
    torch.save(obj, os.path.join(OUT, name), _use_new_zipfile_serialization=not legacy)


def views():
    big = torch.arange(60, dtype=torch.float32) * 0.5 - 7
    return collections.OrderedDict([
        ("a", big[0:12].view(3, 4)),              # offset 0, contiguous
        ("b", big[12:36].view(2, 3, 4)),          # offset 12
        ("c", big.view(5, 12)[1:4, 2:6]),         # offset 14, row stride 12
        ("t", big[:20].view(4, 5).t()),           # transposed
        ("s", big[40:60:2]),                      # stride 2
    ])


def thesis_shape(with_nbt):
    import timm
    model = timm.create_model("tf_efficientnet_b0_ns", num_classes=1000)
    sd = collections.OrderedDict()
    for i, (k, v) in enumerate(model.state_dict().items()):
        if k.startswith("classifier."):
            continue
        if k.endswith("num_batches_tracked"):
            if with_nbt:
                sd[k] = torch.tensor(i + 1)
            continue
        sd[k] = torch.full_like(v, (i + 1) / 1000.0)
    return sd


def save_gz(obj, name, legacy=False):
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=not legacy)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(gzip.compress(buf.getvalue(), compresslevel=9, mtime=0))


def torch_zip(name, pkl, data):
    """A zip laid out as torch.save's (archive/data.pkl, archive/data/<key>, archive/version), entries stored."""
    with zipfile.ZipFile(os.path.join(OUT, name), "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pkl)
        for k, v in data.items():
            z.writestr("archive/data/" + k, v)
        z.writestr("archive/version", "3\n")


class IdPickler(pickle.Pickler):
    """torch.save's pickling of tensors, with the storage id (and so the declared size) chosen by the caller."""

    def __init__(self, f, numel):
        super().__init__(f, protocol=2)
        self.numel = numel

    def persistent_id(self, obj):
        if isinstance(obj, torch.storage.TypedStorage):
            return ("storage", torch.FloatStorage, "0", "cpu", self.numel)
        return None


def pickled_with_id(obj, numel):
    f = io.BytesIO()
    IdPickler(f, numel).dump(obj)
    return f.getvalue()


class Evil:
    def __reduce__(self):
        return (os.system, ("echo fer-must-never-run-this",))


def hostile(sd):
    good = open(os.path.join(OUT, "zip_f32.pt"), "rb").read()
    with open(os.path.join(OUT, "bad_truncated.pt"), "wb") as f:
        f.write(good[: len(good) // 2])
    # Corrupt one byte of a stored data entry: the archive stays well-formed, its CRC no longer matches.
    with zipfile.ZipFile(io.BytesIO(good)) as z:
        info = z.getinfo([n for n in z.namelist() if "/data/" in n][0])
    bad = bytearray(good)
    local = info.header_offset  # the local header's own name and extra lengths (torch pads with the extra field)
    start = local + 30 + int.from_bytes(good[local + 26:local + 28], "little") + int.from_bytes(good[local + 28:local + 30], "little")
    bad[start + 2] ^= 0xFF
    open(os.path.join(OUT, "bad_crc.pt"), "wb").write(bytes(bad))
    # Pickles that would run code or build arbitrary objects.
    torch_zip("bad_os_system.pt", pickle.dumps(collections.OrderedDict([("w", Evil())]), protocol=2), {})
    torch_zip("bad_unknown_global.pt", pickle.dumps({"w": collections.Counter("ab")}, protocol=2), {})
    legacy_head = b"".join(pickle.dumps(x, protocol=2) for x in (0x1950a86a20f9469cfc6c, 1001, {"little_endian": True}))
    open(os.path.join(OUT, "bad_os_system_legacy.pt"), "wb").write(legacy_head + pickle.dumps(Evil(), protocol=2))
    # Storage ids that declare more than the file holds.
    w = torch.arange(12, dtype=torch.float32)
    torch_zip("bad_huge_numel.pt", pickled_with_id({"w": w}, 1 << 40), {"0": w.numpy().tobytes()})
    view = torch.arange(20, dtype=torch.float32)[8:20]
    torch_zip("bad_offset_range.pt", pickled_with_id({"w": view}, 4), {"0": view.numpy()[:4].tobytes()})
    torch_zip("bad_no_entry.pt", pickled_with_id({"w": w}, 12), {})
    with zipfile.ZipFile(os.path.join(OUT, "bad_no_pickle.pt"), "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/version", "3\n")
    torch.manual_seed(0)
    save(torch.nn.Linear(2, 3), "bad_module.pt")
    save({"epoch": 3, "lr": 0.1}, "bad_no_state_dict.pt")


def main():
    os.makedirs(OUT, exist_ok=True)
    if int(torch.__version__.split(".")[0]) >= 2:
        # A second run under PyTorch 2 adds its zip layout (.format_version, .storage_alignment, serialization_id).
        save(base_state_dict(), "zip_f32_torch2.pt")
        save(views(), "views_zip_torch2.pt")
        return
    sd = base_state_dict()
    ref = {}
    for tag, dt in (("f32", torch.float32), ("f16", torch.float16), ("bf16", torch.bfloat16), ("f64", torch.float64)):
        for k, v in cast(sd, dt).items():
            ref[f"{tag}/{k}"] = v
    save_safetensors(os.path.join(OUT, "base.safetensors"), ref, {"source": "tools/make_pt_fixtures.py"})
    save(sd, "zip_f32.pt")
    save(sd, "legacy_f32.pt", legacy=True)
    save({"state_dict": sd, "epoch": 3, "best_acc": 0.5}, "wrap_state_dict.pt")
    save({"model": sd, "args": {"lr": 0.01, "name": "x"}}, "wrap_model.pt")
    save(collections.OrderedDict(("module." + k, v) for k, v in sd.items()), "module_prefix.pt")
    for tag, dt in (("f16", torch.float16), ("bf16", torch.bfloat16), ("f64", torch.float64)):
        save(cast(sd, dt), f"zip_{tag}.pt")
    save(cast(sd, torch.float16), "legacy_f16.pt", legacy=True)
    v = views()
    save(v, "views_zip.pt")
    save(v, "views_legacy.pt", legacy=True)
    save_safetensors(os.path.join(OUT, "views.safetensors"), {k: t.contiguous() for k, t in v.items()}, {})
    save_gz(thesis_shape(True), "thesis_shape.pt.gz")
    save_gz(thesis_shape(False), "thesis_no_nbt_legacy.pt.gz", legacy=True)
    hostile(sd)
    for n in sorted(os.listdir(OUT)):
        print(f"{n}: {os.path.getsize(os.path.join(OUT, n))} bytes")


if __name__ == "__main__":
    main()
