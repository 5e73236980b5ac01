"""Max-pooling: forward picks the largest value of each window; backward routes
each window's gradient to the one position that won.

Tie rule: when several positions of a window hold the same maximum, the first
in row-major order within the window wins (PyTorch's CPU kernel picks the same
one). Only that position receives the gradient.

Two ways to find the winners, both whole-array operations (no loop over
pixels):

- Windows that tile the image (stride = kernel, the usual case) are reduced
  one axis at a time: the max over each row of a window, then the max over
  those rows. Each step compares a few contiguous slices and keeps, per
  window, the index of the first maximum (an int8), so backward just spreads
  dy back through the two indices.
- Any other windows (overlapping, or not tiling) loop over the kH * kW offsets
  of a window, each a strided view of the input with the output's shape.

With ``cr.fast.enable()`` (the ``[fast]`` extra), 2x2 windows with stride 2
run a compiled kernel instead (``compiled.py``): one pass, the same winners.

Pool order
----------
Both ways above compare strided slices: a window's neighbours sit next to
each other in memory, so NumPy's loops step over every other number. When the
layer before can write its output in another order (a convolution can: it
chooses the order of its columns), the pixels are better grouped by their
offset (a, b) inside the window:

    x_pool_order[n, c, (a kW + b) OH + i, j] = x[n, c, i kH + a, j kW + b],

a (N, C, kH kW OH, OW) array of kH kW planes, each (OH, OW): plane (a, b)
holds every window's pixel (a, b). Max-pooling is then an elementwise max of
kH kW contiguous planes, with the same winners (found as the tiled path
finds them, each window row first, so ties and NaN resolve alike), and its
backward writes whole planes. It
needs windows that tile the image exactly (stride = kernel, H and W
multiples of it). ``Sequential`` arranges it (see ``Sequential.forward``);
:func:`to_pool_order` and :func:`from_pool_order` convert.

Batch-last memory
-----------------
A wide convolution cannot write pool order cheaply, but it can hand over its
output in batch-last memory (``layout.py``): the same (N, C, H, W)
array in value, with the batch innermost in memory. The tiled path then
compares runs of N contiguous numbers, as fast as pool order; the pooled
output, a quarter of the size, is copied back to NCHW memory for the layers
after it, and backward returns dx in batch-last memory, the order the
convolution's backward reads. With ``[fast]``, 2x2 windows of batch-last
input run a compiled kernel of their own, which reads and writes that memory
as it is (the same winners).
"""

from __future__ import annotations

import numpy as np

from .. import fast
from .conv import conv_output_size
from .layout import as_batch_first, as_batch_last, batch_last_empty, is_batch_last


def pool_output_size(x_shape, kernel, stride) -> tuple[int, int]:
    """(OH, OW): a convolution's output size with no padding."""
    return (
        conv_output_size(x_shape[2], kernel[0], stride[0], 0),
        conv_output_size(x_shape[3], kernel[1], stride[1], 0),
    )


