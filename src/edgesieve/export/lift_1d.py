"""Rewrite an ONNX graph's 1-D spatial operators as 2-D ones on maps of height one.

onnxruntime on x86 runs 2-D convolutions and pooling in its blocked NCHWc layout, with kernels
that a 1-D convolution never reaches: measured here at batch 1 (one thread), the IMU CNN's
exported graph takes 37 us as written and 22 us lifted; the audio CNN's 290 us and 200 us. The
arithmetic is the same (a kernel of height one over a map of height one), only the order of the
floating-point sums may differ, which the exporter's parity check against PyTorch covers.

A value of shape (N, C, L) becomes (N, C, 1, L) where a lifted operator produces it; operators
that are not lifted get it back through one shared ``Squeeze`` per value, and a 1-D value that
a lifted operator reads from anywhere else through one shared ``Unsqueeze``. Constants that
broadcast against a lifted value (per-channel scales stored as (C, 1)) are reshaped to match.
"""

from __future__ import annotations

import numpy as np

#: operators whose spatial attributes and weights are rewritten (data input first)
_SPATIAL = {"Conv", "MaxPool", "AveragePool", "BatchNormalization", "GlobalAveragePool", "GlobalMaxPool"}
#: elementwise operators of one tensor, indifferent to its rank
_UNARY = {"Relu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "LeakyRelu", "Elu", "Selu", "Softplus", "Identity",
          "Clip", "Neg", "Abs", "Exp", "Erf", "Sqrt"}
#: elementwise operators of two tensors, lifted when every operand is lifted or a constant
_BINARY = {"Add", "Sub", "Mul", "Div", "Max", "Min", "PRelu", "Pow"}


def lift_1d_to_2d(model):
    """Return a copy of ``model`` (an ``onnx.ModelProto``) whose 1-D Conv, pooling and batch norm
    run as 2-D operators, and the number of operators lifted (0: the copy equals the input).

    >>> import onnx
    >>> from onnx import helper, TensorProto
    >>> w = helper.make_tensor("w", TensorProto.FLOAT, [2, 3, 5], [0.1] * 30)
    >>> graph = helper.make_graph(
    ...     [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[5], pads=[2, 2]),
    ...      helper.make_node("Relu", ["c"], ["r"]), helper.make_node("GlobalAveragePool", ["r"], ["p"]),
    ...      helper.make_node("Flatten", ["p"], ["y"], axis=1)], "g",
    ...     [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 16])],
    ...     [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 2])], [w])
    >>> lifted, count = lift_1d_to_2d(helper.make_model(graph))
    >>> count, [n.op_type for n in lifted.graph.node]
    (2, ['Unsqueeze', 'Conv', 'Relu', 'GlobalAveragePool', 'Flatten'])
    """
    import onnx

    if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for n in model.graph.node for a in n.attribute):
        return model, 0  # a branch or loop body may read a lifted value by its outer name
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # an operator the inference does not know: no ranks, nothing to lift safely
        return model, 0
    ranks = {v.name: len(v.type.tensor_type.shape.dim) for v in (*inferred.graph.input, *inferred.graph.value_info,
                                                                 *inferred.graph.output)
             if v.type.tensor_type.HasField("shape")}
    out = onnx.ModelProto()
    out.CopyFrom(model)
    count = _Lifter(out, ranks).run()
    return (out, count) if count else (model, 0)


