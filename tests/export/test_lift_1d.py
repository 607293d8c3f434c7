"""The 1-D -> 2-D rewrite: same outputs in onnxruntime, same names and shapes, no 1-D spatial
operator left, nothing lifted in a 2-D graph."""

import io
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from edgesieve.export.lift_1d import lift_1d_to_2d

SPATIAL_1D = {"Conv", "MaxPool", "AveragePool", "BatchNormalization", "GlobalAveragePool", "GlobalMaxPool"}


def run(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})


def to_onnx(module: nn.Module, shape, outputs=1, opset=17) -> onnx.ModelProto:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (torch.rand(2, *shape),), buffer, input_names=["x"],
                          output_names=[f"y{k}" for k in range(outputs)], opset_version=opset,
                          dynamic_axes={"x": {0: "batch"}}, dynamo=False)
    return onnx.load_from_string(buffer.getvalue())


class Every1dLayer(nn.Module):
    """Strided, dilated, grouped and padded convolutions, both poolings with padding and
    ceil_mode, batch norm, a per-channel scale stored as (C, 1), a residual add; returns the
    logits and a 1-D map (a graph output that a lifted operator produces)."""

    def __init__(self):
        super().__init__()
        self.bn0 = nn.BatchNorm1d(3)
        self.c1 = nn.Conv1d(3, 8, 5, stride=2, padding=3, dilation=2)
        self.c2 = nn.Conv1d(8, 8, 3, padding=1, groups=4, bias=False)
        self.bn2 = nn.BatchNorm1d(8)
        self.pool = nn.MaxPool1d(3, stride=2, padding=1, ceil_mode=True)
        self.avg = nn.AvgPool1d(2, padding=1, count_include_pad=False)
        self.scale = nn.Parameter(torch.rand(8, 1) + 0.5)
        self.head = nn.Linear(8, 4)
        for bn in (self.bn0, self.bn2):
            bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2)

    def forward(self, x):
        h = torch.relu(self.c1(self.bn0(x)))
        h = h + torch.nn.functional.hardswish(self.bn2(self.c2(h))) * self.scale
        m = self.avg(self.pool(h))
        return self.head(m.mean(dim=-1)), torch.sigmoid(m)


def test_every_1d_layer_computes_the_same_lifted():
    torch.manual_seed(0)
    model = to_onnx(Every1dLayer(), (3, 50), outputs=2)
    lifted, count = lift_1d_to_2d(model)
    onnx.checker.check_model(lifted, full_check=True)
    # every spatial operator (bn0, c1, c2 with bn2 folded in by the exporter, both poolings)
    assert count == sum(n.op_type in SPATIAL_1D for n in model.graph.node) >= 5
    for node in lifted.graph.node:
        if node.op_type == "Conv":
            weight = next(t for t in lifted.graph.initializer if t.name == node.input[1])
            assert len(weight.dims) == 4
    x = np.random.default_rng(0).standard_normal((5, 3, 50)).astype(np.float32)
    for before, after in zip(run(model, x), run(lifted, x)):
        assert before.shape == after.shape  # the outputs keep their 1-D shapes
        np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-6)
    assert [o.name for o in lifted.graph.output] == [o.name for o in model.graph.output]


def test_the_1d_models_keep_no_1d_operator():
    from edgesieve.models import build_model

    # audio_resnet1d: residual adds of two lifted values stay lifted
    for name, shape in (("imu_cnn", (6, 100)), ("audio_cnn", (1, 8000)), ("audio_resnet1d", (1, 8000))):
        torch.manual_seed(0)
        model = to_onnx(build_model(name), shape)
        lifted, count = lift_1d_to_2d(model)
        assert count >= 4
        ops = [n.op_type for n in lifted.graph.node]
        assert ops.count("Unsqueeze") == 1 and "Squeeze" not in ops  # in once, the flatten takes (N, C, 1, L)
        x = np.random.default_rng(1).random((3, *shape), dtype=np.float32)
        np.testing.assert_allclose(run(lifted, x)[0], run(model, x)[0], rtol=1e-5, atol=1e-5)
        # no 1-D copy of a reshaped weight is left behind
        read = {i for n in lifted.graph.node for i in n.input}
        assert all(t.name in read for t in lifted.graph.initializer)


def test_a_2d_graph_comes_back_unchanged():
    model = to_onnx(nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()), (1, 8, 8))
    lifted, count = lift_1d_to_2d(model)
    assert count == 0 and lifted is model


