"""Human activity: 6-axis smartwatch IMU (accelerometer + gyroscope) at 50 Hz, 140 recordings
of 7 shoulder exercises by 10 subjects, from PyPI ``seglearn`` 1.2.5 (``load_watch``).

``fetch_har`` downloads the pinned seglearn wheel (``pip download --no-deps``), checks its
SHA-256, reads the one data file it ships and stores it as plain arrays (.npz, no pickle) in
the cache; loading never unpickles. Windows are cut per recording; every window keeps its
recording's id so that splits never separate overlapping windows of one recording.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from edgesieve.data.bundle import DataBundle
from edgesieve.data.cache import data_home, sha256_of
from edgesieve.data.registry import DatasetSpec, TrainingRecipe, register_dataset
from edgesieve.errors import DatasetNotFoundError

WHEEL = "seglearn==1.2.5"
WHEEL_SHA256 = "ec6b952c85c9627050102854b372d85951563d3b990df677d7c55547e87413dd"
CLASSES = ("PEN", "ABD", "FEL", "IR", "ER", "TRAP", "ROW")
WINDOW = 100  # 2 s at 50 Hz
STEP = 50  # windows overlap by half
TEST_SUBJECTS = (9, 10)  # the held-out test split: every recording of these two subjects


def har_file(root=None) -> Path:
    return data_home(root) / "har" / "watch.npz"


def load_har_recordings(root=None, *, path=None):
    """Per-recording arrays: a list of (T_i, 6) float32 signals, labels, subjects."""
    path = Path(path) if path is not None else har_file(root)
    if not path.is_file():
        raise DatasetNotFoundError(f"{path} not found; fetch it with `edgesieve data fetch har` (PyPI seglearn 1.2.5)")
    with np.load(path, allow_pickle=False) as npz:
        signals = np.split(npz["signals"], npz["offsets"][1:-1])
        return signals, npz["labels"].astype(np.int64), npz["subjects"].astype(np.int64)


def windows(signals, labels, window: int = WINDOW, step: int = STEP):
    """Cut every recording into windows (N, 6, window); returns windows, labels, recording ids."""
    xs, ys, groups = [], [], []
    for rec, (signal, label) in enumerate(zip(signals, labels)):
        starts = np.arange(0, signal.shape[0] - window + 1, step)
        idx = starts[:, None] + np.arange(window)[None, :]
        xs.append(signal[idx].transpose(0, 2, 1))
        ys.append(np.full(len(starts), label))
        groups.append(np.full(len(starts), rec))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64), np.concatenate(groups)


def fetch_har(root=None, *, force: bool = False) -> Path:
    target = har_file(root)
    if target.is_file() and not force:
        return target
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, WHEEL],
            capture_output=True, text=True,
        )
        wheels = list(Path(tmp).glob("seglearn-1.2.5-*.whl"))
        if done.returncode != 0 or not wheels:
            raise DatasetNotFoundError(f"`pip download {WHEEL}` failed: {done.stderr.strip()[-400:]}")
        if sha256_of(wheels[0]) != WHEEL_SHA256:
            raise DatasetNotFoundError(f"{wheels[0].name} has an unexpected SHA-256; not used")
        with zipfile.ZipFile(wheels[0]) as wheel:
            raw = Path(tmp) / "watch_dataset.npy"
            raw.write_bytes(wheel.read("seglearn/data/watch_dataset.npy"))
        # The wheel stores a pickled dict; it is read once here, from the hash-checked wheel, and
        # rewritten as plain arrays so that nothing ever unpickles it again.
        data = np.load(raw, allow_pickle=True).item()
    signals = [np.asarray(s, dtype=np.float32) for s in data["X"]]
    offsets = np.cumsum([0] + [s.shape[0] for s in signals])
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_file = target.with_name(".watch.tmp.npz")
    np.savez(
        tmp_file,
        signals=np.concatenate(signals),
        offsets=offsets,
        labels=np.asarray(data["y"], dtype=np.int64),
        subjects=np.asarray(data["subject"], dtype=np.int64),
        side=np.asarray(data["side"], dtype=np.int64),
    )
    tmp_file.replace(target)
    return target


def load_bundle(root=None) -> DataBundle:
    signals, labels, subjects = load_har_recordings(root)
    x, y, rec = windows(signals, labels)
    test = np.isin(subjects[rec], TEST_SUBJECTS)
    return DataBundle("har", x[~test], y[~test], x[test], y[test], CLASSES, groups=rec[~test], sessions=rec[~test],
                      note=f"test = all recordings of subjects {TEST_SUBJECTS}; windows of one recording stay together")


register_dataset(DatasetSpec(
    name="har", load=load_bundle, fetch=fetch_har, modality="imu", model="imu_cnn",
    recipe=TrainingRecipe(epochs=15, batch_size=64, lr=1e-2), classes=CLASSES, sessions="recording (one subject each)",
    description="smartwatch IMU exercises (seglearn watch): 6 axes at 50 Hz, 2 s windows, 7 classes",
))
