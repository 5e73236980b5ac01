"""Batch normalisation: each channel standardised over the batch, then scaled
and shifted by trainable weights; running statistics for inference."""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import fast
from .._deferred import current as deferred_budget
from ..backend import DEFAULT_DTYPE
from ..interop.torch import torch_nn
from ..module import Module, as_float_array
from ..parameter import Parameter
from ..registry import register_layer
from ._checks import positive_int, probability


class _BatchNorm(Module):
    """The shared body of BatchNorm1D and BatchNorm2D (they differ in the axes
    a channel's statistics are taken over)."""

    #: The axes of one channel's values: (0,) for (N, C), (0, 2, 3) for NCHW.
    _axes: tuple[int, ...] = (0,)
    _shape_text = "(batch, C)"
    _sample_text = "(features,)"

    def __init__(
        self, num_features: int, eps: float = 1e-5, momentum: float = 0.1
    ) -> None:
        super().__init__()
        who = type(self).__name__
        self.num_features = positive_int(who, "num_features", num_features)
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not 0 < eps < math.inf:
            raise ValueError(f"{who}: eps must be a positive finite number; got {eps!r}.")
        self.eps = float(eps)
        self.momentum = probability(who, "momentum", momentum, high_open=False)
        # Allocated empty, then filled: while a model file is loaded
        # (chainrule._deferred) the parameters are first counted against what
        # the file holds, so a forged BatchNorm2D(10**9) is refused before
        # anything is written, and the file's arrays fill them instead.
        self.weight = Parameter(np.empty(num_features, DEFAULT_DTYPE))
        self.bias = Parameter(np.empty(num_features, DEFAULT_DTYPE))
        self.register_buffer("running_mean", np.empty(num_features, DEFAULT_DTYPE))
        self.register_buffer("running_var", np.empty(num_features, DEFAULT_DTYPE))
        self.register_buffer("num_batches_tracked", np.zeros((), np.int64))
        if deferred_budget() is None:
            self.reset_parameters()
            self.reset_running_stats()

    def reset_parameters(self, rng=None) -> None:  # noqa: ARG002 - no randomness
        """weight = 1, bias = 0 (the identity until trained), in place."""
        self.weight.data[...] = 1
        self.bias.data[...] = 0

    def reset_running_stats(self) -> None:
        """running_mean = 0, running_var = 1, num_batches_tracked = 0."""
        self.running_mean[...] = 0
        self.running_var[...] = 1
        self.num_batches_tracked[...] = 0

    def _channel(self, a: np.ndarray, x: np.ndarray) -> np.ndarray:
        """A per-channel vector shaped to broadcast against ``x``.

        For images it is spread over one sample's (C, H, W) (a copy of C H W
        numbers): broadcast from (C, 1, 1), NumPy's loop would restart for
        every row of every channel of every sample, and an operation on a
        (64, 16, 24, 24) batch took 106 us against 64 us with the spread
        vector, which leaves one long run per sample.
        """
        if x.ndim == 2:
            return a
        return np.ascontiguousarray(np.broadcast_to(a[:, None, None], x.shape[1:]))

    def _check_input(self, x: np.ndarray) -> None:
        want = 2 if self._axes == (0,) else 4
        if x.ndim != want or x.shape[1] != self.num_features:
            raise ValueError(
                f"{self!r}: input must have shape "
                f"{self._shape_text.replace('C', str(self.num_features))}; got "
                f"{x.shape}."
            )

    def forward(self, x: np.ndarray) -> np.ndarray:
        w = self.weight.data
        x = as_float_array(self, x, w.dtype)
        self._check_input(x)
        compiled = fast.kernels(x.dtype)  # the [fast] extra's fused passes, if enabled
        if self.training and compiled is not None:
            return self._compiled_forward(compiled, x)
        if self.training:
            n = x.size // self.num_features  # values per channel
            self._check_batch(n, x.shape)
            mean = _channel_sums(x) / n
            xc = x - self._channel(mean, x)
            var = _channel_dots(xc, xc) / n  # biased: the batch's own variance
            self._update_running_stats(mean, var, n)
        else:
            xc = x - self._channel(self.running_mean, x)
            var = self.running_var
        inv_std = (1.0 / np.sqrt(var + self.eps)).astype(w.dtype, copy=False)
        # y = xhat w + b = xc (w inv_std) + b: one product per value, and
        # backward reads xhat's terms off xc (keep xc, not xhat: no extra pass).
        y = xc * self._channel(w * inv_std, x)
        y += self._channel(self.bias.data, x)
        self.keep_cache((xc, inv_std, self.training))
        return y

    def _check_batch(self, n: int, shape) -> None:
        if n < 2:
            raise ValueError(
                f"{self!r}: training needs more than one value per channel to "
                f"take batch statistics; got input of shape {shape}. Use "
                "eval() for single samples."
            )

    def _update_running_stats(self, mean, var, n: int) -> None:
        # PyTorch's convention: new = (1 - momentum) old + momentum batch,
        # with the unbiased variance n / (n - 1) var in the running one.
        m = self.momentum
        self.running_mean *= 1 - m
        self.running_mean += m * mean
        self.running_var *= 1 - m
        self.running_var += (m * n / (n - 1)) * var
        self.num_batches_tracked += 1

    def _compiled_forward(self, compiled, x: np.ndarray) -> np.ndarray:
        """Training forward with the [fast] kernels: the same formulas, three
        passes over x (sums; xc and its squares; y) instead of five."""
        w = self.weight.data
        n = x.size // self.num_features
        self._check_batch(n, x.shape)
        x3 = np.ascontiguousarray(x).reshape(x.shape[0], self.num_features, -1)
        mean = (compiled.channel_sums(x3) / n).astype(w.dtype)
        xc3 = np.empty_like(x3)
        squares = compiled.channel_centre(x3, mean, xc3)
        var = (squares / n).astype(w.dtype)
        self._update_running_stats(mean, var, n)
        inv_std = (1.0 / np.sqrt(var + self.eps)).astype(w.dtype, copy=False)
        y = np.empty_like(x3)
        compiled.channel_affine(xc3, w * inv_std, self.bias.data, y)
        self.keep_cache((xc3.reshape(x.shape), inv_std, True))
        return y.reshape(x.shape)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        xc, inv_std, batch_stats = self.take_cache()
        compiled = fast.kernels(xc.dtype) if batch_stats else None
        if compiled is not None:  # the [fast] extra: one pass for both sums
            dy3 = np.ascontiguousarray(dy).reshape(xc.shape[0], self.num_features, -1)
            xc3 = xc.reshape(dy3.shape)
            sums, dots = compiled.channel_sum_and_dot(dy3, xc3)
            dbias, dots = sums.astype(dy.dtype), dots.astype(dy.dtype)
        else:
            dbias, dots = _channel_sums(dy), _channel_dots(dy, xc)
        dweight = dots * inv_std  # sum of dy xhat, xhat = xc inv_std
        self.weight.accumulate(dweight)
        self.bias.accumulate(dbias)
        if self.skip_input_grad:
            return None
        scale = self.weight.data * inv_std
        if not batch_stats:  # running statistics are constants: y is affine in x
            return dy * self._channel(scale, dy)
        # mean and variance depend on every x of the channel: with n values,
        # mean_B(dy) = dbias / n and mean_B(dy xhat) = dweight / n, so
        # dx = scale (dy - dbias / n - xhat dweight / n)
        #    = scale dy - (scale inv_std dweight / n) xc - scale dbias / n,
        # per-channel coefficients on dy and xc.
        n = dy.size // self.num_features
        if compiled is not None:
            on_xc, shift = scale * inv_std * dweight / n, scale * dbias / n
            dx = np.empty_like(dy3)
            compiled.batchnorm_dx(dy3, xc3, scale, on_xc, shift, dx)
            return dx.reshape(dy.shape)
        dx = dy * self._channel(scale, dy)
        dx -= xc * self._channel(scale * inv_std * dweight / n, dy)
        dx -= self._channel(scale * dbias / n, dy)
        return dx

    def get_config(self) -> dict:
        return {
            "num_features": self.num_features,
            "eps": self.eps,
            "momentum": self.momentum,
        }

    @classmethod
    def from_spec(cls, match, input_shape, rng):
        want = 1 if cls._axes == (0,) else 3
        if len(input_shape) != want:
            raise ValueError(
                f"{cls.__name__} needs {cls._sample_text} input; the shape here is "
                f"{input_shape}"
            )
        return cls(input_shape[0])

    def spec_token(self) -> str:
        if (self.eps, self.momentum) != (1e-5, 0.1):
            raise TypeError(
                f"{self!r}: the spec token {self.spec_pattern!r} means the default "
                "eps and momentum."
            )
        return self.spec_pattern

    def to_onnx(self, b, xs, in_shape, label):
        """BatchNormalization in inference mode: the running statistics."""
        inputs = [
            xs[0],
            b.const(f"{label}.weight", self.weight.data, self.weight),
            b.const(f"{label}.bias", self.bias.data, self.bias),
            b.const(f"{label}.running_mean", self.running_mean),
            b.const(f"{label}.running_var", self.running_var),
        ]
        return b.node("BatchNormalization", inputs, label, epsilon=self.eps)


