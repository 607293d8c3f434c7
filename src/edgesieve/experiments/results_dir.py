"""A results folder that resumes safely: config.json (with a hash of what makes results
comparable), one atomically written JSON file per finished unit of work, summaries at the end.
A folder holding another config is refused, never overwritten."""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path

import numpy as np
import torch

from edgesieve._version import __version__
from edgesieve.state.files import atomic_write_text


def identity_hash(config: dict) -> str:
    """A short hash of what makes results comparable (the caller leaves out what only extends
    an experiment, such as the number of runs)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


class ResultsDir:
    """``cfg`` needs ``to_json()`` and ``identity_hash()`` (a hash that leaves out the fields
    that only extend an experiment, such as the number of runs)."""

    def __init__(self, path: Path, cfg):
        self.path, self.cfg = Path(path), cfg
        self.runs_dir = self.path / "runs"

    def prepare(self) -> None:
        config_file = self.path / "config.json"
        if config_file.exists():
            try:
                saved = json.loads(config_file.read_text())
            except json.JSONDecodeError as err:
                raise ValueError(f"{config_file} is corrupt ({err}); remove {self.path} or choose another --out") from err
            if saved.get("config_hash") != self.cfg.identity_hash():
                old, new = saved.get("config", {}), self.cfg.to_json()
                diff = {k: (old.get(k), new[k]) for k in new if old.get(k) != new[k]}
                raise ValueError(
                    f"{self.path} holds results of a different config (differs in {diff}); nothing was "
                    "overwritten. Choose another --out, or delete that folder to start over"
                )
        elif self.path.exists() and any(self.path.iterdir()):
            raise ValueError(f"{self.path} exists and is not an edgesieve results folder; choose another --out")
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        meta = {
            "config": self.cfg.to_json(),
            "config_hash": self.cfg.identity_hash(),
            "edgesieve": __version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "threads": torch.get_num_threads(),
        }
        atomic_write_text(config_file, json.dumps(meta, indent=1))

    def run_file(self, key) -> Path:
        name = f"{key:03d}" if isinstance(key, int) else str(key)
        return self.runs_dir / f"run_{name}.json"

    def load_run(self, key) -> dict | None:
        """A finished unit's record, or None (missing, unreadable or foreign files are redone)."""
        path = self.run_file(key)
        if not path.exists():
            return None
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError:
            return None
        if record.get("config_hash") != self.cfg.identity_hash() or record.get("run") != key:
            return None
        return record

    def save_run(self, record: dict) -> None:
        record = {**record, "config_hash": self.cfg.identity_hash()}
        atomic_write_text(self.run_file(record["run"]), json.dumps(record, indent=1))
