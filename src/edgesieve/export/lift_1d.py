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
    from onnx import helper, numpy_helper, shape_inference

    if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for n in model.graph.node for a in n.attribute):
        return model, 0  # a branch or loop body may read a lifted value by its outer name
    try:
        inferred = shape_inference.infer_shapes(model)
    except Exception:  # an operator the inference does not know: no ranks, nothing to lift safely
        return model, 0
    ranks = {v.name: len(v.type.tensor_type.shape.dim) for v in (*inferred.graph.input, *inferred.graph.value_info,
                                                                 *inferred.graph.output)
             if v.type.tensor_type.HasField("shape")}
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    constants = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = node.attribute[0].t
    taken = {name for node in graph.node for name in (*node.input, *node.output)} | set(constants)

    def fresh(base: str) -> str:
        name, k = base, 0
        while name in taken:
            k += 1
            name = f"{base}_{k}"
        taken.add(name)
        return name

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
    axes = fresh("lift_1d_axes")
    new_initializers = [numpy_helper.from_array(np.array([2], dtype=np.int64), axes)] if opset >= 13 else []

    def reshape_node(op: str, source: str, target: str):
        # the axes are an input from opset 13 on, an attribute before
        if opset >= 13:
            return helper.make_node(op, [source, axes], [target])
        return helper.make_node(op, [source], [target], axes=[2])

    lifted: set[str] = set()
    squeezed: dict[str, str] = {}
    unsqueezed: dict[str, str] = {}
    lifted_constants: dict[str, str] = {}
    nodes = []
    count = 0

    def as_lifted(name: str) -> str:
        if name in lifted or not name:
            return name
        if name in constants:
            array = numpy_helper.to_array(constants[name])
            if array.ndim < 2:  # a scalar or (L,) broadcasts against (N, C, 1, L) as against (N, C, L)
                return name
            if name not in lifted_constants:  # (..., C, L) -> (..., C, 1, L); a conv weight (O, I, k) -> (O, I, 1, k)
                array = array.reshape(*array.shape[:-1], 1, array.shape[-1])
                lifted_constants[name] = fresh(f"{name}_2d")
                new_initializers.append(numpy_helper.from_array(array, lifted_constants[name]))
            return lifted_constants[name]
        if name not in unsqueezed:
            unsqueezed[name] = fresh(f"{name}_2d")
            nodes.append(reshape_node("Unsqueeze", name, unsqueezed[name]))
        return unsqueezed[name]

    def as_1d(name: str) -> str:
        if name not in lifted:
            return name
        if name not in squeezed:
            squeezed[name] = fresh(f"{name}_1d")
            nodes.append(reshape_node("Squeeze", name, squeezed[name]))
        return squeezed[name]

    def is_1d(name: str) -> bool:
        return name in lifted or (ranks.get(name) == 3 and name not in constants)

    for node in graph.node:
        data = node.input[0] if node.input else ""
        liftable = False
        if node.op_type in _SPATIAL and is_1d(data):
            liftable = node.op_type != "Conv" or node.input[1] in constants
        elif node.op_type in _UNARY and data in lifted:
            liftable = all(name in constants or not name for name in node.input[1:])
        elif node.op_type in _BINARY and any(name in lifted for name in node.input):
            # a constant of rank 4 or more would broadcast the 1-D value up to its own rank
            liftable = all(name in lifted or (name in constants and len(constants[name].dims) <= 3) for name in node.input)
        # a second output (MaxPool's indices, batch norm's training statistics) would change shape unseen
        if liftable and sum(1 for name in node.output if name) == 1:
            count += node.op_type in _SPATIAL
            # the data input, a binary operator's operands and a conv's weight change shape; the rest
            # (a conv's bias, batch norm's per-channel vectors, Clip's bounds) keep theirs
            inputs = [as_lifted(name) if k == 0 or node.op_type in _BINARY or (node.op_type == "Conv" and k == 1) else name
                      for k, name in enumerate(node.input)]
            del node.input[:]
            node.input.extend(inputs)
            _lift_attributes(node)
            lifted.add(node.output[0])
        elif node.op_type == "Flatten" and data in lifted and _attribute(node, "axis", 1) == 1:
            pass  # (N, C, 1, L) flattens from axis 1 to what (N, C, L) does
        else:
            inputs = [as_1d(name) for name in node.input]
            del node.input[:]
            node.input.extend(inputs)
        nodes.append(node)
    if not count:
        return model, 0
    for output in graph.output:  # what the graph returns keeps its 1-D shape and name
        if output.name in lifted:
            inner = fresh(f"{output.name}_2d")
            for node in nodes:
                node.output[:] = [inner if name == output.name else name for name in node.output]
                node.input[:] = [inner if name == output.name else name for name in node.input]
            nodes.append(reshape_node("Squeeze", inner, output.name))
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(new_initializers)
    # the 1-D copies of what was reshaped, unless something else still reads them
    read = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    for name in lifted_constants:
        if name not in read:
            drop = [t for t in graph.initializer if t.name == name]
            for tensor in drop:
                graph.initializer.remove(tensor)
            for node in [n for n in graph.node if n.op_type == "Constant" and name in n.output]:
                graph.node.remove(node)
    del graph.value_info[:]  # the inferred shapes of lifted values changed
    return out, count


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
