"""Max-pooling over NCHW images."""

from __future__ import annotations

import numpy as np

from ..functional.pooling import maxpool2d_backward, maxpool2d_forward
from ..interop.torch import torch_nn
from ..module import Module, as_float_array, runs_methods_of
from ..registry import register_layer
from ._checks import pair, require_image_shape


@register_layer
class MaxPool2D(Module):
    """Replace each kH x kW window by its maximum (the seeds' maxpool).

    Forward:  y[n, c, i, j] = max_{a < kH, b < kW} x[n, c, i sH + a, j sW + b]
    Backward: dx[n, c, i sH + a*, j sW + b*] += dy[n, c, i, j], where (a*, b*) is
              the window's winner; every other position gets 0.

    Tie rule: when a window holds its maximum more than once, the first position
    in row-major order wins and alone receives the gradient (as in PyTorch).
    Windows may overlap (stride < kernel_size); a pixel that wins several
    windows receives the sum of their gradients.

    Parameters
    ----------
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``kernel_size`` (non-overlapping windows).

    Shapes
    ------
    x : (N, C, H, W);  y : (N, C, (H - kH) // sH + 1, (W - kW) // sW + 1)

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> cr.layers.MaxPool2D(2)(x)[0, 0].tolist()
    [[5.0, 7.0], [13.0, 15.0]]
    """

    def __init__(self, kernel_size, stride=None) -> None:
        super().__init__()
        self.kernel_size = pair("MaxPool2D", "kernel_size", kernel_size)
        self.stride = pair(
            "MaxPool2D", "stride", kernel_size if stride is None else stride
        )

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_float_array(self, x)
        if x.ndim != 4:
            raise ValueError(
                f"{self!r}: input must have shape (batch, channels, height, width); "
                f"got {x.shape}."
            )
        kh, kw = self.kernel_size
        if x.shape[2] < kh or x.shape[3] < kw:
            raise ValueError(
                f"{self!r}: input of {x.shape[2]}x{x.shape[3]} pixels is smaller than "
                f"the {kh}x{kw} window."
            )
        y, winner = maxpool2d_forward(x, self.kernel_size, self.stride)
        self.keep_cache(winner)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        winner = self.take_cache()
        return maxpool2d_backward(dy, winner, self.kernel_size, self.stride)

    def forward_from_pool_order(self, x: np.ndarray) -> np.ndarray:
        """:meth:`forward` of an input in pool order (``functional/pooling.py``),
        shape (N, C, kH kW OH, OW), as ``Conv2D.forward_in_pool_order`` writes
        it. The output is the usual (N, C, OH, OW); backward then returns dx in
        pool order. A Sequential calls this when the layers allow it."""
        kh, kw = self.kernel_size
        if x.ndim != 4 or x.shape[2] % (kh * kw):
            raise ValueError(
                f"{self!r}: an input in pool order has shape (batch, channels, "
                f"{kh * kw} * height, width); got {x.shape}."
            )
        y, winner = maxpool2d_forward(x, self.kernel_size, self.stride, pool_order=True)
        self.keep_cache(winner)
        return y

    @property
    def takes_window_max(self) -> bool:
        """True: y is the maximum of each window and backward can run more
        than once on the same cache (it only reads the winners), so a
        Sequential may run an activation that ``commutes_with_max`` after
        this layer instead of before it. A subclass that changes forward or
        backward loses the property."""
        return runs_methods_of(self, MaxPool2D)

    @property
    def takes_pool_order(self) -> bool:
        """True when the windows tile (stride = kernel_size) and forward and
        backward are MaxPool2D's: a Sequential may then have the layer before
        write its output in pool order and call :meth:`forward_from_pool_order`."""
        return self.takes_window_max and self.stride == self.kernel_size

    def get_config(self) -> dict:
        return {"kernel_size": self.kernel_size, "stride": self.stride}

    spec_pattern = r"maxpool(\d+)(?:s(\d+))?"
    spec_usage = "maxpoolK[sS]"

    @classmethod
    def from_spec(cls, match, input_shape, rng):
        k = int(match.group(1))
        s = int(match.group(2) or k)
        if min(k, s) < 1:
            raise ValueError("pool size and stride must be positive")
        require_image_shape("MaxPool2D", input_shape)
        return cls(k, s)

    def spec_token(self) -> str:
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        if kh != kw or sh != sw:
            raise TypeError(f"{self!r}: a spec token holds square settings only.")
        return f"maxpool{kh}s{sh}"

    def to_onnx(self, b, xs, in_shape, label):
        return b.node(
            "MaxPool",
            xs,
            label,
            kernel_shape=list(self.kernel_size),
            strides=list(self.stride),
        )

    def to_torch(self):
        nn = torch_nn(self)
        return nn.MaxPool2d(self.kernel_size, stride=self.stride)
