"""The one seam between chainrule and its array library.

Everything numerical goes through NumPy today. Keeping the choice in one place
(``get_array_module``) is what would let a GPU array library such as CuPy slot in
later without touching the layers, as Chainer does.

It also holds the switch that turns gradient bookkeeping off for inference
(:func:`no_grad`): with it off, layers keep no cache for ``backward``.
"""

from __future__ import annotations

import numpy as np

#: The default floating-point type of parameters and data.
DEFAULT_DTYPE = np.float32

_grad_enabled = True


def get_array_module(*arrays: object):  # noqa: ARG001 - kept for the CuPy seam
    """Return the array module for ``arrays`` (always :mod:`numpy` for now)."""
    return np


def is_grad_enabled() -> bool:
    """True when layers should keep what their ``backward`` needs."""
    return _grad_enabled


class ForwardCache:
    """What a forward pass keeps for its backward: layers and losses alike.

    ``_keep`` stores it, except inside :class:`no_grad`; ``_take_cache`` hands
    it to backward once, so a second backward without a forward is an error.
    """

    cache = None

    def _keep(self, cache) -> None:
        """Keep ``cache`` for backward, unless inside ``cr.no_grad()``."""
        self.cache = cache if _grad_enabled else None

    def _take_cache(self):
        """Hand the forward cache to backward, once."""
        cache = self.cache
        if cache is None:
            raise RuntimeError(
                f"{self!r}: backward() needs a forward() first; each forward() "
                "allows one backward(), and forward() under cr.no_grad() keeps "
                "nothing for it."
            )
        self.cache = None
        return cache


class no_grad:  # noqa: N801 - used like a function: ``with cr.no_grad():``
    """Run forward passes without keeping caches for ``backward``.

    Inference (``cr.predict``, ``evaluate``) runs inside this, so it holds no
    activations alive and does no gradient work. (A small class rather than a
    generator-based context manager: ``predict`` enters it on every call.)

    Examples
    --------
    >>> import chainrule as cr, numpy as np
    >>> layer = cr.layers.ReLU()
    >>> with cr.no_grad():
    ...     y = layer(np.array([[-1.0, 2.0]]))
    >>> y.tolist()
    [[0.0, 2.0]]
    """

    __slots__ = ("previous",)

    def __enter__(self) -> None:
        global _grad_enabled
        self.previous = _grad_enabled
        _grad_enabled = False

    def __exit__(self, *exc) -> None:
        global _grad_enabled
        _grad_enabled = self.previous
