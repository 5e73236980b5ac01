"""Average pooling over NCHW images."""

from __future__ import annotations

import numpy as np

from ..interop.torch import torch_nn
from ..module import Module, as_float_array
from ..registry import register_layer
from ._checks import pair, require_image_shape, window_output_size


@register_layer
class AvgPool2D(Module):
    """Replace each kH x kW window by its mean.

    Forward:  y[n, c, i, j] = 1/(kH kW) sum_{a < kH, b < kW} xp[n, c, i sH + a, j sW + b]
    Backward: dxp[n, c, i sH + a, j sW + b] += dy[n, c, i, j] / (kH kW) for every
              (a, b) of the window; dx is dxp with the padding cropped.

    ``xp`` is x with ``padding`` zeros on each side. The zeros count in the
    mean (every window divides by kH kW), as PyTorch's default
    ``count_include_pad=True`` does. Unlike MaxPool2D, every pixel of a window
    receives an equal share of its gradient: the layer is linear, the
    convolution of each channel with a constant kernel 1/(kH kW).

    Parameters
    ----------
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``kernel_size`` (windows that tile the image).
    padding : int or (int, int)
        Zeros added on each side; at most half the kernel, as in PyTorch, so
        that no window lies wholly in the padding.

    Shapes
    ------
    x : (N, C, H, W);  y : (N, C, OH, OW), OH = (H + 2 pH - kH) // sH + 1, likewise OW

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> cr.layers.AvgPool2D(2)(x)[0, 0].tolist()
    [[2.5, 4.5], [10.5, 12.5]]
    """

    def __init__(self, kernel_size, stride=None, padding=0) -> None:
        super().__init__()
        self.kernel_size = pair("AvgPool2D", "kernel_size", kernel_size)
        self.stride = pair(
            "AvgPool2D", "stride", kernel_size if stride is None else stride
        )
        self.padding = pair("AvgPool2D", "padding", padding, minimum=0)
        if any(p > k // 2 for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(
                f"AvgPool2D: padding must be at most half the kernel size "
                f"{self.kernel_size}; got {padding!r}."
            )

    def _offsets(self, oh: int, ow: int):
        """For each (a, b) of the window, the slice of the padded image whose
        element (i, j) is the window (i, j)'s pixel (a, b)."""
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        for a in range(kh):
            for b in range(kw):
                yield (..., slice(a, a + sh * oh, sh), slice(b, b + sw * ow, sw))

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_float_array(self, x)
        oh, ow = window_output_size(
            self, x, self.kernel_size, self.stride, self.padding, window="window"
        )
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        n, c, h, w = x.shape
        if ph or pw:
            xp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
            xp[:, :, ph : ph + h, pw : pw + w] = x
        else:
            xp = x
        # A sum of kH kW strided views, each the size of y: no copy of the
        # windows, and no loop over pixels.
        y = np.zeros((n, c, oh, ow), dtype=x.dtype)
        for window in self._offsets(oh, ow):
            y += xp[window]
        y *= 1.0 / (kh * kw)
        self.keep_cache(x.shape)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        n, c, h, w = self.take_cache()
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        share = dy * (1.0 / (kh * kw))
        # Overlapping windows (stride < kernel) add into a shared pixel.
        dxp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=dy.dtype)
        for window in self._offsets(*dy.shape[2:]):
            dxp[window] += share
        if ph or pw:
            return dxp[:, :, ph : ph + h, pw : pw + w].copy()
        return dxp

    def get_config(self) -> dict:
        return {
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "padding": self.padding,
        }

    spec_pattern = r"avgpool(\d+)(?:s(\d+))?(?:p(\d+))?"
    spec_usage = "avgpoolK[sS][pP]"

    @classmethod
    def from_spec(cls, match, input_shape, rng):
        k = int(match.group(1))
        s, p = int(match.group(2) or k), int(match.group(3) or 0)
        if min(k, s) < 1:
            raise ValueError("pool size and stride must be positive")
        if p > k // 2:
            raise ValueError(f"padding must be at most half the pool size {k}")
        require_image_shape("AvgPool2D", input_shape)
        return cls(k, s, p)

    def spec_token(self) -> str:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        if kh != kw or sh != sw or ph != pw:
            raise TypeError(f"{self!r}: a spec token holds square settings only.")
        return f"avgpool{kh}s{sh}p{ph}"

    def to_onnx(self, b, xs, in_shape, label):
        """AveragePool, the padding's zeros counted in the mean."""
        ph, pw = self.padding
        return b.node(
            "AveragePool",
            xs,
            label,
            kernel_shape=list(self.kernel_size),
            strides=list(self.stride),
            pads=[ph, pw, ph, pw],
            count_include_pad=1,
        )

    def to_torch(self):
        nn = torch_nn(self)
        return nn.AvgPool2d(self.kernel_size, stride=self.stride, padding=self.padding)
