"""Max-pooling: forward picks the largest value of each window; backward routes
each window's gradient to the one position that won.

Tie rule: when several positions of a window hold the same maximum, the first
in row-major order within the window wins (PyTorch's CPU kernel picks the same
one). Only that position receives the gradient.

Both passes loop over the kH * kW offsets within a window, never over pixels:
each offset is one strided view of the input with the output's shape, so every
step is a whole-array operation.
"""

from __future__ import annotations

import numpy as np


def _offset_view(x: np.ndarray, a: int, b: int, out_hw, stride) -> np.ndarray:
    """x[n, c, i*sH + a, j*sW + b] for all (i, j): the offset (a, b) of every window."""
    (oh, ow), (sh, sw) = out_hw, stride
    return x[:, :, a : a + sh * oh : sh, b : b + sw * ow : sw]


def pool_output_size(x_shape, kernel, stride) -> tuple[int, int]:
    return (
        (x_shape[2] - kernel[0]) // stride[0] + 1,
        (x_shape[3] - kernel[1]) // stride[1] + 1,
    )


def maxpool2d_forward(
    x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """y[n, c, i, j] = max over the window at (i*S, j*S) of x[n, c].

    Returns
    -------
    y : ndarray, shape (N, C, OH, OW)
    winner : ndarray of int8 (int16 for windows over 127 positions), same shape
        The winner's flat index within its window (row-major, first on ties).
    """
    kh, kw = kernel
    out_hw = pool_output_size(x.shape, kernel, stride)
    y = _offset_view(x, 0, 0, out_hw, stride).copy()
    winner = np.zeros(y.shape, dtype=np.int8 if kh * kw <= 127 else np.int16)
    for k in range(1, kh * kw):
        v = _offset_view(x, k // kw, k % kw, out_hw, stride)
        better = v > y  # strictly greater: an equal later value does not win
        np.copyto(y, v, where=better)
        winner[better] = k
    return y, winner


def maxpool2d_backward(
    dy: np.ndarray,
    winner: np.ndarray,
    x_shape: tuple[int, int, int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
) -> np.ndarray:
    """dx[n, c, i*S + a, j*S + b] += dy[n, c, i, j] where (a, b) won the window.

    Windows that overlap (stride < kernel) add their contributions to a shared
    pixel; windows that tile the input just place them.
    """
    kh, kw = kernel
    out_hw = dy.shape[2:]
    dx = np.zeros(x_shape, dtype=dy.dtype)
    overlapping = stride[0] < kh or stride[1] < kw
    for k in range(kh * kw):
        target = _offset_view(dx, k // kw, k % kw, out_hw, stride)
        won = winner == k
        if overlapping:
            target += np.where(won, dy, 0)
        else:
            np.copyto(target, dy, where=won)
    return dx
