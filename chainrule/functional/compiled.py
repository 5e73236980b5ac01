"""numba versions of kernels in this package: the ``[fast]`` extra.

Imported only by ``chainrule.fast.enable()``: numba is not a dependency of
the core. Each kernel is the plain loop of its NumPy twin's formula;
``tests/test_fast.py`` compares them.

The kernels write their large outputs into arrays the caller allocates with
NumPy. NumPy asks the operating system for huge pages on big arrays and
numba's allocator does not: allocated inside the kernels, the page faults of
three fresh 12.8 MB arrays a batch-norm step made them slower than NumPy.
They run on one thread: split over both cores with ``prange`` they were
slower still, because OpenBLAS's threads spin on the second core for a while
after every matrix product (benchmarks/README.md, round 3).
"""

from __future__ import annotations

import numpy as np
from numba import njit


# ----------------------------------------------------------- max-pooling
@njit(cache=True, nogil=True)
def _max(p, q):
    # np.maximum's rule: p when p >= q, NaN when either is NaN.
    return p if (p >= q or p != p) else q


@njit(cache=True, nogil=True)
def maxpool2x2_forward(x, y, winner):
    """2x2 windows, stride 2, over a C-contiguous (N, C, H, W) x.

    Writes y (N, C, H // 2, W // 2) and the winner of each window as an int8
    ``2 a + b`` (row a, column b). The winner is found as pooling.py finds it,
    width first, then height: the first maximum in row-major order.
    """
    n, c, oh, ow = y.shape
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


@njit(cache=True, nogil=True)
def maxpool2x2_backward(dy, winner, dx):
    """Writes dx (N, C, H, W): each window's dy at its winner, 0 elsewhere (and
    0 in a last row or column that no window covers)."""
    n, c, oh, ow = dy.shape
    # Zeros first, then one store per window: four times faster than writing
    # each window's four pixels with a select (measured on (64, 32, 28, 28)).
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


@njit(cache=True, nogil=True)
def maxpool2x2_forward_batch_last(x, y, winner):
    """:func:`maxpool2x2_forward` for an input in batch-last memory
    (``layout.py``), given as its C-contiguous (C, H, W, N) array: writes y
    and the winners, (C, H // 2, W // 2, N), the same way. The innermost loop
    runs over the batch, whose numbers are contiguous."""
    c, oh, ow, n = y.shape
    for ch in range(c):
        for i in range(oh):
            for j in range(ow):
                a0, a1 = x[ch, 2 * i, 2 * j], x[ch, 2 * i, 2 * j + 1]
                b0, b1 = x[ch, 2 * i + 1, 2 * j], x[ch, 2 * i + 1, 2 * j + 1]
                out, win = y[ch, i, j], winner[ch, i, j]
                for s in range(n):
                    ma, mb = _max(a0[s], a1[s]), _max(b0[s], b1[s])
                    if mb > ma:  # strictly: a tie keeps the top row
                        win[s] = 2 + (1 if b1[s] > b0[s] else 0)
                    else:
                        win[s] = 1 if a1[s] > a0[s] else 0
                    out[s] = _max(ma, mb)


@njit(cache=True, nogil=True)
def maxpool2x2_backward_batch_last(dy, winner, dx):
    """:func:`maxpool2x2_backward` in batch-last memory: dy and the winners
    (C, OH, OW, N), dx (C, H, W, N). Each of a window's four pixels is
    written once, dy times "is the winner" as pooling.py's NumPy path
    computes it, so only a last row or column no window covers needs zeros
    first. (A multiply, not a select: numba vectorises it, 5x faster.)"""
    c, oh, ow, n = dy.shape
    if dx.shape[1] > 2 * oh or dx.shape[2] > 2 * ow:
        dx.fill(0)
    for ch in range(c):
        for i in range(oh):
            for j in range(ow):
                d, k = dy[ch, i, j], winner[ch, i, j]
                t0, t1 = dx[ch, 2 * i, 2 * j], dx[ch, 2 * i, 2 * j + 1]
                u0, u1 = dx[ch, 2 * i + 1, 2 * j], dx[ch, 2 * i + 1, 2 * j + 1]
                for s in range(n):
                    t0[s] = d[s] * (k[s] == 0)
                    t1[s] = d[s] * (k[s] == 1)
                    u0[s] = d[s] * (k[s] == 2)
                    u1[s] = d[s] * (k[s] == 3)


