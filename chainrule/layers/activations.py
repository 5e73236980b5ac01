"""The activation functions of the seeds' table, each with its derivative.

Every one is elementwise except Softmax and LogSoftmax, whose Jacobians are
full; their backward passes compute the Jacobian-vector product without ever
building the Jacobian. All are stable for inputs of any magnitude.
"""

from __future__ import annotations

import numpy as np

from .._checks import real
from ..functional.activations import log_softmax, relu, sigmoid, softmax
from ..interop.torch import torch_nn
from ..module import Module, as_float_array, runs_methods_of
from ..registry import register_layer
from ._checks import axis_index, missing_axis


@register_layer
class LinearActivation(Module):
    """The linear activation sigma(x; k) = k x.

    Forward:  y = k x
    Backward: dx = k dy

    With ``k = 1`` it is the identity, the output of a regression network.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> cr.layers.LinearActivation(2.0)(np.array([[1.0, -3.0]])).tolist()
    [[2.0, -6.0]]
    """

    commutes_with_pixel_order = True  # elementwise (see Sequential.forward)

    def __init__(self, k: float = 1.0) -> None:
        super().__init__()
        self.k = real("LinearActivation", "k", k)

    def forward(self, x):
        x = as_float_array(self, x)
        self.keep_cache(True)
        return x if self.k == 1.0 else x * np.asarray(self.k, x.dtype)

    def backward(self, dy):
        self.take_cache()
        return dy if self.k == 1.0 else dy * np.asarray(self.k, dy.dtype)

    def get_config(self) -> dict:
        return {"k": self.k}

    spec_pattern = r"linearact(\d*\.?\d+)"
    spec_usage = "linearactK"

    @classmethod
    def from_spec(cls, match, input_shape, rng):
        return cls(float(match.group(1)))

    def spec_token(self) -> str:
        if self.k < 0:  # '-' separates tokens
            raise TypeError(f"{self!r}: a spec token holds no negative k.")
        return f"linearact{self.k:g}"

    def to_onnx(self, b, xs, in_shape, label):
        if self.k == 1.0:
            return b.node("Identity", xs, label)
        return b.node("Mul", [xs[0], b.const(f"{label}.k", np.float32(self.k))], label)

    def to_torch(self):
        if self.k != 1.0:
            raise TypeError(
                f"{self!r}: has no torch.nn counterpart (only k = 1, nn.Identity)."
            )
        return torch_nn(self).Identity()


@register_layer
class Identity(LinearActivation):
    """sigma(x) = x: the linear activation with k = 1."""

    def __init__(self) -> None:
        super().__init__(1.0)

    def get_config(self) -> dict:
        return {}

    spec_pattern = "identity"
    spec_usage = "identity"

    @classmethod
    def from_spec(cls, match, input_shape, rng):
        return cls()

    def spec_token(self) -> str:
        return "identity"


@register_layer
class Step(Module):
    """The threshold function: sigma(x; k) = 1 if x >= k else 0.

    Forward:  y = [x >= threshold]
    Backward: dx = 0. The derivative is zero everywhere except at the threshold,
              where it does not exist, so no gradient flows through a Step:
              a network cannot learn *through* it. Use it at inference, for
              example to turn a sigmoid's probability into a class with
              ``Step(0.5)``, as the seeds suggest; train with Sigmoid instead.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> cr.layers.Step(0.5)(np.array([[0.2, 0.5, 0.9]])).tolist()
    [[0.0, 1.0, 1.0]]
    """

    commutes_with_pixel_order = True  # elementwise (see Sequential.forward)

    def __init__(self, threshold: float = 0.0) -> None:
        super().__init__()
        self.threshold = real("Step", "threshold", threshold)

    def forward(self, x):
        x = as_float_array(self, x)
        self.keep_cache(True)
        return (x >= self.threshold).astype(x.dtype)

    def backward(self, dy):
        self.take_cache()
        return np.zeros_like(dy)

    def get_config(self) -> dict:
        return {"threshold": self.threshold}

    spec_pattern = r"step(\d*\.?\d+)?"
    spec_usage = "step[T]"

    @classmethod
    def from_spec(cls, match, input_shape, rng):
        return cls(float(match.group(1) or 0.0))

    def spec_token(self) -> str:
        if self.threshold < 0:  # '-' separates tokens
            raise TypeError(f"{self!r}: a spec token holds no negative threshold.")
        return f"step{self.threshold:g}"

    def to_onnx(self, b, xs, in_shape, label):
        t = b.const(f"{label}.threshold", np.float32(self.threshold))
        mask = b.node("GreaterOrEqual", [xs[0], t], label)
        return b.node("Cast", [mask], label, to=b.FLOAT)

    def to_torch(self):
        raise TypeError(f"{self!r}: has no torch.nn counterpart (a threshold).")


