"""Parameter: a trainable array and its gradient, travelling together."""

from __future__ import annotations

import numpy as np


class Parameter:
    """A trainable array ``data`` with a same-shaped gradient ``grad``.

    Layers' ``backward`` *adds* into ``grad`` (never assigns): a parameter that
    reaches the loss along several paths, such as a layer shared in a graph,
    gets the sum of the path contributions, which is the multivariable chain
    rule. Optimizers read ``grad`` and update ``data`` in place.

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

    __slots__ = ("data", "grad")

    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self.grad = np.zeros_like(data)

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
        """Set the gradient to zero in place (optimizers may hold a view of it)."""
        self.grad.fill(0)

    def to(self, dtype) -> Parameter:
        """Convert ``data`` and ``grad`` to ``dtype`` (no copy if it matches)."""
        dtype = np.dtype(dtype)
        if self.data.dtype != dtype:
            self.data = self.data.astype(dtype)
            self.grad = self.grad.astype(dtype)
        return self

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"
