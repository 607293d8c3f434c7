"""DirectForward: the split graph's layers called as kernels must give exactly what the module
calls give, and must step aside whenever something a module call would run is there."""

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize, prune

from edgesieve import GradCAM
from edgesieve.cam.direct import DirectForward
from edgesieve.models import build_model

MODEL_INPUTS = {"mnist_cnn": (1, 28, 28), "audio_cnn": (1, 8000), "imu_cnn": (6, 100), "audio_resnet1d": (1, 8000),
                "mobilenet_v1_28": (1, 28, 28), "efficientnet_style": (3, 32, 32)}


def direct_of(model: nn.Module) -> DirectForward:
    return DirectForward(torch.fx.symbolic_trace(model.eval()))


def assert_same(direct: DirectForward, model: nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        expected, got = model(x), direct(x)
    assert torch.equal(got, expected)


class Block(nn.Module):  # a user's container: traced into the graph, its layers called directly
    def __init__(self, c: int):
        super().__init__()
        self.conv, self.norm = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)

    def forward(self, x):
        return torch.relu(self.norm(self.conv(x))) + x


class Scale(nn.Module):  # a user's leaf layer reading its own parameter: stays a module call
    def __init__(self):
        super().__init__()
        self.s = nn.Parameter(torch.tensor(1.5))

    def forward(self, x):
        return x * self.s


def every_layer_2d() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(2, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True), nn.MaxPool2d(2, ceil_mode=True),
        nn.Conv2d(8, 8, 3, stride=2, bias=False, groups=2), nn.SiLU(), nn.Hardswish(), nn.Dropout2d(0.3), Block(8),
        nn.Hardsigmoid(), nn.ReLU6(), nn.Hardtanh(-0.5, 0.5), nn.Sigmoid(), nn.Tanh(), nn.ReLU(), Scale(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.5), nn.Identity(), nn.Linear(8, 5))


def every_layer_1d_3d() -> nn.Module:
    return nn.Sequential(
        nn.Conv3d(1, 4, 3, padding=1), nn.BatchNorm3d(4), nn.MaxPool3d(2), nn.AdaptiveAvgPool3d((1, 2, 2)), nn.Flatten(2),
        nn.Conv1d(4, 6, 3, padding="same"), nn.BatchNorm1d(6), nn.MaxPool1d(2, stride=1, padding=1),
        nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Dropout1d(0.2), nn.Linear(6, 3))


