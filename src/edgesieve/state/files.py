"""Reading and writing selector state files (JSON, atomic, versioned, tied to a model)."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgesieve._version import __version__
from edgesieve.errors import ModelMismatchError, ModelMismatchWarning, StateFileError

FORMAT = "edgesieve-selector"
FORMAT_VERSION = 1


def model_fingerprint(model: nn.Module) -> str:
    """SHA-256 over every parameter and buffer (names, dtypes, shapes, values).

    Buffers count because BatchNorm statistics change the scores as much as weights do.

    >>> import torch
    >>> a = nn.Linear(2, 2); b = nn.Linear(2, 2)
    >>> with torch.no_grad(): _ = b.weight.copy_(a.weight), b.bias.copy_(a.bias)
    >>> model_fingerprint(a) == model_fingerprint(b)
    True
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def write_state(path, *, selector: str, params: dict, state: dict, model: nn.Module | None) -> Path:
    path = Path(path)
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "selector": selector,
        "params": params,
        "state": state,
        "model": None
        if model is None
        else {"class": type(model).__name__, "fingerprint": model_fingerprint(model)},
    }
    try:
        text = json.dumps(doc, indent=1, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as err:
        raise ValueError(f"selector state is not JSON-serialisable: {err}") from err
    atomic_write_text(path, text)
    return path


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder, fsync, then rename over the target."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Like :func:`atomic_write_text`; the file gets the usual mode (0666 less the umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def read_state(path, *, expected_selector: str | None = None) -> dict[str, Any]:
    """Parse and validate a state file; every defect raises ``StateFileError`` naming it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StateFileError(f"state file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise StateFileError(f"cannot read state file {path}: {err}") from err
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as err:
        raise StateFileError(f"{path} is not a valid edgesieve state file (truncated or corrupt JSON: {err})") from err
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise StateFileError(f"{path} is not an edgesieve selector state file (no '\"format\": \"{FORMAT}\"')")
    version = doc.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise StateFileError(f"{path}: bad format_version {version!r}")
    if version > FORMAT_VERSION:
        raise StateFileError(
            f"{path} has format version {version}, written by edgesieve {doc.get('library_version')}; "
            f"this edgesieve ({__version__}) reads up to version {FORMAT_VERSION}: upgrade edgesieve"
        )
    for key, kind in (("selector", str), ("params", dict), ("state", dict)):
        if not isinstance(doc.get(key), kind):
            raise StateFileError(f"{path}: field {key!r} is missing or not a {kind.__name__}")
    if expected_selector and doc["selector"] != expected_selector:
        raise StateFileError(
            f"{path} holds a {doc['selector']!r} selector, not {expected_selector!r}; "
            "use edgesieve.load_selector(path) to load whatever it holds"
        )
    model = doc.get("model")
    if model is not None and not (isinstance(model, dict) and isinstance(model.get("fingerprint"), str)):
        raise StateFileError(f"{path}: field 'model' is malformed")
    return doc


def _reject_constant(name: str):
    raise ValueError(f"non-finite number {name} in state file")


def check_model(doc: dict, model: nn.Module | None, *, strict: bool, path) -> None:
    """Fail (or warn, when not strict) if ``model`` is not the model the state was made with."""
    saved = doc.get("model")
    if model is None or saved is None:
        return
    if model_fingerprint(model) == saved["fingerprint"]:
        return
    message = (
        f"{path} was calibrated on a different model (a {saved.get('class')} whose parameters "
        f"differ from this {type(model).__name__}'s); its thresholds do not apply to this model. "
        "Recalibrate on the new model, or pass strict=False to load anyway"
    )
    if strict:
        raise ModelMismatchError(message)
    warnings.warn(message, ModelMismatchWarning, stacklevel=3)


def finite_float(value, what: str) -> float:
    """A JSON number that must be a finite float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise StateFileError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def encode_tensor(t: torch.Tensor) -> dict[str, Any]:
    """A tensor as JSON: dtype, shape and its raw bytes in base64 (exact, compact).

    >>> decode_tensor(encode_tensor(torch.tensor([1.5, -2.0])), torch.float32).tolist()
    [1.5, -2.0]
    """
    t = t.detach().contiguous().cpu()
    return {"dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape),
            "data": base64.b64encode(t.numpy().tobytes()).decode("ascii")}


def decode_tensor(doc, dtype: torch.dtype) -> torch.Tensor:
    """Inverse of ``encode_tensor``; the dtype must be the expected one and the values finite."""
    if not isinstance(doc, dict) or not {"dtype", "shape", "data"} <= set(doc):
        raise StateFileError(f"expected an encoded tensor (dtype, shape, data), got {type(doc).__name__}")
    name = str(dtype).removeprefix("torch.")
    if doc["dtype"] != name:
        raise StateFileError(f"expected a {name} tensor, got {doc['dtype']!r}")
    shape = doc["shape"]
    if not isinstance(shape, list) or any(isinstance(d, bool) or not isinstance(d, int) or d < 0 for d in shape):
        raise StateFileError(f"bad tensor shape {shape!r}")
    try:
        raw = base64.b64decode(doc["data"], validate=True)
    except (ValueError, TypeError) as err:
        raise StateFileError(f"tensor data is not base64: {err}") from err
    t = torch.empty(0, dtype=dtype)
    if len(raw) != math.prod(shape) * t.element_size():
        raise StateFileError(f"tensor data holds {len(raw)} bytes, shape {shape} needs {math.prod(shape) * t.element_size()}")
    t = torch.frombuffer(bytearray(raw), dtype=dtype).reshape(shape).clone() if raw else torch.zeros(shape, dtype=dtype)
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        raise StateFileError("tensor holds NaN or Inf")
    return t
