"""What pool order costs and saves, piece by piece (see functional/pooling.py).

    python benchmarks/pool_order.py
    python benchmarks/pool_order.py --fast   # the pooling with the [fast] kernels

For the convolutions of the presets that a 2x2 max-pooling follows, times
(median of 15 min-of-5 timings, one thread's work, hot caches) the columns in
the usual order and in pool order, and the max-pooling forward and backward
on the usual layout and on pool order. The per-sample convolutions (few rows
per column: the seed CNN's, the two-conv CNN's first) get pool order from
``Sequential``; the two-conv CNN's second makes one wide product, and its
pool-order columns are measured here through the same gathering, to show
why it keeps the usual order.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import chainrule as cr
from chainrule.functional.conv import (
    _windows_in_pool_order,
    im2col,
    im2col_per_sample,
)
from chainrule.functional.pooling import (
    maxpool2d_backward,
    maxpool2d_forward,
    to_pool_order,
)

WINDOW = (2, 2)


def median_us(f, inner: int = 5, reps: int = 15) -> float:
    f()
    best = []
    for _ in range(reps):
        times = []
        for _ in range(inner):
            t = time.perf_counter()
            f()
            times.append(time.perf_counter() - t)
        best.append(min(times))
    return statistics.median(best) * 1e6


def wide_columns_in_pool_order(x, kernel, padding):
    """im2col's (C kH kW, N OH OW) columns with each sample's pixels in pool
    order, through the gathering the per-sample columns use."""
    v = _windows_in_pool_order(x, kernel, (1, 1), padding, WINDOW)
    n, c, kh, kw = v.shape[:4]
    return v.transpose(1, 2, 3, 0, 4, 5, 6, 7).reshape(c * kh * kw, -1)


def measure(rng, name, shape, oc, kernel, padding, per_sample) -> None:
    x = rng.standard_normal(shape).astype(np.float32)
    if per_sample:
        usual = median_us(lambda: im2col_per_sample(x, kernel, (1, 1), padding, True))
        ordered = median_us(
            lambda: im2col_per_sample(x, kernel, (1, 1), padding, True, WINDOW)
        )
    else:
        usual = median_us(lambda: im2col(x, kernel, (1, 1), padding))
        ordered = median_us(lambda: wide_columns_in_pool_order(x, kernel, padding))
    n = shape[0]
    oh = shape[2] + 2 * padding[0] - kernel[0] + 1
    ow = shape[3] + 2 * padding[1] - kernel[1] + 1
    y = rng.standard_normal((n, oc, oh, ow)).astype(np.float32)
    y_po = np.ascontiguousarray(to_pool_order(y, WINDOW))
    _, won = maxpool2d_forward(y, WINDOW, WINDOW)
    _, won_po = maxpool2d_forward(y_po, WINDOW, WINDOW, pool_order=True)
    dy = rng.standard_normal((n, oc, oh // 2, ow // 2)).astype(np.float32)
    fwd = median_us(lambda: maxpool2d_forward(y, WINDOW, WINDOW))
    fwd_po = median_us(lambda: maxpool2d_forward(y_po, WINDOW, WINDOW, pool_order=True))
    bwd = median_us(lambda: maxpool2d_backward(dy, won, WINDOW, WINDOW))
    bwd_po = median_us(lambda: maxpool2d_backward(dy, won_po, WINDOW, WINDOW))
    saved = usual + fwd + bwd - ordered - fwd_po - bwd_po
    print(
        f"{name}{'' if per_sample else ' (one wide product: not reordered)'}:\n"
        f"  columns:              usual {usual:6.0f} us, pool order {ordered:6.0f} us\n"
        f"  max-pooling forward:  usual {fwd:6.0f} us, pool order {fwd_po:6.0f} us\n"
        f"  max-pooling backward: usual {bwd:6.0f} us, pool order {bwd_po:6.0f} us\n"
        f"  pool order saves {saved:.0f} us",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="with cr.fast.enable()")
    args = ap.parse_args()
    if args.fast:
        cr.fast.enable()
    print("pooling: " + ("[fast] (numba)" if cr.fast.is_enabled() else "NumPy"))
    rng = np.random.default_rng(0)
    measure(rng, "seed CNN, Conv 1->16 5x5", (64, 1, 28, 28), 16, (5, 5), (0, 0), True)
    measure(
        rng,
        "two-conv CNN, Conv 1->32 3x3 p1",
        (64, 1, 28, 28),
        32,
        (3, 3),
        (1, 1),
        True,
    )
    measure(rng, "two-conv CNN, Conv 32->64 3x3 p1", (64, 32, 14, 14), 64, (3, 3), (1, 1), False)  # fmt: skip


if __name__ == "__main__":
    main()
