"""2-D convolution over NCHW images, computed as im2col + one matrix product."""

from __future__ import annotations

import numpy as np

from ..backend import DEFAULT_DTYPE
from ..functional.conv import (
    col2im,
    conv_output_size,
    im2col,
    im2col_batch_last,
    im2col_per_sample,
)
from ..init import check_method, reset_weight_and_bias
from ..interop.torch import torch_nn
from ..module import Module, as_float_array, runs_methods_of
from ..parameter import Parameter
from ..random import get_rng
from ..registry import register_layer
from ._checks import pair, positive_int, require_image_shape, window_output_size

# Below this many rows per column (C kH kW), e.g. the first layer on grey
# images, per-sample products beat one wide product (measured with
# benchmarks/speed.py on 2 cores; see functional/conv.py).
_PER_SAMPLE_BELOW = 64


@register_layer
class Conv2D(Module):
    """The seeds' multi-channel convolution (strictly, a cross-correlation).

    Forward:
        y[s, oc, i, j] = sum_{ic, i', j'} w[oc, ic, i', j'] x[s, ic, iS + i', jS + j'] + b[oc]
    Backward (seed 001, "Convolution (Back propagation 1, 2)"):
        dx[s, ic, iS + i', jS + j'] += sum_oc dy[s, oc, i, j] w[oc, ic, i', j']
        dw[oc, ic, i', j'] = sum_{s, i, j} dy[s, oc, i, j] x[s, ic, iS + i', jS + j']
        db[oc] = sum_{s, i, j} dy[s, oc, i, j]

    With ``cols = im2col(x)`` of shape (C kH kW, N OH OW), ``W =
    weight.reshape(OC, -1)`` and dy laid out as (OC, N OH OW), these are
    ``y = W @ cols``, ``dW = dy @ cols.T`` and ``dx = col2im(W.T @ dy)``.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size, stride : int or (int, int)
    padding : int or (int, int)
        Zeros added on each side of the height and width.
    bias : bool
    rng : numpy.random.Generator or int, optional
    init : {"he", "he_uniform", "glorot", "glorot_normal", "zeros"}

    Shapes
    ------
    x : (N, in_channels, H, W)
    y : (N, out_channels, OH, OW), OH = (H + 2 pH - kH) // sH + 1, likewise OW
    weight : (out_channels, in_channels, kH, kW)

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> conv = cr.layers.Conv2D(1, 16, 5, rng=0)
    >>> conv(np.zeros((2, 1, 28, 28), np.float32)).shape
    (2, 16, 24, 24)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        bias: bool = True,
        rng=None,
        init: str = "he",
    ) -> None:
        super().__init__()
        self.in_channels = positive_int("Conv2D", "in_channels", in_channels)
        self.out_channels = positive_int("Conv2D", "out_channels", out_channels)
        self.kernel_size = pair("Conv2D", "kernel_size", kernel_size)
        self.stride = pair("Conv2D", "stride", stride)
        self.padding = pair("Conv2D", "padding", padding, minimum=0)
        self.init = check_method("Conv2D", init)
        shape = (out_channels, in_channels, *self.kernel_size)
        self.weight = Parameter(np.empty(shape, DEFAULT_DTYPE))
        self.bias = Parameter(np.empty(out_channels, DEFAULT_DTYPE)) if bias else None
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None) -> None:
        """Draw new weights with ``self.init`` and zero the bias, in place."""
        reset_weight_and_bias(self.weight, self.bias, self.init, get_rng(rng))

    def _check_input(self, x: np.ndarray) -> tuple[int, int]:
        return window_output_size(
            self, x, self.kernel_size, self.stride, self.padding, self.in_channels
        )

    def static_output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """One sample's output shape, from the input's, computing nothing."""
        oh, ow = self._check_input(np.broadcast_to(np.float32(0), (1, *shape)))
        return (self.out_channels, oh, ow)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._forward(x, None)

    @property
    def _per_sample(self) -> bool:
        """Few rows per column (C kH kW), e.g. the first layer on grey
        images: N small products beat one wide product (functional/conv.py)."""
        return self.weight.size // self.out_channels < _PER_SAMPLE_BELOW

    def batch_last_possible(self) -> bool:
        """Whether :meth:`forward_batch_last` lays out its output differently
        from :meth:`forward`: this layer makes one wide product (many rows
        per column). It reads only the weight's shape."""
        return not self._per_sample

    def forward_batch_last(self, x: np.ndarray) -> np.ndarray:
        """The output of :meth:`forward`, the same (N, OC, OH, OW) array in
        value, held in batch-last memory (``functional/layout.py``)
        when :meth:`batch_last_possible`: the product's own order for columns
        taken sample last, so no copy puts it back in NCHW, and a max-pooling
        that follows compares runs of N numbers. ``Sequential`` calls it when
        the pooling comes next; :meth:`backward` then takes dy in either
        layout."""
        return self._forward(x, "batch last" if self.batch_last_possible() else None)

    def pool_order_possible(self, x: np.ndarray, window: tuple[int, int]) -> bool:
        """Whether :meth:`forward_in_pool_order` can run on ``x``: this layer
        makes per-sample products (few rows per column, e.g. the first layer
        on grey images, whose columns it lays out anyway) and ``window`` tiles
        its output exactly."""
        shape = np.shape(x)
        if len(shape) != 4:
            return False  # forward names the problem
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        oh = conv_output_size(shape[2], kh, sh, ph)
        ow = conv_output_size(shape[3], kw, sw, pw)
        return self._pool_order_fits(oh, ow, window)

    def _pool_order_fits(self, oh: int, ow: int, window: tuple[int, int]) -> bool:
        """Per-sample products, and a window that tiles the (OH, OW) output."""
        return (
            self._per_sample
            and oh > 0
            and ow > 0
            and oh % window[0] == 0
            and ow % window[1] == 0
        )

    def forward_in_pool_order(
        self, x: np.ndarray, window: tuple[int, int]
    ) -> np.ndarray:
        """The output of :meth:`forward` with its pixels in the pool order of a
        max-pooling of ``window`` that follows (``functional/pooling.py``):
        shape (N, OC, pK pL OH / pK, OW / pL). Its columns are laid out in
        that order, which costs about what the usual order does
        (``benchmarks/pool_order.py``); ``Sequential`` calls it when
        :meth:`pool_order_possible`, and :meth:`backward` then takes dy in the
        same order."""
        return self._forward(x, window)

    @property
    def orders_for_pool(self) -> bool:
        """True: a Sequential may call :meth:`forward_in_pool_order` or
        :meth:`forward_batch_last` in place of ``forward``. A subclass that
        changes forward or backward loses it."""
        return runs_methods_of(self, Conv2D)

    def _weight_columns(self) -> np.ndarray:
        """W as (OC, C kH kW), with the bias as one more column when there is
        one: [W | b] @ [cols; 1] = W @ cols + b, for columns with a row of
        ones. The bias then costs no pass over the output, and its gradient
        comes out of the weight gradient's product as that column."""
        w2 = self.weight.data.reshape(self.out_channels, -1)
        if self.bias is None:
            return w2
        return np.concatenate([w2, self.bias.data[:, None]], axis=1)

    def _accumulate_columns(self, g: np.ndarray) -> None:
        """dW (and db, its last column) from the product of dy with columns
        that carry a row of ones (see :meth:`_weight_columns`)."""
        k = self.weight.size // self.out_channels
        self.weight.accumulate(g[:, :k].reshape(self.weight.shape))
        if self.bias is not None:
            self.bias.accumulate(g[:, k])

    def _forward(self, x: np.ndarray, layout) -> np.ndarray:
        """forward with the output in one of three layouts: ``layout`` None
        (NCHW), a pooling window (pool order, per-sample products only) or
        "batch last" (wide products only)."""
        w = self.weight.data
        x = as_float_array(self, x, w.dtype)
        oh, ow = self._check_input(x)
        n, oc = x.shape[0], self.out_channels
        has_bias = self.bias is not None
        args = (self.kernel_size, self.stride, self.padding)
        if layout == "batch last":
            # (OC, C kH kW [+ 1]) @ (C kH kW [+ 1], OH OW N): the result is the
            # output in batch-last memory, read through an NCHW view.
            cols = im2col_batch_last(x, *args, ones_row=has_bias)
            y2 = self._weight_columns() @ cols
            self.keep_cache((cols, x.shape, layout))
            return np.moveaxis(y2.reshape(oc, oh, ow, n), -1, 0)
        if layout is not None and not self._pool_order_fits(oh, ow, layout):
            raise ValueError(
                f"{self!r}: cannot write pool order for a {layout[0]}x{layout[1]} "
                f"window here (output {oh}x{ow}); ask pool_order_possible first."
            )
        if self._per_sample:
            # Few rows per column: N small products, already NCHW (or in pool
            # order), with the bias as one more weight column.
            cols = im2col_per_sample(x, *args, ones_row=has_bias, pool_window=layout)
            y = np.matmul(self._weight_columns(), cols)
        else:
            # One product for the whole batch: (OC, C kH kW) @ (C kH kW, N OH OW),
            # then back to NCHW adding the bias on the way (one pass, not two).
            cols = im2col(x, *args)
            y2 = w.reshape(oc, -1) @ cols
            y = np.empty((n, oc, oh * ow), dtype=y2.dtype)
            by_sample = y2.reshape(oc, n, oh * ow).transpose(1, 0, 2)
            if has_bias:
                np.add(by_sample, self.bias.data[:, None], out=y)
            else:
                np.copyto(y, by_sample)
        self.keep_cache((cols, x.shape, layout))
        if layout is not None:
            return y.reshape(n, oc, oh * layout[1], ow // layout[1])
        return y.reshape(n, oc, oh, ow)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        cols, x_shape, layout = self.take_cache()
        n, oc = dy.shape[:2]
        if layout == "batch last":
            # Columns sample last: dy in that order is a view when dy came
            # in batch-last memory (from a pooling that read it so), else a copy.
            dy_last = dy.transpose(1, 2, 3, 0).reshape(oc, -1)
            self._accumulate_columns((cols @ dy_last.T).T)
        elif cols.ndim == 3:  # per-sample columns (N, C kH kW [+ 1], OH OW)
            # [dW | db] = sum over samples of dy[s] @ cols[s].T. (In pool
            # order dy and the columns list the pixels alike.)
            dy3 = dy.reshape(n, oc, dy.shape[2] * dy.shape[3])  # sizes given: n may be 0
            self._accumulate_columns(
                np.matmul(dy3, cols.transpose(0, 2, 1)).sum(axis=0)
            )
        else:
            # dy in the column order of the forward product: (OC, N OH OW).
            dy3 = dy.reshape(n, oc, dy.shape[2] * dy.shape[3])  # sizes given: n may be 0
            dy2 = dy3.transpose(1, 0, 2).reshape(oc, -1)
            # dW = dy @ cols.T, computed as (cols @ dy.T).T: OpenBLAS runs this
            # orientation of the product (long side first) markedly faster.
            self.weight.accumulate((cols @ dy2.T).T.reshape(self.weight.shape))
            if self.bias is not None:
                self.bias.add_sum(dy3, axis=(0, 2))  # db = sum over s, i, j of dy
        if self.skip_input_grad:
            return None
        # dx = col2im(W.T @ dy), with dy's columns sample-last for col2im:
        # (OC, OH, OW, N), read from pool order (OC, pK, pL, I, J) if need be
        # (and already made in the batch-last case).
        if layout is None:
            dy_last = dy.transpose(1, 2, 3, 0).reshape(oc, -1)
        elif layout != "batch last":
            dy6 = dy.reshape(n, oc, *layout, dy.shape[2] // (layout[0] * layout[1]), dy.shape[3])
            dy_last = dy6.transpose(1, 4, 2, 5, 3, 0).reshape(oc, -1)
        dcols = self.weight.data.reshape(oc, -1).T @ dy_last
        return col2im(dcols, x_shape, self.kernel_size, self.stride, self.padding)

    def get_config(self) -> dict:
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "padding": self.padding,
            "bias": self.bias is not None,
        }

    spec_pattern = r"conv(\d+)x(\d+)(?:s(\d+))?(?:p(\d+))?"
    spec_usage = "convCxK[sS][pP]"

    @classmethod
    def from_spec(cls, match, input_shape, rng):
        require_image_shape("Conv2D", input_shape)
        c, k = int(match.group(1)), int(match.group(2))
        s, p = int(match.group(3) or 1), int(match.group(4) or 0)
        if min(c, k, s) < 1:
            raise ValueError("channels, kernel and stride must be positive")
        return cls(input_shape[0], c, k, stride=s, padding=p, rng=rng)

    def spec_token(self) -> str:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        if kh != kw or sh != sw or ph != pw or self.bias is None:
            raise TypeError(f"{self!r}: a spec token holds square settings only.")
        return f"conv{self.out_channels}x{kh}s{sh}p{ph}"

    def to_onnx(self, b, xs, in_shape, label):
        inputs = [xs[0], b.const(f"{label}.weight", self.weight.data, self.weight)]
        if self.bias is not None:
            inputs.append(b.const(f"{label}.bias", self.bias.data, self.bias))
        ph, pw = self.padding
        return b.node(
            "Conv",
            inputs,
            label,
            kernel_shape=list(self.kernel_size),
            strides=list(self.stride),
            pads=[ph, pw, ph, pw],
        )

    def to_torch(self):
        nn = torch_nn(self)
        return nn.Conv2d(
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            bias=self.bias is not None,
        )
