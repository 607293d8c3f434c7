import numpy as np
import pytest
import torch

from edgesieve import DripSelector
from edgesieve.export import ExportError, export_drip_onnx
from edgesieve.reasons import REASON_CODES
from edgesieve.runtime import OnnxFilter, OnnxFilterError


def mnist_sized_inputs(n=10_000):
    try:
        from edgesieve.data import load_mnist_numpy

        return load_mnist_numpy("test")[0][:n]
    except FileNotFoundError:
        return np.random.default_rng(0).random((n, 1, 28, 28), dtype=np.float32)


def test_parity_on_10000_inputs(device_artifacts):
    x = mnist_sized_inputs()
    onnx_out = OnnxFilter(device_artifacts["folder"] / "filter.onnx").decide(x)
    ref = device_artifacts["selector"].decide(torch.from_numpy(x))
    assert np.array_equal(onnx_out.keep, ref.keep.numpy())
    assert np.array_equal(onnx_out.predicted, ref.predicted.numpy())
    assert np.array_equal(onnx_out.reason, ref.reason.numpy())
    assert np.abs(onnx_out.score - ref.score.numpy()).max() <= 1e-4


@pytest.mark.parametrize("normalize", ["max", "minmax"])
@pytest.mark.parametrize("upsample", [True, False])
def test_export_options(device_artifacts, tmp_path, normalize, upsample):
    model = device_artifacts["model"]
    sel = DripSelector(model, normalize=normalize, upsample=upsample, dpw=0.3).calibrate(torch.rand(500, 1, 28, 28))
    report = export_drip_onnx(sel, tmp_path / "f.onnx", sample=mnist_sized_inputs(2000))
    assert report.keep_mismatches == 0 and report.max_score_diff <= 1e-4 and report.n_checked == 2000
    filt = OnnxFilter(report.path)
    assert filt.selector["normalize"] == normalize and filt.sample_shape == (1, 28, 28)


def test_no_export_without_closed_form(tmp_path):
    torch.manual_seed(0)
    tanh_head = torch.nn.Sequential(torch.nn.Conv1d(1, 4, 3), torch.nn.Flatten(), torch.nn.Linear(120, 5),
                                    torch.nn.Tanh(), torch.nn.Linear(5, 3)).eval()
    sel = DripSelector(tanh_head, layer="0").calibrate(torch.randn(100, 1, 32))
    with pytest.raises(ExportError, match="needs a backward pass.*torch runtime"):
        export_drip_onnx(sel, tmp_path / "f.onnx")
    assert not list(tmp_path.iterdir())


# not audio_cnn with "max": its untrained maps are often one position wide, so the normalised
# scores sit on a few lattice values (1/31, ...), some windows are [1/31, 1/31], and a last-ulp
# difference between two correct computations decides
@pytest.mark.parametrize(("name", "normalize"), [("two_head", "none"), ("two_head", "max"), ("audio_cnn", "none")])
def test_the_flatten_mlp_head_exports_with_the_decisions_of_torch(two_head_model, tmp_path, name, normalize):
    """The DRIP paper's audio head (max pool, flatten, Linear, ReLU, Linear) has a closed form
    too; its graph decides as torch does, alone or in a batch."""
    from edgesieve.models import build_model

    torch.manual_seed(0)
    model, shape = (two_head_model, (1, 32)) if name == "two_head" else (build_model("audio_cnn").eval(), (1, 8000))
    sel = DripSelector(model, normalize=normalize, dpw=0.3).calibrate(torch.randn(200, *shape))
    assert not sel.cam_.needs_backward and not sel.cam_.uses_closed_form
    report = export_drip_onnx(sel, tmp_path / "f.onnx", sample=torch.randn(300, *shape))
    assert report.keep_mismatches == 0 and report.max_score_diff <= 1e-4
    x = torch.randn(200, *shape)
    filt, ref = OnnxFilter(report.path), sel.decide(x)
    out = filt.decide(x.numpy())
    assert np.array_equal(out.keep, ref.keep.numpy()) and np.array_equal(out.reason, ref.reason.numpy())
    assert np.array_equal(out.predicted, ref.predicted.numpy())
    assert np.abs(out.score - ref.score.numpy()).max() <= 1e-5 * (1 + np.abs(ref.score.numpy()).max())
    assert 0 < out.keep.sum() < len(x)  # both decisions occur, so the windows are really applied
    alone = np.concatenate([filt.decide(x[i : i + 1].numpy()).keep for i in range(40)])
    assert np.array_equal(alone, out.keep[:40])


