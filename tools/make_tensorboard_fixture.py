#!/usr/bin/env python3
"""Writes tests/data/tensorboard/ with TensorBoard's own protobuf classes, summary builders and record writer:

    scalars.tfevents     file version + scalar events
    summaries.tfevents   file version + an image summary (face.png's bytes) + the hparams plugin's experiment,
                         session start (summary_v2.hparams_pb) and session end records
    face.png             a small RGB image (PIL) whose bytes the image summary carries

The C++ test writes the same events (same wall times, steps, tags, values) with fer's writer and requires the
bytes to be identical. TensorBoard is not a Debian package; run this in a virtual environment:
    python3 -m venv /tmp/tb && /tmp/tb/bin/pip install tensorboard pillow && /tmp/tb/bin/python tools/make_tensorboard_fixture.py
"""
import io
import os

from PIL import Image
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2, summary_v2
from tensorboard.summary.writer.record_writer import RecordWriter

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "tensorboard")

# Keep in step with tests/test_tensorboard.cpp.
EVENTS = [
    (1700000000.25, 0, "train/loss", 2.5),
    (1700000001.5, 1, "train/loss", 1.75),
    (1700000001.5, 1, "val/macro_f1", 0.4321),
    (1700000002.0, 2, "val/accuracy", -0.0),
    (1700000003.0, 300000, "lr", 1e-4),
]
HPARAMS = {"model": "resnet18", "lr": 0.001, "seed": 1, "real_ratio": 0.0, "augment": True, "amp": "off",
           "class_weights": False}
METRICS = ["test/accuracy", "test/macro_f1"]
START, END = 1700000000.0, 1700000100.5


def write_events(name, events):
    buf = io.BytesIO()
    writer = RecordWriter(buf)
    writer.write(event_pb2.Event(wall_time=START, file_version="brain.Event:2").SerializeToString())
    for e in events:
        writer.write(e.SerializeToString())
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(buf.getvalue())
    print(name, len(buf.getvalue()), "bytes")


def main():
    os.makedirs(OUT, exist_ok=True)
    scalars = []
    for wall_time, step, tag, value in EVENTS:
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
        scalars.append(event_pb2.Event(wall_time=wall_time, step=step, summary=summary))
    write_events("scalars.tfevents", scalars)

    face = Image.new("RGB", (8, 6))
    face.putdata([(x * 30, y * 40, (x + y) * 15) for y in range(6) for x in range(8)])
    face.save(os.path.join(OUT, "face.png"))
    png = open(os.path.join(OUT, "face.png"), "rb").read()
    image = summary_pb2.Summary.Image(height=6, width=8, colorspace=3, encoded_image_string=png)
    events = [event_pb2.Event(wall_time=1700000099.0, step=12, summary=summary_pb2.Summary(
        value=[summary_pb2.Summary.Value(tag="test/confusion_matrix", image=image)]))]

    # The hparams plugin: the experiment (types from the values), the run's values, its end.
    types = {bool: api_pb2.DATA_TYPE_BOOL, str: api_pb2.DATA_TYPE_STRING, int: api_pb2.DATA_TYPE_FLOAT64,
             float: api_pb2.DATA_TYPE_FLOAT64}
    experiment = api_pb2.Experiment(
        time_created_secs=START,
        hparam_infos=[api_pb2.HParamInfo(name=k, type=types[type(HPARAMS[k])]) for k in sorted(HPARAMS)],
        metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=t)) for t in METRICS])
    end = plugin_data_pb2.SessionEndInfo(status=api_pb2.STATUS_SUCCESS, end_time_secs=END)
    start = summary_v2.hparams_pb(HPARAMS, trial_id="resnet18-r0.00-s1", start_time_secs=START)
    # Protobuf leaves the order of map entries open (this build writes them in hash order); fer writes them sorted
    # by key, which is protobuf's deterministic serialization of the same message.
    plugin = start.value[0].metadata.plugin_data
    plugin.content = plugin_data_pb2.HParamsPluginData.FromString(plugin.content).SerializeToString(deterministic=True)
    for pb in (summary_v2._summary_pb(metadata.EXPERIMENT_TAG, plugin_data_pb2.HParamsPluginData(experiment=experiment)),
               start,
               summary_v2._summary_pb(metadata.SESSION_END_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_end_info=end))):
        events.append(event_pb2.Event(wall_time=END, summary=pb))
    write_events("summaries.tfevents", events)


if __name__ == "__main__":
    main()
