"""SIGKILL the filter mid-stream: nothing committed is lost, the store stays sound, and a
resumed run finishes without duplicates."""

import os
import signal
import subprocess
import sys
import time

import numpy as np

from edgesieve.device.filter_loop import run_filter
from edgesieve.device.sources import ArraySource
from edgesieve.runtime import OnnxFilter
from edgesieve.store import RetainedStore, StoreError


def filter_cmd(artifacts, store, stream_file):
    return [
        sys.executable, "-m", "edgesieve", "filter", "--runtime", "onnx",
        "--model", str(artifacts["folder"] / "filter.onnx"),
        "--input", str(stream_file), "--store", str(store), "--batch-size", "4", "--no-progress", "--threads", "1",
    ]


def test_sigkill_mid_stream_loses_nothing_committed(device_artifacts, tmp_path):
    stream = device_artifacts["stream"]
    stream_file = device_artifacts["folder"] / "stream.npy"
    store_path = tmp_path / "retained.db"
    proc = subprocess.Popen(filter_cmd(device_artifacts, store_path, stream_file), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reads, deadline = 0, time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:  # a reader reads while the filter writes
                with RetainedStore(store_path, readonly=True) as reader:
                    position = reader.next_arrival(str(stream_file.resolve()))
                    reader.count()
                    reads += 1
            except StoreError:
                position = 0  # not created yet
            if position >= 400:
                break
            time.sleep(0.005)
        assert proc.poll() is None, "the filter finished before it could be killed; make the stream longer"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL and reads > 0

    source = str(stream_file.resolve())
    with RetainedStore(store_path) as store:
        assert store.integrity_check() == "ok"
        killed_at = store.next_arrival(source)
        assert 400 <= killed_at < len(stream)
        data = store.to_numpy()
        assert (data["arrival"] < killed_at).all() and len(set(data["arrival"])) == len(data["arrival"])
        assert np.array_equal(data["x"], stream[data["arrival"]])  # every committed sample intact

    done = subprocess.run(filter_cmd(device_artifacts, store_path, stream_file), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"resumed at {killed_at}" in done.stdout

    with RetainedStore(tmp_path / "reference.db") as ref:
        run_filter(OnnxFilter(device_artifacts["folder"] / "filter.onnx"), ArraySource(source, stream), ref, batch_size=4, progress=False)
        expected = ref.to_numpy()["arrival"]
    with RetainedStore(store_path) as store:
        got = store.to_numpy()
        assert store.integrity_check() == "ok" and store.next_arrival(source) == len(stream)
        assert np.array_equal(np.sort(got["arrival"]), expected)
        assert sum(c["seen"] for c in store.info()["classes"]) == len(stream)
