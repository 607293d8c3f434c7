"""Small models written here (no torchvision): each names its Grad-CAM layer in ``cam_layer``."""

from edgesieve.models.efficientnet_style import EfficientNetStyle
from edgesieve.models.mnist_cnn import MnistCNN

__all__ = ["EfficientNetStyle", "MnistCNN"]
