"""Numerically stable elementwise and softmax functions.

Each stays finite for inputs of any magnitude: no ``exp`` of a large positive
number is ever taken.
"""

from __future__ import annotations

import numpy as np


def relu(z: np.ndarray) -> np.ndarray:
    """max(z, 0), elementwise; a NaN stays NaN.

    NumPy's ``maximum`` against the scalar 0 runs a loop about half as fast as
    against an array of zeros of z's shape, so the zeros are an array. It is
    made by ``np.zeros`` and never written: when it is large, the operating
    system maps all its pages to one shared page of zeros, so it costs no
    memory and reads from cache.
    """
    return np.maximum(z, _zeros(z.shape, z.dtype))


_ZEROS: dict[tuple, np.ndarray] = {}


def _zeros(shape: tuple, dtype) -> np.ndarray:
    """A read-only array of zeros, kept for the few shapes a model uses."""
    key = (shape, dtype)
    zeros = _ZEROS.get(key)
    if zeros is None:
        if len(_ZEROS) >= 16:  # varying shapes: forget them all, keep it small
            _ZEROS.clear()
        zeros = _ZEROS[key] = np.zeros(shape, dtype)
        zeros.flags.writeable = False
    return zeros


def sigmoid(z: np.ndarray) -> np.ndarray:
    """sigma(z) = 1 / (1 + exp(-z)), computed as (1 + tanh(z / 2)) / 2.

    The tanh form is the same function and never overflows, for z = +-1e4 too.
    """
    y = np.tanh(z * 0.5)
    y += 1
    y *= 0.5
    return y


def softplus(z: np.ndarray) -> np.ndarray:
    """log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|)), stable both ways."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def _class_major(z: np.ndarray, axis: int) -> bool:
    """True for a (N, K) batch reduced over K: such reductions run ten times
    faster on the transposed (K, N) layout, where each step is a row op."""
    return z.ndim == 2 and axis in (-1, 1) and z.shape[1] < 256


def logsumexp(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """log sum_i exp(z_i) along ``axis`` (kept), shifted by the max for stability."""
    if _class_major(z, axis):
        return logsumexp(np.array(z.T, order="C"), axis=0).T
    m = z.max(axis=axis, keepdims=True)
    return m + np.log(np.exp(z - m).sum(axis=axis, keepdims=True))


def softmax_columns_(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Overwrite the (K, N) array ``p`` with the softmax of each column.

    Returns each column's max ``m`` and ``total = sum_k exp(p_k - m)``, so
    that logsumexp = m + log(total): what CrossEntropy needs besides the
    probabilities, from the same pass. Class-major (K, N): see _class_major.
    """
    m = p.max(axis=0)
    p -= m
    np.exp(p, out=p)
    total = p.sum(axis=0)
    p /= total
    return m, total


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """softmax(z)_i = exp(z_i - max z) / sum_j exp(z_j - max z).

    Subtracting the max changes nothing mathematically and keeps exp <= 1.
    """
    if _class_major(z, axis):
        p = np.array(z.T, order="C")
        softmax_columns_(p)
        return np.ascontiguousarray(p.T)
    e = z - z.max(axis=axis, keepdims=True)
    np.exp(e, out=e)
    e /= e.sum(axis=axis, keepdims=True)
    return e


def log_softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """log softmax(z)_i = z_i - logsumexp(z)."""
    return z - logsumexp(z, axis=axis)