@register_layer
class Sigmoid(Module):
    """The logistic function sigma(x) = 1 / (1 + exp(-x)).

    Forward:  y = sigma(x)
    Backward: dx = dy * y (1 - y)   (keep y, not x: sigma' = sigma (1 - sigma))
    """

    commutes_with_pixel_order = True  # elementwise (see Sequential.forward)

    def forward(self, x):
        y = sigmoid(as_float_array(self, x))
        self.keep_cache(y)
        return y

    def backward(self, dy):
        y = self.take_cache()
        return dy * y * (1 - y)

    spec_pattern = "sigmoid"
    spec_usage = "sigmoid"

    def to_onnx(self, b, xs, in_shape, label):
        return b.node("Sigmoid", xs, label)

    def to_torch(self):
        nn = torch_nn(self)
        return nn.Sigmoid()


@register_layer
class Tanh(Module):
    """The hyperbolic tangent.

    Forward:  y = tanh(x)
    Backward: dx = dy * (1 - y^2)   (keep y: tanh' = 1 - tanh^2)
    """

    commutes_with_pixel_order = True  # elementwise (see Sequential.forward)

    def forward(self, x):
        y = np.tanh(as_float_array(self, x))
        self.keep_cache(y)
        return y

    def backward(self, dy):
        y = self.take_cache()
        return dy * (1 - y * y)

    spec_pattern = "tanh"
    spec_usage = "tanh"

    def to_onnx(self, b, xs, in_shape, label):
        return b.node("Tanh", xs, label)

    def to_torch(self):
        nn = torch_nn(self)
        return nn.Tanh()


@register_layer
class HardTanh(Module):
    """Hard tanh: the identity clipped to [min_val, max_val] (seed 002).

    Forward:  y = min(max(x, min_val), max_val)
    Backward: dx = dy where min_val < x < max_val, else 0 (as PyTorch).
    """

    commutes_with_pixel_order = True  # elementwise (see Sequential.forward)

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0) -> None:
        super().__init__()
        self.min_val = real("HardTanh", "min_val", min_val)
        self.max_val = real("HardTanh", "max_val", max_val)
        if not self.min_val < self.max_val:
            raise ValueError(
                f"HardTanh: min_val must be less than max_val; got {min_val} and {max_val}."
            )

    def forward(self, x):
        x = as_float_array(self, x)
        self.keep_cache((x > self.min_val) & (x < self.max_val))
        return np.clip(x, self.min_val, self.max_val)

    def backward(self, dy):
        inside = self.take_cache()
        return dy * inside

    def get_config(self) -> dict:
        return {"min_val": self.min_val, "max_val": self.max_val}

    spec_pattern = "hardtanh"
    spec_usage = "hardtanh"

    def spec_token(self) -> str:
        if (self.min_val, self.max_val) != (-1.0, 1.0):
            raise TypeError(f"{self!r}: the spec token 'hardtanh' means [-1, 1].")
        return "hardtanh"

    def to_onnx(self, b, xs, in_shape, label):
        lo = b.const(f"{label}.min_val", np.float32(self.min_val))
        hi = b.const(f"{label}.max_val", np.float32(self.max_val))
        return b.node("Clip", [xs[0], lo, hi], label)

    def to_torch(self):
        nn = torch_nn(self)
        return nn.Hardtanh(self.min_val, self.max_val)


