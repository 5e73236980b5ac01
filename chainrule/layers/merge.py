"""Layers that merge several inputs, for graph models."""

from __future__ import annotations

import numpy as np

from ..module import Module
from ..registry import register_layer
from ._checks import axis_index, missing_axis


@register_layer
class Add(Module):
    """Elementwise sum of its inputs (a skip connection's merge).

    Forward:  y = x_1 + x_2 + ... + x_k
    Backward: dx_i = dy for every i (each input's partial derivative is 1)

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> cr.layers.Add()(np.ones((1, 2)), np.ones((1, 2))).tolist()
    [[2.0, 2.0]]
    """

    def forward(self, *xs: np.ndarray) -> np.ndarray:
        if len(xs) < 2:
            raise ValueError(f"{self!r}: needs at least 2 inputs; got {len(xs)}.")
        shapes = {x.shape for x in xs}
        if len(shapes) != 1:
            raise ValueError(
                f"{self!r}: all inputs must have the same shape; got "
                f"{', '.join(str(x.shape) for x in xs)}."
            )
        y = xs[0] + xs[1]
        for x in xs[2:]:
            y += x
        self.keep_cache(len(xs))
        return y

    def backward(self, dy: np.ndarray) -> tuple[np.ndarray, ...]:
        return (dy,) * self.take_cache()

    # Several inputs: a graph layer, with no place in a spec's chain.
    spec_pattern = None

    def to_onnx(self, b, xs, in_shape, label):
        return b.node("Add" if len(xs) == 2 else "Sum", xs, label)

    def to_torch(self):
        raise TypeError(f"{self!r}: torch.nn has no module that adds its inputs.")


@register_layer
class Concat(Module):
    """Join inputs along ``axis`` (1, the features or channels, by default).

    Forward:  y = [x_1, x_2, ..., x_k] along axis
    Backward: dx_i = the slice of dy that x_i filled
    """

    def __init__(self, axis: int = 1) -> None:
        super().__init__()
        self.axis = axis_index("Concat", axis)
        if self.axis == 0:
            raise ValueError(f"Concat: axis must not be the batch axis 0; got {axis}.")

    def forward(self, *xs: np.ndarray) -> np.ndarray:
        if len(xs) < 2:
            raise ValueError(f"{self!r}: needs at least 2 inputs; got {len(xs)}.")
        try:
            y = np.concatenate(xs, axis=self.axis)
        except np.exceptions.AxisError:
            raise missing_axis(self, self.axis, xs[0]) from None
        except ValueError as exc:
            raise ValueError(
                f"{self!r}: inputs must match on every axis but {self.axis}; got "
                f"{', '.join(str(x.shape) for x in xs)}."
            ) from exc
        self.keep_cache(np.cumsum([x.shape[self.axis] for x in xs])[:-1])
        return y

    def backward(self, dy: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(np.split(dy, self.take_cache(), axis=self.axis))

    def get_config(self) -> dict:
        return {"axis": self.axis}

    # Several inputs: a graph layer, with no place in a spec's chain.
    spec_pattern = None

    def to_onnx(self, b, xs, in_shape, label):
        return b.node("Concat", xs, label, axis=self.axis)

    def to_torch(self):
        raise TypeError(f"{self!r}: torch.nn has no module that joins its inputs.")
