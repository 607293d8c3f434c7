"""DRIP: keep a streaming point unless its Grad-CAM score falls in its predicted class's
routine window [L_lower, L_upper], calibrated on a validation set (SPEC section 1)."""

from __future__ import annotations

import warnings

import numpy as np
import torch

from edgesieve.cam import GradCAM
from edgesieve.cam.functional import check_normalize
from edgesieve.cam.gradcam import CAMResult
from edgesieve.errors import CalibrationWarning
from edgesieve.selectors.base import REASON_CODES, Decision, Selector
from edgesieve.selectors.registry import register_selector
from edgesieve.selectors.windows import min_std_window, split_half_agreement, window_size
from edgesieve.state.files import StateFileError, finite_float, model_fingerprint
from edgesieve.validation import as_batch, as_labels

GROUP_BY = ("predicted", "label")


@register_selector("drip")
class DripSelector(Selector):
    """DRIP selector (Grad-CAM score + per-class minimum-deviation window).

    Parameters
    ----------
    model : the classifier (logits out); put it in the state it will run in on the device.
    layer : Grad-CAM target layer, module or dotted name (None: ``model.cam_layer`` or the last
        convolution).
    dpw : Discard Percentage Window, in (0, 1): the fraction of each class's calibration scores
        that the window spans; about this fraction of production points is discarded.
    normalize, upsample, closed_form : Grad-CAM options, see :class:`edgesieve.GradCAM`.
    group_by : ``"predicted"`` (default; thresholds are looked up by predicted class in
        production) or ``"label"`` (group calibration scores by true label; needs y).
    batch_size : how many points are scored per forward pass.
    agreement_splits : random splits behind each class's ``split_half_agreement`` in the
        calibration report: the share of its calibration points that windows fitted on two
        random halves of them decide alike (``split_half_agreement_``: the mean over all
        points); low values mean the windows depend on this calibration sample. 0 skips it
        (for callers that recalibrate every few steps).

    A class with fewer than 2 calibration points, or whose window would hold fewer than 2,
    gets no thresholds: its points are always kept, and ``calibration_report_`` says so.

    >>> from edgesieve.models import MnistCNN
    >>> torch.manual_seed(0) and None
    >>> model = MnistCNN().eval()
    >>> x_val, y_val = torch.rand(200, 1, 28, 28), torch.arange(200) % 10
    >>> sel = DripSelector(model, dpw=0.25, group_by="label").calibrate(x_val, y_val)
    >>> d = sel.decide(torch.rand(8, 1, 28, 28))
    >>> d.keep.dtype, d.score.shape, d.predicted.shape
    (torch.bool, torch.Size([8]), torch.Size([8]))
    """

    requires_model = True

    def __init__(
        self,
        model,
        layer=None,
        *,
        dpw: float = 0.25,
        normalize: str = "none",
        upsample: bool = True,
        group_by: str = "predicted",
        closed_form="auto",
        batch_size: int = 256,
        agreement_splits: int = 100,
    ):
        if isinstance(dpw, bool) or not isinstance(dpw, (int, float)) or not 0.0 < dpw < 1.0:
            raise ValueError(f"dpw must be a fraction in (0, 1), e.g. 0.25 for 25%, got {dpw!r}")
        check_normalize(normalize)
        if group_by not in GROUP_BY:
            raise ValueError(f"group_by must be one of {GROUP_BY}, got {group_by!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.model = model
        self.layer = layer
        self.dpw = dpw
        self.normalize = normalize
        self.upsample = upsample
        self.group_by = group_by
        if isinstance(agreement_splits, bool) or not isinstance(agreement_splits, int) or agreement_splits < 0:
            raise ValueError(f"agreement_splits must be an int >= 0 (0: not measured), got {agreement_splits!r}")
        self.closed_form = closed_form
        self.batch_size = batch_size
        self.agreement_splits = agreement_splits

    # -- calibration ----------------------------------------------------------------------------

    def calibrate(self, x, y=None) -> "DripSelector":
        """Score the validation set and set per-class thresholds; returns self."""
        cam = self._make_cam()
        x = as_batch(x)
        if self.group_by == "label" and y is None:
            raise ValueError("group_by='label' needs the true labels: calibrate(x, y)")
        result = _explain_in_chunks(cam, x, self.batch_size)
        n_classes = result.logits.shape[1]
        if y is not None:
            y = as_labels(y, x.shape[0], n_classes=n_classes)
        scores = result.scores.detach().cpu()  # the windows are fitted on the CPU, wherever the model is
        groups = y.cpu() if self.group_by == "label" else result.predicted.cpu()

        thresholds: dict[int, tuple[float, float]] = {}
        report = []
        for c in range(n_classes):
            class_scores = torch.sort(scores[groups == c]).values
            n = int(class_scores.numel())
            w = window_size(self.dpw, n)
            row = {"class": c, "n": n, "window": w}
            if n < 2 or w < 2:
                row["status"] = f"no thresholds: {n} calibration point(s), window {w} < 2; points kept"
            else:
                win = min_std_window(class_scores, w)
                thresholds[c] = (win.lower, win.upper)
                row.update(status="ok", lower=win.lower, upper=win.upper, std=win.std)
                agreement = split_half_agreement(class_scores, self.dpw, self.agreement_splits, seed=c) \
                    if self.agreement_splits else None
                if agreement is not None:
                    row["split_half_agreement"] = agreement
            report.append(row)

        missing = [r["class"] for r in report if r["status"] != "ok"]
        if missing:
            warnings.warn(
                f"DRIP: classes {missing} got no thresholds (fewer than 2 calibration points or a "
                "window under 2); their points will always be kept. See calibration_report_.",
                CalibrationWarning,
                stacklevel=2,
            )
        self.cam_ = cam
        self._set_fitted(
            n_classes=n_classes,
            sample_shape=tuple(x.shape[1:]),
            thresholds=thresholds,
            report=report,
            fingerprint=model_fingerprint(self.model),
        )
        return self

    def _make_cam(self) -> GradCAM:
        return GradCAM(
            self.model,
            self.layer,
            normalize=self.normalize,
            upsample=self.upsample,
            closed_form=self.closed_form,
        )

    def _set_fitted(self, *, n_classes, sample_shape, thresholds, report, fingerprint) -> None:
        self.n_classes_ = n_classes
        self.sample_shape_ = sample_shape
        self.thresholds_ = thresholds
        self.calibration_report_ = report
        self.uncalibrated_classes_ = sorted(set(range(n_classes)) - set(thresholds))
        measured = [r for r in report if "split_half_agreement" in r]
        self.split_half_agreement_ = (sum(r["split_half_agreement"] * r["n"] for r in measured)
                                      / sum(r["n"] for r in measured) if measured else None)
        self.layer_name_ = self.cam_.layer_name
        self.model_fingerprint_ = fingerprint
        # lookup tables indexed by predicted class; NaN bounds never match, so the point is kept
        # float64, so thresholds from float64 models compare exactly too
        lower = torch.full((n_classes,), float("nan"), dtype=torch.float64)
        upper = torch.full((n_classes,), float("nan"), dtype=torch.float64)
        reasons = torch.full((n_classes, 2), REASON_CODES["uncalibrated_class"], dtype=torch.int8)
        for c, (lo, hi) in thresholds.items():
            lower[c], upper[c] = lo, hi
            reasons[c] = torch.tensor([REASON_CODES["outside_window"], REASON_CODES["inside_window"]])
        self.lower_, self.upper_ = lower, upper
        # numpy views of the same tables: a decision on a few points is a handful of numpy ops
        # on tiny arrays, several times cheaper than as many torch ops (issue 18: batch 1)
        self.decision_tables_ = (lower.numpy(), upper.numpy(), reasons.numpy())

    def summary(self) -> str:
        """The calibration report as a plain-text table."""
        self._check_calibrated()
        lines = [f"DRIP calibration: layer {self.layer_name_!r}, DPW {self.dpw:.0%}, group by {self.group_by}"]
        lines.append(f"{'class':>5} {'n':>6} {'window':>6} {'L_lower':>12} {'L_upper':>12} {'halves':>7}  status")
        for r in self.calibration_report_:
            lo = f"{r['lower']:.6g}" if "lower" in r else "-"
            hi = f"{r['upper']:.6g}" if "upper" in r else "-"
            halves = f"{r['split_half_agreement']:.0%}" if "split_half_agreement" in r else "-"
            lines.append(f"{r['class']:>5} {r['n']:>6} {r['window']:>6} {lo:>12} {hi:>12} {halves:>7}  {r['status']}")
        if self.split_half_agreement_ is not None:
            lines.append(f"halves: the share of calibration points that windows fitted on two random halves of them "
                         f"decide alike; overall {self.split_half_agreement_:.0%}"
                         + (" (below 90%: the windows depend on the calibration sample; calibrate on more data)"
                            if self.split_half_agreement_ < 0.9 else ""))
        return "\n".join(lines)

    # -- production -----------------------------------------------------------------------------

    def decide(self, x, y=None) -> Decision:
        """Discard a point iff L_lower <= score <= L_upper of its predicted class (DRIP decides
        from the prediction; labels, if given, are not used)."""
        if "decision_tables_" not in self.__dict__:  # one lookup: a single arrival pays for every step
            self._check_calibrated()
        x = as_batch(x, sample_shape=self.sample_shape_)
        cam = self.cam_
        if cam.proven_closed_form and x.shape[0] <= self.batch_size:  # a device's arrivals: one chunk, no CAMResult
            logits, predicted, scores = cam._exact_outputs(cam._on_model_device(x))
        else:
            result = _explain_in_chunks(cam, x, self.batch_size)
            logits, predicted, scores = result.logits, result.predicted, result.scores
        if logits.shape[1] != self.n_classes_:
            raise ValueError(
                f"the model now has {logits.shape[1]} outputs but was calibrated with "
                f"{self.n_classes_}; recalibrate"
            )
        probs = (logits if logits.dtype == torch.float32 else logits.float()).softmax(dim=1)
        return self._decide_from_scores(scores, predicted, probs=probs)

    def _decide_from_scores(self, scores, predicted, probs=None) -> Decision:
        """Decisions from the predicted classes' scores: tensors, or numpy arrays (the CPU's
        hot path, see ``GradCAM._exact_outputs``)."""
        lower, upper, reasons = self.decision_tables_
        if isinstance(scores, np.ndarray):
            s, p, device = scores, predicted, None
            scores, predicted = torch.from_numpy(s), torch.from_numpy(p)
        elif scores.is_cpu and predicted.is_cpu and not scores.requires_grad:
            s, p, device = scores.numpy(), predicted.numpy(), None
        else:
            s, p, device = scores.detach().cpu().numpy(), predicted.cpu().numpy(), scores.device
        # float32 scores against float64 bounds compare exactly (numpy promotes, as torch does)
        inside = (s >= lower[p]) & (s <= upper[p])  # NaN bounds (uncalibrated class) never hold
        keep, reason = torch.from_numpy(~inside), torch.from_numpy(reasons[p, inside.view(np.int8)])
        if device is not None:
            keep, reason = keep.to(device), reason.to(device)
        return Decision(keep=keep, score=scores, predicted=predicted, reason=reason, probs=probs)

    def explain(self, x) -> CAMResult:
        """Heatmaps, scores and predictions for a batch (for figures and inspection)."""
        self._check_calibrated()
        x = as_batch(x, sample_shape=self.sample_shape_)
        return self.cam_.explain(x, return_heatmaps=True)

    # -- state ----------------------------------------------------------------------------------

    def _json_params(self) -> dict:
        params = super()._json_params()
        params["layer"] = self.layer_name_  # a module given as layer is saved by its name
        return params

    def _get_state(self) -> dict:
        return {
            "n_classes": self.n_classes_,
            "sample_shape": list(self.sample_shape_),
            "thresholds": {str(c): [lo, hi] for c, (lo, hi) in sorted(self.thresholds_.items())},
            "calibration_report": self.calibration_report_,
            "cam": self.cam_.options,
        }

    def _set_state(self, state: dict) -> None:
        n_classes = state["n_classes"]
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1:
            raise StateFileError(f"n_classes must be a positive int, got {n_classes!r}")
        thresholds = {}
        for key, bounds in state["thresholds"].items():
            c = int(key)
            if not 0 <= c < n_classes or not isinstance(bounds, list) or len(bounds) != 2:
                raise StateFileError(f"bad thresholds entry {key!r}: {bounds!r}")
            lo, hi = (finite_float(b, f"threshold of class {c}") for b in bounds)
            if lo > hi:
                raise StateFileError(f"class {c}: L_lower {lo} > L_upper {hi}")
            thresholds[c] = (lo, hi)
        report = list(state["calibration_report"])
        for row in report:
            if "split_half_agreement" in row:  # read back into split_half_agreement_: numbers, or a clear error
                agreement = finite_float(row["split_half_agreement"], "a class's split-half agreement")
                if not 0.0 <= agreement <= 1.0 or isinstance(row.get("n"), bool) or not isinstance(row.get("n"), int):
                    raise StateFileError(f"bad calibration report row {row!r}: a split-half agreement in [0, 1] "
                                         "and an int n are needed")
        self.cam_ = self._make_cam()
        self._set_fitted(
            n_classes=n_classes,
            sample_shape=tuple(int(d) for d in state["sample_shape"]),
            thresholds=thresholds,
            report=report,
            fingerprint=model_fingerprint(self.model),
        )


def _explain_in_chunks(cam: GradCAM, x: torch.Tensor, batch_size: int) -> CAMResult:
    """``x`` already passed ``as_batch``."""
    if x.shape[0] <= batch_size:  # one chunk: no slice to make
        return cam._explain_checked(x, return_heatmaps=False)
    parts = [cam._explain_checked(x[i : i + batch_size], return_heatmaps=False) for i in range(0, x.shape[0], batch_size)]
    cat = lambda field: torch.cat([getattr(p, field) for p in parts])  # noqa: E731
    return CAMResult(
        logits=cat("logits"),
        predicted=cat("predicted"),
        target=cat("target"),
        scores=cat("scores"),
        heatmaps=None,
        closed_form=all(p.closed_form for p in parts),
    )
