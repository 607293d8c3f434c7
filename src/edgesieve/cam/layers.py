"""Finding layers in a user's model: the target layer, its dotted name, and whether it feeds
only global average pooling and one linear layer (the case where Grad-CAM needs no backward)."""

from __future__ import annotations

import copy
import difflib
import operator
from dataclasses import dataclass

import torch
from torch import nn

from edgesieve.hooks import eval_mode

_CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def resolve_layer(model: nn.Module, layer: nn.Module | str | None) -> tuple[str, nn.Module]:
    """Return ``(dotted_name, module)`` for a layer given as a module, a dotted name, or None.

    None picks ``model.cam_layer`` when the model names one, else the last convolution.

    >>> net = nn.Sequential(nn.Conv1d(1, 2, 3), nn.ReLU())
    >>> resolve_layer(net, "1")[0], resolve_layer(net, None)[0]
    ('1', '0')
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if layer is None:
        layer = getattr(model, "cam_layer", None) or _last_conv_name(model)
    if isinstance(layer, str):
        try:
            module = model.get_submodule(layer)
        except AttributeError:
            names = [n for n, _ in model.named_modules() if n]
            close = difflib.get_close_matches(layer, names, n=3)
            hint = f"; did you mean {close}?" if close else f"; layers include {names[-8:]}"
            raise ValueError(f"model has no layer named {layer!r}{hint}") from None
        return layer, module
    if isinstance(layer, nn.Module):
        for name, module in model.named_modules():
            if module is layer:
                return name, module
        raise ValueError("the layer module given is not a submodule of the model")
    raise TypeError(f"layer must be an nn.Module, a dotted name or None, got {type(layer).__name__}")


def _last_conv_name(model: nn.Module) -> str:
    names = [n for n, m in model.named_modules() if isinstance(m, _CONV_TYPES)]
    if not names:
        raise ValueError("model has no convolutional layer; name the target layer explicitly")
    return names[-1]


def expected_input(model: nn.Module) -> tuple[int, int] | None:
    """``(rank, channels)`` the model's first convolution expects, or None when it starts
    with something else (then the forward pass itself is the check)."""
    for module in model.modules():
        if isinstance(module, _CONV_TYPES):
            rank = next(r for kind, r in ((nn.Conv1d, 3), (nn.Conv2d, 4), (nn.Conv3d, 5)) if isinstance(module, kind))
            return rank, module.in_channels
        if isinstance(module, (nn.Linear,)):
            return None
    return None


class LayerAsLeafTracer(torch.fx.Tracer):
    """A torch.fx tracer that keeps the target layer as one call, whatever its type."""

    def __init__(self, layer_name: str):
        super().__init__()
        self.layer_name = layer_name

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return qualname == self.layer_name or super().is_leaf_module(m, qualname)


_PASS_THROUGH_MODULES = (nn.Flatten, nn.Dropout, nn.Identity)
_PASS_THROUGH_FUNCTIONS = {torch.flatten, torch.nn.functional.dropout}
_PASS_THROUGH_METHODS = {"flatten", "view", "reshape", "squeeze", "contiguous"}
_GAP_FUNCTIONS = {
    torch.nn.functional.adaptive_avg_pool1d,
    torch.nn.functional.adaptive_avg_pool2d,
    torch.nn.functional.adaptive_avg_pool3d,
}


@dataclass(frozen=True)
class GapLinearHead:
    """How a target layer reaches the model's output through GAP and one linear layer."""

    linear: str  # dotted name of the linear layer
    exact: bool  # proven from the graph alone; False when a ``.mean()`` call was taken for GAP
    graph: torch.fx.Graph  # the traced model, the target layer one call