@njit(cache=True, nogil=True)
def maxpool_planes_forward(x, y, winner):
    """Max-pooling of an input in pool order (pooling.py), viewed as (N, C,
    kH, kW, P): one plane of P = OH OW pixels per window offset (a, b).

    Writes y (N, C, P) and winner (N, C, P), the winning offset a kW + b,
    found as pooling.py's ``_planes_max`` finds it: the first maximum of each
    window row, then the first of the rows' maxima.
    """
    n, c, kh, kw, p = x.shape
    row_best = np.empty(p, x.dtype)  # one window row's maxima and columns
    row_col = np.empty(p, np.int8)
    for s in range(n):
        for ch in range(c):
            best = y[s, ch]
            w = winner[s, ch]
            for a in range(kh):
                first = x[s, ch, a, 0]
                for t in range(p):
                    row_best[t] = first[t]
                    row_col[t] = 0
                for b in range(1, kw):
                    plane = x[s, ch, a, b]
                    for t in range(p):
                        v = plane[t]
                        if v > row_best[t]:  # strictly: a tie keeps the earlier
                            row_col[t] = b
                        row_best[t] = _max(row_best[t], v)
                if a == 0:
                    for t in range(p):
                        best[t] = row_best[t]
                        w[t] = row_col[t]
                else:
                    for t in range(p):
                        if row_best[t] > best[t]:  # strictly, as above
                            w[t] = a * kw + row_col[t]
                        best[t] = _max(best[t], row_best[t])


@njit(cache=True, nogil=True)
def maxpool_planes_backward(dy, winner, dx):
    """Writes dx (N, C, K, P) in pool order (K = kH kW planes): dy (N, C, P)
    in plane k where the window's winner is k, 0 elsewhere."""
    n, c, k_count, p = dx.shape
    for s in range(n):
        for ch in range(c):
            d = dy[s, ch]
            w = winner[s, ch]
            for k in range(k_count):
                plane = dx[s, ch, k]
                for t in range(p):
                    plane[t] = d[t] if w[t] == k else 0.0


# ------------------------------------------------------------ batch norm
# The per-channel passes of layers/batchnorm.py in training mode, on x viewed
# as (N, C, L) (L = H W for images, 1 for features). NumPy takes five passes
# over the batch forward and six backward (a temporary per operation); these
# take three and two. Sums run in float64, and their terms may be added in any
# order (fastmath "reassoc" alone: without it a sum cannot use vector
# registers and ran 1.5x slower than NumPy), so they round differently from
# NumPy's float32 sums: the results agree to float32 rounding, not bit for bit.


