"""Models by name: each built-in model class registers itself with ``@register_model``; a new
model is one new module plus its line in ``BUILTIN_MODULES``. ``build_model`` also takes
``package.module:factory`` for your own, and loads ``.safetensors`` weights."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable, TypeVar

from torch import nn

#: modules that register the built-in models (imported on first lookup)
BUILTIN_MODULES = ("mnist_cnn", "efficientnet_style", "audio_cnn", "imu_cnn", "effnet_lite", "paper_like")
MODELS: dict[str, Callable[[], nn.Module]] = {}
F = TypeVar("F")


def register_model(name: str) -> Callable[[F], F]:
    """Class (or factory) decorator: ``build_model(name)`` builds it with no arguments."""

    def add(factory: F) -> F:
        if name in MODELS and MODELS[name] is not factory:
            raise ValueError(f"a model named {name!r} is already registered")
        MODELS[name] = factory
        return factory

    return add


def list_models() -> list[str]:
    """Registered model names, sorted.

    >>> {"mnist_cnn", "audio_cnn", "imu_cnn", "lite0_tail"} <= set(list_models())
    True
    """
    for module in BUILTIN_MODULES:
        importlib.import_module(f"edgesieve.models.{module}")
    return sorted(MODELS)


def model_factory(name: str) -> Callable[[], nn.Module]:
    """The registered factory (class) itself: builds a fresh, untrained model in train mode."""
    if name not in list_models():
        raise ValueError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    return MODELS[name]


def build_model(spec: str, weights: str | Path | None = None) -> nn.Module:
    """``spec`` is a registered name (``mnist_cnn``) or ``package.module:factory``; ``weights`` a
    ``.safetensors`` file whose tensors must match the model exactly. Returns it in eval mode.

    >>> build_model("mnist_cnn").training
    False
    """
    if spec in list_models():
        factory = MODELS[spec]
    elif ":" in spec:
        module_name, _, attr = spec.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as err:
            raise ValueError(f"cannot import model factory {spec!r}: {err}") from err
    else:
        raise ValueError(f"unknown model {spec!r}: use one of {list_models()} or 'package.module:factory'")
    model = factory()
    if not isinstance(model, nn.Module):
        raise ValueError(f"{spec!r} built a {type(model).__name__}, not a torch.nn.Module")
    if weights is not None:
        load_weights(model, weights)
    return model.eval()


def load_weights(model: nn.Module, path: str | Path) -> None:
    """Load a ``.safetensors`` file into ``model``; every tensor must fit (strict). The error for
    a file of another model names every missing, unexpected and mis-shaped tensor."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"weights file {path} does not exist")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{path} is not a readable safetensors file ({err})") from err
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as err:
        raise ValueError(f"{path} does not fit {type(model).__name__}: {err}") from err


def save_weights(model: nn.Module, path: str | Path) -> Path:
    """Write the model's state (parameters and buffers) as safetensors (never pickle),
    atomically, with the usual file mode (0644 under the usual umask)."""
    from safetensors.torch import save

    from edgesieve.state.files import atomic_write_bytes

    path = Path(path)
    atomic_write_bytes(path, save({k: v.detach().contiguous() for k, v in model.state_dict().items()}))
    return path
