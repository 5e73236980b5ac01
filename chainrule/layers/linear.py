"""Linear (fully connected) layer: y = x W^T + b."""

from __future__ import annotations

import numpy as np

from ..backend import DEFAULT_DTYPE
from ..init import check_method, reset_weight_and_bias
from ..interop.torch import torch_nn
from ..module import Module, as_float_array
from ..parameter import Parameter
from ..random import get_rng
from ..registry import register_layer
from ._checks import positive_int


@register_layer
class Linear(Module):
    """A fully connected layer, the seeds' y_i = sum_j W_ij x_j + b_i.

    Forward:  y = x @ weight.T + bias
    Backward: dx = dy @ weight;  dweight += dy.T @ x;  dbias += dy.sum(axis=0)

    Parameters
    ----------
    in_features, out_features : int
        Sizes of each input and output sample.
    bias : bool
        Whether to add the bias unit's weights ``b`` (the seeds' bias neuron).
    rng : numpy.random.Generator or int, optional
        Source of the initial weights; defaults to the generator of ``cr.seed``.
    init : {"he", "he_uniform", "glorot", "glorot_normal", "zeros"}
        Weight initialisation; "he" (default) suits ReLU, "glorot" sigmoid/tanh.
        The bias starts at zero.

    Shapes
    ------
    x : (N, in_features), or (N, ..., in_features)
    y : (N, out_features), or (N, ..., out_features)

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> layer = cr.layers.Linear(3, 2, rng=0)
    >>> layer(np.ones((4, 3), dtype=np.float32)).shape
    (4, 2)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        rng=None,
        init: str = "he",
    ) -> None:
        super().__init__()
        self.in_features = positive_int("Linear", "in_features", in_features)
        self.out_features = positive_int("Linear", "out_features", out_features)
        self.init = check_method("Linear", init)
        # weight is (out, in) as in the seeds and PyTorch, stored column-major:
        # weight.T is then a row-major (in, out) matrix, and OpenBLAS runs
        # x @ weight.T and the weight gradient's product about a quarter
        # faster at small batches than with a row-major weight (measured with
        # benchmarks/profile_step.py).
        self.weight = Parameter(np.empty((in_features, out_features), DEFAULT_DTYPE).T)
        self.bias = Parameter(np.empty(out_features, DEFAULT_DTYPE)) if bias else None
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None) -> None:
        """Draw new weights with ``self.init`` and zero the bias, in place."""
        reset_weight_and_bias(self.weight, self.bias, self.init, get_rng(rng))

    def forward(self, x: np.ndarray) -> np.ndarray:
        w = self.weight.data
        x = as_float_array(self, x, w.dtype)
        if x.ndim < 2 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"{self!r}: input must have shape (batch, {self.in_features}); got "
                f"{x.shape}."
                + (
                    " A single sample needs a batch axis: x[None]."
                    if x.ndim == 1
                    else ""
                )
            )
        x2 = x if x.ndim == 2 else x.reshape(-1, self.in_features)
        y = x2 @ w.T
        if self.bias is not None:
            y += self.bias.data
        self.keep_cache((x2, x.shape))
        return y if x.ndim == 2 else y.reshape(*x.shape[:-1], self.out_features)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        x2, x_shape = self.take_cache()
        dy2 = dy.reshape(-1, self.out_features)
        self.weight.add_matmul(dy2.T, x2)  # dweight += dy.T @ x (as x.T @ dy)
        if self.bias is not None:
            self.bias.add_sum(dy2, axis=0)  # dbias += sum over the batch of dy
        if self.skip_input_grad:
            return None
        return (dy2 @ self.weight.data).reshape(x_shape)

    def get_config(self) -> dict:
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": self.bias is not None,
        }

    def expected_input_shape(self) -> tuple[int, ...]:
        return (self.in_features,)

    spec_pattern = r"(?:linear|dense)(\d+)"
    spec_usage = "linearN"

    @classmethod
    def from_spec(cls, match, input_shape, rng):
        if len(input_shape) != 1:
            raise ValueError(
                f"Linear needs a flat input but the shape here is {input_shape}; "
                "put 'flatten' before it"
            )
        units = int(match.group(1))
        if units < 1:
            raise ValueError("the number of units must be positive")
        return cls(input_shape[0], units, rng=rng)

    def spec_token(self) -> str:
        if self.bias is None:
            raise TypeError(f"{self!r}: the spec token 'linearN' has a bias.")
        return f"linear{self.out_features}"

    def to_onnx(self, b, xs, in_shape, label):
        """Gemm(x, W, b, transB=1) on (N, in) input; MatMul(x, W^T) + Add(b)
        on (N, ..., in)."""
        w = self.weight.data
        if len(in_shape) == 1:
            inputs = [xs[0], b.const(f"{label}.weight", w, self.weight)]
            if self.bias is not None:
                inputs.append(b.const(f"{label}.bias", self.bias.data, self.bias))
            return b.node("Gemm", inputs, label, transB=1)
        wt = b.const(f"{label}.weight_t", w.T, None)
        y = b.node("MatMul", [xs[0], wt], label)
        if self.bias is not None:
            bias = b.const(f"{label}.bias", self.bias.data, self.bias)
            y = b.node("Add", [y, bias], label)
        return y

    def to_torch(self):
        nn = torch_nn(self)
        return nn.Linear(self.in_features, self.out_features, self.bias is not None)