# ------------------------------------------------------------ convolution
@njit(cache=True, nogil=True)
def col2im(d, padding, stride, same, dx):
    """conv.py's col2im in one pass: d (C, kH, kW, OH, OW, N), the column
    gradients sample last; writes dx (N, C, H, W), C-contiguous.

    Each image row of each channel is summed in a small (W, N) buffer, in
    the order of the NumPy path (the kernel centre's slab first for a
    "same" convolution, else zero, then the offsets in row-major order), so
    the sums are the same bit for bit; the buffer is then written out
    sample by sample, which is the copy back to NCHW done on the way.
    """
    c, kh, kw, oh, ow, n = d.shape
    h, w = dx.shape[2], dx.shape[3]
    ph, pw = padding
    sh, sw = stride
    acc = np.empty((w, n), d.dtype)
    for ch in range(c):
        for r in range(h):
            if same:
                acc[:, :] = d[ch, ph, pw, r]
            else:
                acc[:, :] = 0
            for i in range(kh):
                t = r + ph - i  # the output row o with o sH = t, if any
                if t < 0 or t % sh != 0 or t // sh >= oh:
                    continue
                o = t // sh
                for j in range(kw):
                    if same and i == ph and j == pw:
                        continue
                    for col in range(w):
                        u = col + pw - j
                        if u < 0 or u % sw != 0 or u // sw >= ow:
                            continue
                        src = d[ch, i, j, o, u // sw]
                        a = acc[col]
                        for s in range(n):
                            a[s] += src[s]
            for s in range(n):
                for col in range(w):
                    dx[s, ch, r, col] = acc[col, s]


@njit(cache=True, nogil=True, fastmath={"reassoc"})
def channel_sums(x):
    """sum over n and l of x[n, c, l], per channel, in float64."""
    n, c, l = x.shape
    out = np.zeros(c, np.float64)
    for s in range(n):
        for ch in range(c):
            acc = 0.0
            for t in range(l):
                acc += x[s, ch, t]
            out[ch] += acc
    return out


@njit(cache=True, nogil=True, fastmath={"reassoc"})
def channel_centre(x, mean, xc):
    """xc = x - mean[c], written into xc, and sum of xc^2 per channel (float64)."""
    n, c, l = x.shape
    squares = np.zeros(c, np.float64)
    for s in range(n):
        for ch in range(c):
            mu = mean[ch]
            acc = 0.0
            for t in range(l):
                v = x[s, ch, t] - mu
                xc[s, ch, t] = v
                acc += v * v
            squares[ch] += acc
    return squares


@njit(cache=True, nogil=True)
def channel_affine(x, scale, shift, y):
    """y = x[n, c, l] scale[c] + shift[c], written into y."""
    n, c, l = x.shape
    for s in range(n):
        for ch in range(c):
            a, b = scale[ch], shift[ch]
            for t in range(l):
                y[s, ch, t] = x[s, ch, t] * a + b


@njit(cache=True, nogil=True, fastmath={"reassoc"})
def channel_sum_and_dot(dy, xc):
    """(sum of dy, sum of dy xc) per channel, in float64, in one pass."""
    n, c, l = dy.shape
    sums = np.zeros(c, np.float64)
    dots = np.zeros(c, np.float64)
    for s in range(n):
        for ch in range(c):
            acc = 0.0
            dot = 0.0
            for t in range(l):
                g = dy[s, ch, t]
                acc += g
                dot += g * xc[s, ch, t]
            sums[ch] += acc
            dots[ch] += dot
    return sums, dots


@njit(cache=True, nogil=True)
def batchnorm_dx(dy, xc, on_dy, on_xc, shift, dx):
    """dx = dy on_dy[c] - xc on_xc[c] - shift[c] (see BatchNorm's backward),
    written into dx."""
    n, c, l = dy.shape
    for s in range(n):
        for ch in range(c):
            a, k, b = on_dy[ch], on_xc[ch], shift[ch]
            for t in range(l):
                dx[s, ch, t] = dy[s, ch, t] * a - xc[s, ch, t] * k - b


# ------------------------------------------------------------- optimizer
@njit(cache=True, nogil=True)
def sgd_update(p, g, v, lr, mu, nesterov, wd):
    """One step of optim.SGD over flat arrays, in one pass where NumPy takes
    two to four (a call each, for each parameter array).

    The formulas and their order are NumPy's, element by element, in the
    arrays' dtype (the scalars come cast to it), so the results are the same
    bit for bit (no fastmath, so no fused multiply-add either):
        g' = g + wd p                          (when wd)
        v = mu v + g';  g' = g' + mu v if nesterov else v   (when mu; v is
                                                written back)
        p -= g' lr
    """
    for i in range(p.size):
        gi = g[i]
        if wd != 0:
            gi = gi + wd * p[i]
        if mu != 0:
            vi = v[i] * mu + gi
            v[i] = vi
            gi = gi + mu * vi if nesterov else vi
        p[i] -= gi * lr
