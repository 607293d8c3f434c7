"""Export a calibrated DRIP filter as one ONNX graph: batch in; score, predicted class, keep
flag, reason code and the model's softmax out (what the store's capacity policies read:
confidence, entropy, the loss of a label). The thresholds are constants inside the graph, so a device needs
only the .onnx file and onnxruntime.

Only the exact closed forms are exported (the target layer feeds global average pooling and one
linear layer, or the DRIP paper's audio head: max pooling, flatten, Linear, ReLU, Linear): a
Grad-CAM that needs a backward pass has no faithful single forward graph, and exporting an
approximation would silently change the decisions.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgesieve.cam import functional as CF
from edgesieve.cam.layers import flatten_mlp_head, layer_and_output, trace_at_layer
from edgesieve.devices import on_cpu
from edgesieve.export.lift_1d import lift_1d_to_2d
from edgesieve.hooks import eval_mode
from edgesieve.reasons import REASON_CODES
from edgesieve.selectors.drip import DripSelector
from edgesieve.state.files import model_fingerprint

OUTPUTS = ("score", "predicted", "keep", "reason", "probs")
FORMAT = "edgesieve-onnx-filter"
FORMAT_VERSION = 1


class ExportError(ValueError):
    """The filter cannot be exported faithfully, or the exported graph failed validation."""


class DripFilterGraph(nn.Module):
    """Closed-form DRIP scoring plus the threshold lookup, as a plain forward pass.

    Written for a small graph, since at batch 1 onnxruntime pays per node, not per element: no
    shape arithmetic (reshapes to constant shapes), one comparison per bound, the reason code
    looked up by class. A class without thresholds gets the bounds (+inf, -inf), so no
    finite score is ever inside its window: it is kept, with reason ``uncalibrated_class``.

    The sums over the map's channels and positions are matrix products, not ReduceSum:
    onnxruntime's ReduceSum over the middle axis of (N, K, P) adds in another order for N = 1
    than for larger batches, so a sample's score changed in its last bits with the batch it came
    in; its batched MatMul computes each sample alone, and a sample scores (and is decided) the
    same alone or in any batch.
    """

    def __init__(self, selector: DripSelector, input_positions: tuple[int, ...], layer_shape: tuple[int, ...]):
        super().__init__()
        channels, *layer_positions = layer_shape
        layer_positions = tuple(layer_positions)
        cam = selector.cam_
        model, positions = selector.model, int(np.prod(layer_positions))
        mlp = flatten_mlp_head(model, cam.layer_name) if cam.head_name is None else None
        if mlp is None:
            self.trunk = layer_and_output(model, trace_at_layer(model, cam.layer_name), cam.layer_name)
            # Grad-CAM's alpha in the closed form: W[c] / Z, Z = number of positions of the layer,
            # stored as (C, 1, K): the predicted class's row is the left factor of the product
            alpha = model.get_submodule(cam.head_name).weight.detach().clone() / positions
            self.register_buffer("alpha", alpha.unsqueeze(1))
        else:
            # the flatten-MLP head: alpha = (W2[c] * [h > 0]) @ S / Z, S = W1 summed over each
            # channel's positions (H, K), as GradCAM computes it (edgesieve.cam.gradcam)
            self.trunk = layer_and_output(model, mlp.graph, cam.layer_name, also=(mlp.hidden_node,))
            w1 = model.get_submodule(mlp.hidden).weight.detach()
            self.register_buffer("out_weight", model.get_submodule(mlp.out).weight.detach().clone())
            self.register_buffer("channel_sums", w1.reshape(w1.shape[0], channels, -1).sum(dim=2))
        self.mlp_head = mlp is not None
        self.channels, self.n_positions = channels, positions
        calibrated = ~torch.isnan(selector.lower_)
        self.register_buffer("lower", torch.where(calibrated, selector.lower_, float("inf")).float())
        self.register_buffer("upper", torch.where(calibrated, selector.upper_, float("-inf")).float())
        kept = torch.where(calibrated, REASON_CODES["outside_window"], REASON_CODES["uncalibrated_class"])
        self.register_buffer("kept_reasons", kept.to(torch.int8))
        self.register_buffer("dropped_reason", torch.tensor(REASON_CODES["inside_window"], dtype=torch.int8))
        self.normalize = cam.normalize
        out_size = input_positions if cam.upsample else layer_positions
        self.register_buffer("mean_weights", CF.upsampled_mean_weights(layer_positions, out_size).float().flatten())

    def forward(self, x):
        activations, *hidden, logits = self.trunk(x)
        predicted = logits.argmax(dim=1)
        if not self.mlp_head:
            alpha = self.alpha[predicted]  # (N, 1, K)
        else:  # an in-place ReLU after the hidden layer leaves h > 0 as it was
            gate = self.out_weight[predicted] * (hidden[0] > 0)
            alpha = (gate @ self.channel_sums / self.n_positions).unsqueeze(1)
        maps = activations.reshape(-1, self.channels, self.n_positions)  # (N, K, P)
        raw = torch.relu(torch.matmul(alpha, maps)).reshape(-1, self.n_positions)  # (N, P)
        if self.normalize == "none":
            score = torch.matmul(raw, self.mean_weights)
        else:
            score = CF.drip_scores_weighted(raw, self.mean_weights, self.normalize)
        keep = (score < self.lower[predicted]) | (score > self.upper[predicted])
        reason = torch.where(keep, self.kept_reasons[predicted], self.dropped_reason)
        return score, predicted, keep, reason, logits.softmax(dim=1)


@dataclass(frozen=True)
class ExportReport:
    path: Path
    n_checked: int
    max_score_diff: float
    keep_mismatches: int
    size_bytes: int
    #: 1-D convolutions, pooling and batch norms written as 2-D ones on maps of height one, which
    #: onnxruntime runs with faster kernels (edgesieve.export.lift_1d); 0 for a 2-D model
    lifted_1d_ops: int = 0


def export_drip_onnx(
    selector: DripSelector,
    path: str | Path,
    *,
    sample: np.ndarray | torch.Tensor | None = None,
    opset: int = 17,
    atol: float = 1e-4,
) -> ExportReport:
    """Write the filter to ``path`` and validate it: ``onnx.checker`` must pass and
    onnxruntime must reproduce PyTorch's decisions on ``sample`` (default: 256 random inputs)
    with identical keep flags and scores within ``atol``. A graph that fails is deleted. A model
    on a GPU is exported from the CPU and put back where it was; a model in training mode is
    exported in eval mode (as DRIP scores) and left in its own modes."""
    selector._check_calibrated()
    cam = selector.cam_
    if cam.needs_backward:
        raise ExportError(
            f"layer {cam.layer_name!r} feeds neither global average pooling and one linear layer nor a "
            "flatten -> Linear -> ReLU -> Linear head: its Grad-CAM needs a backward pass, which has no "
            "faithful single forward graph. Choose such a layer (e.g. the block whose output is pooled), "
            "or run the filter with the torch runtime"
        )
    if sample is None:
        sample = torch.rand(256, *selector.sample_shape_, generator=torch.Generator().manual_seed(0))
    if isinstance(sample, torch.Tensor):
        sample = sample.detach().cpu()
    sample = torch.as_tensor(np.asarray(sample, dtype=np.float32))
    # traced and validated on the CPU and in eval mode; the model goes back to its device and modes
    with on_cpu(selector.model), eval_mode(selector.model):
        return _export_on_cpu(selector, Path(path), sample, opset, atol)


def _export_on_cpu(selector: DripSelector, path: Path, sample: torch.Tensor, opset: int, atol: float) -> ExportReport:
    import onnx

    reference = selector.decide(sample)
    layer_shape = _layer_shape(selector, sample[:1])
    wrapper = DripFilterGraph(selector, tuple(selector.sample_shape_[1:]), layer_shape).eval()

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                wrapper,
                (sample[:2],),
                str(tmp),
                input_names=["x"],
                output_names=list(OUTPUTS),
                dynamic_axes={name: {0: "batch"} for name in ("x", *OUTPUTS)},
                opset_version=opset,
                dynamo=False,
            )
        traced = onnx.load(str(tmp))
        meta = {
            "format": FORMAT,
            "format_version": str(FORMAT_VERSION),
            "sample_shape": json.dumps(list(selector.sample_shape_)),
            "n_classes": str(selector.n_classes_),
            "selector": json.dumps({**selector._json_params(), "thresholds": {str(k): v for k, v in selector.thresholds_.items()}}),
            "model_fingerprint": model_fingerprint(selector.model),
        }
        for key, value in meta.items():
            entry = traced.metadata_props.add()
            entry.key, entry.value = key, value
        lifted_proto, lifted = lift_1d_to_2d(traced)
        try:
            report = _check_and_validate(lifted_proto, tmp, sample.numpy(), reference, atol)
        except Exception:
            if not lifted:
                raise
            # the lift is a speed-up only: a graph it cannot serve is exported as traced
            report, lifted = _check_and_validate(traced, tmp, sample.numpy(), reference, atol), 0
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return ExportReport(path=path, n_checked=report[0], max_score_diff=report[1], keep_mismatches=report[2],
                        size_bytes=path.stat().st_size, lifted_1d_ops=lifted)


def _check_and_validate(model_proto, tmp: Path, x: np.ndarray, reference, atol: float) -> tuple[int, float, int]:
    import onnx

    onnx.checker.check_model(model_proto, full_check=True)
    onnx.save(model_proto, str(tmp))
    return _validate(tmp, x, reference, atol)


def _layer_shape(selector: DripSelector, x: torch.Tensor) -> tuple[int, ...]:
    """(channels, *positions) of the target layer's output."""
    captured = []
    handle = selector.cam_.layer.register_forward_hook(lambda m, i, o: captured.append(tuple(o.shape[1:])))
    try:
        with torch.no_grad():
            selector.model(x)  # in eval mode: export_drip_onnx's context
    finally:
        handle.remove()
    return captured[0]


def _validate(path: Path, x: np.ndarray, reference, atol: float) -> tuple[int, float, int]:
    from edgesieve.runtime.onnx_filter import OnnxFilter

    out = OnnxFilter(path).decide(x)
    diff = float(max(np.abs(out.score - reference.score.numpy()).max(), np.abs(out.probs - reference.probs.numpy()).max()))
    mismatches = int((out.keep != reference.keep.numpy()).sum())
    predicted_ok = np.array_equal(out.predicted, reference.predicted.numpy())
    if diff > atol or mismatches or not predicted_ok:
        raise ExportError(
            f"exported graph disagrees with PyTorch on {x.shape[0]} samples: max score (or "
            f"probability) difference {diff:.3g} "
            f"(allowed {atol}), {mismatches} keep flags differ, predictions equal: {predicted_ok}"
        )
    return x.shape[0], diff, mismatches