def _first_max(parts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Elementwise max over ``parts`` and the index of the first part holding it."""
    if len(parts) == 1:
        return parts[0].copy(), np.zeros(parts[0].shape, dtype=np.int8)
    best = np.maximum(parts[0], parts[1])
    index = (parts[1] > parts[0]).view(np.int8)  # strictly: ties keep the first
    if len(parts) > 127:
        index = index.astype(np.int16)
    for k in range(2, len(parts)):
        better = parts[k] > best
        np.maximum(best, parts[k], out=best)
        index = index + better * (k - index)  # k where better, else unchanged
    return best, index


def _planes_max(planes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Max-pooling of pool order, viewed as (N, C, kH, kW, OH OW) planes: the
    maximum and the winner's offset a kW + b.

    The winner is found as the tiled path finds it, each window row first
    (the first maximum of its kW planes), then across the rows: so ties, and
    windows holding NaN, send their gradient to the same pixel either way.
    """
    kh, kw = planes.shape[2:4]
    rows = [_first_max([planes[:, :, a, b] for b in range(kw)]) for a in range(kh)]
    y, row_index = _first_max([row_max for row_max, _ in rows])
    dtype = np.int8 if kh * kw <= 127 else np.int16
    index = rows[0][1].astype(dtype)
    for a in range(1, kh):  # the winning row's column, as offset a kW + b
        col = rows[a][1].astype(dtype) + np.array(a * kw, dtype)
        index += (row_index == a) * (col - index)
    return y, index


def to_pool_order(x: np.ndarray, kernel: tuple[int, int]) -> np.ndarray:
    """(N, C, H, W) -> (N, C, kH kW OH, OW): the pixels grouped by their offset
    in the window (module notes). H and W must be multiples of the kernel."""
    n, c, h, w = x.shape
    kh, kw = kernel
    x6 = x.reshape(n, c, h // kh, kh, w // kw, kw).transpose(0, 1, 3, 5, 2, 4)
    return x6.reshape(n, c, h * kw, w // kw)


def from_pool_order(x: np.ndarray, kernel: tuple[int, int]) -> np.ndarray:
    """The inverse of :func:`to_pool_order`: back to (N, C, H, W)."""
    n, c, rows, ow = x.shape
    kh, kw = kernel
    oh = rows // (kh * kw)
    x6 = x.reshape(n, c, kh, kw, oh, ow).transpose(0, 1, 4, 2, 5, 3)
    return x6.reshape(n, c, oh * kh, ow * kw)


def maxpool2d_forward(
    x: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    pool_order: bool = False,
):
    """y[n, c, i, j] = max over the window at (i*S, j*S) of x[n, c].

    With ``pool_order`` x is in pool order (module notes; stride = kernel),
    and backward returns dx in pool order too.

    Returns
    -------
    y : ndarray, shape (N, C, OH, OW)
    winners : tuple
        What backward needs to send each window's gradient to its winner.
    """
    kh, kw = kernel
    n, c = x.shape[:2]
    compiled = fast.kernels(x.dtype)  # the [fast] extra's kernels, if enabled
    if pool_order:
        oh, ow = x.shape[2] // (kh * kw), x.shape[3]
        planes = x.reshape(n, c, kh, kw, oh * ow)
        if compiled is not None and kh * kw <= 127:  # winners fit an int8
            y = np.empty((n, c, oh * ow), x.dtype)
            index = np.empty((n, c, oh * ow), np.int8)
            compiled.maxpool_planes_forward(np.ascontiguousarray(planes), y, index)
            kind = "pool order compiled"
        else:
            y, index = _planes_max(planes)
            kind = "pool order"
        return y.reshape(n, c, oh, ow), (kind, index, None, x.shape)
    oh, ow = pool_output_size(x.shape, kernel, stride)
    batch_last = is_batch_last(x)
    if compiled is not None and (kh, kw) == (2, 2) == tuple(stride):
        if batch_last:  # the kernel reads the (C, H, W, N) memory as it is
            y_last = np.empty((c, oh, ow, n), x.dtype)
            winner = np.empty((c, oh, ow, n), np.int8)
            compiled.maxpool2x2_forward_batch_last(np.moveaxis(x, 0, -1), y_last, winner)
            y = as_batch_first(np.moveaxis(y_last, -1, 0))
            return y, ("2x2 compiled batch last", winner, None, x.shape)
        y = np.empty((n, c, oh, ow), x.dtype)
        winner = np.empty((n, c, oh, ow), np.int8)
        compiled.maxpool2x2_forward(np.ascontiguousarray(x), y, winner)
        return y, ("2x2 compiled", winner, None, x.shape)
    if tuple(stride) == tuple(kernel) and kh * kw > 1:
        # Tiling windows: crop to whole windows, then reduce width, then height.
        # (Slices, not a reshape, so that batch-last memory is read as it is.)
        xc = x[:, :, : oh * kh, : ow * kw]
        row_max, col_index = _first_max([xc[..., b::kw] for b in range(kw)])
        stacked = row_max.reshape(n, c, oh, kh, ow)  # a view in either layout
        y, row_index = _first_max([stacked[:, :, :, a] for a in range(kh)])
        if batch_last:  # what follows (a flatten, an activation) reads NCHW best
            y = as_batch_first(y)
        return y, ("tiled", col_index, row_index, x.shape)
    # General windows: one strided view of the input per offset (a, b).
    parts = [
        x[:, :, a : a + stride[0] * oh : stride[0], b : b + stride[1] * ow : stride[1]]
        for a in range(kh)
        for b in range(kw)
    ]
    if len(parts) == 1:
        return parts[0].copy(), ("single", None, None, x.shape)
    y, index = _first_max(parts)
    return y, ("offsets", index, None, x.shape)


def maxpool2d_backward(
    dy: np.ndarray, winners, kernel: tuple[int, int], stride: tuple[int, int]
) -> np.ndarray:
    """dx[n, c, i*S + a, j*S + b] += dy[n, c, i, j] where (a, b) won the window.

    Windows that overlap (stride < kernel) add their contributions to a shared
    pixel; every other pixel gets 0. dx is in pool order when x was.
    """
    kind, first, second, x_shape = winners
    kh, kw = kernel
    n, c, oh, ow = dy.shape
    if "compiled" in kind:
        from . import compiled  # loaded already: forward used it
    if kind.startswith("pool order"):
        # Plane k of dx is dy where the window's winner is offset k, else 0.
        dx = np.empty((n, c, kh * kw, oh * ow), dtype=dy.dtype)
        dy3 = dy.reshape(n, c, oh * ow)
        if kind == "pool order compiled":
            compiled.maxpool_planes_backward(np.ascontiguousarray(dy3), first, dx)
        else:
            for k in range(kh * kw):
                np.multiply(dy3, first == k, out=dx[:, :, k])
        return dx.reshape(x_shape)
    if kind == "2x2 compiled":
        dx = np.empty(x_shape, dy.dtype)
        compiled.maxpool2x2_backward(np.ascontiguousarray(dy), first, dx)
        return dx
    if kind == "2x2 compiled batch last":  # dx in the memory forward's x had
        dx = batch_last_empty(x_shape, dy.dtype)
        dy_last = np.moveaxis(as_batch_last(dy), 0, -1)
        compiled.maxpool2x2_backward_batch_last(dy_last, first, np.moveaxis(dx, 0, -1))
        return dx
    if kind == "tiled":
        col_index, row_index = first, second
        # Every array in the layout forward's input had (module notes).
        empty = np.empty
        if is_batch_last(row_index):
            empty, dy = batch_last_empty, as_batch_last(dy)
        # Undo the height step: each window row gets dy where it won.
        d_rows = empty((n, c, oh, kh, ow), dtype=dy.dtype)
        for a in range(kh):
            np.multiply(dy, row_index == a, out=d_rows[:, :, :, a])
        d_rows = d_rows.reshape(n, c, oh * kh, ow)
        # Undo the width step, writing straight into dx's whole windows.
        # Every pixel of whole windows is written, so no zero-fill is needed.
        target = empty((n, c, oh * kh, ow * kw), dtype=dy.dtype)
        for b in range(kw):
            np.multiply(d_rows, col_index == b, out=target[..., b::kw])
        if (oh * kh, ow * kw) == tuple(x_shape[2:]):
            return target
        dx = empty(x_shape, dtype=dy.dtype)
        dx[...] = 0  # pixels past the last window
        dx[:, :, : oh * kh, : ow * kw] = target
        return dx
    dx = np.zeros(x_shape, dtype=dy.dtype)
    if kind == "single":
        dx[:, :, : stride[0] * oh : stride[0], : stride[1] * ow : stride[1]] += dy
        return dx
    index = first
    for k in range(kh * kw):
        a, b = divmod(k, kw)
        target = dx[
            :, :, a : a + stride[0] * oh : stride[0], b : b + stride[1] * ow : stride[1]
        ]
        target += dy * (index == k)
    return dx
