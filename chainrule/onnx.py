"""Export chainrule models to ONNX, for ONNX Runtime and other engines.

    from chainrule.onnx import export
    export(model, "model.onnx", input_shape=(1, 28, 28))

Each layer lowers itself (its ``to_onnx(builder, xs, in_shape, label)``
method, beside its forward and backward): Linear becomes Gemm, Conv2D Conv,
the activations their ONNX operators, Dropout nothing (the exported graph is
the inference graph), and so on. A layer without ``to_onnx`` is refused by
name. ``to_onnx`` receives a builder with ``node(op, inputs, label, **attrs)``
(returns the output's name), ``const(name, array, key=None)`` (a float32
initializer; ``key``, a Parameter, stores a shared weight once) and the
tensor type ``FLOAT``; ``xs`` are the names of the inputs and ``in_shape`` is
the first input's per-sample shape.

The batch dimension is symbolic ("N"), weights are stored as float32
initializers, the model is checked with ``onnx.checker`` and written
atomically. This module imports ``onnx``; ``import chainrule`` does not.
"""

from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ._atomic import atomic_write
from .models.graph import Graph
from .models.sequential import Sequential
from .module import Module

__all__ = ["DEFAULT_OPSET", "export", "to_onnx"]

DEFAULT_OPSET = 17


class _Builder:
    """Collects nodes and initializers, naming values uniquely; what a
    layer's ``to_onnx`` receives."""

    #: The float32 tensor type, for ``Cast(to=...)``.
    FLOAT = TensorProto.FLOAT

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._names: set[str] = set()
        self._weights: dict[int, str] = {}

    def name(self, base: str) -> str:
        name, i = base, 1
        while name in self._names:
            i += 1
            name = f"{base}_{i}"
        self._names.add(name)
        return name

    def const(self, base: str, value, key: object | None = None) -> str:
        """A float32 initializer; arrays with the same ``key`` are stored once
        (a layer shared in a graph keeps one copy of its weights)."""
        if key is not None and id(key) in self._weights:
            return self._weights[id(key)]
        name = self.name(base)
        array = np.ascontiguousarray(np.asarray(value, dtype=np.float32))
        self.initializers.append(numpy_helper.from_array(array, name))
        if key is not None:
            self._weights[id(key)] = name
        return name

    def node(self, op: str, inputs: list[str], label: str, **attrs) -> str:
        out = self.name(f"{label}_{op.lower()}")
        self.nodes.append(
            helper.make_node(
                op, inputs, [out], name=self.name(f"{label}/{op}"), **attrs
            )
        )
        return out


def _layer(b: _Builder, layer: Module, xs: list[str], in_shape, label: str) -> str:
    """Emit the nodes of one layer (by asking it); return its output's name.

    ``in_shape`` is the per-sample shape of the first input (no batch axis).
    """
    lower = getattr(layer, "to_onnx", None)
    if lower is None:
        raise TypeError(
            f"onnx.export: layer {label} ({type(layer).__name__}) has no ONNX "
            "lowering; define its to_onnx(builder, xs, in_shape, label) method "
            "(see docs/extending.md)."
        )
    return lower(b, xs, in_shape, label)


