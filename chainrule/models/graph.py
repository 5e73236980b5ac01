"""Graph models: any directed acyclic graph of layers, built by calling layers on
nodes, with backpropagation as dynamic programming over the graph (seed 002).

    x = cr.Input((784,))
    h = cr.layers.ReLU()(cr.layers.Linear(784, 64)(x))
    y = cr.layers.Add()(h, cr.layers.Linear(784, 64)(x))   # two paths from x
    model = cr.Graph(x, y)

Forward visits the nodes in topological order. Backward visits them in reverse
and keeps a table of dL/d(value) per node: a value used by several layers
receives the *sum* of what each consumer sends back, which is the multivariable
chain rule, and what makes summing over all paths from a weight to the loss
cost one sweep instead of one walk per path.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Iterator, Sequence

import numpy as np

from ..module import Module

_ids = itertools.count()


class Node:
    """A value in a graph under construction: the output of ``layer`` applied to
    ``parents``, or a graph input when ``layer`` is None.

    Attributes
    ----------
    shape : tuple of int
        The per-sample shape of the value (no batch axis).
    output_grad : ndarray or None
        dL/d(value) from the last backward pass of the graph.
    """

    __slots__ = ("layer", "parents", "shape", "id", "output_grad", "name")

    def __init__(self, layer: Module | None, parents: Sequence[Node], shape, name=None):
        self.layer = layer
        self.parents = tuple(parents)
        self.shape = tuple(shape)
        self.id = next(_ids)
        self.output_grad = None
        self.name = name

    @classmethod
    def from_call(cls, layer: Module, inputs: Sequence[object]) -> Node:
        bad = [i for i, x in enumerate(inputs) if not isinstance(x, Node)]
        if bad:
            raise TypeError(
                f"{layer!r}: when building a graph every input must be a node "
                f"(from cr.Input or a layer call); argument {bad[0]} is "
                f"{type(inputs[bad[0]]).__name__}."
            )
        # Run the layer on one zero sample now, so that a shape mistake is
        # reported where the graph is built, not at the first batch.
        return cls(layer, inputs, layer.output_shape(*(p.shape for p in inputs)))

    @property
    def is_input(self) -> bool:
        return self.layer is None

    def __repr__(self) -> str:
        what = "Input" if self.layer is None else type(self.layer).__name__
        return f"<Node {self.id}: {what} -> {self.shape}>"


def Input(shape, name: str | None = None) -> Node:  # noqa: N802 - reads like a layer
    """A graph input whose samples have ``shape`` (no batch axis).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.Input((1, 28, 28)).shape
    (1, 28, 28)
    """
    if isinstance(shape, int):
        shape = (shape,)
    shape = tuple(shape)
    if not shape or not all(
        isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0
        for s in shape
    ):
        raise ValueError(
            f"Input: shape must be a tuple of positive integers; got {shape!r}."
        )
    return Node(None, (), shape, name=name)


def _as_list(nodes, what: str) -> list[Node]:
    items = list(nodes) if isinstance(nodes, (list, tuple)) else [nodes]
    if not items:
        raise ValueError(f"Graph: {what} must name at least one node.")
    for n in items:
        if not isinstance(n, Node):
            raise TypeError(f"Graph: {what} must be nodes; got {type(n).__name__}.")
    return items


def topological_order(outputs: Sequence[Node]) -> list[Node]:
    """Every node the outputs depend on, parents before children.

    Kahn's algorithm with an explicit stack (no recursion, so a graph ten
    thousand layers deep is fine); ties are broken by creation order so the
    order, and the parameter names, are the same on every run. A cycle leaves
    nodes unvisited and raises.
    """
    seen: dict[int, Node] = {}
    stack = list(outputs)
    while stack:
        node = stack.pop()
        if node.id in seen:
            continue
        seen[node.id] = node
        stack.extend(node.parents)
    n_parents = {i: len({p.id for p in n.parents}) for i, n in seen.items()}
    children: dict[int, list[Node]] = {i: [] for i in seen}
    for n in seen.values():
        for pid in {p.id for p in n.parents}:
            children[pid].append(n)
    ready = [(n.id, n) for n in seen.values() if n_parents[n.id] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, node = heapq.heappop(ready)
        order.append(node)
        for child in children[node.id]:
            n_parents[child.id] -= 1
            if n_parents[child.id] == 0:
                heapq.heappush(ready, (child.id, child))
    if len(order) != len(seen):
        stuck = sorted(set(seen) - {n.id for n in order})
        raise ValueError(
            f"Graph: the layers form a cycle (nodes {stuck[:5]}); a graph model "
            "must be acyclic."
        )
    return order


class Graph(Module):
    """A model whose layers form a directed acyclic graph.

    Parameters
    ----------
    inputs : Node or list of Node
        The graph's inputs, made by :func:`Input`, in the order ``forward``
        takes its arrays.
    outputs : Node or list of Node
        The values ``forward`` returns (a tuple when several).

    Notes
    -----
    - A layer object called on several nodes shares its weights between the
      calls and its gradient is the sum over the calls.
    - ``backward`` returns dL/dx for every input; an input that no output
      depends on gets zeros.
    - Each ``forward`` allows one ``backward``; a second raises RuntimeError
      rather than counting the gradient twice.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> x = cr.Input((3,))
    >>> shared = cr.layers.Linear(3, 3, rng=0)
    >>> y = cr.layers.Add()(shared(x), shared(shared(x)))
    >>> model = cr.Graph(x, y)
    >>> model(np.ones((2, 3), np.float32)).shape
    (2, 3)
    """

    def __init__(self, inputs, outputs) -> None:
        super().__init__()
        self.inputs = _as_list(inputs, "inputs")
        self.outputs = _as_list(outputs, "outputs")
        for i, node in enumerate(self.inputs):
            if not node.is_input:
                raise TypeError(
                    f"Graph: inputs[{i}] must be made by cr.Input; got {node!r}."
                )
        if len({n.id for n in self.inputs}) != len(self.inputs):
            raise ValueError("Graph: the same Input node is listed twice in inputs.")
        self.order = topological_order(self.outputs)
        declared = {n.id for n in self.inputs}
        stray = [n for n in self.order if n.is_input and n.id not in declared]
        if stray:
            raise ValueError(
                f"Graph: the outputs depend on an Input that is not among the graph's "
                f"inputs ({stray[0]!r}); list it in inputs or rebuild that branch."
            )
        self._input_index = {n.id: i for i, n in enumerate(self.inputs)}
        # Whether a node's value depends on any parameter (its own layer's or
        # one upstream): only those need gradients when the inputs' do not.
        self._trainable_upstream: dict[int, bool] = {}
        for n in self.order:
            own = n.layer is not None and n.layer.has_parameters()
            self._trainable_upstream[n.id] = own or any(
                self._trainable_upstream[p.id] for p in n.parents
            )
        # The distinct layers in order of first use; they name the parameters.
        self.layers: list[Module] = []
        for n in self.order:
            if n.layer is not None and all(n.layer is not m for m in self.layers):
                self.layers.append(n.layer)
        #: The name of each layer in ``layers``: its ``name``, or its position.
        self.layer_names = [m.name or str(i) for i, m in enumerate(self.layers)]
        if len(set(self.layer_names)) != len(self.layer_names):
            raise ValueError("Graph: two layers have the same name.")

    def named_children(self) -> Iterator[tuple[str, Module]]:
        return zip(self.layer_names, self.layers)

    def layer_name(self, layer: Module) -> str:
        for name, m in zip(self.layer_names, self.layers):
            if m is layer:
                return name
        raise KeyError(layer)

    # ------------------------------------------------------------ forward
    def forward(self, *xs: np.ndarray):
        if len(xs) != len(self.inputs):
            raise ValueError(
                f"Graph: forward takes {len(self.inputs)} input array(s); got {len(xs)}."
            )
        values: dict[int, np.ndarray] = {}
        for i, (node, x) in enumerate(zip(self.inputs, xs)):
            shape = np.shape(x)
            if tuple(shape[1:]) != node.shape:
                raise ValueError(
                    f"Graph: input {i} must have shape (batch, "
                    f"{', '.join(map(str, node.shape))}); got {tuple(shape)}."
                )
            values[node.id] = x
        caches: dict[int, object] = {}
        for node in self.order:
            if node.is_input:
                continue
            y = node.layer.forward(*(values[p.id] for p in node.parents))
            caches[node.id] = node.layer.cache
            values[node.id] = y
        self.keep_cache((caches, [np.shape(x) for x in xs]))
        out = tuple(values[n.id] for n in self.outputs)
        return out[0] if len(out) == 1 else out

    # ----------------------------------------------------------- backward
    def backward(self, dy, input_grad: bool | None = None):
        """Propagate dL/d(output) back through the graph; return dL/d(input).

        Parameters
        ----------
        dy : ndarray, or a tuple with one entry per output (None for an output
            the loss does not use).
        input_grad : bool, optional
            False skips the inputs' gradients (returns None). Defaults to
            ``not self.skip_input_grad``, the flag every module honours.
        """
        if input_grad is None:
            input_grad = not self.skip_input_grad
        caches, input_shapes = self.take_cache()
        dys = dy if isinstance(dy, (tuple, list)) else (dy,)
        if len(dys) != len(self.outputs):
            raise ValueError(
                f"Graph: backward takes one gradient per output ({len(self.outputs)}); "
                f"got {len(dys)}."
            )
        # The dynamic-programming table: node id -> dL/d(node's value).
        table: dict[int, np.ndarray] = {}
        for node, g in zip(self.outputs, dys):
            if g is not None:
                _accumulate(table, node.id, g)
        # Without input gradients, a node whose inputs have no parameters
        # upstream skips its dL/dx, and a node with no parameters in it or
        # upstream of it is not visited at all: nobody needs what it would send.
        prune = not input_grad
        for node in reversed(self.order):
            if node.is_input:
                continue
            g = table.pop(node.id, None)
            node.output_grad = g
            layer = node.layer
            if g is None:  # no path from this node to a used output
                continue
            if prune and not self._trainable_upstream[node.id]:
                continue
            layer.cache = caches[node.id]
            layer.output_grad = g
            skip = prune and not any(
                self._trainable_upstream[p.id] for p in node.parents
            )
            layer.skip_input_grad = skip
            try:
                dx = layer.backward(g)
            finally:
                layer.skip_input_grad = False
            if skip:
                continue
            dxs = dx if isinstance(dx, tuple) else (dx,)
            for parent, d in zip(node.parents, dxs):
                _accumulate(table, parent.id, d)
        if not input_grad:
            return None
        grads = []
        for node, x_shape in zip(self.inputs, input_shapes):
            g = table.get(node.id)
            node.output_grad = g
            if g is None:
                g = np.zeros(x_shape, dtype=self.dtype or np.float32)
            grads.append(g)
        return grads[0] if len(grads) == 1 else tuple(grads)

    def deltas(self) -> list[tuple[str, np.ndarray | None]]:
        """dL/d(value) of every node from the last backward (the seeds' deltas).

        Named as :meth:`Sequential.deltas` names them, ``"<layer>:<Type>"``
        with the layer's name from ``state_dict`` (``"0:Linear"``); inputs are
        ``"input:Input"`` (``"input0:Input"``, ``"input1:Input"``... for
        several), and a layer applied at several nodes gets ``#1``, ``#2``...
        in the order of evaluation.
        """
        uses = Counter(id(n.layer) for n in self.order if not n.is_input)
        seen: Counter = Counter()
        out = []
        for node in self.order:
            if node.is_input:
                k = self._input_index[node.id]
                name = "input:Input" if len(self.inputs) == 1 else f"input{k}:Input"
            else:
                layer = node.layer
                name = f"{self.layer_name(layer)}:{type(layer).__name__}"
                if uses[id(layer)] > 1:
                    seen[id(layer)] += 1
                    name += f"#{seen[id(layer)]}"
            out.append((name, node.output_grad))
        return out

    def summary(self, input_shape=None) -> str:  # noqa: ARG002 - shapes are known
        """A table of layers, output shapes and parameter counts (see ``cr.summary``)."""
        from .summary import summary

        return summary(self)

    def _repr_html_(self) -> str:
        """For Jupyter: the drawing (SVG from :func:`to_dot`, when Graphviz's
        ``dot`` is installed) above the summary table; the table otherwise."""
        from .._html import graph_html

        return graph_html(self)

    def __repr__(self) -> str:
        lines = ["Graph("]
        names = {n.id: f"in{self._input_index[n.id]}" for n in self.inputs}
        for node in self.order:
            if node.is_input:
                lines.append(f"  {names[node.id]} = Input(shape={node.shape})")
                continue
            name = f"n{node.id}"
            names[node.id] = name
            args = ", ".join(names[p.id] for p in node.parents)
            label = self.layer_name(node.layer)
            lines.append(
                f"  {name} = ({label}) {node.layer!r}({args})  -> {node.shape}"
            )
        outs = ", ".join(names[n.id] for n in self.outputs)
        lines.append(f"  return {outs}")
        lines.append(")")
        return "\n".join(lines)


def _accumulate(table: dict[int, np.ndarray], key: int, g: np.ndarray) -> None:
    # Out of place: ``g`` may be the very array another consumer also received
    # (Add hands the same dy to each input), so it must never be modified.
    if key in table:
        table[key] = table[key] + g
    else:
        table[key] = g
