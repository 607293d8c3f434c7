import pytest
import torch
from torch import nn


class Conv1dNet(nn.Module):
    """1-D CNN (audio/IMU style) whose ``features`` feed GAP + Linear."""

    cam_layer = "features"

    def __init__(self, channels: int = 3, classes: int = 4):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(channels, 8, 5, padding=2), nn.BatchNorm1d(8), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(8, 12, 3, padding=1), nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.classifier = nn.Linear(12, classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


class TwoHeadNet(nn.Module):
    """The paper's audio shape: conv features, then Dropout and two Linear layers (no closed form)."""

    cam_layer = "features"

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv1d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2), nn.Conv1d(6, 8, 3), nn.ReLU())
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(8 * 14, 16), nn.ReLU(), nn.Linear(16, 3))

    def forward(self, x):
        return self.head(self.features(x))


class SmallConv2dNet(nn.Module):
    cam_layer = "features"

    def __init__(self, classes: int = 5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(8, classes)

    def forward(self, x):
        # functional global average pooling, to exercise detection beyond nn.Module heads
        return self.classifier(torch.nn.functional.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


def trained_like(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """Give BatchNorm layers non-trivial running statistics, then switch to eval mode."""
    model.train()
    with torch.no_grad():
        model(x)
    return model.eval()


@pytest.fixture
def conv2d_model():
    torch.manual_seed(0)
    return trained_like(SmallConv2dNet(), torch.randn(32, 1, 12, 12))


@pytest.fixture
def conv1d_model():
    torch.manual_seed(0)
    return trained_like(Conv1dNet(), torch.randn(32, 3, 40))


@pytest.fixture
def two_head_model():
    torch.manual_seed(0)
    return TwoHeadNet().eval()


def class_patterned_data(n: int, classes: int = 5, seed: int = 0):
    """Images whose class shows as a bright block at a class-specific place, plus noise."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = 0.3 * torch.randn(n, 1, 12, 12, generator=gen)
    for c in range(classes):
        x[y == c, 0, 2 * c : 2 * c + 3, 2 * c : 2 * c + 3] += 2.0
    return x, y


@pytest.fixture(scope="session")
def fitted_conv2d():
    """A SmallConv2dNet trained briefly on class-patterned data, with calibration and stream sets."""
    torch.manual_seed(0)
    model = SmallConv2dNet()
    x, y = class_patterned_data(600)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(3):
        for i in range(0, 600, 50):
            loss = nn.functional.cross_entropy(model(x[i : i + 50]), y[i : i + 50])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    for p in model.parameters():
        p.grad = None
    return model, class_patterned_data(300, seed=1), class_patterned_data(300, seed=2)


@pytest.fixture(scope="session")
def device_artifacts(tmp_path_factory):
    """A MnistCNN with its weights (safetensors), a calibrated DRIP state, the exported ONNX
    filter and a stream file of MNIST-sized inputs: what a device deployment has."""
    import numpy as np

    from edgesieve import DripSelector
    from edgesieve.export import export_drip_onnx
    from edgesieve.models import MnistCNN, save_weights

    folder = tmp_path_factory.mktemp("device")
    torch.manual_seed(0)
    model = trained_like(MnistCNN(), torch.rand(64, 1, 28, 28))
    with torch.no_grad():  # spread the predictions over several classes
        model.classifier.weight.mul_(20)
    calib = torch.rand(1000, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        selector = DripSelector(model, dpw=0.3).calibrate(calib)
    save_weights(model, folder / "model.safetensors")
    selector.save(folder / "drip.json")
    export_drip_onnx(selector, folder / "filter.onnx")
    stream = np.random.default_rng(2).random((3000, 1, 28, 28), dtype=np.float32)
    np.save(folder / "stream.npy", stream)
    return {"folder": folder, "model": model, "selector": selector, "stream": stream}
