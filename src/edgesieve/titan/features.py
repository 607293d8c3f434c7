"""Where Titan reads a model: the shallow features of its first block (coarse stage) and the
last linear layer (fine stage)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edgesieve.devices import to_model_device
from edgesieve.hooks import capture, eval_mode

ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.SiLU, nn.GELU, nn.LeakyReLU)


class ShallowFeatures:
    """Output of one early layer, computed by stopping the forward pass there (so the
    coarse filter costs a fraction of a full forward). Runs the model in eval mode (batch
    norm must neither use nor update batch statistics of the stream) and restores its mode."""

    class _Stop(Exception):
        pass

    def __init__(self, model: nn.Module, layer: str, pool: int = 1, *, keep_output: bool = False):
        if isinstance(pool, bool) or not isinstance(pool, int) or pool < 1:
            raise ValueError(f"pool must be a positive int, got {pool!r}")
        self.model, self.layer_name, self.pool, self.keep_output = model, layer, pool, keep_output
        self.layer = model.get_submodule(layer)
        #: with ``keep_output``, the layer's raw output (before pooling) of the last call: the fine
        #: stage resumes the forward from its candidates' rows (:class:`ForwardFromLayer`); the
        #: caller takes it and clears it
        self.last_output: torch.Tensor | None = None

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = []

        def hook(module, inputs, output):
            out.append(output)
            raise ShallowFeatures._Stop

        handle = self.layer.register_forward_hook(hook)
        try:
            with eval_mode(self.model):
                self.model(to_model_device(x, self.model))
        except ShallowFeatures._Stop:
            pass
        finally:
            handle.remove()
        if not out:
            raise ValueError(f"layer {self.layer_name!r} did not run in the model's forward pass")
        if self.keep_output:
            self.last_output = out[0]
        f = pooled(out[0], self.pool)
        if f.dim() == 4 and not f.is_contiguous() and f.is_contiguous(memory_format=torch.channels_last):
            f = f.permute(0, 2, 3, 1)  # flatten in memory order: no copy (distances ignore the order)
        return f.flatten(1).cpu()  # (0, D) for an empty batch too; the coarse stage's bookkeeping is on the CPU


class ForwardFromLayer:
    """The rest of the model's forward after ``layer``: from the layer's output to the logits
    and the last linear layer's input, so the fine stage resumes from the shallow features the
    coarse stage already computed for its candidates instead of running the first block again.

    Cut with torch.fx on the model's own traced graph (its own submodules: trained weights and
    batch-norm modes are shared, nothing is copied). ``available`` is False, and the caller runs
    the whole forward, where the cut is not clean: a model torch.fx cannot trace, a layer called
    more than once, or a later node that reads a value from before the layer (a skip connection
    around it, the input's shape); and where the resumed logits differ from the model's own on
    the check samples (:meth:`check`).

    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> rest = ForwardFromLayer(net, "1")
    >>> x = torch.randn(5, 4)
    >>> logits, h = rest(torch.relu(net[0](x)), net[2])
    >>> rest.available, torch.allclose(logits, net(x)), h.shape
    (True, True, torch.Size([5, 8]))
    """

    def __init__(self, model: nn.Module, layer: str):
        from edgesieve.cam.layers import trace_at_layer

        self.model, self.layer_name = model, layer
        graph = trace_at_layer(model, layer)
        self.module = None if graph is None else _graph_after(model, graph, layer)

    @property
    def available(self) -> bool:
        return self.module is not None

    @torch.no_grad()
    def __call__(self, activation: torch.Tensor, head: nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, input of ``head``) of the samples whose ``layer`` output is ``activation``,
        in eval mode (restored after), like :func:`logits_and_features`."""
        if self.module is None:
            raise RuntimeError(f"the model's forward cannot be resumed at {self.layer_name!r}; run the whole forward")
        with capture(head, "input") as seen, eval_mode(self.model):
            logits = self.module(activation)
        if not seen:
            raise RuntimeError("the last linear layer did not run after the cut")
        return logits.cpu(), seen[0].reshape(activation.shape[0], -1).cpu()

    def check(self, x: torch.Tensor, activation: torch.Tensor, head: nn.Linear, *, rtol: float = 1e-4,
              atol: float = 1e-5) -> bool:
        """Compare the resumed logits and features with a whole forward of ``x`` (whose layer
        output is ``activation``); on a mismatch the cut is not used (``available`` False)."""
        if self.module is not None:
            try:
                got = self(activation, head)
            except Exception:  # noqa: BLE001 - a cut that does not run is simply not used
                self.module = None
                return False
            want = logits_and_features(self.model, x, head)
            if not all(g.shape == w.shape and torch.allclose(g, w, rtol=rtol, atol=atol) for g, w in zip(got, want)):
                self.module = None
        return self.available


def _graph_after(model: nn.Module, graph: torch.fx.Graph, layer: str) -> torch.fx.GraphModule | None:
    """A module computing the model's output from ``layer``'s output (its one placeholder), or
    None when a node after the layer reads anything computed before it."""
    nodes = list(graph.nodes)
    calls = [i for i, n in enumerate(nodes) if n.op == "call_module" and n.target == layer]
    if len(calls) != 1:
        return None
    cut = calls[0]
    before, cut_node = set(nodes[:cut]), nodes[cut]
    rest = torch.fx.Graph()
    env = {cut_node: rest.placeholder("activation")}
    for node in nodes[cut + 1 :]:
        for used in node.all_input_nodes:
            if used in env:
                continue
            if used in before and used.op == "get_attr":  # a parameter or buffer: read it again
                env[used] = rest.node_copy(used)
            else:
                return None
        env[node] = rest.node_copy(node, lambda n: env[n])
    return torch.fx.GraphModule(model, rest)


def pooled(f: torch.Tensor, pool: int) -> torch.Tensor:
    """Average over ``pool`` x ``pool`` positions (``pool`` steps of a 1-D signal), the last
    window partial (ceil mode): a feature map ``pool``^2 (or ``pool``) times smaller, so the
    coarse distances cost as much less (``coarse_pool``; benchmarks/bench_coarse_pool.py
    measures how well it keeps the coarse ranking). Flat features pass unchanged.

    >>> pooled(torch.arange(16.0).reshape(1, 1, 4, 4), 2).flatten().tolist()
    [2.5, 4.5, 10.5, 12.5]
    """
    if pool == 1 or f.dim() not in (3, 4):
        return f
    if f.dim() == 3:
        return F.avg_pool1d(f, pool, ceil_mode=True)
    return F.avg_pool2d(f, pool, ceil_mode=True)


def first_activation(model: nn.Module) -> str:
    """Name of the first activation module: the end of the model's first block."""
    for name, module in model.named_modules():
        if isinstance(module, ACTIVATIONS):
            return name
    raise ValueError("no activation module found; name the shallow-feature layer explicitly (feature_layer=...)")


def last_linear(model: nn.Module) -> nn.Linear:
    """The model's last ``nn.Linear`` (its classifier): the layer whose gradients C-IS uses."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("the model needs a final nn.Linear layer for last-layer gradient norms")
    return linears[-1]


@torch.no_grad()
def logits_and_features(model: nn.Module, x: torch.Tensor, head: nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:
    """One eval-mode forward on the model's device: logits and the input of ``head`` (the last
    linear layer), on the CPU; every module's mode is restored afterwards and the hook removed."""
    with capture(head, "input") as seen, eval_mode(model):
        logits = model(to_model_device(x, model))
    return logits.cpu(), seen[0].reshape(x.shape[0], -1).cpu()  # on the CPU, where the fine stage runs
