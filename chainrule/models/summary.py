"""Looking at a model: a Keras-style summary table and Graphviz DOT text."""

from __future__ import annotations

import numpy as np

from ..module import Module
from ..registry import layer_name


def _kind(layer: Module) -> str:
    """The layer's registered name (its class name when unregistered)."""
    return layer_name(layer) or type(layer).__name__


def _sequential_shapes(model, input_shape) -> list[tuple[int, ...]]:
    if input_shape is None:
        input_shape = model.input_shape
    if input_shape is None and model.layers:
        input_shape = model.layers[0].expected_input_shape()
    if input_shape is None:
        first = f" (it starts with {_kind(model.layers[0])})" if model.layers else ""
        raise ValueError(
            f"summary: input_shape is needed for this model{first}; pass one "
            "sample's shape, e.g. summary(input_shape=(1, 28, 28)), or run one "
            "forward pass first."
        )
    shapes = []
    shape = tuple(input_shape)
    for layer in model.layers:
        shape = layer.output_shape(shape)
        shapes.append(shape)
    return shapes


def _summary_rows(model: Module, input_shape=None, unknown_shapes: bool = False):
    """The summary's cells (header first) and its closing lines, for the text
    table and the notebook's HTML table alike."""
    from .graph import Graph

    rows = []
    if isinstance(model, Graph):
        for node in model.order:
            if node.is_input:
                rows.append(("input", "Input", node.shape, 0))
            else:
                name = model.layer_name(node.layer)
                n = node.layer.num_parameters()  # a nested model counts its layers
                rows.append((name, _kind(node.layer), node.shape, n))
    else:
        try:
            shapes = _sequential_shapes(model, input_shape)
        except ValueError:
            if not unknown_shapes or input_shape is not None:
                raise
            shapes = [None] * len(model.layers)
        for i, (layer, shape) in enumerate(zip(model.layers, shapes)):
            rows.append((str(i), _kind(layer), shape, layer.num_parameters()))
    header = ("name", "layer", "output shape", "params")
    cells = [header] + [(r[0], r[1], _shape_text(r[2]), f"{r[3]:,}") for r in rows]
    footer = [f"Total parameters: {model.num_parameters():,}"]
    buffered = sum(b.size for _, b in model.named_buffers())
    if buffered:  # running statistics and the like: state, but not trained
        footer.append(f"Buffers (not trained): {buffered:,}")
    return cells, footer


def summary(model: Module, input_shape=None, unknown_shapes: bool = False) -> str:
    """A table of layers, output shapes and parameter counts.

    Parameters
    ----------
    model : Sequential or Graph
    input_shape : tuple of int, optional
        One sample's shape (no batch axis). Not needed for a Graph, nor for a
        Sequential that starts with Linear or has seen a forward pass.
    unknown_shapes : bool
        When the shapes cannot be inferred (no ``input_shape``), show them as
        ``?`` instead of raising ValueError (``chainrule info`` does).

    Returns
    -------
    str
        Print it.
    """
    cells, footer = _summary_rows(model, input_shape, unknown_shapes)
    header = cells[0]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]

    def fmt(c):
        return "  ".join(
            (c[i].rjust(widths[i]) if i == 3 else c[i].ljust(widths[i]))
            for i in range(4)
        ).rstrip()

    rule = "-" * len(fmt(header))
    lines = [fmt(header), rule] + [fmt(c) for c in cells[1:]] + [rule]
    return "\n".join(lines + footer)


def _shape_text(shape) -> str:
    return "?" if shape is None else "(N, " + ", ".join(map(str, shape)) + ")"


def _grad_norm_label(layer: Module, output_grad) -> str:
    """Norms of the layer's parameter gradients and of dL/dy, one per line."""
    if output_grad is None:  # no backward pass yet: no norms to show
        return ""
    parts = [
        f"|d{name}|={float(np.linalg.norm(p.grad)):.3g}"
        for name, p in layer.own_parameters()
    ]
    parts.append(f"|dy|={float(np.linalg.norm(output_grad)):.3g}")
    return "\\n".join(parts)


def to_dot(model: Module, input_shape=None) -> str:
    """The model as Graphviz DOT text: one box per layer with its output shape,
    and, after a backward pass, the norms of its parameter and output gradients.

    Render with ``dot -Tpng model.dot -o model.png``.
    """
    from .graph import Graph

    out = ["digraph model {", '  rankdir=TB; node [shape=box, fontname="monospace"];']
    if isinstance(model, Graph):
        for node in model.order:
            if node.is_input:
                label = f"Input\\n{node.shape}"
            else:
                name = model.layer_name(node.layer)
                label = f"{name}: {type(node.layer).__name__}\\n{node.shape}"
                if node.output_grad is not None:
                    label += "\\n" + _grad_norm_label(node.layer, node.output_grad)
            out.append(f'  n{node.id} [label="{label}"];')
        for node in model.order:
            for p in node.parents:
                out.append(f"  n{p.id} -> n{node.id};")
        for i, node in enumerate(model.outputs):
            out.append(f'  out{i} [label="output {i}", shape=ellipse];')
            out.append(f"  n{node.id} -> out{i};")
    else:
        try:
            shapes = _sequential_shapes(model, input_shape)
        except ValueError:
            shapes = [None] * len(model.layers)
        out.append('  input [label="input", shape=ellipse];')
        prev = "input"
        for i, (layer, shape) in enumerate(zip(model.layers, shapes)):
            label = f"{i}: {type(layer).__name__}"
            if shape is not None:
                label += f"\\n{shape}"
            grads = _grad_norm_label(layer, layer.output_grad)
            if grads:
                label += "\\n" + grads
            out.append(f'  l{i} [label="{label}"];')
            out.append(f"  {prev} -> l{i};")
            prev = f"l{i}"
    out.append("}")
    return "\n".join(out) + "\n"