def test_a_1d_model_exports_lifted_to_2d_with_the_decisions_of_torch(tmp_path):
    """The IMU CNN's convolutions, poolings and batch norms run as 2-D operators in the graph
    (onnxruntime's faster kernels); its decisions stay those of torch, alone or in a batch."""
    import onnx

    from edgesieve.models import build_model

    torch.manual_seed(0)
    sel = DripSelector(build_model("imu_cnn").eval(), dpw=0.3).calibrate(torch.randn(300, 6, 100))
    report = export_drip_onnx(sel, tmp_path / "f.onnx", sample=torch.randn(300, 6, 100))
    assert report.lifted_1d_ops == 7 and report.keep_mismatches == 0
    graph = onnx.load(str(report.path)).graph
    weights = {t.name: t for t in graph.initializer}
    assert all(len(weights[n.input[1]].dims) == 4 for n in graph.node if n.op_type == "Conv")
    x = torch.randn(100, 6, 100)
    filt, ref = OnnxFilter(report.path), sel.decide(x)
    out = filt.decide(x.numpy())
    assert np.array_equal(out.keep, ref.keep.numpy()) and np.array_equal(out.predicted, ref.predicted.numpy())
    assert 0 < out.keep.sum() < len(x)
    alone = [filt.decide(x[i : i + 1].numpy()) for i in range(30)]
    assert np.array_equal(np.concatenate([a.keep for a in alone]), out.keep[:30])
    assert np.array_equal(np.concatenate([a.score for a in alone]), out.score[:30])  # to the last bit


# not audio_cnn normalised: see test_the_flatten_mlp_head_exports_with_the_decisions_of_torch
@pytest.mark.parametrize(("name", "shape", "normalize"), [("imu_cnn", (6, 100), "none"), ("imu_cnn", (6, 100), "minmax"),
                                                          ("audio_cnn", (1, 8000), "none")])
def test_every_output_is_the_same_to_the_last_bit_in_any_batch(tmp_path, name, shape, normalize):
    """A sample's score, decision and softmax do not depend on the batch it arrives in (the
    graph's sums are matrix products: onnxruntime's ReduceSum over channels added in another order
    at batch 1), so a point on a window's edge is decided the same alone or in a micro-batch."""
    from edgesieve.models import build_model

    torch.manual_seed(0)
    sel = DripSelector(build_model(name).eval(), normalize=normalize, dpw=0.3).calibrate(torch.randn(200, *shape))
    filt = OnnxFilter(export_drip_onnx(sel, tmp_path / "f.onnx", sample=torch.randn(100, *shape)).path)
    x = np.random.default_rng(0).standard_normal((70, *shape)).astype(np.float32)
    for size in (1, 7, 64):
        parts = [filt.decide(x[i : i + size]) for i in range(0, len(x), size)]
        whole = filt.decide(x)
        for field in ("score", "predicted", "keep", "reason", "probs"):
            assert np.array_equal(np.concatenate([getattr(p, field) for p in parts]), getattr(whole, field)), (size, field)


def test_export_leaves_the_models_modes_as_they_were(two_head_model, tmp_path):
    """Captum's rule: the user's model comes back in its own modes (training, a frozen part in eval)."""
    sel = DripSelector(two_head_model).calibrate(torch.randn(100, 1, 32))
    model = sel.model.train()
    model.features.eval()  # deliberately frozen, say
    export_drip_onnx(sel, tmp_path / "f.onnx")
    assert model.training and model.head.training and not model.features.training
    assert all(p.requires_grad for p in model.parameters())


