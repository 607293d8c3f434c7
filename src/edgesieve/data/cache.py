"""Where fetched data sets live: ``$EDGESIEVE_DATA`` or ``~/.cache/edgesieve``."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def data_home(root: str | Path | None = None) -> Path:
    """The cache folder: ``root`` when given, else ``$EDGESIEVE_DATA``, else ``~/.cache/edgesieve``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("EDGESIEVE_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "edgesieve"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def files_verified(folder: Path, hashes: dict[str, str]) -> bool:
    """Whether every named file is in ``folder`` with the expected SHA-256."""
    return all((folder / name).is_file() and sha256_of(folder / name) == digest for name, digest in hashes.items())
