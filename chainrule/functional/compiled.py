"""numba versions of kernels in this package: the ``[fast]`` extra.

Imported only by ``chainrule.fast.enable()``: numba is not a dependency of
the core. Each kernel is the plain loop of its NumPy twin's formula, and
returns what the twin returns; ``tests/test_fast.py`` compares them.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _max(p, q):
    # np.maximum's rule: p when p >= q, NaN when either is NaN.
    return p if (p >= q or p != p) else q


@njit(cache=True, nogil=True)
def maxpool2x2_forward(x):
    """2x2 windows, stride 2, over a C-contiguous (N, C, H, W) x.

    Returns y (N, C, H // 2, W // 2) and the winner of each window as an int8
    ``2 a + b`` (row a, column b). The winner is found as pooling.py finds it,
    width first, then height: the first maximum in row-major order.
    """
    n, c, h, w = x.shape
    oh, ow = h // 2, w // 2
    y = np.empty((n, c, oh, ow), x.dtype)
    winner = np.empty((n, c, oh, ow), np.int8)
    for s in range(n):
        for ch in range(c):
            for i in range(oh):
                top = x[s, ch, 2 * i]
                bottom = x[s, ch, 2 * i + 1]
                for j in range(ow):
                    a0, a1 = top[2 * j], top[2 * j + 1]
                    b0, b1 = bottom[2 * j], bottom[2 * j + 1]
                    ma, mb = _max(a0, a1), _max(b0, b1)
                    if mb > ma:  # strictly: a tie keeps the top row
                        winner[s, ch, i, j] = 2 + (1 if b1 > b0 else 0)
                    else:
                        winner[s, ch, i, j] = 1 if a1 > a0 else 0
                    y[s, ch, i, j] = _max(ma, mb)
    return y, winner


@njit(cache=True, nogil=True)
def maxpool2x2_backward(dy, winner, h, w):
    """dx (N, C, h, w): each window's dy at its winner, 0 elsewhere (and 0 in a
    last row or column that no window covers)."""
    n, c, oh, ow = dy.shape
    # Zeros first, then one store per window: four times faster than writing
    # each window's four pixels with a select (measured on (64, 32, 28, 28)).
    dx = np.empty((n, c, h, w), dy.dtype)
    dx.fill(0)
    for s in range(n):
        for ch in range(c):
            plane = dx[s, ch]
            for i in range(oh):
                d = dy[s, ch, i]
                k = winner[s, ch, i]
                for j in range(ow):
                    # the winner 2 a + b; shifts, not divmod (3x slower here)
                    plane[2 * i + (k[j] >> 1), 2 * j + (k[j] & 1)] = d[j]
    return dx
