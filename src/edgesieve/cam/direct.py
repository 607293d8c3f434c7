"""The closed form's forward in eval mode without ``nn.Module``'s per-call machinery.

At batch 1 a small CNN spends a large share of its time in Python around the kernels: every
``module(x)`` goes through ``Module.__call__`` (hook checks), the layer's ``forward`` and, for
convolutions and batch norm, one more helper before the kernel runs. :class:`DirectForward`
rewrites a traced graph so that the common layers call their kernel directly with the module's
own parameters, read at call time (an optimiser step, ``load_state_dict`` or a replaced
parameter is seen). The kernels and their arguments are those the layers' own ``forward`` passes
in eval mode, so the outputs are bit-identical to the module path (tested per layer type and on
every registered model).

The rewrite holds only while nothing a module call would run is there: a forward hook or
pre-hook (``torch.nn.utils.prune`` masks weights in one), a global module hook, a
parametrization (it changes the module's class), a ``forward`` replaced on the instance. Every
call checks that (about a microsecond) and runs the graph's ordinary module calls otherwise.
Layers not listed here (a user's own module) always run as ordinary module calls.
"""

from __future__ import annotations

import copy
import operator
from itertools import repeat

import torch
import torch.nn.functional as F
import torch.nn.modules.module as module_globals
from torch import nn

from edgesieve.hooks import eval_mode

_GLOBAL_HOOKS = (
    module_globals._global_forward_hooks,
    module_globals._global_forward_pre_hooks,
    module_globals._global_backward_hooks,
    module_globals._global_backward_pre_hooks,
)
_CONV = {nn.Conv1d: torch.conv1d, nn.Conv2d: torch.conv2d, nn.Conv3d: torch.conv3d}
_MAX_POOL = {nn.MaxPool1d: torch.max_pool1d, nn.MaxPool2d: torch.max_pool2d, nn.MaxPool3d: torch.max_pool3d}
_AVG_POOL = {nn.AdaptiveAvgPool1d: torch.adaptive_avg_pool1d, nn.AdaptiveAvgPool2d: F.adaptive_avg_pool2d,
             nn.AdaptiveAvgPool3d: F.adaptive_avg_pool3d}
_FORWARD = repeat("forward")  # for a C-level "forward in the instance's __dict__" over every module
_INPLACE_ACTIVATION = {nn.SiLU: F.silu, nn.Hardswish: F.hardswish, nn.Hardsigmoid: F.hardsigmoid}
_BATCH_NORM = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_IDENTITY_IN_EVAL = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.Identity)


def _kernel_call(graph: torch.fx.Graph, node: torch.fx.Node, module: nn.Module, tables: str):
    """Insert, before ``node``, the kernel call that ``module(x)`` makes in eval mode and return its
    node; None for a layer kept as a module call. Exact types only: a subclass may override
    forward. Parameters and buffers are read from the module's own dicts on every call, so an
    optimiser step, ``load_state_dict`` or a replaced parameter is seen; the rest of the
    arguments are the layer's settings, written into the code as constants."""
    kind, x = type(module), node.args[0]

    def tensor(table: str, key: str):
        return graph.call_function(operator.getitem, (graph.get_attr(f"{tables}_{table}"), key))

    if kind in _CONV and module.padding_mode == "zeros":
        return graph.call_function(_CONV[kind], (x, tensor("p", "weight"), tensor("p", "bias"), module.stride,
                                                 module.padding, module.dilation, module.groups))
    if kind in _BATCH_NORM and module.track_running_stats and module.running_mean is not None:
        # eval mode with running statistics: the layer's forward passes training=False
        return graph.call_function(F.batch_norm, (x, tensor("b", "running_mean"), tensor("b", "running_var"),
                                                  tensor("p", "weight"), tensor("p", "bias"), False, 0.0, module.eps))
    if kind is nn.ReLU:
        return graph.call_function(torch.relu_ if module.inplace else torch.relu, (x,))
    if kind in _INPLACE_ACTIVATION:
        return graph.call_function(_INPLACE_ACTIVATION[kind], (x, module.inplace))
    if kind in (nn.ReLU6, nn.Hardtanh):
        return graph.call_function(F.hardtanh, (x, module.min_val, module.max_val, module.inplace))
    if kind in (nn.Sigmoid, nn.Tanh):
        return graph.call_function(torch.sigmoid if kind is nn.Sigmoid else torch.tanh, (x,))
    if kind in _MAX_POOL and not module.return_indices:
        return graph.call_function(_MAX_POOL[kind], (x, module.kernel_size, module.stride, module.padding,
                                                     module.dilation, module.ceil_mode))
    if kind in _AVG_POOL:
        return graph.call_function(_AVG_POOL[kind], (x, module.output_size))
    if kind is nn.Linear:
        return graph.call_function(F.linear, (x, tensor("p", "weight"), tensor("p", "bias")))
    if kind is nn.Flatten:
        return graph.call_method("flatten", (x, module.start_dim, module.end_dim))
    return None


