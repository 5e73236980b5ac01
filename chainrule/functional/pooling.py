"""Max-pooling: forward picks the largest value of each window; backward routes
each window's gradient to the one position that won.

Tie rule: when several positions of a window hold the same maximum, the first
in row-major order within the window wins (NumPy's ``argmax``; PyTorch's CPU
kernel picks the same one). Only that position receives the gradient.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided


def _windows(x: np.ndarray, k: tuple[int, int], s: tuple[int, int]) -> np.ndarray:
    n, c, h, w = x.shape
    oh = (h - k[0]) // s[0] + 1
    ow = (w - k[1]) // s[1] + 1
    s0, s1, s2, s3 = x.strides
    return as_strided(
        x,
        shape=(n, c, oh, ow, k[0], k[1]),
        strides=(s0, s1, s2 * s[0], s3 * s[1], s2, s3),
        writeable=False,
    )


def maxpool2d_forward(
    x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """y[n, c, i, j] = max over the window at (i*S, j*S) of x[n, c].

    Returns
    -------
    y : ndarray, shape (N, C, OH, OW)
    argmax : ndarray of intp, shape (N, C, OH, OW)
        The winner's flat index within its window (row-major, first on ties).
    """
    kh, kw = kernel
    win = _windows(x, kernel, stride)
    n, c, oh, ow = win.shape[:4]
    flat = win.reshape(n, c, oh, ow, kh * kw)
    argmax = flat.argmax(axis=-1)
    y = np.take_along_axis(flat, argmax[..., None], axis=-1)[..., 0]
    return y, argmax


def maxpool2d_backward(
    dy: np.ndarray,
    argmax: np.ndarray,
    x_shape: tuple[int, int, int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
) -> np.ndarray:
    """dx[n, c, i*S + a, j*S + b] += dy[n, c, i, j] where (a, b) won the window.

    Loops over the kernel offsets, so windows that overlap (stride < kernel)
    add their contributions to a shared pixel.
    """
    kh, kw = kernel
    sh, sw = stride
    oh, ow = dy.shape[2:]
    dx = np.zeros(x_shape, dtype=dy.dtype)
    for a in range(kh):
        for b in range(kw):
            contrib = np.where(argmax == a * kw + b, dy, 0)
            dx[:, :, a : a + sh * oh : sh, b : b + sw * ow : sw] += contrib
    return dx