def test_corrupt_truncated_and_foreign_onnx(device_artifacts, tmp_path):
    good = (device_artifacts["folder"] / "filter.onnx").read_bytes()
    (tmp_path / "trunc.onnx").write_bytes(good[: len(good) // 3])
    (tmp_path / "junk.onnx").write_bytes(b"\x00garbage" * 50)
    for name in ("trunc.onnx", "junk.onnx"):
        with pytest.raises(OnnxFilterError, match="not a loadable ONNX model"):
            OnnxFilter(tmp_path / name)
    with pytest.raises(OnnxFilterError, match="does not exist"):
        OnnxFilter(tmp_path / "missing.onnx")
    plain = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    torch.onnx.export(plain, (torch.rand(1, 4),), str(tmp_path / "plain.onnx"), dynamo=False)
    with pytest.raises(OnnxFilterError, match="not an edgesieve filter"):
        OnnxFilter(tmp_path / "plain.onnx")


def test_runtime_input_checks(device_artifacts):
    filt = OnnxFilter(device_artifacts["folder"] / "filter.onnx")
    with pytest.raises(ValueError, match=r"sample shape \(1, 27, 28\)"):
        filt.decide(np.zeros((2, 1, 27, 28), np.float32))
    with pytest.raises(TypeError, match="floating-point"):
        filt.decide(np.zeros((2, 1, 28, 28), np.uint8))
    with pytest.raises(ValueError, match="empty batch"):
        filt.decide(np.zeros((0, 1, 28, 28), np.float32))
    x = np.zeros((4, 1, 28, 28), np.float32)
    x[2, 0, 3, 3], x[3, 0, 0, 0] = np.nan, np.inf  # a NaN scores NaN, which no window holds: never a silent drop
    with pytest.raises(ValueError, match=r"NaN or Inf values in 2 sample\(s\), at batch indices \[2, 3\]"):
        filt.decide(x)
    assert len(filt.decide(np.full((1, 1, 28, 28), 3e38, np.float32))) == 1  # finite, though the sum overflows
    wide = np.zeros((3, 1, 28, 28))
    wide[1, 0, 5, 5] = 1e39  # finite in float64, inf once cast to the filter's float32
    with pytest.raises(ValueError, match=r"beyond float32's range .* at batch indices \[1\]"):
        filt.decide(wide)
    wide[2, 0, 0, 0] = np.nan  # a real NaN is named as such
    with pytest.raises(ValueError, match="NaN or Inf values in 2 sample"):
        filt.decide(wide)
    assert len(filt.decide(np.zeros((3, 1, 28, 28)))) == 3  # float64 input within range is cast and decided


def test_the_softmax_matches_torch_and_an_older_four_output_filter_still_runs(device_artifacts, tmp_path):
    import onnx

    from edgesieve.store import BatchTally, Capacity, RetainedBatch, RetainedStore

    x = device_artifacts["stream"][:256]
    reference = device_artifacts["selector"].decide(torch.from_numpy(x))
    new = OnnxFilter(device_artifacts["folder"] / "filter.onnx").decide(x)
    assert new.probs.shape == (256, 10) and np.abs(new.probs - reference.probs.numpy()).max() < 1e-5
    assert np.allclose(new.probs.sum(1), 1, atol=1e-5)
    proto = onnx.load(str(device_artifacts["folder"] / "filter.onnx"))
    del proto.graph.output[4:]  # what `edgesieve export` wrote before the softmax was an output
    onnx.save(proto, str(tmp_path / "old.onnx"))
    old = OnnxFilter(tmp_path / "old.onnx")
    d = old.decide(x)
    assert not old.gives_probs and d.probs is None and np.array_equal(d.keep, new.keep)
    batch = RetainedBatch(x[:4], np.arange(4), d.predicted[:4], d.score[:4], ["outside_window"] * 4)
    with RetainedStore(tmp_path / "s.db", capacity=Capacity(max_samples=2, policy="cstu", n_classes=10)) as store:
        with pytest.raises(ValueError, match="reads the model's entropy of each sample.*export it again"):
            store.commit("s", batch, BatchTally(4, d.predicted[:4], np.ones(4, bool), int(x[0].nbytes)))


def test_uncalibrated_class_is_kept_with_its_reason_in_the_graph(tmp_path):
    # a class with no thresholds gets the bounds (+inf, -inf) in the graph: kept, reason uncalibrated_class
    torch.manual_seed(0)
    from edgesieve.models import MnistCNN

    model = MnistCNN().eval()
    x = torch.rand(120, 1, 28, 28)
    y = torch.arange(120) % 10
    fresh = torch.rand(300, 1, 28, 28)  # not the calibration points, whose scores are the window edges
    with torch.no_grad():
        common = int(model(fresh).argmax(1).mode().values)
    y[y == common] = (common + 1) % 10  # the class predicted most often has no calibration points
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sel = DripSelector(model, group_by="label", dpw=0.3).calibrate(x, y)
    assert sel.uncalibrated_classes_ == [common]
    export_drip_onnx(sel, tmp_path / "f.onnx", sample=fresh)
    ref = sel.decide(fresh)
    out = OnnxFilter(tmp_path / "f.onnx").decide(fresh.numpy())
    assert np.array_equal(out.reason, ref.reason.numpy()) and np.array_equal(out.keep, ref.keep.numpy())
    mask = np.isin(out.predicted, sel.uncalibrated_classes_)
    assert mask.any() and out.keep[mask].all() and (out.reason[mask] == REASON_CODES["uncalibrated_class"]).all()


def test_single_arrivals_decide_as_inside_a_batch(device_artifacts):
    """Batch 1 on the device: the same keep/drop and reason as the same point inside a batch."""
    x = mnist_sized_inputs(300)
    filt = OnnxFilter(device_artifacts["folder"] / "filter.onnx")
    batch = filt.decide(x)
    alone = [filt.decide(x[i : i + 1]) for i in range(len(x))]
    assert np.array_equal(np.concatenate([d.keep for d in alone]), batch.keep)
    assert np.array_equal(np.concatenate([d.reason for d in alone]), batch.reason)
    assert np.array_equal(np.concatenate([d.score for d in alone]), batch.score)  # to the last bit
    assert np.array_equal(np.concatenate([d.probs for d in alone]), batch.probs)
    sel = device_artifacts["selector"]
    torch_batch = sel.decide(torch.from_numpy(x))
    torch_alone = [sel.decide(torch.from_numpy(x[i : i + 1])) for i in range(len(x))]
    assert torch.equal(torch.cat([d.keep for d in torch_alone]), torch_batch.keep)
    assert torch.equal(torch.cat([d.reason for d in torch_alone]), torch_batch.reason)
    assert torch.allclose(torch.cat([d.score for d in torch_alone]), torch_batch.score, rtol=1e-5, atol=1e-7)