@register_layer
class ReLU(Module):
    """The rectified linear unit relu(x) = max(x, 0).

    Forward:  y = max(x, 0)
    Backward: dx = dy where x > 0, else 0. At x = 0 exactly the derivative
              does not exist; 0 is used there, as in PyTorch. The mask is read
              from y (y > 0 exactly where x > 0), so x need not be kept.
    """

    commutes_with_pixel_order = True  # elementwise (see Sequential.forward)

    def forward(self, x):
        y = relu(as_float_array(self, x))
        self.keep_cache(y)
        return y

    def backward(self, dy):
        y = self.take_cache()
        # A multiply by the mask is several times faster than np.where here.
        return dy * (y > 0)

    @property
    def commutes_with_max(self) -> bool:
        """True: relu is elementwise and nondecreasing, flat where its
        derivative is 0, so relu(max of a window) = max of relu(window), and
        with relu'(0) = 0 the gradients agree too. A Sequential then runs this
        layer after a max-pooling that follows it, on a quarter of the numbers
        (see ``Sequential.forward``). A subclass that changes forward or
        backward loses the property."""
        return runs_methods_of(self, ReLU)

    spec_pattern = "relu"
    spec_usage = "relu"

    def to_onnx(self, b, xs, in_shape, label):
        return b.node("Relu", xs, label)

    def to_torch(self):
        nn = torch_nn(self)
        return nn.ReLU()


@register_layer
class Softmax(Module):
    """softmax(x)_i = exp(x_i) / sum_j exp(x_j) along ``axis``.

    Forward:  y = softmax(x)
    Backward: the Jacobian is dy_i/dx_j = y_i (delta_ij - y_j), so
              dx = y * (dy - sum_j dy_j y_j)
              (the full Jacobian-vector product, without building the matrix).

    For training a classifier prefer logits + ``losses.CrossEntropy``, which
    fuses softmax and cross-entropy into the stable gradient y - t.
    """

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = axis_index("Softmax", axis)

    def forward(self, x):
        x = as_float_array(self, x)
        try:
            y = softmax(x, axis=self.axis)
        except np.exceptions.AxisError:
            raise missing_axis(self, self.axis, x) from None
        self.keep_cache(y)
        return y

    def backward(self, dy):
        y = self.take_cache()
        return y * (dy - (dy * y).sum(axis=self.axis, keepdims=True))

    def get_config(self) -> dict:
        return {"axis": self.axis}

    spec_pattern = "softmax"
    spec_usage = "softmax"

    def spec_token(self) -> str:
        if self.axis != -1:
            raise TypeError(f"{self!r}: the spec token 'softmax' means axis=-1.")
        return "softmax"

    def to_onnx(self, b, xs, in_shape, label):
        return b.node("Softmax", xs, label, axis=self.axis)

    def to_torch(self):
        nn = torch_nn(self)
        return nn.Softmax(dim=self.axis)


@register_layer
class LogSoftmax(Module):
    """log softmax(x)_i = x_i - log sum_j exp(x_j) along ``axis``.

    Forward:  y = x - logsumexp(x)
    Backward: dy_i/dx_j = delta_ij - softmax(x)_j, so
              dx = dy - exp(y) * sum_j dy_j

    Pair it with ``losses.NLL``: NLL(LogSoftmax(x), t) = -x_t + log sum exp(x),
    the seeds' stable form of softmax followed by -log.
    """

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = axis_index("LogSoftmax", axis)

    def forward(self, x):
        x = as_float_array(self, x)
        try:
            y = log_softmax(x, axis=self.axis)
        except np.exceptions.AxisError:
            raise missing_axis(self, self.axis, x) from None
        self.keep_cache(y)
        return y

    def backward(self, dy):
        y = self.take_cache()
        return dy - np.exp(y) * dy.sum(axis=self.axis, keepdims=True)

    def get_config(self) -> dict:
        return {"axis": self.axis}

    spec_pattern = "logsoftmax"
    spec_usage = "logsoftmax"

    def spec_token(self) -> str:
        if self.axis != -1:
            raise TypeError(f"{self!r}: the spec token 'logsoftmax' means axis=-1.")
        return "logsoftmax"

    def to_onnx(self, b, xs, in_shape, label):
        return b.node("LogSoftmax", xs, label, axis=self.axis)

    def to_torch(self):
        nn = torch_nn(self)
        return nn.LogSoftmax(dim=self.axis)
