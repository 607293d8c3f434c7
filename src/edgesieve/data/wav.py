"""The one WAV decoder: training data (FSDD) and the device's folder source both read audio
through ``decode_wav``, so a model sees on the device exactly what it was trained on."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def decode_wav(path: str | Path, length: int, *, sample_rate: int | None = None, peak_normalize: bool = True) -> np.ndarray:
    """A 16-bit PCM WAV as float32 of ``length`` samples: channels averaged, scaled to [-1, 1),
    by default peak-normalised over the whole recording (recording levels differ by an order of
    magnitude between speakers), then zero-padded or cropped. ``sample_rate``: refuse others.

    >>> import tempfile, wave, numpy as np
    >>> path = tempfile.mktemp(suffix=".wav")
    >>> with wave.open(path, "wb") as w:
    ...     w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000)
    ...     w.writeframes(np.array([0, 8192, -16384], dtype="<i2").tobytes())
    >>> decode_wav(path, 4).tolist()
    [0.0, 0.5, -1.0, 0.0]
    """
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV is supported, got {8 * w.getsampwidth()}-bit")
        if sample_rate is not None and w.getframerate() != sample_rate:
            raise ValueError(f"{path}: expected {sample_rate} Hz, got {w.getframerate()} Hz")
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, w.getnchannels())
    signal = frames.mean(axis=1).astype(np.float32) / 32768.0
    if peak_normalize:
        signal /= max(float(np.abs(signal).max(initial=0.0)), 1e-6)
    out = np.zeros(length, dtype=np.float32)
    out[: min(length, signal.size)] = signal[:length]
    return out
