"""Batched Grad-CAM on any PyTorch classifier, with the exact no-backward closed form for
layers that feed global average pooling and one linear layer."""

from __future__ import annotations

import contextlib
import math
import operator
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from edgesieve.cam import functional as CF
from edgesieve.cam.direct import DirectForward
from edgesieve.cam.layers import expected_input, flatten_mlp_head, gap_linear_head, layer_and_output, resolve_layer
from edgesieve.devices import device_probe
from edgesieve.validation import as_batch, as_labels


_TRAINING = operator.attrgetter("training")


@dataclass(frozen=True)
class CAMResult:
    """What one Grad-CAM pass over a batch yields. ``heatmaps`` is None when not requested."""

    logits: torch.Tensor  # (N, C)
    predicted: torch.Tensor  # (N,) int64, argmax of the logits
    target: torch.Tensor  # (N,) int64, the class each map explains
    scores: torch.Tensor  # (N,) DRIP scores
    heatmaps: torch.Tensor | None  # (N, *positions), normalised and (optionally) upsampled
    closed_form: bool  # whether the no-backward closed form produced this result


class GradCAM:
    """Grad-CAM heatmaps and DRIP scores for a classifier's layer.

    Parameters
    ----------
    model : nn.Module returning logits (N, C).
    layer : the target layer (module or dotted name); None picks ``model.cam_layer`` or the last
        convolution. Its output must be (N, K, *positions).
    normalize : ``"none"`` (raw, as the DRIP paper), ``"max"`` or ``"minmax"``; statistics are
        taken per sample at the layer's resolution.
    upsample : resize maps to the input's positions (linear 1-D, bilinear 2-D) before scoring.
    closed_form : ``"auto"`` uses the no-backward form when the layer provably feeds only global
        average pooling and one linear layer; True forces it (raising if the model's output
        does not match that form), False always uses autograd.

    During a call the model is put in eval mode (BatchNorm must not mix samples) and restored
    afterwards; parameters' ``requires_grad`` and ``.grad`` are never touched. Do not train the
    same model object from another thread during a call: use a snapshot.

    >>> torch.manual_seed(0) and None
    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
    ...                     nn.Flatten(), nn.Linear(4, 3))
    >>> cam = GradCAM(net, "1")
    >>> x = torch.rand(5, 1, 8, 8)
    >>> cam.heatmaps(x).shape, cam.scores(x).shape, cam.uses_closed_form
    (torch.Size([5, 8, 8]), torch.Size([5]), True)
    """

    def __init__(self, model, layer=None, *, normalize="none", upsample=True, closed_form="auto"):
        self.layer_name, self.layer = resolve_layer(model, layer)
        self.model = model
        self.normalize = CF.check_normalize(normalize)
        if not isinstance(upsample, bool):
            raise TypeError(f"upsample must be True or False, got {upsample!r}")
        self.upsample = upsample
        if not (closed_form == "auto" or isinstance(closed_form, bool)):
            raise ValueError(f"closed_form must be 'auto', True or False, got {closed_form!r}")
        self.closed_form = closed_form
        self._expected_input = expected_input(model)
        self._modules = list(model.modules())  # walked on every call to save/restore train flags
        self._model_device = device_probe(model)
        self._head_name, self._head_exact, self._split = self._find_head()
        self._head = model.get_submodule(self._head_name) if self._head_name is not None else None
        self._mlp = None  # (hidden linear, output linear) of a flatten-MLP head, when proven
        if self._head_name is None and self.closed_form == "auto":
            mlp = flatten_mlp_head(model, self.layer_name)
            if mlp is not None:
                self._mlp = (model.get_submodule(mlp.hidden), model.get_submodule(mlp.out))
                self._split = layer_and_output(model, mlp.graph, self.layer_name, also=(mlp.hidden_node,))
        # the split graph's layers called directly (bit-identical, much less Python per call)
        self._split_direct = DirectForward(self._split) if self._split is not None else None
        self._warned_fallback = False
        self._numpy_cache: dict = {}  # numpy tables derived from the weights, see _from_weight
        self._position_weights_cache: dict = {}

    @property
    def uses_closed_form(self) -> bool:
        """Whether calls take the no-backward path."""
        return self._head_name is not None

    @property
    def needs_backward(self) -> bool:
        """Whether calls run autograd: neither closed form (GAP + linear, or the flatten-MLP head
        of :func:`edgesieve.cam.layers.flatten_mlp_head`) is proven for this layer."""
        return self._head_name is None and self._mlp is None

    @property
    def proven_closed_form(self) -> bool:
        """Whether the scores of the predicted classes come from an exact closed form that the
        graph proves (no check of the logits per call): the device's hot path."""
        return self._head_exact or self._mlp is not None

    @property
    def head_name(self) -> str | None:
        """Dotted name of the linear layer of the closed form (None when autograd is used)."""
        return self._head_name

    @property
    def options(self) -> dict:
        """The options that determine the scores, as recorded in state files."""
        return {
            "layer": self.layer_name,
            "normalize": self.normalize,
            "upsample": self.upsample,
            "closed_form": self.closed_form,
        }

    def _find_head(self) -> tuple[str | None, bool, torch.fx.GraphModule | None]:
        """(linear layer of the closed form, whether the graph proves it exactly, a module that
        returns the layer's output with the logits). An exact proof needs no check of the logits
        per call; otherwise every call checks them and falls back to autograd when they differ."""
        if self.closed_form is False:
            return None, False, None
        head = gap_linear_head(self.model, self.layer_name)
        if head is not None:
            split = layer_and_output(self.model, head.graph, self.layer_name) if head.exact else None
            return head.linear, head.exact, split
        if self.closed_form is True:
            linears = [n for n, m in self.model.named_modules() if isinstance(m, nn.Linear)]
            if not linears:
                raise ValueError("closed_form=True needs a final nn.Linear layer; the model has none")
            return linears[-1], False, None  # every call checks the logits really are W @ GAP(A) + b
        return None, False, None

    # -- public calls -------------------------------------------------------------------------

    def heatmaps(self, x, target=None) -> torch.Tensor:
        """Heatmaps (N, *positions): the input's positions when ``upsample``, else the layer's."""
        return self.explain(x, target, return_heatmaps=True).heatmaps

    def scores(self, x, target=None) -> torch.Tensor:
        """DRIP scores (N,): the mean of each heatmap over its positions."""
        return self.explain(x, target, return_heatmaps=False).scores

    def explain(self, x, target=None, *, return_heatmaps: bool = True) -> CAMResult:
        """One pass: logits, predictions, scores and (optionally) heatmaps for a batch."""
        return self._explain_checked(self._check_input(x), target, return_heatmaps)

    __call__ = explain

    def _explain_checked(self, x: torch.Tensor, target=None, return_heatmaps: bool = True) -> CAMResult:
        """``explain`` on a batch that ``as_batch`` already checked (a caller's hot path: the
        finiteness check is not paid twice); the model's input shape is still checked."""
        x = self._on_model_device(x)
        if self.proven_closed_form and target is None and not return_heatmaps:
            return self._exact_scores(x)
        if self._mlp is not None:
            with self._eval_mode():
                raw, logits, chosen = self._mlp_closed_form(x, target)
            predicted = chosen if target is None else None
            return self._finish(x, raw, logits, chosen, return_heatmaps, closed_form=True, predicted=predicted)
        with self._eval_mode(), _inference_mode_off():
            # without a target the maps explain the predicted class: one argmax serves both
            if self.uses_closed_form:
                result = self._closed_form(x, target)
                if result is not None:
                    raw, logits, chosen = result
                    predicted = chosen if target is None else None
                    return self._finish(x, raw, logits, chosen, return_heatmaps, closed_form=True, predicted=predicted)
            raw, logits, chosen = self._autograd(x, target)
            predicted = chosen if target is None else None
            return self._finish(x, raw, logits, chosen, return_heatmaps, closed_form=False, predicted=predicted)

    # -- internals ----------------------------------------------------------------------------

    def _check_input(self, x) -> torch.Tensor:
        return as_batch(x, "x", min_rank=2)

    def _on_model_device(self, x: torch.Tensor) -> torch.Tensor:
        """A checked batch of the model's input shape, on the model's device."""
        self._check_shape(x)
        device = self._model_device()
        return x if x.device == device else x.to(device)

    def _check_shape(self, x: torch.Tensor) -> None:
        if self._expected_input is not None:
            rank, channels = self._expected_input
            if x.dim() != rank or x.shape[1] != channels:
                raise ValueError(
                    f"the model's first convolution expects input of shape (N, {channels}, "
                    f"{', '.join(['...'] * (rank - 2))}), got {tuple(x.shape)}"
                )

    @contextlib.contextmanager
    def _eval_mode(self):
        modules = self._modules
        if not any(map(_TRAINING, modules)):  # already in eval mode, as on a device: nothing to switch
            yield
            return
        modes = [m.training for m in modules]
        self.model.eval()
        try:
            yield
        finally:
            for module, mode in zip(modules, modes):
                module.training = mode

    def _forward_capturing(self, x: torch.Tensor, grad_from_layer: bool):
        """Run the model once; return (logits, activation of the target layer).

        With ``grad_from_layer`` the activation becomes a fresh leaf that requires grad and grad
        mode is switched on inside the hook, so autograd records only the part after the layer:
        nothing before it, whatever the parameters' ``requires_grad`` say.
        """
        captured: list[torch.Tensor] = []

        def hook(module, inputs, output):
            self._check_activations(output)
            if captured:
                raise ValueError(
                    f"layer {self.layer_name!r} is called more than once per forward pass; "
                    "choose a layer used once"
                )
            if not grad_from_layer:
                captured.append(output)
                return None
            leaf = output.detach().requires_grad_(True)
            captured.append(leaf)
            torch.set_grad_enabled(True)  # restored by the no_grad context around the forward
            return leaf.clone()  # a clone, so in-place ops downstream never touch the leaf

        handle = self.layer.register_forward_hook(hook)
        try:
            with torch.no_grad():
                try:
                    logits = self.model(x)
                except (TypeError, ValueError):
                    raise  # our hook's own errors already name the problem
                except RuntimeError as err:
                    raise ValueError(self._forward_failure(x, err)) from err
        finally:
            handle.remove()
        if not captured:
            raise ValueError(f"layer {self.layer_name!r} was not called during the forward pass")
        self._check_logits(logits, x)
        return logits, captured[0]

    def _forward_failure(self, x: torch.Tensor, err: RuntimeError) -> str:
        """The message for a forward pass that failed: a dtype the model does not compute in is
        named as such (torch says only "mixed dtype")."""
        dtypes = {t.dtype for t in self.model.parameters() if t.is_floating_point()}
        if len(dtypes) == 1 and x.dtype not in dtypes:
            dtype = dtypes.pop()
            return (f"x is {x.dtype} but the model computes in {dtype}: convert the input first "
                    f"(x.to({dtype})); the forward pass failed with: {err}")
        return f"the model's forward pass failed on input of shape {tuple(x.shape)}: {err}"

    def _check_activations(self, output) -> None:
        if not isinstance(output, torch.Tensor):
            raise TypeError(
                f"layer {self.layer_name!r} returns {type(output).__name__}, not a tensor; "
                "choose a layer whose output is a tensor (N, K, *positions)"
            )
        if output.dim() < 3:
            raise ValueError(
                f"layer {self.layer_name!r} outputs shape {tuple(output.shape)}; Grad-CAM needs "
                "(N, K, *positions), e.g. a Conv1d/Conv2d layer or the activation after it"
            )

    @staticmethod
    def _check_logits(logits, x: torch.Tensor) -> None:
        if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or logits.shape[0] != x.shape[0]:
            shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise ValueError(f"the model must return logits of shape (N, C), got {shape}")

    def _targets(self, target, logits: torch.Tensor) -> torch.Tensor:
        if target is None:
            return logits.argmax(dim=1)
        return as_labels(target, logits.shape[0], "target", n_classes=logits.shape[1])

    def _closed_form(self, x: torch.Tensor, target):
        if self._split is not None:
            logits, activations = self._forward_split(x)
        else:
            logits, activations = self._forward_capturing(x, grad_from_layer=False)
        head = self._head
        weight = head.weight
        if not self._head_exact and not self._logits_match(activations, logits, head):
            return None
        target = self._targets(target, logits)
        positions = math.prod(activations.shape[2:])
        alpha = weight.detach()[target] / positions
        return CF.cam_from_channel_weights(activations.detach(), alpha), logits.detach(), target

    def _exact_scores(self, x: torch.Tensor) -> CAMResult:
        """:meth:`_exact_outputs` as a :class:`CAMResult` of normal tensors."""
        logits, predicted, scores = self._exact_outputs(x)
        if isinstance(scores, np.ndarray):
            # a normal tensor on the same memory for the caller (inference tensors refuse in-place updates)
            logits, predicted, scores = torch.from_numpy(logits.numpy()), torch.from_numpy(predicted), torch.from_numpy(scores)
        return CAMResult(logits=logits, predicted=predicted, target=predicted, scores=scores, heatmaps=None,
                         closed_form=True)

    def _exact_outputs(self, x: torch.Tensor) -> tuple:
        """A device's hot path: ``(logits, predicted, scores)`` of the predicted classes by an exact
        closed form (GAP + linear, or the flatten-MLP head; see :attr:`proven_closed_form`), for a batch
        that :meth:`_on_model_device` returned. The same arithmetic as the general path, with no
        step that a single arrival need not pay for: on CPU the whole tail after the forward is a
        few numpy calls (torch's per-call cost, paid after a forward has evicted the caches, was
        most of the filter's overhead over plain inference), and ``predicted`` and ``scores``
        come back as numpy arrays, ``logits`` as an inference-mode tensor (read it, never update
        it in place). Elsewhere (a GPU, a model being traced) all three are normal tensors."""
        if any(map(_TRAINING, self._modules)):
            with self._eval_mode():
                logits, activations, *hidden = self._forward_split(x, inference=True)
        else:  # a device's model is in eval mode: no context manager to enter
            logits, activations, *hidden = self._forward_split(x, inference=True)
        if not CF._on_numpy(activations, logits):
            logits = logits.clone()  # a normal tensor for the caller
            if self._mlp is not None:
                raw, _, predicted = self._mlp_cam_torch(logits, activations, hidden[0], None)
            else:
                predicted = logits.argmax(dim=1)
                raw = CF.cam_from_channel_weights(
                    activations, self._head.weight.detach()[predicted] / math.prod(activations.shape[2:]))
            scores = CF.drip_scores_from_raw(raw, normalize=self.normalize,
                                             out_size=tuple(x.shape[2:]) if self.upsample else None)
            return logits, predicted, scores
        a = activations.numpy()
        predicted = logits.numpy().argmax(axis=1)
        if self._mlp is not None:
            alpha = self._mlp_alpha_numpy(predicted, hidden[0].numpy(), a.shape[1], math.prod(a.shape[2:]))
        else:  # alpha = W[c] / Z, from a table of every class's row (the same float32 quotients)
            positions = math.prod(a.shape[2:])
            alpha = self._from_weight("gap_alpha", self._head.weight, positions, lambda w: w / positions)[predicted]
        raw = CF.cam_from_channel_weights_numpy(a, alpha)
        weights = self._position_weights(a.shape[2:], x.shape[2:], a.dtype)
        return logits, predicted, CF.drip_scores_weighted_numpy(raw.reshape(len(a), -1), weights, self.normalize)

    def _forward_split(self, x: torch.Tensor, inference: bool = False):
        """The closed form's forward when the graph proves it: the model's own graph returns the
        layer's output with the logits (and, for a flatten-MLP head, the hidden layer's output
        in between), no hook and no check of the logits needed. ``inference``: under
        ``torch.inference_mode`` (no view or version tracking: 6-25 us less per forward at batch 1
        on the CNNs here); the caller must hand out no tensor of it as it is."""
        try:
            # torch.inference_mode()'s own guard: its Python wrapper costs a single arrival a few us
            with torch._C._InferenceMode(True) if inference else torch.no_grad():
                outputs = self._split_direct(x)  # our own graph: no hooks of ours, no __call__ wrappers
        except RuntimeError as err:
            raise ValueError(self._forward_failure(x, err)) from err
        self._check_activations(outputs[0])
        self._check_logits(outputs[-1], x)
        return outputs[-1], *outputs[:-1]

    def _mlp_closed_form(self, x: torch.Tensor, target):
        """Grad-CAM through a flatten -> Linear -> ReLU -> Linear head without autograd: the
        gradient of logit c at the flattened layer is W1^T (W2[c] * [h > 0]), h the hidden
        layer's output; alpha is its mean over the layer's positions (max pooling between them
        moves each gradient to one position of the same channel, so the sum is unchanged)."""
        logits, activations, hidden = self._forward_split(x)
        target = self._targets(target, logits)
        if CF._on_numpy(activations, hidden):
            a = activations.numpy()
            alpha = self._mlp_alpha_numpy(target.numpy(), hidden.numpy(), a.shape[1], math.prod(a.shape[2:]))
            return torch.from_numpy(CF.cam_from_channel_weights_numpy(a, alpha)), logits, target
        return self._mlp_cam_torch(logits, activations, hidden, target)

    def _mlp_cam_torch(self, logits, activations, hidden, target):
        target = logits.argmax(dim=1) if target is None else target
        hidden_linear, out_linear = self._mlp
        k, positions = activations.shape[1], math.prod(activations.shape[2:])
        gate = out_linear.weight.detach()[target] * (hidden > 0)  # an in-place ReLU leaves h > 0 as it was
        w1 = hidden_linear.weight.detach()
        alpha = gate @ w1.reshape(w1.shape[0], k, -1).sum(dim=2) / positions
        return CF.cam_from_channel_weights(activations, alpha), logits, target

    def _mlp_alpha_numpy(self, target: np.ndarray, hidden: np.ndarray, k: int, positions: int) -> np.ndarray:
        hidden_linear, out_linear = self._mlp
        gate = self._from_weight("out_weight", out_linear.weight, None, lambda w: w)[target] * (hidden > 0)
        # one (1, H) @ (H, K) product per sample: a sample's alpha does not depend on the batch
        return np.matmul(gate[:, None, :], self._channel_sums(hidden_linear.weight, k))[:, 0, :] / positions

    def _channel_sums(self, w1: torch.Tensor, k: int) -> np.ndarray:
        """W1 (H, K * positions) summed over each channel's positions (H, K)."""
        return self._from_weight("channel_sums", w1, k, lambda w: w.reshape(w.shape[0], k, -1).sum(axis=2))

    def _position_weights(self, layer_size: tuple, input_size: tuple, dtype) -> np.ndarray | None:
        """:func:`CF.position_weights_numpy` for these sizes, looked up in a dict (a few sizes per
        model) rather than rebuilt from its arguments on every call."""
        key = (layer_size, tuple(input_size), dtype)
        cache = self._position_weights_cache
        if key not in cache:
            if len(cache) >= 64:  # a user feeding many input sizes: stay bounded
                cache.clear()
            cache[key] = CF.position_weights_numpy(layer_size, tuple(input_size) if self.upsample else None, dtype)
        return cache[key]

    def _from_weight(self, name: str, weight: torch.Tensor, extra, make) -> np.ndarray:
        """``make(weight as a numpy array)``, computed again only when the weight changes (its
        version counter moves with every in-place update, its storage with a replacement) or
        ``extra`` does: a single arrival must not pay for it on every call."""
        key = (weight.data_ptr(), weight._version, tuple(weight.shape), extra)
        hit = self._numpy_cache.get(name)
        if hit is None or hit[0] != key:
            # the entry holds the weight, so its memory is not freed and handed to a new tensor
            # with the same address and version while the entry lives
            hit = self._numpy_cache[name] = (key, make(weight.detach().numpy()), weight)
        return hit[1]

    def _logits_match(self, activations: torch.Tensor, logits: torch.Tensor, head: nn.Module) -> bool:
        weight, bias = head.weight, head.bias
        k = activations.shape[1]
        pooled = activations.flatten(2).mean(dim=2)
        matches = weight.shape == (logits.shape[1], k)
        if matches:
            expected = pooled @ weight.T + (bias if bias is not None else 0)
            tol = 1e-4 * (1 + logits.abs().max())
            matches = bool(((expected - logits).abs() <= tol).all())
        if matches:
            return True
        if self.closed_form is True:
            raise ValueError(
                f"closed_form=True, but the logits are not {self._head_name}(GAP(layer "
                f"{self.layer_name!r})); use closed_form='auto' or False for this model"
            )
        if not self._warned_fallback:
            warnings.warn(
                "Grad-CAM closed form did not reproduce the logits; using autograd instead",
                RuntimeWarning,
                stacklevel=5,
            )
            self._warned_fallback = True
        return False

    def _autograd(self, x: torch.Tensor, target):
        logits, activations = self._forward_capturing(x, grad_from_layer=True)
        target = self._targets(target, logits)
        with torch.enable_grad():
            # samples are independent in eval mode, so the gradient of the sum is per-sample
            chosen = logits.gather(1, target.unsqueeze(1)).sum()
            grads = None
            if chosen.requires_grad:
                (grads,) = torch.autograd.grad(chosen, activations, allow_unused=True)
        logits = logits.detach()
        if grads is None:
            raise ValueError(f"the model's output does not depend on layer {self.layer_name!r}")
        return CF.gradcam_from_gradients(activations.detach(), grads), logits, target

    def _finish(self, x, raw, logits, target, return_heatmaps, *, closed_form, predicted=None) -> CAMResult:
        out_size = tuple(x.shape[2:]) if self.upsample else None
        if out_size is not None:
            CF.interpolation_mode(raw.dim() - 1, len(out_size))
        scores = CF.drip_scores_from_raw(raw, normalize=self.normalize, out_size=out_size)
        heatmaps = None
        if return_heatmaps:
            heatmaps = CF.normalize_heatmaps(raw, self.normalize)
            if out_size is not None:
                heatmaps = CF.upsample_heatmaps(heatmaps, out_size)
        return CAMResult(
            logits=logits,
            predicted=predicted if predicted is not None else logits.argmax(dim=1),
            target=target,
            scores=scores,
            heatmaps=heatmaps,
            closed_form=closed_form,
        )


@contextlib.contextmanager
def _inference_mode_off():
    # Grad-CAM needs autograd even when the caller is inside torch.inference_mode()
    if torch.is_inference_mode_enabled():
        with torch.inference_mode(False):
            yield
    else:
        yield
