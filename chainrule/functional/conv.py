"""Convolution as a matrix product: im2col and its adjoint col2im.

The seeds' multi-channel convolution,

    y[s, oc, i, j] = sum_{ic, i', j'} w[oc, ic, i', j'] x[s, ic, i*S + i', j*S + j'] + b[oc],

becomes one matrix product once every receptive field is laid out as a column:
``cols[(ic, i', j'), (s, i, j)] = x[s, ic, i*S + i', j*S + j']``, so that
``y = W.reshape(OC, -1) @ cols`` for the whole batch at once. The gradient
with respect to x then is col2im of ``W.T @ dy``: each column's entries are
added back to the pixels they were copied from (the seeds' sum over the
outputs a pixel feeds).

The two directions order the columns differently, each for its own speed
(and layers with few rows per column group them by sample, see
``im2col_per_sample``):

- ``im2col`` orders them (s, i, j), sample first, so that the product's rows
  are already NCHW images and the forward output and dy need only cheap
  moves of whole (OH, OW) planes.
- ``col2im`` takes them (i, j, s), sample last: its kH * kW strided adds then
  move runs of OW * N contiguous numbers instead of runs of OW, which with
  OW = 14 is the difference between loop overhead and memory speed.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import fast
from .layout import as_batch_first, batch_last_empty, is_batch_last


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """floor((size + 2 padding - kernel) / stride) + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def _pad(x: np.ndarray, ph: int, pw: int, batch_last: bool = False) -> np.ndarray:
    """x with zeros around each image; with ``batch_last`` in batch-last
    memory (see :func:`batch_last_empty`), copied if x is not already."""
    if ph == 0 and pw == 0 and (not batch_last or is_batch_last(x)):
        return x
    n, c, h, w = x.shape
    shape = (n, c, h + 2 * ph, w + 2 * pw)
    if batch_last:
        xp = batch_last_empty(shape, x.dtype)
        if ph or pw:  # the border only; the inside is copied next
            xp[:, :, :ph] = 0
            xp[:, :, ph + h :] = 0
            xp[:, :, :, :pw] = 0
            xp[:, :, :, pw + w :] = 0
    else:
        xp = np.zeros(shape, dtype=x.dtype)
    xp[:, :, ph : ph + h, pw : pw + w] = x
    return xp


def _windows(
    x: np.ndarray, kernel, stride, padding, order: str, batch_last: bool = False
) -> np.ndarray:
    """A read-only strided view of every window of the padded x, axes in
    ``order`` (a permutation of "nckhwl" naming N, C, kH, kW, OH, OW)."""
    kh, kw = kernel
    sh, sw = stride
    xp = _pad(x, *padding, batch_last=batch_last)
    n, c, h, w = xp.shape
    oh = (h - kh) // sh + 1
    ow = (w - kw) // sw + 1
    s0, s1, s2, s3 = xp.strides
    axes = {
        "n": (n, s0),
        "c": (c, s1),
        "k": (kh, s2),
        "h": (kw, s3),
        "w": (oh, s2 * sh),
        "l": (ow, s3 * sw),
    }
    shape, strides = zip(*(axes[a] for a in order))
    return as_strided(xp, shape=shape, strides=strides, writeable=False)


def im2col(
    x: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
) -> np.ndarray:
    """Lay out every receptive field of ``x`` as a column.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    kernel, stride, padding : pairs (height, width)

    Returns
    -------
    cols : ndarray, shape (C * kH * kW, N * OH * OW), C-contiguous
        ``cols[(c, i', j'), (s, i, j)] = x_padded[s, c, i*sH + i', j*sW + j']``.
        Row order (c, i', j') matches ``weight.reshape(OC, -1)``, so the whole
        batch's convolution is one matrix product ``W @ cols``, and the
        weight gradient another, ``(cols @ dy.T).T``.
    """
    v = _windows(x, kernel, stride, padding, "ckhnwl")
    return _columns(v, 0)


def im2col_batch_last(
    x: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    ones_row: bool = False,
) -> np.ndarray:
    """The columns of :func:`im2col` ordered (i, j, s), sample last, as
    ``col2im`` takes them: shape (C kH kW [+ 1], OH OW N).

    x is first copied batch-last, padded (a copy of x's size), so that the
    columns' copy then moves runs of OW N numbers instead of OW: on the
    two-conv CNN's second convolution, far less loop overhead. ``W @ cols``
    comes out (OC, OH, OW, N), which is the output in batch-last memory.
    With ``ones_row``, a last row of ones carries the bias into the product
    (as in :func:`im2col_per_sample`).
    """
    v = _windows(x, kernel, stride, padding, "ckhwln", batch_last=True)
    return _columns(v, 0, ones_row)


def im2col_per_sample(
    x: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    ones_row: bool = False,
    pool_window: tuple[int, int] | None = None,
) -> np.ndarray:
    """The same columns grouped by sample: shape (N, C * kH * kW, OH * OW).

    ``W @ cols`` is then a stack of N small products whose result is already
    NCHW. With few rows per column (one input channel, a small kernel) that
    beats one wide product, which OpenBLAS runs at a fraction of its speed.

    With ``ones_row`` a last row of ones is appended (shape (N, C kH kW + 1,
    OH OW)): the bias then rides in the product as one more weight column,
    ``[W | b] @ [cols; 1] = W @ cols + b``, and its gradient comes out of the
    weight-gradient product as that column, sum over pixels of dy. Both save a
    pass over the layer's output.

    With ``pool_window`` (pK, pL), which must tile the output (OH and OW
    multiples of it), each sample's OH * OW columns are in the pool order of
    ``pooling.py`` instead of row-major: ``W @ cols`` then comes out ready
    for a max-pooling of that window.
    """
    if pool_window is not None:
        v = _windows_in_pool_order(x, kernel, stride, padding, pool_window)
    else:
        v = _windows(x, kernel, stride, padding, "nckhwl")
    return _columns(v, 1, ones_row)


