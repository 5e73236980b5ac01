"""Transposed 2-D convolution: the adjoint of Conv2D, the decoder's upsampler."""

from __future__ import annotations

import numpy as np

from ..backend import DEFAULT_DTYPE
from ..functional.conv import col2im, im2col
from ..init import check_method, initialize
from ..interop.torch import torch_nn
from ..module import Module, as_float_array
from ..parameter import Parameter
from ..random import get_rng
from ..registry import register_layer
from ._checks import pair, positive_int, require_image_shape


def conv_transpose_output_size(
    size: int, kernel: int, stride: int, padding: int, output_padding: int
) -> int:
    """(size - 1) stride - 2 padding + kernel + output_padding, as in PyTorch."""
    return (size - 1) * stride - 2 * padding + kernel + output_padding


@register_layer
class ConvTranspose2D(Module):
    """A transposed convolution: each input pixel stamps a weighted kernel.

    Forward (the seeds' convolution read backwards: every input pixel is
    spread over a kH x kW patch of the output, patches placed ``stride``
    apart, overlaps added, then ``padding`` cropped from each side):
        y[s, oc, iS + i', jS + j'] += sum_ic x[s, ic, i, j] w[ic, oc, i', j']
        y[s, oc, :, :] += b[oc]
    Backward:
        dx[s, ic, i, j] = sum_{oc, i', j'} w[ic, oc, i', j'] dy[s, oc, iS + i', jS + j']
        dw[ic, oc, i', j'] = sum_{s, i, j} x[s, ic, i, j] dy[s, oc, iS + i', jS + j']
        db[oc] = sum_{s, i, j} dy[s, oc, i, j]
    (indices into y and dy before the padding is cropped).

    Read against :class:`Conv2D` with the same weight array viewed as a
    convolution from ``out_channels`` to ``in_channels``, the forward pass
    *is* Conv2D's input gradient, ``y = col2im(W.T @ x)``, and the input
    gradient *is* Conv2D's forward pass, ``dx = W @ im2col(dy)``: the two
    layers are each other's adjoint. The weight gradient is Conv2D's with the
    roles of x and dy swapped, ``dW = x @ im2col(dy).T``. Here ``W =
    weight.reshape(in_channels, -1)``.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size, stride : int or (int, int)
    padding : int or (int, int)
        Rows and columns cropped from each side of the full output (the
        padding of the Conv2D this layer is the adjoint of).
    output_padding : int or (int, int)
        Rows and columns added at the bottom and right, each smaller than the
        stride: picks among the input sizes that a strided Conv2D maps to the
        same output size.
    bias : bool
    rng : numpy.random.Generator or int, optional
    init : {"he", "he_uniform", "glorot", "glorot_normal", "zeros"}
        Fan-in counted as in_channels kH kW, the products summed into each
        output pixel at stride 1.

    Shapes
    ------
    x : (N, in_channels, H, W)
    y : (N, out_channels, OH, OW), OH = (H - 1) sH - 2 pH + kH + opH, likewise OW
    weight : (in_channels, out_channels, kH, kW), PyTorch's layout

    Raises
    ------
    ValueError
        For a bad argument, an output_padding not smaller than the stride,
        an input of the wrong shape, or an output with no pixels.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> up = cr.layers.ConvTranspose2D(16, 8, 4, stride=2, padding=1, rng=0)
    >>> up(np.zeros((2, 16, 7, 7), np.float32)).shape
    (2, 8, 14, 14)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        output_padding=0,
        bias: bool = True,
        rng=None,
        init: str = "he",
    ) -> None:
        super().__init__()
        who = "ConvTranspose2D"
        self.in_channels = positive_int(who, "in_channels", in_channels)
        self.out_channels = positive_int(who, "out_channels", out_channels)
        self.kernel_size = pair(who, "kernel_size", kernel_size)
        self.stride = pair(who, "stride", stride)
        self.padding = pair(who, "padding", padding, minimum=0)
        self.output_padding = pair(who, "output_padding", output_padding, minimum=0)
        if any(op >= s for op, s in zip(self.output_padding, self.stride)):
            raise ValueError(
                f"{who}: output_padding must be smaller than the stride "
                f"{self.stride} in each dimension; got {output_padding!r}."
            )
        self.init = check_method(who, init)
        shape = (self.in_channels, self.out_channels, *self.kernel_size)
        self.weight = Parameter(np.empty(shape, DEFAULT_DTYPE))
        self.bias = Parameter(np.empty(out_channels, DEFAULT_DTYPE)) if bias else None
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None) -> None:
        """Draw new weights with ``self.init`` and zero the bias, in place."""
        rng = get_rng(rng)
        # Drawn as an (out, in, kH, kW) weight so that the fan-in is
        # in_channels kH kW, then laid out as PyTorch's (in, out, kH, kW).
        ic, oc, kh, kw = self.weight.shape
        w = initialize((oc, ic, kh, kw), self.init, rng, self.weight.dtype)
        self.weight.data[...] = w.transpose(1, 0, 2, 3)
        self.weight.zero_grad()
        if self.bias is not None:
            self.bias.data[...] = 0
            self.bias.zero_grad()

    def _output_hw(self, x: np.ndarray) -> tuple[int, int]:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"{self!r}: input must have shape (batch, {self.in_channels}, height, "
                f"width); got {x.shape}."
            )
        oh, ow = (
            conv_transpose_output_size(x.shape[2 + d], *args)
            for d, args in enumerate(
                zip(self.kernel_size, self.stride, self.padding, self.output_padding)
            )
        )
        if oh < 1 or ow < 1:
            raise ValueError(
                f"{self!r}: input of {x.shape[2]}x{x.shape[3]} pixels gives an "
                f"output of {oh}x{ow}; the padding {self.padding} crops too much."
            )
        return oh, ow

    def static_output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """One sample's output shape, from the input's, computing nothing."""
        oh, ow = self._output_hw(np.broadcast_to(np.float32(0), (1, *shape)))
        return (self.out_channels, oh, ow)

    def forward(self, x: np.ndarray) -> np.ndarray:
        w = self.weight.data
        x = as_float_array(self, x, w.dtype)
        oh, ow = self._output_hw(x)
        n, ic = x.shape[:2]
        # Conv2D's input gradient with x in the place of dy: x laid out as
        # (in, H W N), sample last, the column order col2im takes.
        x_last = x.transpose(1, 2, 3, 0).reshape(ic, -1)
        cols = w.reshape(ic, -1).T @ x_last  # (out kH kW, H W N)
        y = col2im(
            cols,
            (n, self.out_channels, oh, ow),
            self.kernel_size,
            self.stride,
            self.padding,
        )
        if self.bias is not None:
            y += self.bias.data[:, None, None]
        self.keep_cache(x)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        x = self.take_cache()
        n, ic, h, w = x.shape
        # Every kH x kW window of the padded dy, one per input pixel (i, j):
        # the columns of Conv2D's forward pass, sample first.
        cols = im2col(dy, self.kernel_size, self.stride, self.padding)
        x_first = x.transpose(1, 0, 2, 3).reshape(ic, -1)  # (in, N H W)
        # dW[ic, (oc, i', j')] = sum over (s, i, j) of x * dy-window
        self.weight.accumulate((x_first @ cols.T).reshape(self.weight.shape))
        if self.bias is not None:
            self.bias.add_sum(dy, axis=(0, 2, 3))  # db = sum over s, i, j of dy
        if self.skip_input_grad:
            return None
        # dx = W @ cols: Conv2D's forward pass applied to dy.
        dx = self.weight.data.reshape(ic, -1) @ cols  # (in, N H W)
        return dx.reshape(ic, n, h, w).transpose(1, 0, 2, 3).copy()

    def get_config(self) -> dict:
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "padding": self.padding,
            "output_padding": self.output_padding,
            "bias": self.bias is not None,
        }

    spec_pattern = r"convt(\d+)x(\d+)(?:s(\d+))?(?:p(\d+))?(?:o(\d+))?"
    spec_usage = "convtCxK[sS][pP][oO]"

    @classmethod
    def from_spec(cls, match, input_shape, rng):
        require_image_shape("ConvTranspose2D", input_shape)
        c, k = int(match.group(1)), int(match.group(2))
        s, p = int(match.group(3) or 1), int(match.group(4) or 0)
        op = int(match.group(5) or 0)
        if min(c, k, s) < 1:
            raise ValueError("channels, kernel and stride must be positive")
        if op >= s:
            raise ValueError(f"output padding must be smaller than the stride {s}")
        return cls(
            input_shape[0], c, k, stride=s, padding=p, output_padding=op, rng=rng
        )

    def spec_token(self) -> str:
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        (ph, pw), (oh, ow) = self.padding, self.output_padding
        if kh != kw or sh != sw or ph != pw or oh != ow or self.bias is None:
            raise TypeError(f"{self!r}: a spec token holds square settings only.")
        return f"convt{self.out_channels}x{kh}s{sh}p{ph}" + (f"o{oh}" if oh else "")

    def to_onnx(self, b, xs, in_shape, label):
        """ConvTranspose, whose weight layout (in, out, kH, kW) is ours."""
        inputs = [xs[0], b.const(f"{label}.weight", self.weight.data, self.weight)]
        if self.bias is not None:
            inputs.append(b.const(f"{label}.bias", self.bias.data, self.bias))
        ph, pw = self.padding
        return b.node(
            "ConvTranspose",
            inputs,
            label,
            kernel_shape=list(self.kernel_size),
            strides=list(self.stride),
            pads=[ph, pw, ph, pw],
            output_padding=list(self.output_padding),
        )

    def to_torch(self):
        nn = torch_nn(self)
        return nn.ConvTranspose2d(
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            output_padding=self.output_padding,
            bias=self.bias is not None,
        )
