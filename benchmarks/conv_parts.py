"""Where a convolution's time goes: each piece of Conv2D's batched path alone.

    python benchmarks/conv_parts.py                       # the cnn preset's second conv
    OPENBLAS_NUM_THREADS=1 python benchmarks/conv_parts.py

Times (median of 20) the pieces ``layers.Conv2D`` runs for a 3x3, padding-1
convolution from 32 to 64 channels on a batch of 64 images of 14x14 (the
two-conv CNN's second layer, the largest part of its training step): the
im2col copy, the three matrix products, and the re-layouts and col2im around
them. The products are the floor NumPy cannot go below; the rest is what a
different layout could save.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from chainrule.functional.conv import col2im, im2col


def median_ms(f, reps: int = 20) -> float:
    f()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main() -> None:
    rng = np.random.default_rng(0)
    n, c, h, w, oc, k = 64, 32, 14, 14, 64, (3, 3)
    one, pad = (1, 1), (1, 1)
    x = rng.standard_normal((n, c, h, w), dtype=np.float32)
    w2 = rng.standard_normal((oc, c * 9), dtype=np.float32)
    dy = rng.standard_normal((n, oc, h, w), dtype=np.float32)
    cols = im2col(x, k, one, pad)
    y2 = w2 @ cols
    dy3 = dy.reshape(n, oc, -1)
    dy2 = dy3.transpose(1, 0, 2).reshape(oc, -1)
    dy_last = dy.transpose(1, 2, 3, 0).reshape(oc, -1)
    dcols = w2.T @ dy_last
    out = np.empty((n, oc, h * w), dtype=np.float32)
    parts = {
        "forward: im2col": lambda: im2col(x, k, one, pad),
        "forward: W @ cols": lambda: w2 @ cols,
        "forward: to NCHW": lambda: np.copyto(
            out, y2.reshape(oc, n, h * w).transpose(1, 0, 2)
        ),
        "backward: dy to (OC, N OH OW)": lambda: dy3.transpose(1, 0, 2).reshape(oc, -1),
        "backward: dW = cols @ dy.T": lambda: cols @ dy2.T,
        "backward: db": lambda: dy3.sum(axis=(0, 2)),
        "backward: dy sample-last": lambda: dy.transpose(1, 2, 3, 0).reshape(oc, -1),
        "backward: W.T @ dy": lambda: w2.T @ dy_last,
        "backward: col2im": lambda: col2im(dcols, x.shape, k, one, pad),
    }
    flops = 2 * oc * c * 9 * n * h * w
    print(
        f"Conv2D 32->64, 3x3, padding 1, batch 64 of 14x14 ({flops / 1e6:.0f} MFLOP a product):"
    )
    total = products = 0.0
    for name, f in parts.items():
        ms = median_ms(f)
        total += ms
        products += ms if "@" in name else 0.0
        print(f"  {name:<32} {ms:6.2f} ms")
    print(
        f"  total {total:.2f} ms: products {products:.2f} ms "
        f"({3 * flops / products / 1e6:.0f} GFLOP/s), the rest {total - products:.2f} ms"
    )


if __name__ == "__main__":
    main()