def _columns(v: np.ndarray, lead: int, ones_row: bool = False) -> np.ndarray:
    """The window view ``v`` copied as columns: its first ``lead`` axes kept
    (the sample, for per-sample columns), the next three (C, kH, kW) as the
    rows, the rest as the columns; with ``ones_row``, a last row of ones.
    The one copy each im2col makes."""
    rows = v.shape[lead] * v.shape[lead + 1] * v.shape[lead + 2]
    shape = (*v.shape[:lead], rows + ones_row, int(np.prod(v.shape[lead + 3 :])))
    if not ones_row:
        return v.reshape(shape)
    cols = np.empty(shape, dtype=v.dtype)
    cols[..., rows, :] = 1
    np.copyto(cols[..., :rows, :].reshape(v.shape), v)
    return cols


def _windows_in_pool_order(x, kernel, stride, padding, window) -> np.ndarray:
    """The windows of :func:`im2col_per_sample` with the output pixels in pool
    order for a pooling ``window`` (pK, pL) that tiles the output: axes (N, C,
    kH, kW, a, b, I, J) for output pixel (I pK + a, J pL + b).

    Read straight from x, the innermost run would step over pL - 1 pixels at a
    time, a slow copy. So the rows and columns that pool offsets and kernel
    offsets share are first gathered into
    ``part[n, c, r, t, I, J] = x[n, c, I pK sH + r, J pL sW + t]``
    (r < kH + sH (pK - 1), t likewise): a few times x's size, far less than
    the columns, and its (I, J) planes are then copied whole.
    """
    kh, kw = kernel
    sh, sw = stride
    pk, pl = window
    xp = _pad(x, *padding)
    n, c, h, w = xp.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    r, t = kh + sh * (pk - 1), kw + sw * (pl - 1)  # the offsets r and t take
    s0, s1, s2, s3 = xp.strides
    part = np.empty((n, c, r, t, oh // pk, ow // pl), dtype=x.dtype)
    np.copyto(
        part,
        as_strided(
            xp,
            shape=part.shape,
            strides=(s0, s1, s2, s3, s2 * sh * pk, s3 * sw * pl),
            writeable=False,
        ),
    )
    p0, p1, p2, p3, p4, p5 = part.strides
    return as_strided(
        part,
        shape=(n, c, kh, kw, pk, pl, oh // pk, ow // pl),
        strides=(p0, p1, p2, p3, p2 * sh, p3 * sw, p4, p5),
        writeable=False,
    )


def col2im(
    dcols: np.ndarray,
    x_shape: tuple[int, int, int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
) -> np.ndarray:
    """The adjoint of :func:`im2col`: add each column entry back to its pixel.

    Loops over the kH * kW kernel offsets (never over pixels or samples); each
    step adds one strided slab, so overlapping windows accumulate correctly.

    Parameters
    ----------
    dcols : ndarray, shape (C * kH * kW, OH * OW * N)
        Columns in (i, j, s) order, sample last (see the module notes).
    x_shape : the (N, C, H, W) shape of the unpadded input

    Returns
    -------
    dx : ndarray, shape ``x_shape``
    """
    n, c, h, w = x_shape
    kh, kw = kernel
    sh, sw = stride
    ph, pw = padding
    oh = conv_output_size(h, kh, sh, ph)
    ow = conv_output_size(w, kw, sw, pw)
    d = dcols.reshape(c, kh, kw, oh, ow, n)
    same = (sh, sw) == (1, 1) and (oh, ow) == (h, w)
    compiled = fast.kernels(dcols.dtype)  # the [fast] extra's col2im, if enabled
    if compiled is not None and d.flags.c_contiguous:
        dx = np.empty(x_shape, dtype=dcols.dtype)
        compiled.col2im(d, (ph, pw), (sh, sw), same, dx)
        return dx
    # dx is built batch-last, (C, H, W, N), so that each add moves runs of
    # N numbers or more. Only the part of each slab that lands inside the
    # image is added (the padding's share is dropped, not summed and cut).
    dx = np.empty((c, h, w, n), dtype=dcols.dtype)
    # A "same" convolution (stride 1, OH = H, OW = W) has one offset, the
    # kernel's centre (ph, pw), whose slab covers the image exactly: copy it
    # in first instead of zero-filling and adding.
    if same:
        np.copyto(dx, d[:, ph, pw])
    else:
        dx[...] = 0
    col_ranges = [_inside(j - pw, sw, ow, w) for j in range(kw)]
    for i in range(kh):
        rows = _inside(i - ph, sh, oh, h)
        for j, cols in enumerate(col_ranges):
            if rows is None or cols is None or (same and (i, j) == (ph, pw)):
                continue
            (o0, o1, r0), (q0, q1, t0) = rows, cols
            dx[:, r0 : r0 + sh * (o1 - o0) : sh, t0 : t0 + sw * (q1 - q0) : sw] += d[
                :, i, j, o0:o1, q0:q1
            ]
    return as_batch_first(np.moveaxis(dx, -1, 0))


def _inside(shift: int, stride: int, out: int, size: int):
    """The outputs o (o0 <= o < o1) of a kernel offset whose pixel o stride + shift
    lies in [0, size), and that first pixel, or None when there are none."""
    o0 = max(0, -(shift // stride))  # ceil(-shift / stride)
    o1 = min(out, (size - 1 - shift) // stride + 1)
    if o1 <= o0:
        return None
    return o0, o1, o0 * stride + shift
