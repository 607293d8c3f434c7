import pytest
import torch

from edgesieve.cam import functional as CF


def test_hand_computed_gradcam_2d():
    # one sample, two channels on a 2x2 grid; alpha = mean gradient = (0.5, -1)
    a = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[1.0, 0.0], [0.0, 1.0]]]])
    g = torch.tensor([[[[0.5, 0.5], [0.5, 0.5]], [[-1.0, -1.0], [-1.0, -1.0]]]])
    # 0.5*A0 - A1 = [[-0.5, 1], [1.5, 1]] -> ReLU
    expected = torch.tensor([[[0.0, 1.0], [1.5, 1.0]]])
    heat = CF.gradcam_from_gradients(a, g)
    assert torch.equal(heat, expected)
    assert CF.drip_scores(heat).item() == pytest.approx(3.5 / 4)


def test_samples_never_mix():
    a, g = torch.randn(6, 4, 5, 5), torch.randn(6, 4, 5, 5)
    whole = CF.gradcam_from_gradients(a, g)
    for i in range(6):
        assert torch.allclose(whole[i : i + 1], CF.gradcam_from_gradients(a[i : i + 1], g[i : i + 1]))


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="share one shape"):
        CF.gradcam_from_gradients(torch.zeros(1, 2, 3), torch.zeros(1, 2, 4))


@pytest.mark.parametrize("mode", CF.NORMALIZATIONS)
def test_normalisations(mode):
    h = torch.rand(4, 6, 6) * 5 + 1
    h[3] = 0.0  # flat map stays finite
    out = CF.normalize_heatmaps(h, mode)
    assert torch.isfinite(out).all()
    if mode == "max":
        assert torch.allclose(out[:3].flatten(1).amax(1), torch.ones(3))
    if mode == "minmax":
        assert torch.allclose(out[:3].flatten(1).amin(1), torch.zeros(3))
        assert torch.allclose(out[:3].flatten(1).amax(1), torch.ones(3))
    assert torch.equal(out[3], torch.zeros(6, 6))


def test_unknown_normalisation():
    with pytest.raises(ValueError, match="normalize must be one of"):
        CF.normalize_heatmaps(torch.zeros(1, 2), "l2")


@pytest.mark.parametrize("mode", CF.NORMALIZATIONS)
@pytest.mark.parametrize(("in_size", "out_size"), [((7, 7), (28, 28)), ((3, 5), (10, 11)), ((13,), (50,)), ((4,), (4,))])
def test_fast_scores_equal_materialised_maps(mode, in_size, out_size):
    raw = torch.rand(5, *in_size, dtype=torch.float64)
    raw[0] = 0.0
    slow = CF.drip_scores(CF.upsample_heatmaps(CF.normalize_heatmaps(raw, mode), out_size))
    fast = CF.drip_scores_from_raw(raw, normalize=mode, out_size=out_size)
    assert torch.allclose(fast, slow, atol=1e-12)


def test_upsampling_rank_mismatch():
    with pytest.raises(ValueError, match="cannot upsample a 1-D heatmap to a 2-D input"):
        CF.upsample_heatmaps(torch.zeros(2, 5), (10, 10))


@pytest.mark.parametrize("mode", CF.NORMALIZATIONS)
def test_cpu_numpy_path_equals_torch_arithmetic(mode):
    """On CPU the two hot functions compute in numpy; torch's own ops are the reference."""
    torch.manual_seed(0)
    a, w = torch.randn(5, 4, 3, 6, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    raw = CF.cam_from_channel_weights(a, w)
    reference = torch.bmm(w.reshape(5, 1, 4), a.reshape(5, 4, -1)).reshape(5, 3, 6).clamp_min(0)
    assert torch.allclose(raw, reference, atol=1e-12)
    weights = CF._flat_mean_weights((3, 6), (9, 12), torch.float64)
    flat = raw.flatten(1)
    got = CF.drip_scores_weighted(flat, weights, mode)
    weighted = flat @ weights
    if mode == "none":
        expected = weighted
    else:
        hi, lo = flat.amax(1), flat.amin(1) if mode == "minmax" else torch.zeros(5, dtype=torch.float64)
        expected = torch.where(hi > lo, (weighted - lo) / (hi - lo), 0.0)
    assert torch.allclose(got, expected, atol=1e-12)
    with torch.enable_grad():  # a tensor that needs gradients stays in torch, gradients flow
        leaf = a.clone().requires_grad_()
        CF.cam_from_channel_weights(leaf, w).sum().backward()
    assert leaf.grad is not None


def test_a_sample_scores_the_same_alone_as_in_a_batch():
    torch.manual_seed(0)
    a, w = torch.randn(64, 32, 7, 7), torch.randn(64, 32)
    weights = CF._flat_mean_weights((7, 7), (28, 28), torch.float32)
    batch = CF.drip_scores_weighted(CF.cam_from_channel_weights(a, w).flatten(1), weights, "none")
    alone = torch.cat([CF.drip_scores_weighted(CF.cam_from_channel_weights(a[i : i + 1], w[i : i + 1]).flatten(1),
                                               weights, "none") for i in range(64)])
    assert torch.equal(batch, alone)
