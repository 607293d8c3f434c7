"""Where fetched data sets live: ``$EDGESIEVE_DATA`` or ``~/.cache/edgesieve``."""

from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from pathlib import Path


def data_home(root: str | Path | None = None) -> Path:
    """The cache folder: ``root`` when given, else ``$EDGESIEVE_DATA``, else ``~/.cache/edgesieve``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("EDGESIEVE_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "edgesieve"


@contextmanager
def data_home_for_workers(root: str | Path | None):
    """Within the block, ``$EDGESIEVE_DATA`` names ``root`` (when given), so that runs in other
    processes (grid cells on the local Ray instance, which inherits the environment) read the
    same cache; restored afterwards."""
    if root is None:
        yield
        return
    before = os.environ.get("EDGESIEVE_DATA")
    os.environ["EDGESIEVE_DATA"] = str(Path(root).expanduser())
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("EDGESIEVE_DATA", None)
        else:
            os.environ["EDGESIEVE_DATA"] = before


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def files_verified(folder: Path, hashes: dict[str, str]) -> bool:
    """Whether every named file is in ``folder`` with the expected SHA-256."""
    return all((folder / name).is_file() and sha256_of(folder / name) == digest for name, digest in hashes.items())
