"""An EfficientNet-style network (inverted residual MBConv blocks with squeeze-excitation),
written here to benchmark scoring on a deeper model than the MNIST CNN."""

from __future__ import annotations

from torch import nn

from edgesieve.models.registry import register_model


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, reduced: int):
        super().__init__()
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, reduced, 1),
            nn.SiLU(),
            nn.Conv2d(reduced, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x):
        return x * self.gate(x)


class MBConv(nn.Module):
    """Expand (1x1) -> depthwise kxk -> squeeze-excite -> project (1x1), residual when shapes allow."""

    def __init__(self, c_in: int, c_out: int, *, expand: int, kernel: int, stride: int):
        super().__init__()
        hidden = c_in * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(c_in, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.SiLU()]
        layers += [
            nn.Conv2d(hidden, hidden, kernel, stride, kernel // 2, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.SiLU(),
            SqueezeExcite(hidden, max(1, c_in // 4)),
            nn.Conv2d(hidden, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        ]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x):
        out = self.block(x)
        return x + out if self.residual else out


# (expand, channels, repeats, stride, kernel), EfficientNet-B0's stages at reduced width
_STAGES = [(1, 16, 1, 1, 3), (6, 24, 2, 2, 3), (6, 40, 2, 2, 5), (6, 80, 3, 2, 3), (6, 112, 3, 1, 5), (6, 192, 4, 2, 5)]


@register_model("efficientnet_style")
class EfficientNetStyle(nn.Module):
    """EfficientNet-B0-like layout (stem, six MBConv stages, 1x1 head conv, GAP, Linear).

    >>> import torch
    >>> EfficientNetStyle(num_classes=10)(torch.zeros(1, 3, 64, 64)).shape
    torch.Size([1, 10])
    """

    cam_layer = "head"

    def __init__(self, num_classes: int = 10, in_channels: int = 3, head_channels: int = 640):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.SiLU())
        blocks, c_in = [], 32
        for expand, c_out, repeats, stride, kernel in _STAGES:
            for i in range(repeats):
                blocks.append(MBConv(c_in, c_out, expand=expand, kernel=kernel, stride=stride if i == 0 else 1))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Conv2d(c_in, head_channels, 1, bias=False), nn.BatchNorm2d(head_channels), nn.SiLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.2)
        self.classifier = nn.Linear(head_channels, num_classes)

    def forward(self, x):
        x = self.head(self.blocks(self.stem(x)))
        return self.classifier(self.dropout(self.pool(x).flatten(1)))
