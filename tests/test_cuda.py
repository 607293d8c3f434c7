"""The library with a user's model on a CUDA device: the same scores and decisions as on the CPU,
inputs on either device. Skipped where there is no CUDA device (CI has none); run on a GPU
machine with ``pytest tests/test_cuda.py``."""

import copy
import os

import numpy as np
import pytest
import torch

from edgesieve import DripSelector, GradCAM, create_selector
from edgesieve.models import build_model

#: the device under test; EDGESIEVE_TEST_DEVICE=cpu runs the same checks here (the tests' own logic)
DEVICE = os.environ.get("EDGESIEVE_TEST_DEVICE", "cuda")
pytestmark = pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA device")

#: model -> (sample shape, classes): one 2-D CNN, the two 1-D CNNs, the flatten-MLP-headed audio model
MODELS = {"mnist_cnn": ((1, 28, 28), 10), "imu_cnn": ((6, 100), 7), "audio_cnn": ((1, 8000), 10),
          "audio_resnet1d": ((1, 8000), 10)}


def _models(name):
    """The model briefly trained on the CPU (an untrained one predicts one class, which leaves
    DRIP's other classes uncalibrated), and its copy on the device under test."""
    torch.manual_seed(0)
    cpu = build_model(name)
    x, y = _data(name, 128, seed=100)
    opt = torch.optim.Adam(cpu.parameters(), lr=3e-3)
    for _ in range(40):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(cpu(x), y).backward()
        opt.step()
    cpu.eval()
    return cpu, copy.deepcopy(cpu).to(DEVICE)


def _data(name, n, seed=0):
    shape, classes = MODELS[name]
    patterns = torch.randn(classes, *shape, generator=torch.Generator().manual_seed(99))
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(classes, (n,), generator=g)
    return patterns[y] + torch.randn(n, *shape, generator=g), y  # a class-dependent pattern in noise


@pytest.mark.parametrize("closed_form", ["auto", False])
@pytest.mark.parametrize("name", ["mnist_cnn", "imu_cnn", "audio_cnn"])
def test_gradcam_scores_on_cuda_equal_cpu(name, closed_form):
    cpu, gpu = _models(name)
    x, _ = _data(name, 16)
    ref = GradCAM(cpu, closed_form=closed_form).scores(x)
    got = GradCAM(gpu, closed_form=closed_form).scores(x.to(DEVICE))
    np.testing.assert_allclose(got.cpu().numpy(), ref.numpy(), rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("name", ["mnist_cnn", "imu_cnn", "audio_cnn"])
def test_drip_decisions_on_cuda_equal_cpu(name, tmp_path):
    cpu, gpu = _models(name)
    x_val, y_val = _data(name, 300, seed=1)
    x, _ = _data(name, 200, seed=2)
    ref = DripSelector(cpu, dpw=0.25, group_by="label").calibrate(x_val, y_val)
    sel = DripSelector(gpu, dpw=0.25, group_by="label").calibrate(x_val.to(DEVICE), y_val.to(DEVICE))
    for c, window in ref.thresholds_.items():
        np.testing.assert_allclose(sel.thresholds_[c], window, rtol=1e-3, atol=1e-5)
    d_ref = ref.decide(x)
    near_edge = _near_window_edge(ref, d_ref)
    for inputs in (x.to(DEVICE), x):  # inputs on the model's device, and left on the CPU
        d = sel.decide(inputs)
        assert torch.equal(d.predicted.cpu(), d_ref.predicted)
        assert torch.equal(d.keep.cpu()[~near_edge], d_ref.keep[~near_edge])
    sel.save(tmp_path / "drip.json")
    again = DripSelector.load(tmp_path / "drip.json", gpu)
    assert torch.equal(again.decide(x.to(DEVICE)).keep.cpu(), sel.decide(x.to(DEVICE)).keep.cpu())


def _near_window_edge(sel, d, tol=1e-4):
    """Points whose score is within float noise of their class's window edges (CPU and GPU
    kernels may round them to different sides)."""
    edges = np.array([sel.thresholds_.get(int(c), (np.nan, np.nan)) for c in d.predicted], np.float64)
    s = d.score.double().numpy()[:, None]
    return torch.from_numpy((np.abs(s - edges) <= tol * np.maximum(1.0, np.abs(edges))).any(1))


@pytest.mark.parametrize("method", ["titan", "is", "hl", "camel", "ocs", "rho-loss"])
@pytest.mark.parametrize("name", ["mnist_cnn", "imu_cnn", "audio_resnet1d"])
def test_batch_selectors_on_cuda(name, method):
    _, gpu = _models(name)
    x_val, y_val = _data(name, 100, seed=3)
    sel = create_selector(method, model=gpu, batch=10, buffer=30, seed=0).calibrate(x_val.to(DEVICE), y_val.to(DEVICE))
    for r in range(3):
        x, y = _data(name, 100, seed=10 + r)
        d = sel.decide(x.to(DEVICE), y.to(DEVICE))
        keep = d.keep.cpu()
        assert int(keep.sum()) == 10
        assert torch.isfinite(d.weight.cpu()[keep]).all()
    d = sel.decide(x, y)  # the round left on the CPU
    assert int(d.keep.cpu().sum()) == 10


@pytest.mark.parametrize("name", ["mnist_cnn", "imu_cnn"])
def test_titan_picks_on_cuda_match_cpu_classes(name):
    """The fine stage's class allocation depends on gradient norms only through ratios: on the
    same data the CPU and the GPU give every class the same number of picks."""
    cpu, gpu = _models(name)
    x_val, y_val = _data(name, 100, seed=3)
    x, y = _data(name, 100, seed=4)
    ref = create_selector("titan", model=cpu, batch=10, buffer=30, seed=0).calibrate(x_val, y_val).decide(x, y)
    d = create_selector("titan", model=gpu, batch=10, buffer=30, seed=0).calibrate(x_val.to(DEVICE), y_val.to(DEVICE)).decide(
        x.to(DEVICE), y.to(DEVICE))
    classes = MODELS[name][1]
    assert torch.equal(torch.bincount(y[d.keep.cpu()], minlength=classes), torch.bincount(y[ref.keep], minlength=classes))


def test_onnx_export_of_a_cuda_model(tmp_path):
    pytest.importorskip("onnxruntime")
    from edgesieve.export.onnx_export import export_drip_onnx

    _, gpu = _models("mnist_cnn")
    x_val, y_val = _data("mnist_cnn", 300, seed=1)
    sel = DripSelector(gpu, dpw=0.25, group_by="label").calibrate(x_val.to(DEVICE), y_val.to(DEVICE))
    report = export_drip_onnx(sel, tmp_path / "filter.onnx")
    assert report.keep_mismatches == 0
    assert next(gpu.parameters()).device.type == torch.device(DEVICE).type  # the user's model stays where it was
