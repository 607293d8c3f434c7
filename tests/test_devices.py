import torch
from torch import nn

from edgesieve.devices import device_probe, model_device


def test_device_probe_follows_the_first_tensor():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    probe = device_probe(model)
    assert probe() == model_device(model) == torch.device("cpu")
    model[0].weight = nn.Parameter(torch.zeros(2, 2, device="meta"))  # replaced, as .to() may do
    assert probe() == torch.device("meta")
    model[0].weight = None  # removed: the walk over the model answers (its next parameter)
    assert probe() == model_device(model) == torch.device("cpu")


def test_device_probe_of_a_model_without_tensors_is_the_cpu():
    assert device_probe(nn.ReLU())() == torch.device("cpu")
    buffers_only = nn.Module()
    buffers_only.register_buffer("b", torch.zeros(1, device="meta"))
    assert device_probe(buffers_only)() == torch.device("meta")
