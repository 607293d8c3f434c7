"""Small models written here (no torchvision): each names its Grad-CAM layer in ``cam_layer``
and registers itself by name (``build_model("mnist_cnn")``, ``list_models()``)."""

from edgesieve.models.audio_cnn import AudioCNN1d
from edgesieve.models.efficientnet_style import EfficientNetStyle
from edgesieve.models.imu_cnn import ImuCNN1d
from edgesieve.models.mnist_cnn import MnistCNN
from edgesieve.models.registry import (
           MODELS,
           build_model,
           list_models,
           load_weights,
           register_model,
           save_weights,
)

__all__ = ["MODELS", "AudioCNN1d", "EfficientNetStyle", "ImuCNN1d", "MnistCNN", "build_model", "list_models",
           "load_weights", "register_model", "save_weights"]
