"""The leaky rectifier, ReLU with a small slope for negative inputs."""

from __future__ import annotations

import numpy as np

from .._checks import real
from ..interop.torch import torch_nn
from ..module import Module, as_float_array
from ..registry import register_layer


@register_layer
class LeakyReLU(Module):
    """The leaky rectifier: x for x > 0, a small slope a times x otherwise.

    Forward:  y = x where x > 0, else a x        (a = negative_slope)
    Backward: dx = dy where x > 0, else a dy. At x = 0 the slope a is used,
              as in PyTorch. Unlike ReLU, a unit with negative input still
              passes a gradient, so it cannot die.

    Parameters
    ----------
    negative_slope : float
        The slope a for x <= 0 (PyTorch's default 0.01).

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> cr.layers.LeakyReLU(0.1)(np.array([[-2.0, 3.0]])).tolist()
    [[-0.2, 3.0]]
    """

    commutes_with_pixel_order = True  # elementwise (see Sequential.forward)

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = real("LeakyReLU", "negative_slope", negative_slope)

    def forward(self, x):
        x = as_float_array(self, x)
        # Keep the mask, not y: with a negative slope y > 0 does not say x > 0.
        positive = x > 0
        self.keep_cache(positive)
        return np.where(positive, x, x * np.asarray(self.negative_slope, x.dtype))

    def backward(self, dy):
        positive = self.take_cache()
        return np.where(positive, dy, dy * np.asarray(self.negative_slope, dy.dtype))

    def get_config(self) -> dict:
        return {"negative_slope": self.negative_slope}

    spec_pattern = r"leakyrelu(\d*\.?\d+)?"
    spec_usage = "leakyrelu[A]"

    @classmethod
    def from_spec(cls, match, input_shape, rng):
        return cls() if match.group(1) is None else cls(float(match.group(1)))

    def spec_token(self) -> str:
        if self.negative_slope < 0:  # '-' separates tokens
            raise TypeError(f"{self!r}: a spec token holds no negative slope.")
        # Positional digits: an exponent such as 1e-05 would hold a '-'.
        return "leakyrelu" + np.format_float_positional(self.negative_slope, trim="-")

    def to_onnx(self, b, xs, in_shape, label):
        return b.node("LeakyRelu", xs, label, alpha=self.negative_slope)

    def to_torch(self):
        nn = torch_nn(self)
        return nn.LeakyReLU(self.negative_slope)
