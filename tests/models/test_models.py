import pytest
import torch

from edgesieve import GradCAM
from edgesieve.models import MODELS, AudioCNN1d, ImuCNN1d, build_model, save_weights


def test_paper_audio_model_structure():
    model = AudioCNN1d()
    blocks = list(model.features)
    assert len(blocks) == 4
    for block in blocks:
        assert [type(m).__name__ for m in block] == ["Conv1d", "BatchNorm1d", "ReLU", "MaxPool1d"]
    linears = [m for m in model.classifier if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 2 and any(isinstance(m, torch.nn.Dropout) for m in model.classifier)
    assert not GradCAM(model.eval()).uses_closed_form  # two linear layers: autograd Grad-CAM


def test_imu_model_takes_the_closed_form():
    assert GradCAM(ImuCNN1d().eval()).uses_closed_form


def test_build_model_round_trips_safetensors(tmp_path):
    torch.manual_seed(0)
    model = build_model("imu_cnn")
    path = save_weights(model, tmp_path / "w.safetensors")
    again = build_model("imu_cnn", path)
    x = torch.randn(3, 6, 100)
    assert torch.equal(model(x), again(x))
    assert set(MODELS) >= {"mnist_cnn", "audio_cnn", "imu_cnn"}
    with pytest.raises(ValueError, match="does not fit ImuCNN1d"):
        build_model("imu_cnn", save_weights(AudioCNN1d(), tmp_path / "a.safetensors"))
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        build_model("imu_cnn", tmp_path / "bad.safetensors")
    with pytest.raises(ValueError, match="cannot import model factory"):
        build_model("nowhere.module:make")


def test_lite0_transfer_split():
    pytest.importorskip("efficientnet_lite_pytorch")
    from edgesieve.models.effnet_lite import Lite0Tail, Lite0Trunk, grey_to_lite0_input

    trunk, tail = Lite0Trunk(), Lite0Tail(num_classes=10)
    assert not any(p.requires_grad for p in trunk.parameters())
    assert all(p.requires_grad for p in tail.parameters())
    x = grey_to_lite0_input(torch.rand(2, 1, 28, 28))
    assert x.shape == (2, 3, 64, 64) and x.min() >= -1 and x.max() <= 1
    feats = trunk(x)
    assert feats.shape == (2, 192, 2, 2)
    cam = GradCAM(tail.eval())
    assert cam.uses_closed_form
    closed = cam.scores(feats)
    assert torch.allclose(closed, GradCAM(tail, closed_form=False).scores(feats), rtol=1e-5, atol=1e-7)
