"""Free Spoken Digit Dataset: 3,000 real 8 kHz recordings of spoken digits (6 speakers x 10
digits x 50 takes). File names are ``{digit}_{speaker}_{take}.wav``; the usual test split holds
out takes 0-4 of every speaker and digit."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np

from edgesieve.data.bundle import DataBundle
from edgesieve.data.cache import data_home
from edgesieve.data.registry import DatasetSpec, TrainingRecipe, register_dataset
from edgesieve.data.wav import decode_wav
from edgesieve.errors import DatasetNotFoundError

SAMPLE_RATE = 8000
LENGTH = 8000  # 1 s at 8 kHz; 99% of recordings are shorter (they are zero-padded, longer ones cropped)
CLASSES = tuple(str(d) for d in range(10))
_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")
# where a checkout of this project finds the copy shipped beside it
_SHIPPED = Path(__file__).resolve().parents[4] / "shared" / "data" / "fsdd" / "recordings"


def fsdd_dir(root=None) -> Path:
    return data_home(root) / "fsdd" / "recordings"


def read_wav(path: Path, length: int = LENGTH, *, peak_normalize: bool = True) -> np.ndarray:
    """One FSDD recording (8 kHz), decoded as everywhere else (``edgesieve.data.wav.decode_wav``)."""
    return decode_wav(path, length, sample_rate=SAMPLE_RATE, peak_normalize=peak_normalize)


def load_fsdd(root=None, *, folder=None, length: int = LENGTH):
    """All recordings: waveforms float32 (N, 1, length), digits, speakers, takes."""
    where = Path(folder) if folder is not None else fsdd_dir(root)
    files = sorted(p for p in where.glob("*.wav") if _NAME.match(p.name)) if where.is_dir() else []
    if not files:
        raise DatasetNotFoundError(
            f"no FSDD recordings ({{digit}}_{{speaker}}_{{take}}.wav) in {where}. Run `edgesieve data fetch fsdd "
            "--from DIR` with DIR a copy of the recordings folder (the public free-spoken-digit-dataset "
            "repository), or pass folder="
        )
    parts = [_NAME.match(p.name).groups() for p in files]
    x = np.stack([read_wav(p, length) for p in files])[:, None, :]
    digits = np.array([int(d) for d, _, _ in parts], dtype=np.int64)
    speakers = np.array([s for _, s, _ in parts])
    takes = np.array([int(t) for _, _, t in parts], dtype=np.int64)
    return x, digits, speakers, takes


def fetch_fsdd(root=None, *, force: bool = False, source: str | Path | None = None) -> Path:
    """Copy the recordings into the cache from ``source`` (or ``$EDGESIEVE_FSDD``, or the copy
    shipped beside this checkout in shared/data/fsdd)."""
    target = fsdd_dir(root)
    if not force and target.is_dir() and len(list(target.glob("*.wav"))) >= 3000:
        return target
    candidates = [Path(p) for p in (source, os.environ.get("EDGESIEVE_FSDD")) if p] + [_SHIPPED]
    found = next((c for c in candidates if c.is_dir() and any(c.glob("*.wav"))), None)
    if found is None:
        raise DatasetNotFoundError(
            "FSDD recordings not found; pass --from DIR (a folder of {digit}_{speaker}_{take}.wav files, e.g. "
            "the recordings folder of the public free-spoken-digit-dataset repository)"
        )
    tmp = target.with_name(".recordings.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(found, tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.replace(target)
    return target


def load_bundle(root=None) -> DataBundle:
    x, digits, speakers, takes = load_fsdd(root)
    test = takes < 5
    speaker_ids = np.unique(speakers, return_inverse=True)[1].astype(np.int64)
    return DataBundle("fsdd", x[~test], digits[~test], x[test], digits[test], CLASSES, sessions=speaker_ids[~test],
                      note="test = takes 0-4 of every speaker and digit (300 recordings)")


register_dataset(DatasetSpec(
    name="fsdd", load=load_bundle, fetch=fetch_fsdd, modality="audio", model="audio_cnn",
    recipe=TrainingRecipe(epochs=12, batch_size=32, lr=3e-3), classes=CLASSES, sessions="speaker",
    description="Free Spoken Digit Dataset: 3,000 real 8 kHz recordings, 6 speakers, raw 1 s waveforms",
    fetch_options=("source",),
))
