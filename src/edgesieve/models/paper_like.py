"""Models shaped like the Titan paper's (SPEC section 2), small enough to train here: a
MobileNetV1-style depthwise-separable CNN for 28x28 images, a residual 1-D CNN for raw audio, and
the paper's 2-layer MLP for HAR. They make a training step cost what it costs relative to
selection on the paper's devices (the Titan speed issue), instead of our tiny default models.

The two CNNs end in global average pooling and one linear layer, so DRIP scores them in the exact
closed form at ``cam_layer``; the MLP has no spatial positions, so it serves the online protocol
only (Grad-CAM on it is refused with a clear error)."""

from __future__ import annotations

from torch import nn

from edgesieve.models.registry import register_model


def _separable(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    """MobileNetV1's block: depthwise 3x3 (stride), BN, ReLU; pointwise 1x1, BN, ReLU."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_in, 3, stride=stride, padding=1, groups=c_in, bias=False), nn.BatchNorm2d(c_in),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
    )


#: (output channels, stride) of each separable block at width 1: MobileNetV1's progression,
#: cut to 28x28 inputs (three stride-2 stages: 28 -> 14 -> 7 -> 4)
MOBILENET_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1))


@register_model("mobilenet_v1_28")
class MobileNetV1Small(nn.Module):
    """MobileNetV1-style CNN for (C, 28, 28) images: a 3x3 stem (32 channels x ``width``), eight
    depthwise-separable blocks, GAP, Linear. About 0.81M parameters and 23M multiply-adds per
    image at width 1 (the MNIST CNN: 61k and 3.7M).

    >>> import torch
    >>> MobileNetV1Small()(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    cam_layer = "features"

    def __init__(self, num_classes: int = 10, in_channels: int = 1, width: float = 1.0):
        super().__init__()
        c = max(8, int(32 * width))
        layers: list[nn.Module] = [nn.Sequential(nn.Conv2d(in_channels, c, 3, padding=1, bias=False),
                                                 nn.BatchNorm2d(c), nn.ReLU(inplace=True))]
        for out, stride in MOBILENET_BLOCKS:
            out = max(8, int(out * width))
            layers.append(_separable(c, out, stride))
            c = out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


class _Residual1d(nn.Module):
    """conv-BN-ReLU-conv-BN plus the input (a strided 1x1 projection when the shape changes), ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm1d(c_out), nn.ReLU(inplace=True),
            nn.Conv1d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm1d(c_out),
        )
        self.skip = (nn.Identity() if stride == 1 and c_in == c_out else
                     nn.Sequential(nn.Conv1d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm1d(c_out)))
        self.out = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.out(self.body(x) + self.skip(x))


@register_model("audio_resnet1d")
class AudioResNet1d(nn.Module):
    """A small residual 1-D CNN for raw 8 kHz audio (1, 8000), in the spirit of the paper's
    ResNet34 on speech: a wide strided stem (kernel 80, stride 4, as M5 does on raw waveforms),
    max-pooling, four stages of two residual blocks (32, 64, 128, 128 channels), GAP, Linear.
    About 0.46M parameters and 58M multiply-adds per recording (the audio CNN: 54k and 7.8M).

    >>> import torch
    >>> AudioResNet1d()(torch.zeros(2, 1, 8000)).shape
    torch.Size([2, 10])
    """

    cam_layer = "features"

    def __init__(self, num_classes: int = 10, in_channels: int = 1, width: int = 32):
        super().__init__()
        w = width
        self.stem = nn.Sequential(nn.Conv1d(in_channels, w, 80, stride=4, padding=38, bias=False), nn.BatchNorm1d(w),
                                  nn.ReLU(inplace=True), nn.MaxPool1d(4))
        stages, c = [], w
        for out, stride in ((w, 1), (2 * w, 2), (4 * w, 2), (4 * w, 2)):
            stages += [_Residual1d(c, out, stride), _Residual1d(out, out, 1)]
            c = out
        self.features = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(self.stem(x))).flatten(1))


@register_model("har_mlp")
class HarMLP(nn.Module):
    """The Titan paper's 2-layer MLP for human activity recognition, on our IMU windows
    (6 channels x 100 samples, flattened; the sensors' scales normalised first): 600 -> 256 -> 7.
    About 0.16M parameters and multiply-adds (the IMU CNN: 24k and 0.9M).

    >>> import torch
    >>> HarMLP()(torch.zeros(2, 6, 100)).shape
    torch.Size([2, 7])
    """

    def __init__(self, num_classes: int = 7, channels: int = 6, length: int = 100, hidden: int = 256):
        super().__init__()
        self.norm = nn.BatchNorm1d(channels)
        self.hidden = nn.Sequential(nn.Flatten(), nn.Linear(channels * length, hidden), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(hidden, num_classes)

    def forward(self, x):
        return self.classifier(self.hidden(self.norm(x)))