def find_gap_linear_head(model: nn.Module, layer_name: str) -> str | None:
    """Dotted name of the linear layer when ``layer`` feeds only global average pooling, then
    reshapes/dropout (identities in eval mode), then that one linear layer, whose output is the
    model's output. None when that cannot be proven (including models torch.fx cannot trace).

    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
    ...                     nn.Flatten(), nn.Linear(4, 3))
    >>> find_gap_linear_head(net, "1"), find_gap_linear_head(net, "0")
    ('4', None)
    """
    head = gap_linear_head(model, layer_name)
    return None if head is None else head.linear


def gap_linear_head(model: nn.Module, layer_name: str) -> GapLinearHead | None:
    """:func:`find_gap_linear_head` with the traced graph and whether the proof is exact."""
    traced = _chain_after_layer(model, layer_name)
    if traced is None:
        return None
    graph, modules, chain = traced
    pooled, linear, exact = False, None, True
    for node in chain:
        if node is None:
            return None
        if node.op == "output":
            return GapLinearHead(linear, exact, graph) if pooled and linear is not None else None
        if linear is not None:
            return None  # something follows the linear layer
        kind = _classify(node, modules)
        if kind in ("gap", "mean") and not pooled:
            pooled, exact = True, kind == "gap"
        elif kind == "linear" and pooled:
            linear = node.target
        elif kind != "pass":
            return None


def trace_at_layer(model: nn.Module, layer_name: str) -> torch.fx.Graph | None:
    """The model's forward as an fx graph with the target layer one call, traced in eval mode
    (restored after), the mode every Grad-CAM call runs in, so a forward that reads
    ``self.training`` is traced as it will run. None when torch.fx cannot trace the model."""
    try:
        with eval_mode(model):
            return LayerAsLeafTracer(layer_name).trace(model)
    except Exception:  # untraceable models (data-dependent control flow) fall back to autograd
        return None


@dataclass(frozen=True)
class FlattenMlpHead:
    """layer -> max pooling, dropout -> flatten -> Linear (hidden) -> ReLU -> dropout -> Linear
    (the logits): the DRIP paper's audio head. Its Grad-CAM weights have a closed form too."""

    hidden: str  # dotted name of the first linear layer
    out: str  # dotted name of the last linear layer, whose output is the model's output
    hidden_node: str  # the fx node of the hidden linear layer's call
    graph: torch.fx.Graph


def flatten_mlp_head(model: nn.Module, layer_name: str) -> FlattenMlpHead | None:
    """The head of :class:`FlattenMlpHead` when the traced graph proves it, else None.

    Max pooling routes each output's gradient to one input of the same channel, so it leaves the
    sum of a channel's gradients, all Grad-CAM needs, unchanged; flatten must be channel-major
    (``nn.Flatten()`` or ``flatten(1)``).

    >>> net = nn.Sequential(nn.Conv1d(1, 4, 3), nn.ReLU(), nn.MaxPool1d(2), nn.Flatten(),
    ...                     nn.Linear(8, 5), nn.ReLU(), nn.Linear(5, 3))
    >>> head = flatten_mlp_head(net, "1")
    >>> head.hidden, head.out, flatten_mlp_head(net, "5")
    ('4', '6', None)
    """
    traced = _chain_after_layer(model, layer_name)
    if traced is None:
        return None
    graph, modules, chain = traced
    expected, found = ["pool_or_flatten", "hidden", "relu", "out"], {}
    for node in chain:
        if node is None:
            return None
        if node.op == "output":
            if "out" not in found:
                return None
            return FlattenMlpHead(found["hidden"].target, found["out"].target, found["hidden"].name, graph)
        kind = _classify_mlp(node, modules)
        if kind == "pass" or (kind == "max_pool" and "flatten" not in found):
            continue
        if not expected:
            return None  # something follows the last linear layer
        step = expected[0]
        if kind == "flatten" and step == "pool_or_flatten":
            found["flatten"] = node
            expected.pop(0)
        elif kind == "linear" and step in ("hidden", "out"):
            found[step] = node
            expected.pop(0)
        elif kind == "relu" and step == "relu":
            expected.pop(0)
        else:
            return None


