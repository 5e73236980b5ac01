"""Flatten: (N, C, H, W) -> (N, C*H*W), the bridge from convolutions to Linear."""

from __future__ import annotations

import numpy as np

from ..module import Module, as_float_array
from ..registry import register_layer


@register_layer
class Flatten(Module):
    """Keep the batch axis, merge the rest.

    Forward:  y = x.reshape(N, -1)
    Backward: dx = dy.reshape(x.shape)

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> cr.layers.Flatten()(np.zeros((2, 16, 12, 12))).shape
    (2, 2304)
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray):
            x = as_float_array(self, x, np.float32)
        if x.ndim < 1:
            raise ValueError(
                f"{self!r}: input must have a batch axis; got shape {x.shape}."
            )
        self.keep_cache(x.shape)
        return x.reshape(x.shape[0], -1)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy.reshape(self.take_cache())

    spec_pattern = "flatten"
    spec_usage = "flatten"

    def to_onnx(self, b, xs, in_shape, label):
        return b.node("Flatten", xs, label, axis=1)

    def to_torch(self):
        from torch import nn

        return nn.Flatten()