def _rows(a: np.ndarray) -> np.ndarray:
    """(N, C, H, W) as (N C, H W): one row per sample and channel."""
    return a.reshape(a.shape[0] * a.shape[1], -1)


def _channel_sums(a: np.ndarray) -> np.ndarray:
    """sum of a over every axis but the channel axis 1.

    For images, einsum's contraction of the (N, C, H W) view: 3x faster on
    these shapes than summing contiguous rows then samples, and NumPy's
    reduction over axes (0, 2, 3) at once is slower still. (Not a BLAS
    matrix-vector product with ones: on a busy machine its threads wait for
    each other.)
    """
    if a.ndim == 2:
        return a.sum(axis=0)
    return np.einsum("ncl->c", a.reshape(a.shape[0], a.shape[1], -1))


def _channel_dots(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """sum of a * b over every axis but the channel axis, without the
    product as a temporary array (einsum's row-wise dot products)."""
    if a.ndim == 2:
        return np.einsum("nc,nc->c", a, b)
    return np.einsum("ij,ij->i", _rows(a), _rows(b)).reshape(a.shape[:2]).sum(axis=0)


@register_layer
class BatchNorm1D(_BatchNorm):
    """Batch normalisation of (N, C) features, as ``torch.nn.BatchNorm1d``.

    Training, per channel c over the batch of n values (biased variance):
        mu = mean(x),  var = mean((x - mu)^2),  xhat = (x - mu) / sqrt(var + eps)
        y = weight xhat + bias
        running_mean = (1 - momentum) running_mean + momentum mu
        running_var = (1 - momentum) running_var + momentum var n / (n - 1)
    Eval: the same with mu, var = running_mean, running_var.

    Backward (training), every x of a channel moving mu and var too:
        dweight = sum(dy xhat),  dbias = sum(dy)
        dx = weight / sqrt(var + eps) (dy - mean(dy) - xhat mean(dy xhat))
    The two subtracted terms are the paths through mu and var: d xhat_i / d x_j =
    (delta_ij - 1/n - xhat_i xhat_j / n) / sqrt(var + eps). In eval mode the
    statistics are constants and dx = weight dy / sqrt(var + eps).

    Parameters
    ----------
    num_features : int
        C, the number of channels.
    eps : float
        Added to the variance, so that a constant channel does not divide by 0.
    momentum : float in [0, 1]
        Weight of the newest batch in the running statistics (PyTorch's
        convention: 0.1 keeps 90% of the old value).

    Attributes
    ----------
    weight, bias : Parameter of shape (C,)
        gamma and beta, starting at 1 and 0.
    running_mean, running_var : buffer of shape (C,)
    num_batches_tracked : buffer, 0-d int64

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> bn = cr.layers.BatchNorm1D(2)
    >>> y = bn(np.array([[1.0, 10.0], [3.0, 30.0]]))
    >>> np.round(y, 3).tolist()
    [[-1.0, -1.0], [1.0, 1.0]]
    >>> np.round(bn.running_mean.astype(float), 6).tolist(), int(bn.num_batches_tracked)
    ([0.2, 2.0], 1)
    """

    _axes = (0,)
    _shape_text = "(batch, C)"
    spec_pattern = "batchnorm1d"
    spec_usage = "batchnorm1d"

    def to_torch(self):
        nn = torch_nn(self)
        return nn.BatchNorm1d(self.num_features, eps=self.eps, momentum=self.momentum)


@register_layer
class BatchNorm2D(_BatchNorm):
    """Batch normalisation of NCHW images per channel, as ``torch.nn.BatchNorm2d``.

    The formulas of :class:`BatchNorm1D`, with each channel's statistics taken
    over the batch and every pixel: n = N H W values per channel.

    Parameters
    ----------
    num_features : int
        C, the number of channels.
    eps : float
    momentum : float in [0, 1]

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> bn = cr.layers.BatchNorm2D(3)
    >>> y = bn(np.random.default_rng(0).standard_normal((4, 3, 5, 5)))
    >>> bool(np.abs(y.mean(axis=(0, 2, 3))).max() < 1e-6)
    True
    """

    _axes = (0, 2, 3)
    # Per-channel statistics over every pixel: the pixels' order within a
    # channel does not matter (see Sequential.forward).
    commutes_with_pixel_order = True
    _shape_text = "(batch, C, height, width)"
    _sample_text = "(channels, height, width)"
    spec_pattern = "batchnorm2d"
    spec_usage = "batchnorm2d"

    def to_torch(self):
        nn = torch_nn(self)
        return nn.BatchNorm2d(self.num_features, eps=self.eps, momentum=self.momentum)
