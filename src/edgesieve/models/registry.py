"""Building a model from a name (or ``module:callable``) and a safetensors weight file."""

from __future__ import annotations

import importlib
from pathlib import Path

from torch import nn

from edgesieve.models.audio_cnn import AudioCNN1d
from edgesieve.models.efficientnet_style import EfficientNetStyle
from edgesieve.models.imu_cnn import ImuCNN1d
from edgesieve.models.mnist_cnn import MnistCNN

MODELS = {"mnist_cnn": MnistCNN, "efficientnet_style": EfficientNetStyle, "audio_cnn": AudioCNN1d, "imu_cnn": ImuCNN1d}


def build_model(spec: str, weights: str | Path | None = None) -> nn.Module:
    """``spec`` is a built-in name (``mnist_cnn``) or ``package.module:factory``; ``weights`` a
    ``.safetensors`` file whose tensors must match the model exactly. Returns it in eval mode.

    >>> build_model("mnist_cnn").training
    False
    """
    if spec in MODELS:
        factory = MODELS[spec]
    elif ":" in spec:
        module_name, _, attr = spec.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as err:
            raise ValueError(f"cannot import model factory {spec!r}: {err}") from err
    else:
        raise ValueError(f"unknown model {spec!r}: use one of {sorted(MODELS)} or 'package.module:factory'")
    model = factory()
    if not isinstance(model, nn.Module):
        raise ValueError(f"{spec!r} built a {type(model).__name__}, not a torch.nn.Module")
    if weights is not None:
        load_weights(model, weights)
    return model.eval()


def load_weights(model: nn.Module, path: str | Path) -> None:
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
        raise ValueError(f"{path} does not fit {type(model).__name__}: {str(err).splitlines()[0]}") from err


def save_weights(model: nn.Module, path: str | Path) -> Path:
    """Write the model's state (parameters and buffers) as safetensors (never pickle)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(path))
    return path
