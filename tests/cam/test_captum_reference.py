"""Our Grad-CAM against Captum's LayerGradCam (+ LayerAttribution.interpolate) as reference."""

import pytest
import torch

from edgesieve import GradCAM

captum_attr = pytest.importorskip("captum.attr")


def captum_maps(model, layer, x, target, size):
    attr = captum_attr.LayerGradCam(model, layer).attribute(x, target=target, relu_attributions=True)
    mode = "bilinear" if x.dim() == 4 else "linear"
    return captum_attr.LayerAttribution.interpolate(attr, size, interpolate_mode=mode).squeeze(1).detach()


@pytest.mark.parametrize("closed_form", ["auto", False])
def test_2d_matches_captum(conv2d_model, closed_form):
    x = torch.randn(8, 1, 12, 12)
    ours = GradCAM(conv2d_model, "features", closed_form=closed_form).explain(x)
    ref = captum_maps(conv2d_model, conv2d_model.features, x, ours.predicted, (12, 12))
    assert torch.allclose(ours.heatmaps, ref, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("closed_form", ["auto", False])
def test_1d_matches_captum(conv1d_model, closed_form):
    x = torch.randn(8, 3, 40)
    ours = GradCAM(conv1d_model, "features", closed_form=closed_form).explain(x)
    ref = captum_maps(conv1d_model, conv1d_model.features, x, ours.predicted, (40,))
    assert torch.allclose(ours.heatmaps, ref, atol=1e-6, rtol=1e-5)


def test_1d_two_linear_head_matches_captum(two_head_model):
    x = torch.randn(5, 1, 32)
    target = torch.tensor([0, 1, 2, 0, 1])
    ours = GradCAM(two_head_model, "features.3").heatmaps(x, target)
    ref = captum_maps(two_head_model, two_head_model.features[3], x, target, (32,))
    assert torch.allclose(ours, ref, atol=1e-6, rtol=1e-5)
