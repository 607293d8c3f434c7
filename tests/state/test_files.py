import torch
from torch import nn

from edgesieve.state import model_fingerprint


def test_fingerprint_sees_weights_and_buffers():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    before = model_fingerprint(model)
    assert model_fingerprint(model) == before
    model[1].running_mean += 1
    assert model_fingerprint(model) != before


def test_fingerprint_handles_any_dtype():
    model = nn.Linear(2, 2).to(torch.bfloat16)
    assert len(model_fingerprint(model)) == 64
