"""Mini-batches and validation splits, as index arrays.

Working with indices rather than copies of the data keeps one copy of a large
data set in memory and lets the same batches index inputs, targets and sample
weights alike: ``for idx in iterate_minibatches(len(x), 32): step(x[idx], y[idx])``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .._checks import integer
from ..random import get_rng


def iterate_minibatches(
    n: int,
    batch_size: int,
    shuffle: bool = True,
    rng: int | np.random.Generator | None = None,
) -> Iterator[np.ndarray]:
    """Yield the indices of one epoch's mini-batches.

    Every index in range(n) appears exactly once per call. All batches have
    ``batch_size`` indices except the last, which holds the remainder
    (n % batch_size) when n is not a multiple.

    Parameters
    ----------
    n : int
        Number of samples.
    batch_size : int
        Indices per batch, >= 1.
    shuffle : bool
        Visit the samples in a fresh random order (SGD); otherwise 0, 1, 2, ...
    rng : int, np.random.Generator or None
        Source of the shuffle; None uses chainrule's default generator.

    Yields
    ------
    idx : np.ndarray, shape (batch_size,) or smaller for the last, int64

    Examples
    --------
    >>> from chainrule.data import iterate_minibatches
    >>> [b.tolist() for b in iterate_minibatches(5, 2, shuffle=False)]
    [[0, 1], [2, 3], [4]]
    """
    n = integer("iterate_minibatches", "n", n, minimum=0)
    batch_size = integer("iterate_minibatches", "batch_size", batch_size)
    # Draw the permutation now, not when the first batch is asked for, so the
    # generator's state advances at the call like every other use of rng.
    order = get_rng(rng).permutation(n) if shuffle else np.arange(n)
    return _batches(order, int(batch_size))


def _batches(order: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def stratified_split(
    y,
    fraction: float = 0.2,
    seed: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Split sample indices into (train_idx, val_idx), keeping class proportions.

    For integer (or bool) class labels, each class c with n_c samples gives
    round(fraction * n_c) of them to validation, so both parts have about the
    class mix of the whole. For other targets (float regression targets, one-hot
    rows) it is a plain random split of round(fraction * N) samples.

    Parameters
    ----------
    y : array_like, shape (N,) or (N, ...)
        Labels or targets; only its length is used for non-integer targets.
    fraction : float
        Share of samples that go to validation, in (0, 1).
    seed : int, np.random.Generator or None
        Source of randomness; None uses chainrule's default generator.

    Returns
    -------
    train_idx, val_idx : np.ndarray, int64
        Disjoint, together every index in range(N) once; each in shuffled order.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.data import stratified_split
    >>> y = np.array([0] * 80 + [1] * 20)
    >>> tr, va = stratified_split(y, 0.25, seed=0)
    >>> len(tr), len(va), int((y[va] == 1).sum())
    (75, 25, 5)
    """
    y = np.asarray(y)
    if y.ndim == 0:
        raise ValueError(
            f"stratified_split: y must have one entry per sample; got a scalar {y!r}."
        )
    fraction = float(fraction)
    if not 0.0 < fraction < 1.0:
        raise ValueError(
            f"stratified_split: fraction must be in (0, 1); got {fraction!r}."
        )
    rng = get_rng(seed)
    n = len(y)
    if y.ndim == 1 and y.dtype.kind in "iub":
        val = []
        for c in np.unique(y):
            members = rng.permutation(np.flatnonzero(y == c))
            val.append(members[: int(round(fraction * len(members)))])
        val_idx = np.concatenate(val) if val else np.empty(0, np.int64)
    else:
        val_idx = rng.permutation(n)[: int(round(fraction * n))]
    is_val = np.zeros(n, dtype=bool)
    is_val[val_idx] = True
    train_idx = rng.permutation(np.flatnonzero(~is_val))
    val_idx = rng.permutation(val_idx)
    return train_idx.astype(np.int64), val_idx.astype(np.int64)
