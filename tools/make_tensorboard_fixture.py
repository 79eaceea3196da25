#!/usr/bin/env python3
"""Writes tests/data/tensorboard/scalars.tfevents with TensorBoard's own protobuf classes and record writer.

The C++ test writes the same events (same wall times, steps, tags, values) with fer's writer and requires the
bytes to be identical. TensorBoard is not a Debian package; run this in a virtual environment:
    python3 -m venv /tmp/tb && /tmp/tb/bin/pip install tensorboard && /tmp/tb/bin/python tools/make_tensorboard_fixture.py
"""
import io
import os

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.record_writer import RecordWriter

# Keep in step with tests/test_tensorboard.cpp.
EVENTS = [
    (1700000000.25, 0, "train/loss", 2.5),
    (1700000001.5, 1, "train/loss", 1.75),
    (1700000001.5, 1, "val/macro_f1", 0.4321),
    (1700000002.0, 2, "val/accuracy", -0.0),
    (1700000003.0, 300000, "lr", 1e-4),
]


def main():
    buf = io.BytesIO()
    writer = RecordWriter(buf)
    writer.write(event_pb2.Event(wall_time=1700000000.0, file_version="brain.Event:2").SerializeToString())
    for wall_time, step, tag, value in EVENTS:
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
        writer.write(event_pb2.Event(wall_time=wall_time, step=step, summary=summary).SerializeToString())
    out = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "tensorboard", "scalars.tfevents")
    with open(out, "wb") as f:
        f.write(buf.getvalue())
    print(out, len(buf.getvalue()), "bytes")


if __name__ == "__main__":
    main()
