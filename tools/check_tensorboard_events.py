#!/usr/bin/env python3
"""Reads a fer run's TensorBoard events with TensorBoard's own EventAccumulator and hparams plugin parsers and
checks them against the run's metrics.json and PNG files.

    python3 -m venv /tmp/tb && /tmp/tb/bin/pip install tensorboard pillow
    /tmp/tb/bin/python tools/check_tensorboard_events.py runs/train

Checks: the training scalars of every epoch; the test scalars equal metrics.json's test metrics (as float32); the
confusion matrix and reliability images carry exactly the run's PNG files; the test faces decode to their stated
size; the hparams plugin's experiment lists the test metric tags, the session start holds the run's model, seed and
learning rate, and the session ended with success; TensorBoard's server-side (plugin) accumulator lists the
scalars and images under their plugins, and the HParams dashboard's session-group query returns the run with its
test metrics. Exits non-zero at the first failed check.
"""
import io
import json
import os
import sys

import numpy as np
from PIL import Image
from tensorboard import context as tb_context
from tensorboard.backend.event_processing import data_provider, plugin_event_accumulator, plugin_event_multiplexer
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import api_pb2, backend_context, list_session_groups, metadata

TEST_TAGS = {"test/accuracy": "accuracy", "test/macro_f1": "macro_f1", "test/balanced_accuracy": "balanced_accuracy",
             "test/auroc_macro": "auroc_macro", "test/ece": "ece", "test/loss": "loss"}


def check(cond, what):
    if not cond:
        sys.exit("FAILED: " + what)
    print("ok:", what)


def main():
    run = sys.argv[1] if len(sys.argv) > 1 else "runs/train"
    logdir = os.path.join(run, "tensorboard")
    files = sorted(f for f in os.listdir(logdir) if f.startswith("events.out.tfevents."))
    check(len(files) >= 1, f"{logdir} holds {len(files)} event file(s)")
    acc = EventAccumulator(os.path.join(logdir, files[-1]), size_guidance={"images": 0, "scalars": 0, "tensors": 0})
    acc.Reload()
    tags = acc.Tags()
    metrics = json.load(open(os.path.join(run, "metrics.json")))

    epochs = metrics["epochs"]
    for tag in ("train/loss", "train/accuracy", "train/lr"):
        steps = [e.step for e in acc.Scalars(tag)]
        check(steps == list(range(1, epochs + 1)), f"{tag} at steps {steps}")
    for tag, key in TEST_TAGS.items():
        (e,) = acc.Scalars(tag)
        want = metrics["test"][key]
        check(e.value == np.float32(want) and e.step == epochs, f"{tag} = {e.value:.6f} at step {e.step} (metrics.json {want:.6f})")

    for name in ("confusion_matrix", "reliability"):
        (img,) = acc.Images("test/" + name)
        png = open(os.path.join(run, name + ".png"), "rb").read()
        decoded = Image.open(io.BytesIO(img.encoded_image_string))
        check(img.encoded_image_string == png and decoded.size == (img.width, img.height),
              f"test/{name}: {img.width}x{img.height} image, the bytes of {name}.png")
    faces = [t for t in tags["images"] if t.startswith("test/faces/")]
    check(len(faces) >= 1, f"{len(faces)} test faces: {faces}")
    for t in faces:
        (img,) = acc.Images(t)
        decoded = Image.open(io.BytesIO(img.encoded_image_string))
        check(decoded.size == (img.width, img.height), f"{t} decodes to {decoded.size[0]}x{decoded.size[1]} {decoded.mode}")

    content = acc.PluginTagToContent(metadata.PLUGIN_NAME)
    check(sorted(content) == sorted([metadata.EXPERIMENT_TAG, metadata.SESSION_START_INFO_TAG, metadata.SESSION_END_INFO_TAG]),
          f"hparams plugin tags {sorted(content)}")
    experiment = metadata.parse_experiment_plugin_data(content[metadata.EXPERIMENT_TAG])
    metric_tags = [m.name.tag for m in experiment.metric_infos]
    check(metric_tags == list(TEST_TAGS), f"experiment metric columns {metric_tags}")
    names = {h.name: api_pb2.DataType.Name(h.type) for h in experiment.hparam_infos}
    check(names.get("lr") == "DATA_TYPE_FLOAT64" and names.get("model") == "DATA_TYPE_STRING", f"{len(names)} hparams with types")
    start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    hp = start.hparams
    check(hp["model"].string_value == metrics["model"] and hp["seed"].number_value == metrics["seed"],
          f"session start: model {hp['model'].string_value}, seed {hp['seed'].number_value:g}, "
          f"lr {hp['lr'].number_value:g}, optimizer {hp['optimizer'].string_value}, group {start.group_name}")
    end = metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG])
    check(end.status == api_pb2.STATUS_SUCCESS and end.end_time_secs >= start.start_time_secs,
          f"session end: {api_pb2.Status.Name(end.status)}")

    # What `tensorboard --logdir` itself serves: the plugin accumulator migrates legacy summaries to plugin tensors.
    served = plugin_event_accumulator.EventAccumulator(os.path.join(logdir, files[-1]))
    served.Reload()
    scalars, images = served.PluginTagToContent("scalars"), served.PluginTagToContent("images")
    check(all(t in scalars for t in TEST_TAGS) and "test/confusion_matrix" in images and set(faces) <= set(images),
          f"served by TensorBoard's plugins: {len(scalars)} scalar tags, {len(images)} image tags")

    # The HParams dashboard's own query (tensorboard 2.x backend): one session group named after the run, with the
    # test metrics as its metric values.
    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(run)
    mux.Reload()
    ctx = backend_context.Context(type("TBContext", (), {"data_provider": data_provider.MultiplexerDataProvider(mux, run),
                                                         "multiplexer": mux, "logdir": run, "flags": None})())
    rc = tb_context.RequestContext()
    exp = ctx.experiment_from_metadata(rc, "", True, ctx.hparams_metadata(rc, ""), ctx.hparams_from_data_provider(rc, "", None))
    req = api_pb2.ListSessionGroupsRequest(start_index=0, slice_size=10, allowed_statuses=[api_pb2.STATUS_SUCCESS])
    groups = list_session_groups.Handler(rc, ctx, "", req).run().session_groups
    values = {mv.name.tag: mv.value for mv in groups[0].metric_values} if len(groups) == 1 else {}
    check(len(groups) == 1 and groups[0].name == start.group_name and
          abs(values.get("test/accuracy", -1) - metrics["test"]["accuracy"]) < 1e-6,
          f"HParams dashboard: {len(groups)} session group {groups[0].name if groups else ''}: {values}")
    print("all checks passed:", os.path.join(logdir, files[-1]))


if __name__ == "__main__":
    main()