def trained(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """Non-trivial batch-norm statistics and affine terms."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(x)
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.weight.uniform_(0.5, 1.5), m.bias.uniform_(-0.2, 0.2)
    return model.eval()


@pytest.mark.parametrize(("build", "shape", "kept"), [(every_layer_2d, (2, 12, 12), 1), (every_layer_1d_3d, (1, 6, 6, 6), 0)])
def test_every_layer_kind_is_bit_identical(build, shape, kept):
    torch.manual_seed(0)
    x = torch.randn(4, *shape)
    model = trained(build(), x)
    direct = direct_of(model)
    assert_same(direct, model, x)
    assert_same(direct, model, x[:1])  # batch 1 as well
    leaves = [m for m in model.modules() if not list(m.children())]
    assert direct.direct_layers == len(leaves) - kept  # every leaf but a user's own (Scale)


@pytest.mark.parametrize("name", sorted(MODEL_INPUTS))
def test_registered_models_split_graphs_are_bit_identical(name):
    torch.manual_seed(0)
    shape = MODEL_INPUTS[name]
    model = trained(build_model(name), torch.rand(8, *shape))
    cam = GradCAM(model)
    assert cam._split_direct is not None and cam._split_direct.direct_layers > 0
    for x in (torch.rand(1, *shape), torch.rand(5, *shape)):
        with torch.no_grad():
            expected, got = cam._split.forward(x), cam._split_direct(x)
        assert len(got) == len(expected) and all(torch.equal(a, b) for a, b in zip(got, expected))


def test_parameter_updates_and_replacements_are_seen():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(2, 3, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(),
                          nn.Linear(3, 2)).eval()
    direct, x = direct_of(model), torch.randn(2, 2, 9)
    with torch.no_grad():
        model[0].weight.mul_(2.0)  # an optimiser step (in place)
        model[1].running_mean.add_(0.5)
    assert_same(direct, model, x)
    model[5].weight = nn.Parameter(torch.randn(2, 3))  # a replaced parameter
    assert_same(direct, model, x)
    model.load_state_dict({k: torch.rand_like(v) + 0.5 if v.is_floating_point() else v for k, v in model.state_dict().items()})
    assert_same(direct, model, x)


def hook_cases():
    def output_hook(model):
        return model[2].register_forward_hook(lambda m, i, o: o * 2)

    def pre_hook(model):
        return model[0].register_forward_pre_hook(lambda m, i: (i[0] + 1,))

    def global_hook(model):
        return nn.modules.module.register_module_forward_hook(lambda m, i, o: o + 1 if isinstance(m, nn.Linear) else None)

    def pruned(model):
        prune.l1_unstructured(model[0], "weight", amount=0.5)  # masks the weight in a forward pre-hook

    def parametrized(model):
        class Double(nn.Module):
            def forward(self, w):
                return 2 * w
        parametrize.register_parametrization(model[5], "weight", Double())

    def own_forward(model):
        model[2].forward = lambda x: x.abs()

    return [output_hook, pre_hook, global_hook, pruned, parametrized, own_forward]


@pytest.mark.parametrize("change", hook_cases(), ids=lambda f: f.__name__)
def test_a_hook_parametrization_or_own_forward_makes_the_module_path_run(change):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(2, 3, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(),
                          nn.Linear(3, 2)).eval()
    inner = torch.fx.symbolic_trace(model)  # calls model's own layers, as the split graph does
    direct, x = DirectForward(inner), torch.randn(2, 2, 9)
    handle = change(model)
    try:
        with torch.no_grad():
            expected = inner(x)
            try:  # the change matters (a pruned or parametrized weight is not even in the layer's own table) ...
                assert not torch.equal(expected, direct._direct(x))
            except KeyError:
                pass
            assert torch.equal(direct(x), expected)  # ... and is honoured
    finally:
        if handle is not None:
            handle.remove()
    if handle is not None:  # hook removed: the direct path again, equal to the model
        assert_same(direct, model, x)


def test_a_hook_on_an_inlined_container_makes_the_module_path_run():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Sequential(nn.Conv1d(2, 3, 3), nn.ReLU()), nn.AdaptiveAvgPool1d(1), nn.Flatten(),
                          nn.Linear(3, 2)).eval()
    tracer = torch.fx.Tracer()
    tracer.is_leaf_module = lambda m, name: name == "0" or torch.fx.Tracer.is_leaf_module(tracer, m, name)
    inner = torch.fx.GraphModule(model, tracer.trace(model))  # the container one call, as a target layer is
    direct, x = DirectForward(inner), torch.randn(2, 2, 9)
    assert direct.direct_layers == 5
    handle = model[0].register_forward_hook(lambda m, i, o: -o)
    try:
        with torch.no_grad():
            assert torch.equal(direct(x), inner(x))
            assert not torch.equal(direct(x), direct._direct(x))
    finally:
        handle.remove()


def test_layers_kept_as_module_calls():
    model = nn.Sequential(nn.Conv1d(2, 3, 3, padding=1, padding_mode="reflect"),
                          nn.BatchNorm1d(3, track_running_stats=False), nn.MaxPool1d(2, return_indices=False),
                          nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(3, 2)).eval()
    direct = direct_of(model)
    kept = [n.target for n in direct._direct.__self__.graph.nodes if n.op == "call_module"]
    assert kept == ["0", "1"]  # reflect padding and batch statistics in eval: their own forward
    assert_same(direct, model, torch.randn(3, 2, 8))


def test_gradcam_scores_are_unchanged_by_the_direct_path():
    torch.manual_seed(0)
    model = trained(build_model("imu_cnn"), torch.randn(16, 6, 100))
    x = torch.randn(7, 6, 100)
    fast = GradCAM(model).explain(x, return_heatmaps=False)
    slow_cam = GradCAM(model)
    slow_cam._split_direct = slow_cam._split.forward  # the module calls only
    slow = slow_cam.explain(x, return_heatmaps=False)
    assert torch.equal(fast.scores, slow.scores) and torch.equal(fast.logits, slow.logits)
