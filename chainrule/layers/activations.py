"""The activation functions of the seeds' table, each with its derivative.

Every one is elementwise except Softmax and LogSoftmax, whose Jacobians are
full; their backward passes compute the Jacobian-vector product without ever
building the Jacobian. All are stable for inputs of any magnitude.
"""

from __future__ import annotations

import numpy as np

from ..functional.activations import log_softmax, relu, sigmoid, softmax
from ..module import Module, as_float_array
from ._checks import real


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

    def __init__(self, k: float = 1.0) -> None:
        super().__init__()
        self.k = real("LinearActivation", "k", k)

    def forward(self, x):
        x = as_float_array(self, x)
        self._keep(True)
        return x if self.k == 1.0 else x * np.asarray(self.k, x.dtype)

    def backward(self, dy):
        self._take_cache()
        return dy if self.k == 1.0 else dy * np.asarray(self.k, dy.dtype)

    def get_config(self) -> dict:
        return {"k": self.k}


class Identity(LinearActivation):
    """sigma(x) = x: the linear activation with k = 1."""

    def __init__(self) -> None:
        super().__init__(1.0)

    def get_config(self) -> dict:
        return {}


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

    def __init__(self, threshold: float = 0.0) -> None:
        super().__init__()
        self.threshold = real("Step", "threshold", threshold)

    def forward(self, x):
        x = as_float_array(self, x)
        self._keep(True)
        return (x >= self.threshold).astype(x.dtype)

    def backward(self, dy):
        self._take_cache()
        return np.zeros_like(dy)

    def get_config(self) -> dict:
        return {"threshold": self.threshold}


class Sigmoid(Module):
    """The logistic function sigma(x) = 1 / (1 + exp(-x)).

    Forward:  y = sigma(x)
    Backward: dx = dy * y (1 - y)   (keep y, not x: sigma' = sigma (1 - sigma))
    """

    def forward(self, x):
        y = sigmoid(as_float_array(self, x))
        self._keep(y)
        return y

    def backward(self, dy):
        y = self._take_cache()
        return dy * y * (1 - y)


class Tanh(Module):
    """The hyperbolic tangent.

    Forward:  y = tanh(x)
    Backward: dx = dy * (1 - y^2)   (keep y: tanh' = 1 - tanh^2)
    """

    def forward(self, x):
        y = np.tanh(as_float_array(self, x))
        self._keep(y)
        return y

    def backward(self, dy):
        y = self._take_cache()
        return dy * (1 - y * y)


class HardTanh(Module):
    """Hard tanh: the identity clipped to [min_val, max_val] (seed 002).

    Forward:  y = min(max(x, min_val), max_val)
    Backward: dx = dy where min_val < x < max_val, else 0 (as PyTorch).
    """

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
        self._keep((x > self.min_val) & (x < self.max_val))
        return np.clip(x, self.min_val, self.max_val)

    def backward(self, dy):
        inside = self._take_cache()
        return dy * inside

    def get_config(self) -> dict:
        return {"min_val": self.min_val, "max_val": self.max_val}


class ReLU(Module):
    """The rectified linear unit relu(x) = max(x, 0).

    Forward:  y = max(x, 0)
    Backward: dx = dy where x > 0, else 0. At x = 0 exactly the derivative
              does not exist; 0 is used there, as in PyTorch. The mask is read
              from y (y > 0 exactly where x > 0), so x need not be kept.
    """

    def forward(self, x):
        y = relu(as_float_array(self, x))
        self._keep(y)
        return y

    def backward(self, dy):
        y = self._take_cache()
        # A multiply by the mask is several times faster than np.where here.
        return dy * (y > 0)


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
        self.axis = int(axis)

    def forward(self, x):
        y = softmax(as_float_array(self, x), axis=self.axis)
        self._keep(y)
        return y

    def backward(self, dy):
        y = self._take_cache()
        return y * (dy - (dy * y).sum(axis=self.axis, keepdims=True))

    def get_config(self) -> dict:
        return {"axis": self.axis}


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
        self.axis = int(axis)

    def forward(self, x):
        y = log_softmax(as_float_array(self, x), axis=self.axis)
        self._keep(y)
        return y

    def backward(self, dy):
        y = self._take_cache()
        return dy - np.exp(y) * dy.sum(axis=self.axis, keepdims=True)

    def get_config(self) -> dict:
        return {"axis": self.axis}


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

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = real("LeakyReLU", "negative_slope", negative_slope)

    def forward(self, x):
        x = as_float_array(self, x)
        # Keep the mask, not y: with a negative slope y > 0 does not say x > 0.
        positive = x > 0
        self._keep(positive)
        return np.where(positive, x, x * np.asarray(self.negative_slope, x.dtype))

    def backward(self, dy):
        positive = self._take_cache()
        return np.where(positive, dy, dy * np.asarray(self.negative_slope, dy.dtype))

    def get_config(self) -> dict:
        return {"negative_slope": self.negative_slope}
