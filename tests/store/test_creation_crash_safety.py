"""Store creation is atomic: a crash at any step of creating a store, or a SIGKILL of
``edgesieve filter`` at any moment of its start, is resumed by rerunning the same command, and
the final store equals the uninterrupted run's. A file that is not ours is refused, untouched."""

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from edgesieve.cli.main import main
from edgesieve.device.filter_loop import run_filter
from edgesieve.device.sources import ArraySource
from edgesieve.runtime import OnnxFilter
from edgesieve.store import RetainedStore, StoreError
from edgesieve.store.sqlite_store import CREATING_SUFFIX

STEPS = ("connected", "schema", "meta", "committed", "wal", "closed", "renamed")


def filter_argv(artifacts, store, stream_file):
    return ["filter", "--runtime", "onnx", "--model", str(artifacts["folder"] / "filter.onnx"), "--input",
            str(stream_file), "--store", str(store), "--batch-size", "50", "--no-progress", "--threads", "1"]


def store_content(path):
    with RetainedStore(path, readonly=True) as store:
        assert store.integrity_check() == "ok"
        data = store.to_numpy()
        info = store.info()
    return data, {k: v for k, v in info.items() if k != "path"}  # created_by is this version in both


@pytest.fixture(scope="module")
def reference(device_artifacts, tmp_path_factory):
    stream_file = device_artifacts["folder"] / "stream.npy"
    path = tmp_path_factory.mktemp("reference") / "reference.db"
    with RetainedStore(path) as ref:
        run_filter(OnnxFilter(device_artifacts["folder"] / "filter.onnx"),
                   ArraySource(str(stream_file.resolve()), device_artifacts["stream"]), ref, batch_size=50, progress=False)
    return store_content(path)


def assert_same_store(path, reference):
    data, info = store_content(path)
    ref_data, ref_info = reference
    for key in ("x", "label", "predicted", "score", "arrival"):
        assert np.array_equal(data[key], ref_data[key]), key
    assert info == ref_info
    assert not path.with_name(path.name + CREATING_SUFFIX).exists()


@pytest.mark.parametrize("step", STEPS)
def test_a_crash_at_every_step_of_creation_is_resumed_by_rerunning(step, device_artifacts, reference, tmp_path):
    """A subprocess dies (os._exit: no clean-up at all) right after ``step``; the rerun of the
    same command finishes the job."""
    stream_file = device_artifacts["folder"] / "stream.npy"
    store = tmp_path / "retained.db"
    argv = filter_argv(device_artifacts, store, stream_file)
    script = textwrap.dedent(f"""
        import os, sys
        import edgesieve.store.sqlite_store as s
        def crash(step):
            if step == {step!r}:
                os._exit(9)
        s._creation_step = crash
        from edgesieve.cli.main import main
        sys.exit(main({argv!r}))
    """)
    died = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert died.returncode == 9, died.stderr
    assert main(argv) == 0
    assert_same_store(store, reference)


def test_sigkill_at_many_moments_of_the_start_then_rerun(device_artifacts, reference, tmp_path):
    stream_file = device_artifacts["folder"] / "stream.npy"
    cmd = [sys.executable, "-m", "edgesieve"] + filter_argv(device_artifacts, tmp_path / "probe.db", stream_file)
    start = time.monotonic()  # how long a whole uninterrupted run takes here: spread the kills over it
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    whole = time.monotonic() - start
    killed_states = set()
    for i, fraction in enumerate(np.linspace(0.05, 0.9, 8)):
        store = tmp_path / f"retained_{i}.db"
        argv = filter_argv(device_artifacts, store, stream_file)
        proc = subprocess.Popen([sys.executable, "-m", "edgesieve"] + argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(fraction * whole)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        killed_states.add((store.exists(), store.with_name(store.name + CREATING_SUFFIX).exists()))
        assert main(argv) == 0
        assert_same_store(store, reference)
    assert (False, False) in killed_states or len(killed_states) > 1  # some kills landed before the store was done


def test_a_foreign_sqlite_file_is_refused_untouched(device_artifacts, tmp_path):
    foreign = tmp_path / "other.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
        conn.execute("INSERT INTO notes VALUES ('mine')")
    empty = tmp_path / "empty.db"
    with sqlite3.connect(empty) as conn:
        conn.execute("PRAGMA journal_mode=WAL")  # what an interrupted older version left: a header, no tables
    for path in (foreign, empty):
        before = hashlib.sha256(path.read_bytes()).hexdigest()
        with pytest.raises(StoreError, match="not an edgesieve store.*untouched"):
            RetainedStore(path)
        assert main(filter_argv(device_artifacts, path, device_artifacts["folder"] / "stream.npy")) == 2
        assert hashlib.sha256(path.read_bytes()).hexdigest() == before
        assert not os.path.exists(f"{path}-wal") or path == empty