def _value_info(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", *shape])


def to_onnx(
    model: Module,
    input_shape=None,
    opset: int = DEFAULT_OPSET,
    name: str = "chainrule",
) -> onnx.ModelProto:
    """The ONNX model of ``model`` (checked, not written); see :func:`export`."""
    # Softmax and LogSoftmax work on one axis only from opset 13 on; the
    # newest is the one the installed onnx package knows.
    newest = onnx.defs.onnx_opset_version()
    if not 13 <= int(opset) <= newest:
        raise ValueError(
            f"onnx.export: opset must be from 13 to {newest} (the newest this onnx "
            f"{onnx.__version__} knows); got {opset}."
        )
    b = _Builder()
    if isinstance(model, Sequential):
        if input_shape is None:
            input_shape = model.input_shape
        if input_shape is None:
            raise ValueError(
                "onnx.export: input_shape must be given for a Sequential model "
                "(one sample's shape, such as (1, 28, 28)); got None."
            )
        shape = tuple(int(s) for s in input_shape)
        try:
            out_shape = tuple(model.output_shape(shape))
        except ValueError as exc:
            raise ValueError(
                f"onnx.export: the model does not accept input of shape {shape}: {exc}"
            ) from None
        inputs = [("input", shape)]
        b._names.add("input")
        x = "input"
        for i, layer in enumerate(model.layers):
            x = _layer(b, layer, [x], shape, str(i))
            shape = tuple(layer.output_shape(shape))
        results = [(x, out_shape)]
    elif isinstance(model, Graph):
        values: dict[int, str] = {}
        inputs = []
        if input_shape is not None and len(model.inputs) == 1:
            if tuple(input_shape) != model.inputs[0].shape:
                raise ValueError(
                    f"onnx.export: input_shape must match the graph's input "
                    f"{model.inputs[0].shape}; got {tuple(input_shape)}."
                )
        for i, node in enumerate(model.inputs):
            nm = "input" if len(model.inputs) == 1 else f"input{i}"
            b._names.add(nm)
            values[node.id] = nm
            inputs.append((nm, node.shape))
        for node in model.order:
            if node.is_input:
                continue
            label = model.layer_name(node.layer)
            xs = [values[p.id] for p in node.parents]
            values[node.id] = _layer(b, node.layer, xs, node.parents[0].shape, label)
        results = [(values[n.id], n.shape) for n in model.outputs]
    else:
        raise TypeError(
            f"onnx.export: model must be a chainrule Sequential or Graph; got "
            f"{type(model).__name__}."
        )

    # Name the outputs "output" (output0, output1... for several): rename the
    # value in place when a node produced it, else add an Identity.
    outputs = []
    produced = {o for n in b.nodes for o in n.output}
    for i, (value, shape) in enumerate(results):
        out = "output" if len(results) == 1 else f"output{i}"
        if value in produced and value not in {v for v, _ in outputs}:
            for n in b.nodes:
                n.output[:] = [out if o == value else o for o in n.output]
                n.input[:] = [out if v == value else v for v in n.input]
            results[i + 1 :] = [
                (out if v == value else v, s) for v, s in results[i + 1 :]
            ]
        else:
            b.nodes.append(helper.make_node("Identity", [value], [out], name=out))
        outputs.append((out, shape))

    graph = helper.make_graph(
        b.nodes,
        name,
        [_value_info(n, s) for n, s in inputs],
        [_value_info(n, s) for n, s in outputs],
        initializer=b.initializers,
    )
    opsets = [helper.make_opsetid("", int(opset))]
    # The oldest IR version the opset allows, not the newest onnx knows, so that
    # older runtimes read the file too.
    proto = helper.make_model(
        graph,
        producer_name="chainrule",
        opset_imports=opsets,
        ir_version=helper.find_min_ir_version_for(opsets),
    )
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export(
    model: Module,
    path: str | os.PathLike,
    input_shape=None,
    opset: int = DEFAULT_OPSET,
) -> onnx.ModelProto:
    """Write ``model`` as an ONNX file at ``path`` and return the ModelProto.

    Parameters
    ----------
    model : Sequential or Graph
        Built from layers that define ``to_onnx`` (all the built-in ones).
    path : str or PathLike
        Written atomically: a failure leaves an existing file untouched.
    input_shape : tuple of int, optional
        One sample's shape, without the batch axis, e.g. (1, 28, 28); needed
        for a Sequential (unless it has run a forward pass), taken from the
        Input nodes for a Graph.
    opset : int
        The ONNX operator set (default 17; 13 or later).

    Returns
    -------
    onnx.ModelProto
        Inputs "input" (graph inputs input0, input1... when several) of shape
        ``(N, *input_shape)``, outputs "output" (output0, ...), float32.

    Raises
    ------
    TypeError
        For a model or layer without an ONNX conversion.
    ValueError
        For an input shape the model does not accept.

    Examples
    --------
    >>> import chainrule as cr, tempfile, os
    >>> from chainrule.onnx import export
    >>> net = cr.Sequential(cr.layers.Linear(4, 3, rng=0), cr.layers.ReLU())
    >>> path = os.path.join(tempfile.mkdtemp(), "net.onnx")
    >>> [n.op_type for n in export(net, path, (4,)).graph.node]
    ['Gemm', 'Relu']
    """
    proto = to_onnx(model, input_shape, opset)
    with atomic_write(path) as f:
        f.write(proto.SerializeToString())
    return proto
