"""The one protocol every selection policy implements.

A selector is built from parameters only (``__init__`` stores them, nothing else), learns its
state in ``calibrate`` (attributes ending in ``_``), then ``decide`` keeps or drops each point
of a batch. ``save``/``load`` round-trip that state through a JSON file (never pickle).
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from edgesieve.errors import NotCalibratedError
from edgesieve.reasons import REASON_CODES, REASONS  # noqa: F401 (re-exported)
from edgesieve.state import files as state_files


@dataclass(frozen=True)
class Decision:
    """Per-point decisions for one batch; every field is a tensor of length N."""

    keep: torch.Tensor  # bool
    score: torch.Tensor  # float32; the selector's score (DRIP score, random draw, ...)
    predicted: torch.Tensor  # int64; the model's predicted class, -1 for model-free selectors
    reason: torch.Tensor  # int8 codes into REASONS
    weight: torch.Tensor | None = None  # float32; batch selectors: importance weight of a kept point
    # float32 (N, C); model-based selectors: the model's softmax, from which the store's capacity
    # policies take what they read (confidence, entropy, the loss of a label)
    probs: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.keep.shape[0])

    @property
    def keep_rate(self) -> float:
        return float(self.keep.float().mean()) if len(self) else float("nan")

    def reasons(self) -> list[str]:
        """The reason of each point as a string (for reports; not for hot paths)."""
        return [REASONS[c] for c in self.reason.tolist()]


class Selector(ABC):
    """Base class and protocol: ``calibrate(x, y=None) -> self``, ``decide(x, y=None) -> Decision``,
    ``save(path)``, ``load(path, model=None)``, ``get_params()``.

    Subclasses set ``name`` (via ``register_selector``), ``requires_model``, and implement
    ``calibrate``, ``decide``, ``_get_state`` and ``_set_state``.
    """

    name: ClassVar[str] = ""
    requires_model: ClassVar[bool] = False

    # -- parameters ---------------------------------------------------------------------------

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self) -> dict[str, Any]:
        """The constructor's parameters, as given."""
        return {p: getattr(self, p) for p in self._param_names()}

    def _json_params(self) -> dict[str, Any]:
        """Parameters as saved in state files (the model is never saved; it is passed to load)."""
        return {k: v for k, v in self.get_params().items() if k != "model"}

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{k}={type(v).__name__ if k == 'model' else repr(v)}" for k, v in self.get_params().items()
        )
        return f"{type(self).__name__}({shown})"

    # -- the protocol ---------------------------------------------------------------------------

    @abstractmethod
    def calibrate(self, x, y=None) -> "Selector":
        """Learn the selector's state from a validation set; returns self."""

    @abstractmethod
    def decide(self, x, y=None) -> Decision:
        """Keep-or-drop decisions for a batch of streaming points. ``y``: the points' labels
        when the stream has them (selectors that do not use labels ignore them)."""

    @property
    def is_calibrated(self) -> bool:
        return any(k.endswith("_") and not k.startswith("_") for k in vars(self))

    def _check_calibrated(self) -> None:
        if not self.is_calibrated:
            raise NotCalibratedError(
                f"{type(self).__name__} is not calibrated: call .calibrate(x_val, y_val) "
                "or load a saved state with .load(path, model) first"
            )

    # -- state files ----------------------------------------------------------------------------

    @abstractmethod
    def _get_state(self) -> dict[str, Any]:
        """The fitted state as JSON-able values."""

    @abstractmethod
    def _set_state(self, state: dict[str, Any]) -> None:
        """Restore the fitted state from ``_get_state``'s output (already parsed JSON)."""

    def _model_or_none(self):
        return getattr(self, "model", None) if self.requires_model else None

    def save(self, path: str | Path) -> Path:
        """Write params and fitted state to a JSON file, atomically (a crash leaves the old
        file or the new one, never half of one)."""
        self._check_calibrated()
        return state_files.write_state(
            path,
            selector=self.name,
            params=self._json_params(),
            state=self._get_state(),
            model=self._model_or_none(),
        )

    @classmethod
    def load(cls, path: str | Path, model=None, *, strict: bool = True) -> "Selector":
        """Rebuild a calibrated selector from ``save``'s file. Selectors that score with a model
        need the same model: a different one raises ``ModelMismatchError`` (``strict=False``
        warns instead)."""
        doc = state_files.read_state(path, expected_selector=cls.name)
        if cls.requires_model and model is None:
            raise TypeError(f"{cls.__name__}.load needs the model it was calibrated with: load(path, model)")
        state_files.check_model(doc, model if cls.requires_model else None, strict=strict, path=path)
        params = dict(doc["params"])
        if cls.requires_model:
            params["model"] = model
        try:
            selector = cls(**params)
            selector._set_state(doc["state"])
        except (KeyError, TypeError, ValueError) as err:
            raise state_files.StateFileError(f"{path}: state does not fit {cls.__name__}: {err}") from err
        return selector
