"""Per data set: the model and the training recipe the reproductions use.

Recipes were chosen on held-out parts of the *training* pools, never on the test splits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from edgesieve.models import AudioCNN1d, ImuCNN1d, MnistCNN


def _lite0_tail() -> nn.Module:
    from edgesieve.models.effnet_lite import Lite0Tail

    return Lite0Tail(num_classes=10)


@dataclass(frozen=True)
class Preset:
    model: Callable[[], nn.Module]
    epochs: int
    batch_size: int
    lr: float
    model_name: str


PRESETS = {
    "mnist": Preset(MnistCNN, 3, 128, 1e-2, "mnist_cnn"),
    "fashion": Preset(MnistCNN, 3, 128, 1e-2, "mnist_cnn"),
    "fsdd": Preset(AudioCNN1d, 12, 32, 3e-3, "audio_cnn"),
    "har": Preset(ImuCNN1d, 15, 64, 1e-2, "imu_cnn"),
    # the pretrained tail is fine-tuned, so a smaller step than training from scratch
    "fashion-effnet": Preset(_lite0_tail, 3, 128, 1e-3, "lite0_tail"),
}


def preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown data set {name!r}; available: {', '.join(sorted(PRESETS))}")
    return PRESETS[name]
