"""Max-pooling over NCHW images."""

from __future__ import annotations

import numpy as np

from ..functional.pooling import maxpool2d_backward, maxpool2d_forward
from ..module import Module, as_float_array
from ._checks import pair


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
        self._keep(winner)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        winner = self._take_cache()
        return maxpool2d_backward(dy, winner, self.kernel_size, self.stride)

    def get_config(self) -> dict:
        return {"kernel_size": self.kernel_size, "stride": self.stride}
