"""Flatten: (N, C, H, W) -> (N, C*H*W), the bridge from convolutions to Linear;
Reshape, the way back."""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..interop.torch import torch_nn
from ..module import Module, as_float_array
from ..registry import register_layer


def _batch(layer: Module, x) -> np.ndarray:
    """``x`` as an array (any dtype an array already has) with a batch axis."""
    if not isinstance(x, np.ndarray):
        x = as_float_array(layer, x, np.float32)
    if x.ndim < 1:
        raise ValueError(
            f"{layer!r}: input must have a batch axis; got shape {x.shape}."
        )
    return x


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
        x = _batch(self, x)
        self.keep_cache(x.shape)
        # The width spelt out: -1 cannot be worked out for an empty batch.
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy.reshape(self.take_cache())

    spec_pattern = "flatten"
    spec_usage = "flatten"

    def to_onnx(self, b, xs, in_shape, label):
        return b.node("Flatten", xs, label, axis=1)

    def to_torch(self):
        nn = torch_nn(self)
        return nn.Flatten()


@register_layer
class Reshape(Module):
    """Give each sample a new shape, keeping the batch axis: the inverse of Flatten.

    Forward:  y = x.reshape(N, *shape)
    Backward: dx = dy.reshape(x.shape)

    One entry of ``shape`` may be -1, inferred from the sample's size (as in
    NumPy, PyTorch's ``nn.Unflatten`` and Keras's ``Reshape``).

    Parameters
    ----------
    shape : tuple of int
        One sample's output shape, without the batch axis.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> cr.layers.Reshape((16, 12, 12))(np.zeros((2, 2304))).shape
    (2, 16, 12, 12)
    """

    def __init__(self, shape) -> None:
        super().__init__()
        items = (shape,) if isinstance(shape, numbers.Integral) else shape
        try:
            items = tuple(items)
        except TypeError:
            items = None
        ok = (
            items is not None
            and len(items) >= 1
            and all(
                isinstance(v, numbers.Integral)
                and not isinstance(v, bool)
                and (v >= 1 or v == -1)
                for v in items
            )
            and sum(v == -1 for v in items) <= 1
        )
        if not ok:
            raise ValueError(
                "Reshape: shape must be a tuple of positive integers, one of them "
                f"possibly -1; got {shape!r}."
            )
        self.shape = tuple(int(v) for v in items)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _batch(self, x)
        size = math.prod(x.shape[1:])
        known = math.prod(v for v in self.shape if v != -1)
        if (size != known) if -1 not in self.shape else (size % known != 0):
            raise ValueError(
                f"{self!r}: each sample must have {known} elements"
                + (" or a multiple of them" if -1 in self.shape else "")
                + f"; got input of shape {x.shape} ({size} per sample)."
            )
        self.keep_cache(x.shape)
        return x.reshape(x.shape[0], *self.shape)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy.reshape(self.take_cache())

    def get_config(self) -> dict:
        return {"shape": self.shape}

    spec_pattern = r"reshape(\d+(?:x\d+)*)"
    spec_usage = "reshapeAxBxC"

    @classmethod
    def from_spec(cls, match, input_shape, rng):
        dims = tuple(int(d) for d in match.group(1).split("x"))
        if min(dims) < 1:
            raise ValueError("the sizes of a reshape must be positive")
        return cls(dims)

    def spec_token(self) -> str:
        if -1 in self.shape:  # '-' separates tokens
            raise TypeError(f"{self!r}: a spec token holds no -1; give every size.")
        return "reshape" + "x".join(str(d) for d in self.shape)

    def to_onnx(self, b, xs, in_shape, label):
        """Reshape to (0, *shape): ONNX's 0 keeps the batch size as it is."""
        from onnx import numpy_helper

        # The builder's const() makes float32 tensors; Reshape's shape input
        # must be int64, so this one initializer is added directly.
        target = b.name(f"{label}.shape")
        b.initializers.append(
            numpy_helper.from_array(np.array([0, *self.shape], np.int64), target)
        )
        return b.node("Reshape", [xs[0], target], label)

    def to_torch(self):
        nn = torch_nn(self)
        # Unflatten splits one axis; the Flatten before it makes the whole
        # sample that axis. One module (without state), so that the indices
        # of the modules after it stay chainrule's.
        return nn.Sequential(nn.Flatten(), nn.Unflatten(1, self.shape))
