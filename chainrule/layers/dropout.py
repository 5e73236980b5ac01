"""Inverted dropout."""

from __future__ import annotations

import numpy as np

from ..interop.torch import torch_nn
from ..module import Module, as_float_array
from ..random import get_rng
from ..registry import register_layer
from ._checks import probability


@register_layer
class Dropout(Module):
    """Zero each value with probability ``p`` in training; identity in eval mode.

    Forward (training):  m ~ Bernoulli(1 - p);  y = x * m / (1 - p)
    Forward (eval):      y = x
    Backward:            dx = dy * m / (1 - p)

    Scaling by 1/(1 - p) during training ("inverted" dropout) keeps the expected
    activation unchanged, so nothing needs rescaling at inference.

    Parameters
    ----------
    p : float in [0, 1)
        Probability of dropping a value.
    rng : numpy.random.Generator or int, optional
        Source of the masks; defaults to the generator of ``cr.seed``, read at
        each forward so that a seed set later still takes effect.

    Attributes
    ----------
    mask : ndarray of bool or None
        Set it to fix the mask (tests, gradient checks): every training forward
        then uses it instead of drawing one. Its shape must match the input's.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> d = cr.layers.Dropout(0.5)
    >>> d.mask = np.array([[True, False]])
    >>> d(np.array([[1.0, 1.0]])).tolist()
    [[2.0, 0.0]]
    """

    def __init__(self, p: float = 0.5, rng=None) -> None:
        super().__init__()
        self.p = probability("Dropout", "p", p)
        self.rng = None if rng is None else get_rng(rng)
        self.mask: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        # Integers or booleans as floats, as every layer takes them: the
        # 1 / (1 - p) scaling cannot be held in an integer.
        x = as_float_array(self, x)
        if not self.training or self.p == 0.0:
            self.keep_cache(_IDENTITY)
            return x
        if self.mask is not None:
            if self.mask.shape != x.shape:
                raise ValueError(
                    f"{self!r}: the fixed mask has shape {self.mask.shape} but the "
                    f"input has shape {x.shape}."
                )
            keep = self.mask
        else:
            keep = get_rng(self.rng).random(x.shape, dtype=np.float32) >= self.p
        scale = np.asarray(1.0 / (1.0 - self.p), dtype=x.dtype)
        # One multiplier array for forward and backward: m / (1 - p).
        factor = keep * scale
        self.keep_cache(factor)
        return x * factor

    def backward(self, dy: np.ndarray) -> np.ndarray:
        factor = self.take_cache()
        if factor is _IDENTITY:
            return dy
        return dy * factor

    @property
    def last_mask(self) -> np.ndarray | None:
        """The keep-mask of the last training forward (while its cache lives);
        None after an identity forward (eval mode or p = 0)."""
        if isinstance(self.cache, np.ndarray):
            return self.cache != 0
        return None

    def get_config(self) -> dict:
        return {"p": self.p}

    def freeze_randomness(self) -> None:
        """Hold the mask of the last training forward (see ``mask``)."""
        if self.training and self.last_mask is not None:
            self.mask = self.last_mask

    spec_pattern = r"dropout(\d*\.?\d+)"
    spec_usage = "dropoutP"

    @classmethod
    def from_spec(cls, match, input_shape, rng):
        p = float(match.group(1))
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability must be in [0, 1); got {p}")
        return cls(p)

    def spec_token(self) -> str:
        return f"dropout{self.p:g}"

    def to_onnx(self, b, xs, in_shape, label):
        return xs[0]  # the exported graph is the inference graph: the identity

    def to_torch(self):
        nn = torch_nn(self)
        return nn.Dropout(self.p)


# A marker cache: the forward was the identity, so is the backward.
_IDENTITY = object()