def test_a_1d_value_read_by_an_operator_that_is_not_lifted_is_squeezed_once():
    """A lifted map multiplied by a computed (N, C, 1) tensor: the map is squeezed back for that
    product and for every other reader, through one Squeeze."""

    class Gate(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(2, 4, 3, padding=1)

        def forward(self, x):
            h = torch.relu(self.conv(x))
            gate = h.mean(dim=2, keepdim=True)
            return (h * gate).sum(dim=1) + h.amax(dim=1)

    torch.manual_seed(0)
    model = to_onnx(Gate(), (2, 12))
    lifted, count = lift_1d_to_2d(model)
    assert count == 1 and [n.op_type for n in lifted.graph.node].count("Squeeze") == 1
    x = np.random.default_rng(2).random((3, 2, 12), dtype=np.float32)
    np.testing.assert_allclose(run(lifted, x)[0], run(model, x)[0], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("opset", [11, 17])
def test_axes_as_attribute_before_opset_13(opset):
    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((2, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3], pads=[1, 1])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 7])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 2, 7])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7
    lifted, count = lift_1d_to_2d(model)
    onnx.checker.check_model(lifted, full_check=True)
    x = np.random.default_rng(3).random((2, 3, 7), dtype=np.float32)
    assert count == 1
    np.testing.assert_allclose(run(lifted, x)[0], run(model, x)[0], rtol=1e-6, atol=1e-6)


def test_a_graph_with_a_branch_is_left_as_it_is():
    """An If's branches may read a lifted value by its outer name: nothing is lifted."""
    w = numpy_helper.from_array(np.ones((2, 3, 3), np.float32), "w")
    branch = helper.make_graph([helper.make_node("Identity", ["c"], ["b"])], "branch", [],
                               [helper.make_tensor_value_info("b", TensorProto.FLOAT, None)])
    cond = numpy_helper.from_array(np.array(True), "cond")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3], pads=[1, 1]),
         helper.make_node("If", ["cond"], ["y"], then_branch=branch, else_branch=branch)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 7])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w, cond])
    model = helper.make_model(graph)
    assert lift_1d_to_2d(model) == (model, 0)


def test_export_falls_back_to_the_traced_graph_when_the_lifted_one_fails(monkeypatch, tmp_path):
    """The lift is a speed-up only: a lifted graph that fails the checks is replaced by the graph
    as traced, and the export succeeds."""
    from edgesieve import DripSelector
    from edgesieve.export import export_drip_onnx, onnx_export
    from edgesieve.models import build_model

    def broken(model):
        bad = onnx.ModelProto()
        bad.CopyFrom(model)
        bad.graph.node[-1].op_type = "NoSuchOperator"
        return bad, 7

    monkeypatch.setattr(onnx_export, "lift_1d_to_2d", broken)
    torch.manual_seed(0)
    sel = DripSelector(build_model("imu_cnn").eval()).calibrate(torch.randn(100, 6, 100))
    report = export_drip_onnx(sel, tmp_path / "f.onnx", sample=torch.randn(50, 6, 100))
    assert report.lifted_1d_ops == 0 and report.keep_mismatches == 0
    assert [p.name for p in tmp_path.iterdir()] == ["f.onnx"]


def test_a_max_pool_that_returns_its_indices_stays_1d():
    graph = helper.make_graph(
        [helper.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[2], strides=[2])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, 4]),
         helper.make_tensor_value_info("i", TensorProto.INT64, ["n", 3, 4])])
    model = helper.make_model(graph)
    assert lift_1d_to_2d(model) == (model, 0)


@pytest.mark.parametrize(("shape", "squeezes"), [([-1, 2, 7], 0), ([-1, 14], 0), ([0, 0, 7], 0), ([0, 2, 0], 1)])
def test_a_reshape_to_a_constant_shape_reads_the_lifted_value(shape, squeezes):
    """A reshape that copies no dimension beyond the first two (a 0 at index 2 would copy the
    lifted map's height, 1, not its length) reads the lifted value directly."""
    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((2, 3, 3)).astype(np.float32), "w")
    target = numpy_helper.from_array(np.array(shape, dtype=np.int64), "shape")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3], pads=[1, 1]),
         helper.make_node("Reshape", ["c", "shape"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 7])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w, target])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    lifted, count = lift_1d_to_2d(model)
    assert count == 1 and [n.op_type for n in lifted.graph.node].count("Squeeze") == squeezes
    x = np.random.default_rng(4).random((2, 3, 7), dtype=np.float32)
    before, after = run(model, x)[0], run(lifted, x)[0]
    assert before.shape == after.shape
    np.testing.assert_allclose(after, before, rtol=1e-6, atol=1e-6)