def _inline_container(graph: torch.fx.Graph, node: torch.fx.Node, module: nn.Module) -> list[torch.fx.Node]:
    """Copy ``module``'s own traced forward (eval mode, the only mode the copy runs in) into
    ``graph`` before ``node``; return the copied nodes, the last one the container's output.
    [] for a module without submodules, one torch.fx cannot trace, or one that reads its own
    attributes in forward (``self.scale``: copied, a later replacement would not be seen)."""
    if not list(module.children()):
        return []
    try:
        with eval_mode(module):
            sub = torch.fx.Tracer().trace(module)
    except Exception:  # data-dependent control flow and the like: stays a module call
        return []
    inputs = [n for n in sub.nodes if n.op == "placeholder"]
    if len(inputs) != 1 or any(n.op == "get_attr" for n in sub.nodes):
        return []
    copies = {inputs[0]: node.args[0]}
    result = graph.graph_copy(sub, copies)
    if not isinstance(result, torch.fx.Node):
        return []  # a container returning a tuple: not worth the bookkeeping
    new = [copies[n] for n in sub.nodes if n.op not in ("placeholder", "output")]
    for copied in new:
        if copied.op == "call_module":
            copied.target = f"{node.target}.{copied.target}"
    return new if new and new[-1] is result else []  # [] also for a container returning its input


class DirectForward:
    """``graph_module.forward`` in eval mode, with the common layers calling their kernels
    directly (see the module's docstring); falls back to ``graph_module.forward`` whenever a
    hook, a parametrization or an instance ``forward`` could make the two differ.

    Valid in eval mode only (dropout is left out, batch norm uses its running statistics): the
    caller switches the model to eval first, as every Grad-CAM call does.

    >>> net = nn.Sequential(nn.Conv1d(2, 4, 3), nn.BatchNorm1d(4), nn.ReLU(), nn.AdaptiveAvgPool1d(1),
    ...                     nn.Flatten(), nn.Linear(4, 3)).eval()
    >>> fast = DirectForward(torch.fx.symbolic_trace(net))
    >>> x = torch.rand(5, 2, 8)
    >>> torch.equal(fast(x), net(x)), fast.direct_layers
    (True, 6)
    >>> handle = net[5].register_forward_hook(lambda m, i, o: o * 0)  # a hook: the module path runs
    >>> bool(fast(x).abs().sum() == 0)
    True
    >>> handle.remove()
    """

    def __init__(self, graph_module: torch.fx.GraphModule):
        self.graph_module = graph_module
        graph = copy.deepcopy(graph_module.graph)
        modules = dict(graph_module.named_modules())
        # the new graph's root: the modules still called as modules, and each direct layer's
        # parameter and buffer dicts (plain attributes: one dict lookup each per call)
        root: dict = {}
        direct: list[nn.Module] = []
        for node in graph.nodes:  # attributes the graph reads itself, as the original graph holds them
            if node.op == "get_attr":
                root[node.target] = operator.attrgetter(node.target)(graph_module)
        pending = [n for n in graph.nodes if n.op == "call_module"]
        while pending:
            node = pending.pop(0)
            module = modules[node.target]
            if len(node.args) != 1 or node.kwargs or "forward" in module.__dict__:
                root[node.target] = module
                continue
            if type(module) in _IDENTITY_IN_EVAL:
                node.replace_all_uses_with(node.args[0])
                graph.erase_node(node)
                direct.append(module)
                continue
            tables = f"_direct_{len(direct)}"
            with graph.inserting_before(node):
                call = _kernel_call(graph, node, module, tables)
                inlined = _inline_container(graph, node, module) if call is None else []
            if call is not None:
                root[f"{tables}_p"], root[f"{tables}_b"] = module._parameters, module._buffers
            elif inlined:  # a container (e.g. the target layer, an nn.Sequential): its layers in its place
                call = inlined[-1]
                pending[:0] = [n for n in inlined if n.op == "call_module"]
            else:
                root[node.target] = module
                continue
            node.replace_all_uses_with(call)
            graph.erase_node(node)
            direct.append(module)
        self.direct_layers = sum(1 for m in direct if not list(m.children()))
        self._direct = torch.fx.GraphModule(root, graph).forward if direct else graph_module.forward
        self._modules = direct
        self._types = [type(m) for m in direct]
        self._hooks = tuple(d for m in direct for d in (m._forward_hooks, m._forward_pre_hooks, m._backward_hooks,
                                                        m._backward_pre_hooks))
        self._instance_dicts = [m.__dict__ for m in direct]

    def __call__(self, x: torch.Tensor):
        if any(self._hooks) or any(_GLOBAL_HOOKS) or list(map(type, self._modules)) != self._types \
                or any(map(operator.contains, self._instance_dicts, _FORWARD)):
            return self.graph_module.forward(x)
        return self._direct(x)
