import pytest
import torch
from torch import nn

from edgesieve import GradCAM
from edgesieve.models import EfficientNetStyle, MnistCNN
from tests.conftest import trained_like


def closed_and_autograd(model, x, layer=None, **kw):
    fast = GradCAM(model, layer, closed_form="auto", **kw)
    slow = GradCAM(model, layer, closed_form=False, **kw)
    assert fast.uses_closed_form and not slow.uses_closed_form
    return fast.explain(x), slow.explain(x)


def _models():
    torch.manual_seed(1)
    from tests.conftest import Conv1dNet, SmallConv2dNet

    yield "mnist_cnn", trained_like(MnistCNN(), torch.rand(16, 1, 28, 28)), torch.rand(6, 1, 28, 28)
    yield "efficientnet_style", trained_like(EfficientNetStyle(num_classes=7), torch.rand(8, 3, 32, 32)), torch.rand(3, 3, 32, 32)
    yield "conv1d", trained_like(Conv1dNet(), torch.randn(16, 3, 40)), torch.randn(6, 3, 40)
    yield "functional_gap", trained_like(SmallConv2dNet(), torch.randn(16, 1, 12, 12)), torch.randn(6, 1, 12, 12)


@pytest.mark.parametrize(("name", "model", "x"), list(_models()), ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("normalize", ["none", "max", "minmax"])
@pytest.mark.parametrize("upsample", [True, False])
def test_closed_form_equals_autograd(name, model, x, normalize, upsample):
    fast, slow = closed_and_autograd(model, x, normalize=normalize, upsample=upsample)
    assert fast.closed_form and not slow.closed_form
    assert torch.equal(fast.predicted, slow.predicted)
    scale = slow.heatmaps.abs().max().clamp_min(1e-12)
    assert ((fast.heatmaps - slow.heatmaps).abs().max() / scale) < 1e-5
    assert torch.allclose(fast.scores, slow.scores, rtol=1e-5, atol=1e-5 * float(slow.scores.abs().max()))


def test_closed_form_equals_autograd_for_given_targets(conv2d_model):
    x = torch.randn(5, 1, 12, 12)
    target = torch.tensor([0, 1, 2, 3, 4])
    fast = GradCAM(conv2d_model).explain(x, target)
    slow = GradCAM(conv2d_model, closed_form=False).explain(x, target)
    assert torch.equal(fast.target, target)
    assert torch.allclose(fast.heatmaps, slow.heatmaps, atol=1e-6)


def test_shapes_1d_and_2d(conv1d_model, conv2d_model):
    assert GradCAM(conv1d_model).heatmaps(torch.randn(4, 3, 40)).shape == (4, 40)
    assert GradCAM(conv1d_model, upsample=False).heatmaps(torch.randn(4, 3, 40)).shape == (4, 20)
    assert GradCAM(conv2d_model).heatmaps(torch.randn(2, 1, 12, 12)).shape == (2, 12, 12)
    assert GradCAM(conv2d_model).scores(torch.randn(2, 1, 12, 12)).shape == (2,)


def test_auto_does_not_claim_closed_form_where_it_does_not_hold(two_head_model, conv2d_model):
    # two linear layers after the layer: no closed form
    assert not GradCAM(two_head_model).uses_closed_form
    # a layer followed by a non-linearity before pooling: no closed form
    assert not GradCAM(conv2d_model, "features.3").uses_closed_form
    # the last convolution (ReLU follows) is the default layer of a model without cam_layer
    plain = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2))
    cam = GradCAM(plain)
    assert cam.layer_name == "0" and not cam.uses_closed_form
    assert GradCAM(plain, "1").uses_closed_form


def test_forcing_closed_form_on_a_wrong_model_raises(two_head_model):
    cam = GradCAM(two_head_model, closed_form=True)
    with pytest.raises(ValueError, match="closed_form=True, but the logits are not"):
        cam.explain(torch.randn(2, 1, 32))


def test_autograd_path_on_two_linear_head_runs(two_head_model):
    heat = GradCAM(two_head_model, closed_form=False).heatmaps(torch.randn(3, 1, 32))
    assert heat.shape == (3, 32) and (heat >= 0).all()


def _hooks(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())


