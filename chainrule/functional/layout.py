"""Memory layouts that keep an array's meaning.

A batch of images is always indexed (N, C, H, W). Where the batch sits in
memory is a separate choice: NumPy's loops follow memory, so an operation
runs fast when its inner loop meets long contiguous runs. *Batch-last*
memory keeps the batch innermost, a C-contiguous (C, H, W, N) array seen
through an (N, C, H, W) view. A wide convolution's product comes out in that
order (``conv.im2col_batch_last``), and a 2x2 max-pooling then compares runs
of N numbers instead of numbers one apart (``pooling.py``).
"""

from __future__ import annotations

import numpy as np


def batch_last_empty(shape: tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialised array of ``shape`` (N, ...) whose memory holds the
    batch innermost: a view of a C-contiguous (..., N) array. Its meaning is
    the usual one; only NumPy's loops, which follow memory, see the change."""
    a = np.empty((*shape[1:], shape[0]), dtype=dtype)
    return np.moveaxis(a, -1, 0)


def is_batch_last(a: np.ndarray) -> bool:
    """Whether a is laid out as :func:`batch_last_empty` makes it (and is
    not C-contiguous too, as a batch of one is)."""
    return (
        a.ndim >= 2
        and not a.flags.c_contiguous
        and a.strides[0] == a.itemsize
        and np.moveaxis(a, 0, -1).flags.c_contiguous
    )


def as_batch_last(a: np.ndarray) -> np.ndarray:
    """a in batch-last memory: a itself when it is, else a copy."""
    if is_batch_last(a):
        return a
    out = batch_last_empty(a.shape, a.dtype)
    np.copyto(out, a)
    return out


def as_batch_first(a: np.ndarray) -> np.ndarray:
    """a in the usual C-contiguous memory: a itself when it is, else a copy."""
    if a.flags.c_contiguous:
        return a
    out = np.empty(a.shape, a.dtype)
    if is_batch_last(a):
        n = a.shape[0]
        _copy_transposed(out.reshape(n, -1), np.moveaxis(a, 0, -1).reshape(-1, n))
    else:
        np.copyto(out, a)
    return out


#: Numbers a block of :func:`_copy_transposed` reads: 32 KiB of float32,
#: which stay in the L1 cache while they are written out.
_BLOCK = 8192


def _copy_transposed(out: np.ndarray, src: np.ndarray) -> None:
    """out[...] = src.T for 2-D arrays, src (many, few), in blocks of its rows.

    A plain transposing copy writes out row by row and reads src one number
    per cache line; by the time it comes back for the next number of a line,
    the line has left the L1 cache (a batch of 64 images of 32 x 14 x 14:
    400 KB between two visits). A few rows of src at a time use each line
    whole while it is near: 2 to 3 times faster for a batch of 64 or 128.
    (The other way, batch-first to batch-last, blocking gained nothing
    consistent in the same measurements, so ``as_batch_last`` copies plainly.)
    """
    rows, cols = src.shape
    step = max(16, _BLOCK // max(1, cols))
    if step >= rows:
        np.copyto(out, src.T)
        return
    for start in range(0, rows, step):
        np.copyto(out[:, start : start + step], src[start : start + step].T)
