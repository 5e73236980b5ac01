"""Gradient bookkeeping shared by layers and losses, and the default dtype.

It holds the switch that turns gradient bookkeeping off for inference
(:func:`no_grad`): with it off, layers keep no cache for ``backward``; and
:class:`ForwardCache`, the keep/take pair every layer and loss uses.

chainrule computes with NumPy, called directly: there is no array-module
seam. A ``get_array_module`` that nothing called used to stand here for a
future CuPy backend; it was removed rather than kept as a promise the layers
do not honour (they create arrays with ``np.empty``, ``np.zeros_like`` and
call BLAS through NumPy). A GPU backend would start by routing
``functional/`` and ``layers/`` through such a function.
"""

from __future__ import annotations

import numpy as np

#: The default floating-point type of parameters and data.
DEFAULT_DTYPE = np.float32

_grad_enabled = True


def is_grad_enabled() -> bool:
    """True when layers should keep what their ``backward`` needs."""
    return _grad_enabled


class ForwardCache:
    """What a forward pass keeps for its backward: layers and losses alike.

    A layer author calls ``keep_cache(what_backward_needs)`` at the end of
    ``forward`` and ``take_cache()`` at the start of ``backward``.
    ``keep_cache`` stores nothing inside :class:`no_grad` (inference keeps no
    activations alive); ``take_cache`` hands the cache over once, so a second
    backward without a forward is an error rather than a gradient counted twice.
    """

    cache = None

    def keep_cache(self, cache) -> None:
        """Keep ``cache`` for backward, unless inside ``cr.no_grad()``."""
        self.cache = cache if _grad_enabled else None

    def take_cache(self):
        """Hand the forward cache to backward, once.

        Raises
        ------
        RuntimeError
            When there is none: no forward yet, a second backward, or a
            forward under ``cr.no_grad()``.
        """
        cache = self.cache
        if cache is None:
            raise RuntimeError(
                f"{self!r}: backward() needs a forward() first; each forward() "
                "allows one backward(), and forward() under cr.no_grad() keeps "
                "nothing for it."
            )
        self.cache = None
        return cache

    # The names before the protocol made them public, for code written then.
    _keep = keep_cache
    _take_cache = take_cache


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
