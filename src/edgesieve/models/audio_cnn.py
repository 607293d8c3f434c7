"""The DRIP paper's audio model: a 1-D CNN on raw waveforms, 4 x [Conv1d, BatchNorm, ReLU,
MaxPool], then Dropout and two Linear layers. Two linear layers after the convolutions mean its
Grad-CAM takes the autograd path (no closed form)."""

from __future__ import annotations

from torch import nn

from edgesieve.models.registry import register_model


def _block(c_in: int, c_out: int, kernel: int, stride: int = 1, pool: int = 4) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm1d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool1d(pool),
    )


@register_model("audio_cnn")
class AudioCNN1d(nn.Module):
    """(1, 8000) waveform -> 10 classes. Grad-CAM layer: the last block's ReLU.

    >>> import torch
    >>> AudioCNN1d()(torch.zeros(2, 1, 8000)).shape
    torch.Size([2, 10])
    """

    cam_layer = "features.3.2"

    def __init__(self, num_classes: int = 10, length: int = 8000, width: int = 32, hidden: int = 64):
        super().__init__()
        self.features = nn.Sequential(
            _block(1, width, 80, stride=4),
            _block(width, width, 3),
            _block(width, 2 * width, 3),
            _block(2 * width, 2 * width, 3),
        )
        positions = length // 4 // 4 // 4 // 4 // 4
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(0.3),
            nn.Linear(2 * width * positions, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))