class _Lifter:
    """One pass over a graph (a copy, rewritten in place), in its topological order."""

    def __init__(self, model, ranks: dict[str, int]):
        from onnx import numpy_helper

        self.graph, self.ranks = model.graph, ranks
        self.constants = {t.name: t for t in self.graph.initializer}
        for node in self.graph.node:
            if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
                self.constants[node.output[0]] = node.attribute[0].t
        self.taken = {name for node in self.graph.node for name in (*node.input, *node.output)} | set(self.constants)
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
        self.axes = self.fresh("lift_1d_axes")
        self.initializers = [numpy_helper.from_array(np.array([2], dtype=np.int64), self.axes)] if self.opset >= 13 else []
        self.lifted: set[str] = set()
        self.squeezed: dict[str, str] = {}
        self.unsqueezed: dict[str, str] = {}
        self.lifted_constants: dict[str, str] = {}
        self.nodes = []

    def run(self) -> int:
        count = 0
        for node in self.graph.node:
            if self.liftable(node):
                count += node.op_type in _SPATIAL
                # the data input, a binary operator's operands and a conv's weight change shape; the
                # rest (a conv's bias, batch norm's per-channel vectors, Clip's bounds) keep theirs
                inputs = [self.as_lifted(name) if k == 0 or node.op_type in _BINARY or (node.op_type == "Conv" and k == 1)
                          else name for k, name in enumerate(node.input)]
                node.input[:] = inputs
                _lift_attributes(node)
                self.lifted.add(node.output[0])
            elif not self.shape_agnostic(node):
                node.input[:] = [self.as_1d(name) for name in node.input]
            self.nodes.append(node)
        if count:
            self.finish()
        return count

    def liftable(self, node) -> bool:
        data = node.input[0] if node.input else ""
        if sum(1 for name in node.output if name) != 1:
            return False  # a second output (MaxPool's indices, batch norm's statistics) would change shape unseen
        if node.op_type in _SPATIAL:
            is_1d = data in self.lifted or (self.ranks.get(data) == 3 and data not in self.constants)
            return is_1d and (node.op_type != "Conv" or node.input[1] in self.constants)
        if node.op_type in _UNARY:
            return data in self.lifted and all(name in self.constants or not name for name in node.input[1:])
        if node.op_type in _BINARY and any(name in self.lifted for name in node.input):
            # a constant of rank 4 or more would broadcast the 1-D value up to its own rank
            return all(name in self.lifted or (name in self.constants and len(self.constants[name].dims) <= 3)
                       for name in node.input)
        return False

    def shape_agnostic(self, node) -> bool:
        """Whether ``node`` gives from a lifted (N, C, 1, L) what it gives from (N, C, L): a flatten
        from axis 1, a reshape to a constant shape that copies no dimension past the second (a 0
        there would copy the height, 1, where it copied the length)."""
        from onnx import numpy_helper

        if not node.input or node.input[0] not in self.lifted:
            return False
        if node.op_type == "Flatten":
            return _attribute(node, "axis", 1) == 1
        if node.op_type == "Reshape" and len(node.input) > 1 and node.input[1] in self.constants:
            target = numpy_helper.to_array(self.constants[node.input[1]])
            return not (target[2:] == 0).any() and not (_attribute(node, "allowzero", 0) and (target == 0).any())
        return False

    def fresh(self, base: str) -> str:
        name, k = base, 0
        while name in self.taken:
            k += 1
            name = f"{base}_{k}"
        self.taken.add(name)
        return name

    def reshape_node(self, op: str, source: str, target: str):
        from onnx import helper

        if self.opset >= 13:  # the axes are an input from opset 13 on, an attribute before
            return helper.make_node(op, [source, self.axes], [target])
        return helper.make_node(op, [source], [target], axes=[2])

    def as_lifted(self, name: str) -> str:
        from onnx import numpy_helper

        if name in self.lifted or not name:
            return name
        if name in self.constants:
            if len(self.constants[name].dims) < 2:  # a scalar or (L,) broadcasts against (N, C, 1, L) as against (N, C, L)
                return name
            if name not in self.lifted_constants:  # (..., C, L) -> (..., C, 1, L); a conv weight (O, I, k) -> (O, I, 1, k)
                array = numpy_helper.to_array(self.constants[name])
                self.lifted_constants[name] = self.fresh(f"{name}_2d")
                self.initializers.append(numpy_helper.from_array(array.reshape(*array.shape[:-1], 1, array.shape[-1]),
                                                                 self.lifted_constants[name]))
            return self.lifted_constants[name]
        if name not in self.unsqueezed:
            self.unsqueezed[name] = self.fresh(f"{name}_2d")
            self.nodes.append(self.reshape_node("Unsqueeze", name, self.unsqueezed[name]))
        return self.unsqueezed[name]

    def as_1d(self, name: str) -> str:
        if name not in self.lifted:
            return name
        if name not in self.squeezed:
            self.squeezed[name] = self.fresh(f"{name}_1d")
            self.nodes.append(self.reshape_node("Squeeze", name, self.squeezed[name]))
        return self.squeezed[name]

    def finish(self) -> None:
        """Graph outputs keep their 1-D shapes and names; the 1-D copies of reshaped constants go
        unless something still reads them; the inferred shapes, now stale, go."""
        graph = self.graph
        for output in graph.output:
            if output.name in self.lifted:
                inner = self.fresh(f"{output.name}_2d")
                for node in self.nodes:
                    node.output[:] = [inner if name == output.name else name for name in node.output]
                    node.input[:] = [inner if name == output.name else name for name in node.input]
                self.nodes.append(self.reshape_node("Squeeze", inner, output.name))
        del graph.node[:]
        graph.node.extend(self.nodes)
        graph.initializer.extend(self.initializers)
        read = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
        for name in set(self.lifted_constants) - read:
            for tensor in [t for t in graph.initializer if t.name == name]:
                graph.initializer.remove(tensor)
            for node in [n for n in graph.node if n.op_type == "Constant" and name in n.output]:
                graph.node.remove(node)
        del graph.value_info[:]


def _attribute(node, name: str, default):
    from onnx import helper

    for attribute in node.attribute:
        if attribute.name == name:
            return helper.get_attribute_value(attribute)
    return default


def _lift_attributes(node) -> None:
    """kernel_shape, strides, dilations [k] -> [1, k]; pads [a, b] -> [0, a, 0, b]."""
    from onnx import helper

    for k, attribute in enumerate(node.attribute):
        value = helper.get_attribute_value(attribute)
        if attribute.name in ("kernel_shape", "strides", "dilations") and len(value) == 1:
            node.attribute[k].CopyFrom(helper.make_attribute(attribute.name, [1, value[0]]))
        elif attribute.name == "pads" and len(value) == 2:
            node.attribute[k].CopyFrom(helper.make_attribute("pads", [0, value[0], 0, value[1]]))
