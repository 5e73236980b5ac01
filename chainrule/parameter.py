"""Parameter: a trainable array and its gradient, travelling together."""

from __future__ import annotations

import numpy as np

from . import _deferred


class Parameter:
    """A trainable array ``data`` with a same-shaped gradient ``grad``.

    Layers' ``backward`` *adds* into ``grad`` (never assigns): a parameter that
    reaches the loss along several paths, such as a layer shared in a graph,
    gets the sum of the path contributions, which is the multivariable chain
    rule. Optimizers read ``grad`` and update ``data`` in place.

    ``zero_grad()`` only marks the gradient as zero; the first contribution
    after it is then *written* into the gradient array (``add_matmul`` hands
    it to the matrix product as its output) instead of filling zeros and
    adding. The result is the same; a training step saves two passes over
    every gradient. Reading ``grad`` always gives the true value.

    Parameters
    ----------
    data : ndarray
        The initial value; kept as given (no copy).

    Examples
    --------
    >>> import numpy as np
    >>> p = Parameter(np.zeros((2, 3), dtype=np.float32))
    >>> p.grad.shape, p.grad.dtype
    ((2, 3), dtype('float32'))
    """

    __slots__ = ("data", "_grad", "_grad_is_zero")

    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        budget = _deferred.current()
        if budget is None:
            self._grad = np.zeros_like(data)
            self._grad_is_zero = False
        else:  # a model being loaded: count, and touch no memory
            budget.charge(data.size)
            self._grad = np.empty_like(data)
            self._grad_is_zero = True

    @property
    def grad(self) -> np.ndarray:
        if self._grad_is_zero:
            self._grad.fill(0)
            self._grad_is_zero = False
        return self._grad

    @grad.setter
    def grad(self, value: np.ndarray) -> None:
        self._grad = value
        self._grad_is_zero = False

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    def zero_grad(self) -> None:
        """Set the gradient to zero (lazily: see the class notes)."""
        self._grad_is_zero = True

    def accumulate(self, g: np.ndarray) -> None:
        """grad += g."""
        if self._grad_is_zero:
            np.copyto(self._grad, g)
            self._grad_is_zero = False
        else:
            self._grad += g

    def add_matmul(self, a: np.ndarray, b: np.ndarray) -> None:
        """grad += a @ b, with the product written straight into ``grad`` when
        it is zero (``grad`` viewed as a matrix of a's rows by b's columns).

        A column-major ``grad`` (Linear stores its weight that way) gets the
        transposed product, b.T @ a.T, in its row-major transpose: the same
        numbers, and a product OpenBLAS runs faster than into a strided output.
        """
        if self._grad_is_zero:
            g = self._grad
            if g.ndim == 2 and g.flags.f_contiguous and not g.flags.c_contiguous:
                np.matmul(b.T, a.T, out=g.T)
            else:
                np.matmul(a, b, out=g.reshape(a.shape[0], b.shape[1]))
            self._grad_is_zero = False
        else:
            self._grad += (a @ b).reshape(self._grad.shape)

    def add_sum(self, a: np.ndarray, axis) -> None:
        """grad += a.sum(axis), summed straight into ``grad`` when it is zero."""
        if self._grad_is_zero:
            np.sum(a, axis=axis, out=self._grad)
            self._grad_is_zero = False
        else:
            self._grad += a.sum(axis=axis)

    def to(self, dtype) -> Parameter:
        """Convert ``data`` and ``grad`` to ``dtype`` (no copy if it matches)."""
        dtype = np.dtype(dtype)
        if self.data.dtype != dtype:
            self.data = self.data.astype(dtype)
            self.grad = self.grad.astype(dtype)
        return self

    def __deepcopy__(self, memo) -> Parameter:
        p = Parameter.__new__(Parameter)
        p.data = self.data.copy(order="K")  # keep the memory layout
        p._grad = self.grad.copy(order="K")
        p._grad_is_zero = False
        memo[id(self)] = p
        return p

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"
