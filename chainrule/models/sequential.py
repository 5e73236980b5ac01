"""Sequential: a chain of layers, the seeds' feed-forward network."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import numpy as np

from ..functional.pooling import from_pool_order
from ..module import Module, runs_methods_of


class Sequential(Module):
    """Layers applied one after another: y = f_L(... f_2(f_1(x))).

    Backward runs the chain rule from the end: dy_L = dL/dy, then
    dy_{l-1} = f_l.backward(dy_l) down to dL/dx, each layer adding its
    parameter gradients on the way (seed 003's "running product of derivatives").

    Parameters
    ----------
    *layers : Module
        Parameters are named by position: ``0.weight``, ``0.bias``, ``2.weight``...

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> net = cr.Sequential(cr.layers.Linear(4, 8, rng=0), cr.layers.ReLU(),
    ...                     cr.layers.Linear(8, 3, rng=1))
    >>> y = net(np.ones((2, 4), np.float32))
    >>> dx = net.backward(np.ones_like(y))
    >>> [name for name, _ in net.named_parameters()]
    ['0.weight', '0.bias', '2.weight', '2.bias']
    """

    def __init__(self, *layers: Module) -> None:
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(
                    f"Sequential: layer {i} must be a chainrule Module; got "
                    f"{type(layer).__name__}."
                    + (
                        " Did you pass the class instead of an instance?"
                        if isinstance(layer, type)
                        else ""
                    )
                )
        self.layers = list(layers)
        self.input_shape: tuple[int, ...] | None = None

    def named_children(self) -> Iterator[tuple[str, Module]]:
        return ((str(i), layer) for i, layer in enumerate(self.layers))

    def children(self) -> list[Module]:
        return list(self.layers)  # the same list, without naming each one

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)

    def append(self, layer: Module) -> Sequential:
        if not isinstance(layer, Module):
            raise TypeError(
                f"Sequential.append: expected a Module; got {type(layer).__name__}."
            )
        self.layers.append(layer)
        return self

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Apply the layers in order.

        Three rewrites, invisible in the result, worked out once from the layer
        list and again only when it changes:

        - An activation that ``commutes_with_max`` (ReLU) followed by a layer
          that ``takes_window_max`` (MaxPool2D) runs in the other order,
          pooling first, because relu(max of a window) = max of relu(window):
          the activation then works on the pooled array, a quarter of the
          numbers for 2x2 windows. The output is the same, and so are dL/dx
          and every parameter's gradient (relu'(0) = 0: a window whose inputs
          are all <= 0 passes no gradient either way). Only the activation's
          ``output_grad`` (its delta, computed when read) can differ, in such
          windows alone: its all-zero output is a tie, which the plain order
          gives to the window's first pixel and the rewrite to its largest
          input.
        - A Conv2D that ``orders_for_pool``, followed (in the order they run)
          by layers that ``commutes_with_pixel_order`` (elementwise
          activations, BatchNorm2D) and then by a max-pooling that
          ``takes_pool_order`` (windows that tile), writes its output in pool
          order (``functional/pooling.py``): each window offset's pixels in a
          plane of their own, so that pooling compares whole planes instead
          of neighbouring numbers, about twice as fast both ways. The layers
          between work on the reordered pixels as they would on the others.
          The results are the same up to float rounding (the sums over
          pixels of the weight gradient and of batch statistics run in
          another order), and every ``output_grad`` is given in the usual
          layout. It applies when the convolution can
          (``Conv2D.pool_order_possible``).
        - A Conv2D that makes one wide product instead, with the max-pooling
          right after it, hands its output over in batch-last memory
          (``Conv2D.forward_batch_last``): the same array in value, which the
          pooling reads with long inner loops and whose gradient it returns
          in that memory, the order the convolution's backward wants.
        """
        layers = self.layers
        if not layers:
            raise RuntimeError("Sequential: the model has no layers.")
        self.input_shape = x.shape[1:] if type(x) is np.ndarray else np.shape(x)[1:]
        # The plan depends on the layers alone; it is checked with a C-speed
        # identity compare of the list.
        plan = self.__dict__.get("_swap_plan")
        if plan is None or plan[0] != layers:
            plan = self._swap_plan = _plan(layers)
        # groups: conv index -> (window, pool index, "pool order" | "batch last")
        _, swapped, order, groups = plan
        # A layer object listed twice shares weights; each use needs its own
        # cache, so they are collected here instead of left on the layer.
        if order is None:  # no rewrite: the plain loop, the MLP's hot path
            caches = []
            for layer in layers:
                x = layer.forward(x)
                caches.append(layer.cache)
            self.keep_cache((caches, swapped, None))
            return x
        caches = [None] * len(layers)
        # Layers whose output is in pool order, with the pooling's window.
        reordered: dict[int, tuple[int, int]] = {}
        window = pool = None  # while a group runs in pool order
        for i in order:
            layer = layers[i]
            if i == pool:
                x = layer.forward_from_pool_order(x)
                window = pool = None
            elif i in groups and groups[i][2] == "batch last":
                x = layer.forward_batch_last(x)  # same values, other memory
            elif i in groups and layer.pool_order_possible(x, groups[i][0]):
                window, pool, _ = groups[i]
                x = layer.forward_in_pool_order(x, window)
                reordered[i] = window
            else:
                x = layer.forward(x)
                if window is not None:
                    reordered[i] = window  # a layer between, on pool order
            caches[i] = layer.cache
        self.keep_cache((caches, swapped, reordered))
        return x

    def backward(
        self, dy: np.ndarray, input_grad: bool | None = None
    ) -> np.ndarray | None:
        """Propagate ``dy = dL/dy`` to every layer; return dL/dx.

        ``input_grad`` defaults to ``not self.skip_input_grad``, the flag every
        module honours (``fit`` sets it on the model, a container on its first
        layer). With ``input_grad=False`` (training: nobody needs the data's gradient)
        the sweep stops at the first layer that has parameters, which skips
        its dL/dx; the parameter-free layers before it (a Flatten, say) are
        not visited at all, and None is returned.
        """
        if input_grad is None:
            input_grad = not self.skip_input_grad
        caches, swapped, reordered = self.take_cache()
        stop = 0
        if not input_grad:
            stop = next(
                (i for i, m in enumerate(self.layers) if m.has_parameters()),
                len(self.layers),
            )
        i = len(self.layers) - 1
        while i >= stop:
            layer = self.layers[i]
            if reordered and i in reordered:
                # dy is in pool order; the delta is shown in the usual layout.
                layer.output_grad = partial(from_pool_order, dy, reordered[i])
            else:
                layer.output_grad = dy
            if swapped and i - 1 in swapped:
                # The pair forward ran pool-then-activation: backward runs
                # the activation's mask on the pooled gradient, then the pool.
                act = self.layers[i - 1]
                act.cache = caches[i - 1]
                d = act.backward(dy)
                # The pool ran right after layer i - 2; if that one wrote pool
                # order, the pool's input, and so this delta, is in it.
                window = reordered.get(i - 2) if reordered else None
                act.output_grad = _PoolBackwardLater(layer, caches[i], dy, window)
                layer.cache = caches[i]
                dy = layer.backward(d)
                i -= 2
                continue
            layer.cache = caches[i]
            if i == stop and not input_grad:
                layer.skip_input_grad = True
                try:
                    layer.backward(dy)
                finally:
                    layer.skip_input_grad = False
                return None
            dy = layer.backward(dy)
            i -= 1
        return None if not input_grad else dy

    def deltas(self) -> list[tuple[str, np.ndarray | None]]:
        """dL/dy of every layer's output from the last backward (the seeds' deltas),
        named ``"<index>:<Type>"`` (``"0:Linear"``) as :meth:`Graph.deltas` names
        a Graph's layers."""
        return [
            (f"{i}:{type(m).__name__}", m.output_grad)
            for i, m in enumerate(self.layers)
        ]

    def summary(self, input_shape=None) -> str:
        """A table of layers, output shapes and parameter counts (see ``cr.summary``)."""
        from .summary import summary

        return summary(self, input_shape)

    def _repr_html_(self) -> str:
        """The summary table as HTML, for Jupyter (``?`` for unknown shapes)."""
        from .._html import model_html

        return model_html(self)

    # A Sequential inside a model (it saves and loads as one) exports as its
    # layers in order, named "<its label>.<position>" as its parameters are.
    def to_onnx(self, b, xs, in_shape, label):
        from ..onnx import _layer  # the exporter imports the models

        x, shape = xs[0], tuple(in_shape)
        for i, layer in enumerate(self.layers):
            x = _layer(b, layer, [x], shape, f"{label}.{i}")
            shape = tuple(layer.output_shape(shape))
        return x

    def to_torch(self):
        from ..interop.torch import torch_nn

        nn = torch_nn(self)
        modules = []
        for i, layer in enumerate(self.layers):
            make = getattr(layer, "to_torch", None)
            if make is None:
                raise TypeError(
                    f"layer {i} ({type(layer).__name__}) has no PyTorch mapping; "
                    "define its to_torch() method (see docs/extending.md)."
                )
            try:
                modules.append(make())
            except TypeError as exc:  # a layer torch has no module for
                raise TypeError(f"layer {i} ({type(layer).__name__}): {exc}") from None
        return nn.Sequential(*modules)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}("]
        for i, layer in enumerate(self.layers):
            inner = repr(layer).replace("\n", "\n  ")
            lines.append(f"  ({i}): {inner}")
        lines.append(")")
        return "\n".join(lines)


def _plan(layers: list[Module]):
    """(the layers, swapped, order, groups) for Sequential.forward.

    ``swapped``: the indices i where layers i and i + 1 run swapped. ``order``:
    the order the layers run in, or None when no rewrite applies.
    ``groups``: the index of each Conv2D that may lay out its output for the
    max-pooling after it -> (the pooling's window, the pooling's index, how):
    "pool order" for per-sample products (if the input's size lets the
    window tile the output, which forward asks each time), "batch last" for
    a wide product with the pooling right after it.
    """
    swapped = _swaps(layers)
    order = list(range(len(layers)))
    for i in swapped:
        order[i], order[i + 1] = order[i + 1], order[i]
    groups = {}
    for p, i in enumerate(order):
        if not getattr(layers[i], "orders_for_pool", False):
            continue
        q = p + 1
        while q < len(order) and _declares(
            layers[order[q]], "commutes_with_pixel_order"
        ):
            q += 1
        if q < len(order) and getattr(layers[order[q]], "takes_pool_order", False):
            how = "batch last" if layers[i].batch_last_possible() else "pool order"
            if how == "pool order" or q == p + 1:
                groups[i] = (tuple(layers[order[q]].kernel_size), order[q], how)
    if not swapped and not groups:
        return list(layers), swapped, None, {}
    return list(layers), swapped, order, groups


def _declares(layer: Module, name: str) -> bool:
    """True when ``layer``'s class, or the base that sets the class attribute
    ``name``, sets it True and ``layer`` runs that class's own forward and
    backward (a subclass that changes either loses the promise)."""
    for cls in type(layer).__mro__:
        if name in vars(cls):
            return vars(cls)[name] is True and runs_methods_of(layer, cls)
    return False


def _swaps(layers: list[Module]) -> frozenset[int]:
    """The indices i where layers i and i + 1 run swapped: an activation that
    ``commutes_with_max`` before a layer that ``takes_window_max``."""
    found = set()
    i = 0
    while i + 1 < len(layers):
        if getattr(layers[i], "commutes_with_max", False) and getattr(
            layers[i + 1], "takes_window_max", False
        ):
            found.add(i)
            i += 2
        else:
            i += 1
    return frozenset(found)


class _PoolBackwardLater:
    """The delta of the activation a Sequential ran after ``pool``: the pool's
    backward of the unmasked dy, as a call made only when someone reads it
    (in the usual layout when the pool took pool order: ``window``).
    (A class, not a closure, so that a model holding one can be pickled, as
    scikit-learn does with estimators.)"""

    __slots__ = ("pool", "cache", "dy", "window")

    def __init__(self, pool: Module, cache, dy: np.ndarray, window=None) -> None:
        self.pool, self.cache, self.dy, self.window = pool, cache, dy, window

    def __call__(self) -> np.ndarray:
        pool = self.pool
        kept = pool.cache
        pool.cache = self.cache
        try:
            d = pool.backward(self.dy)
        finally:
            pool.cache = kept
        return from_pool_order(d, self.window) if self.window else d
