"""A 1-D CNN for IMU windows (6 channels x 100 samples at 50 Hz). Its last block feeds global
average pooling and one linear layer, so DRIP scoring takes the exact closed form."""

from __future__ import annotations

from torch import nn

from edgesieve.models.registry import register_model


def _conv(c_in: int, c_out: int, kernel: int = 5) -> list[nn.Module]:
    return [nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2, bias=False), nn.BatchNorm1d(c_out), nn.ReLU(inplace=True)]


@register_model("imu_cnn")
class ImuCNN1d(nn.Module):
    """(6, 100) window -> 7 classes.

    >>> import torch
    >>> ImuCNN1d()(torch.zeros(2, 6, 100)).shape
    torch.Size([2, 7])
    """

    cam_layer = "features"

    def __init__(self, num_classes: int = 7, channels: int = 6, width: int = 32):
        super().__init__()
        self.norm = nn.BatchNorm1d(channels)  # the sensors' scales differ by 5x
        self.features = nn.Sequential(
            *_conv(channels, width),
            nn.MaxPool1d(2),
            *_conv(width, 2 * width),
            nn.MaxPool1d(2),
            *_conv(2 * width, 2 * width, 3),
        )
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.classifier = nn.Linear(2 * width, num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(self.norm(x))).flatten(1))