def _classify_mlp(node: torch.fx.Node, modules: dict[str, nn.Module]) -> str:
    if node.op == "call_module":
        module = modules[node.target]
        if isinstance(module, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)):
            return "max_pool"
        if isinstance(module, nn.Flatten):
            return "flatten" if module.start_dim == 1 and module.end_dim == -1 else "other"
        if isinstance(module, nn.Linear):
            return "linear"
        if isinstance(module, nn.ReLU):
            return "relu"
        if isinstance(module, (nn.Dropout, nn.Identity)):
            return "pass"
    elif node.op == "call_function":
        if node.target in (torch.relu, torch.nn.functional.relu):
            return "relu"
        if node.target is torch.flatten:
            start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
            return "flatten" if start == 1 and len(node.args) <= 2 and "end_dim" not in node.kwargs else "other"
        if node.target is torch.nn.functional.dropout:
            return "pass"
    elif node.op == "call_method" and node.target == "flatten":
        start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
        return "flatten" if start == 1 and len(node.args) <= 2 and "end_dim" not in node.kwargs else "other"
    return "other"


def _chain_after_layer(model: nn.Module, layer_name: str):
    """(graph, modules, the nodes after the layer up to the output, each the only user of the
    one before; a None ends the chain where a node has several users), or None when the model
    cannot be traced or calls the layer other than once."""
    graph = trace_at_layer(model, layer_name)
    if graph is None:
        return None
    nodes = [n for n in graph.nodes if n.op == "call_module" and n.target == layer_name]
    if len(nodes) != 1:
        return None

    def chain():
        node = nodes[0]
        while node.op != "output":
            users = list(node.users)
            if len(users) != 1:
                yield None
                return
            node = users[0]
            yield node

    return graph, dict(model.named_modules()), chain()


def layer_and_output(model: nn.Module, graph: torch.fx.Graph, layer_name: str, also: tuple[str, ...] = ()) -> torch.fx.GraphModule:
    """A module computing ``(output of the target layer, *outputs of the nodes named in also,
    the model's output)`` in one forward.

    It runs the model's own traced graph on the model's own submodules (trained weights and
    BatchNorm modes are shared, nothing is copied), so no hook is needed to read the layer.
    """
    graph = copy.deepcopy(graph)
    by_name = {n.name: n for n in graph.nodes}
    layer = next(n for n in graph.nodes if n.op == "call_module" and n.target == layer_name)
    output = next(n for n in graph.nodes if n.op == "output")
    output.args = ((layer, *(by_name[name] for name in also), output.args[0]),)
    return torch.fx.GraphModule(model, graph)


def _classify(node: torch.fx.Node, modules: dict[str, nn.Module]) -> str:
    if node.op == "call_module":
        module = modules[node.target]
        if isinstance(module, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)):
            size = module.output_size
            sizes = size if isinstance(size, tuple) else (size,)
            return "gap" if all(s == 1 for s in sizes) else "other"
        if isinstance(module, nn.Linear):
            return "linear"
        if isinstance(module, _PASS_THROUGH_MODULES):
            return "pass"
    elif node.op == "call_function":
        if node.target in _GAP_FUNCTIONS:
            size = node.args[1] if len(node.args) > 1 else node.kwargs.get("output_size")
            sizes = size if isinstance(size, (tuple, list)) else (size,)
            return "gap" if all(s == 1 for s in sizes) else "other"
        if node.target in _PASS_THROUGH_FUNCTIONS:
            return "pass"
        if node.target is torch.mean or node.target is operator.getitem:
            return "other"
    elif node.op == "call_method":
        if node.target in _PASS_THROUGH_METHODS:
            return "pass"
        if node.target == "mean":
            # x.mean(dims) over the position dims, or so it seems: every call checks the logits
            return "mean"
    return "other"
