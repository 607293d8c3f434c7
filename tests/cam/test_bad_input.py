import numpy as np
import pytest
import torch
from torch import nn

from edgesieve import GradCAM


def test_wrong_rank(conv2d_model):
    with pytest.raises(ValueError, match=r"expects input of shape \(N, 1, \.\.\., \.\.\.\), got \(1, 12, 12\)"):
        GradCAM(conv2d_model).scores(torch.randn(1, 12, 12))


def test_wrong_channel_count(conv1d_model):
    with pytest.raises(ValueError, match=r"expects input of shape \(N, 3, \.\.\.\)"):
        GradCAM(conv1d_model).scores(torch.randn(2, 4, 40))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_values(conv2d_model, bad):
    x = torch.randn(4, 1, 12, 12)
    x[2, 0, 3, 3] = bad
    with pytest.raises(ValueError, match=r"NaN or Inf values in 1 sample\(s\), at batch indices \[2\]"):
        GradCAM(conv2d_model).scores(x)


def test_empty_batch(conv2d_model):
    with pytest.raises(ValueError, match="empty batch"):
        GradCAM(conv2d_model).scores(torch.zeros(0, 1, 12, 12))


@pytest.mark.parametrize("x", [torch.zeros(2, 1, 12, 12, dtype=torch.uint8), np.zeros((2, 1, 12, 12), dtype=np.int64)])
def test_non_float_dtype(conv2d_model, x):
    with pytest.raises(TypeError, match="floating-point"):
        GradCAM(conv2d_model).scores(x)


@pytest.mark.parametrize("closed_form", ["auto", False])
def test_a_float_dtype_the_model_does_not_compute_in_is_named(conv2d_model, closed_form):
    with pytest.raises(ValueError, match=r"x is torch.float64 but the model computes in torch.float32: convert"):
        GradCAM(conv2d_model, closed_form=closed_form).scores(torch.zeros(2, 1, 12, 12, dtype=torch.float64))


def test_not_a_tensor(conv2d_model):
    with pytest.raises(TypeError, match="torch.Tensor or numpy array"):
        GradCAM(conv2d_model).scores([[1.0, 2.0]])


def test_numpy_float_input_is_accepted(conv2d_model):
    assert GradCAM(conv2d_model).scores(np.random.rand(2, 1, 12, 12).astype(np.float32)).shape == (2,)


def test_unknown_layer_name_suggests(conv2d_model):
    with pytest.raises(ValueError, match=r"no layer named 'feature'.*did you mean \['features'"):
        GradCAM(conv2d_model, "feature")


def test_layer_not_in_model(conv2d_model):
    with pytest.raises(ValueError, match="not a submodule"):
        GradCAM(conv2d_model, nn.Conv2d(1, 1, 1))


def test_layer_output_without_positions(conv2d_model):
    with pytest.raises(ValueError, match=r"outputs shape \(2, 5\); Grad-CAM needs \(N, K, \*positions\)"):
        GradCAM(conv2d_model, "classifier").scores(torch.randn(2, 1, 12, 12))


def test_layer_output_not_a_tensor():
    class TupleLayer(nn.Module):
        def forward(self, x):
            return x, x

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(1, 2, 3)
            self.pair = TupleLayer()
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            a, _ = self.pair(self.conv(x))
            return self.fc(a.mean(-1))

    with pytest.raises(TypeError, match="returns tuple, not a tensor"):
        GradCAM(Net(), "pair").scores(torch.randn(2, 1, 8))


def test_layer_called_twice():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(2, 2, 3, padding=1)
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            return self.fc(self.conv(self.conv(x)).mean(-1))

    with pytest.raises(ValueError, match="called more than once"):
        GradCAM(Twice(), "conv").scores(torch.randn(2, 2, 8))


def test_bad_target(conv2d_model):
    x = torch.randn(2, 1, 12, 12)
    with pytest.raises(ValueError, match="class index 9 but the model has only 5 outputs"):
        GradCAM(conv2d_model).scores(x, target=torch.tensor([0, 9]))
    with pytest.raises(ValueError, match=r"target must have shape \(2,\)"):
        GradCAM(conv2d_model).scores(x, target=torch.tensor([0]))
    with pytest.raises(TypeError, match="integer class indices"):
        GradCAM(conv2d_model).scores(x, target=torch.tensor([0.0, 1.0]))


def test_bad_options(conv2d_model):
    with pytest.raises(ValueError, match="normalize must be one of"):
        GradCAM(conv2d_model, normalize="l1")
    with pytest.raises(ValueError, match="closed_form must be"):
        GradCAM(conv2d_model, closed_form=1)
    with pytest.raises(TypeError, match="upsample must be True or False"):
        GradCAM(conv2d_model, upsample="yes")


def test_model_without_logits():
    model = nn.Sequential(nn.Conv1d(1, 2, 3), nn.ReLU())
    with pytest.raises(ValueError, match=r"logits of shape \(N, C\)"):
        GradCAM(model, "1").scores(torch.randn(2, 1, 8))


def test_finite_values_whose_sum_overflows_pass(conv2d_model):
    # the finiteness check sums first; a sum that overflows is checked value by value
    x = torch.full((2, 1, 12, 12), 3e38)
    assert GradCAM(conv2d_model).scores(x).shape == (2,)
    x[1, 0, 0, 0], x[1, 0, 0, 1] = float("inf"), float("-inf")  # their sum is NaN
    with pytest.raises(ValueError, match=r"NaN or Inf values in 1 sample\(s\), at batch indices \[1\]"):
        GradCAM(conv2d_model).scores(x)