@pytest.mark.parametrize("closed_form", ["auto", False])
def test_model_state_is_restored(conv2d_model, closed_form):
    model = conv2d_model
    model.train()
    model.features[0].eval()  # a mixed state must come back exactly
    for p in model.classifier.parameters():
        p.requires_grad_(False)
    modes = [m.training for m in model.modules()]
    flags = [p.requires_grad for p in model.parameters()]
    bn_stats = model.features[1].running_mean.clone()
    result = GradCAM(model, closed_form=closed_form).explain(torch.randn(4, 1, 12, 12))
    assert [m.training for m in model.modules()] == modes
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(model.features[1].running_mean, bn_stats)  # eval mode while scoring
    assert _hooks(model) == 0
    for t in (result.heatmaps, result.scores, result.logits):
        assert not t.requires_grad and t.grad_fn is None


def test_hooks_removed_when_forward_raises():
    class Exploding(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            h = self.conv(x)
            raise RuntimeError("boom inside the user's model")

    model = Exploding().train()
    with pytest.raises(ValueError, match="forward pass failed.*boom"):
        GradCAM(model, "conv").explain(torch.randn(2, 1, 5, 5))
    assert _hooks(model) == 0 and model.training


def test_works_under_no_grad_and_inference_mode(conv2d_model):
    x = torch.randn(3, 1, 12, 12)
    ref = GradCAM(conv2d_model, closed_form=False).scores(x)
    with torch.no_grad():
        assert torch.allclose(GradCAM(conv2d_model, closed_form=False).scores(x), ref)
    with torch.inference_mode():
        xi = x.clone()
        assert torch.allclose(GradCAM(conv2d_model, closed_form=False).scores(xi), ref)
    assert torch.is_grad_enabled()


def test_inplace_op_after_layer_is_safe():
    model = nn.Sequential(nn.Conv1d(1, 4, 3), nn.ReLU(inplace=True), nn.Flatten(), nn.Linear(4 * 8, 2)).eval()
    heat = GradCAM(model, "0").heatmaps(torch.randn(2, 1, 10))
    assert heat.shape == (2, 10)


def test_batch_does_not_mix_samples(conv2d_model):
    x = torch.randn(6, 1, 12, 12)
    for closed_form in ("auto", False):
        cam = GradCAM(conv2d_model, closed_form=closed_form)
        whole = cam.scores(x)
        single = torch.cat([cam.scores(x[i : i + 1]) for i in range(6)])
        assert torch.allclose(whole, single, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", ["mnist_cnn", "audio_cnn"])
def test_closed_forms_score_a_sample_alone_exactly_as_in_a_batch(name):
    """A device decides one arrival at a time; the window edges were found on batches. The tail
    after the forward (numpy on CPU) keeps each sample's arithmetic independent of the batch
    (test_functional holds it to exact equality; torch's convolutions may round differently at
    another batch size), and the heatmap path (explain) scores exactly as the hot path (scores)."""
    from edgesieve.models import build_model

    torch.manual_seed(0)
    model = build_model(name).eval()
    cam = GradCAM(model)
    x = torch.rand(12, *((1, 28, 28) if name == "mnist_cnn" else (1, 8000)))
    batch = cam.scores(x)
    alone = torch.cat([cam.scores(x[i : i + 1]) for i in range(12)])
    assert torch.allclose(alone, batch, rtol=1e-5, atol=1e-6 * batch.abs().max())
    assert torch.equal(cam.explain(x).scores, batch)


@pytest.mark.parametrize("name", ["audio_cnn", "mnist_cnn"])
def test_closed_forms_follow_weight_updates(name):
    """The heads' weight tables (per-channel sums of W1, W2, W / Z) are cached; an in-place
    update (an optimiser step, load_state_dict) or a replaced weight must refresh them."""
    from edgesieve.models import build_model

    torch.manual_seed(0)
    model = build_model(name).eval()
    cam, reference = GradCAM(model), GradCAM(model, closed_form=False)
    x = torch.randn(4, *((1, 8000) if name == "audio_cnn" else (1, 28, 28)))
    before = cam.scores(x)
    linears = cam._mlp if cam._mlp is not None else (cam._head,)
    with torch.no_grad():
        for linear in linears:
            linear.weight.mul_(torch.rand_like(linear.weight) * 2)
    after, expected = cam.scores(x), reference.scores(x)
    assert not torch.allclose(after, before)
    assert torch.allclose(after, expected, atol=1e-5 * expected.abs().max())
    linears[-1].weight = nn.Parameter(torch.randn_like(linears[-1].weight))  # a new tensor, same shape
    expected = reference.scores(x)
    assert torch.allclose(cam.scores(x), expected, atol=1e-5 * expected.abs().max())


def test_layer_given_as_module(conv2d_model):
    cam = GradCAM(conv2d_model, conv2d_model.features)
    assert cam.layer_name == "features" and cam.options["layer"] == "features"


def test_exact_closed_form_reads_the_layer_without_hooks_and_traces_eval_mode():
    """A head proven from the graph runs the model's own graph returning the layer's output:
    no hook, no per-call check of the logits; a forward reading ``self.training`` is traced as
    it runs in eval mode, whatever mode the model was in when GradCAM was built."""

    class TrainingFlag(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            h = self.pool(self.conv(x)).flatten(1)
            return self.fc(nn.functional.dropout(h, 0.5, training=self.training))

    torch.manual_seed(0)
    model = TrainingFlag().train()
    cam = GradCAM(model, "conv")
    assert cam.uses_closed_form and cam._split is not None
    x = torch.randn(5, 1, 6, 6)
    calls = []
    model.conv.register_forward_hook(lambda *a: calls.append(1))  # the user's own hook still runs
    scores = cam.scores(x)
    with torch.no_grad():
        eval_logits = model.eval()(x)
    model.train()
    assert torch.equal(cam.explain(x).logits, eval_logits)  # no dropout: eval mode, as traced
    assert torch.allclose(scores, GradCAM(model, "conv", closed_form=False).scores(x), atol=1e-6)
    assert calls and model.training


def test_mean_taken_for_gap_is_checked_on_every_call():
    class MeanHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(1, 4, 3)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(self.conv(x).mean(-1))

    torch.manual_seed(0)
    model = MeanHead()
    cam = GradCAM(model, "conv")
    assert cam.uses_closed_form and cam._split is None  # not proven exact: hooks and the logits check
    x = torch.randn(3, 1, 9)
    assert torch.allclose(cam.scores(x), GradCAM(model, "conv", closed_form=False).scores(x), atol=1e-6)


@pytest.mark.parametrize("name", ["two_head", "audio_cnn"])
def test_flatten_mlp_head_closed_form_equals_autograd(two_head_model, name):
    """The paper's audio head (max pool, flatten, Linear, ReLU, Linear) needs no backward: the
    closed form equals autograd Grad-CAM, for predicted and for given targets."""
    from edgesieve.models import build_model

    torch.manual_seed(0)
    model, shape = (two_head_model, (1, 32)) if name == "two_head" else (build_model("audio_cnn"), (1, 8000))
    fast, slow = GradCAM(model), GradCAM(model, closed_form=False)
    assert not fast.needs_backward and slow.needs_backward and not fast.uses_closed_form
    x = torch.randn(6, *shape)
    a, b = fast.explain(x), slow.explain(x)
    assert a.closed_form and not b.closed_form and torch.equal(a.predicted, b.predicted)
    scale = b.scores.abs().max()
    assert torch.allclose(a.scores, b.scores, atol=1e-5 * scale) and torch.allclose(a.heatmaps, b.heatmaps, atol=1e-5 * b.heatmaps.abs().max())
    target = torch.arange(6) % 3
    assert torch.allclose(fast.scores(x, target), slow.scores(x, target), atol=1e-5 * scale)
    assert _hooks(model) == 0


def test_heads_that_are_not_the_mlp_pattern_keep_autograd():
    torch.manual_seed(0)
    tanh = nn.Sequential(nn.Conv1d(1, 4, 3), nn.Flatten(), nn.Linear(24, 5), nn.Tanh(), nn.Linear(5, 3)).eval()
    avg = nn.Sequential(nn.Conv1d(1, 4, 3), nn.AvgPool1d(2), nn.Flatten(), nn.Linear(12, 5), nn.ReLU(), nn.Linear(5, 3)).eval()
    three = nn.Sequential(nn.Conv1d(1, 4, 3), nn.Flatten(), nn.Linear(24, 5), nn.ReLU(), nn.Linear(5, 5), nn.ReLU(),
                          nn.Linear(5, 3)).eval()
    for model in (tanh, avg, three):
        assert GradCAM(model, "0").needs_backward
