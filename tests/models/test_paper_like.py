"""The paper-like models: shapes, sizes, DRIP's closed form on the two CNNs, a clear refusal on
the MLP, and a few training steps that lower the loss."""

import warnings

import pytest
import torch

from edgesieve import DripSelector
from edgesieve.models import build_model

CASES = [("mobilenet_v1_28", (1, 28, 28), 10, 0.7e6, 1.0e6), ("audio_resnet1d", (1, 8000), 10, 0.4e6, 0.6e6),
         ("har_mlp", (6, 100), 7, 0.1e6, 0.2e6)]


@pytest.mark.parametrize("name,shape,classes,low,high", CASES)
def test_each_model_has_its_size_and_learns(name, shape, classes, low, high):
    torch.manual_seed(0)
    model = build_model(name).train()
    assert low < sum(p.numel() for p in model.parameters()) < high
    x, y = torch.randn(20, *shape), torch.randint(classes, (20,))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    losses = []
    for _ in range(8):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < losses[0]
    assert model.eval()(x).shape == (20, classes)


@pytest.mark.parametrize("name,shape", [("mobilenet_v1_28", (1, 28, 28)), ("audio_resnet1d", (1, 8000))])
def test_drip_scores_the_cnns_in_the_closed_form(name, shape):
    torch.manual_seed(0)
    model = build_model(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        selector = DripSelector(model, dpw=0.3).calibrate(torch.randn(40, *shape))
    assert selector.cam_.uses_closed_form and len(selector.decide(torch.randn(5, *shape))) == 5


def test_drip_on_the_mlp_is_refused_with_a_clear_error():
    with pytest.raises(ValueError, match="no convolutional layer; name the target layer"):
        DripSelector(build_model("har_mlp")).calibrate(torch.randn(20, 6, 100))
