"""The plumbing the pictures share: a headless figure, style, input checks."""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .._atomic import atomic_write
from ..functional.activations import sigmoid, softmax
from ..losses import _check_labels

DPI = 100

# Legible at 100 dpi without zooming: the defaults (10 pt) come out small.
_RC = {
    "font.size": 11,
    "axes.titlesize": 13,
    "axes.labelsize": 12,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "figure.titlesize": 14,
    "axes.grid": False,
}

PathLike = str | os.PathLike


# ------------------------------------------------------------------ plumbing
def _matplotlib():
    try:
        import matplotlib
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "plots need matplotlib: pip install 'chainrule[plots]'"
        ) from e
    return matplotlib


@contextmanager
def _figure(figsize: tuple[float, float], path: PathLike):
    """Yield a fresh Figure; on exit lay it out, write ``path`` and free it."""
    mpl = _matplotlib()
    from matplotlib.figure import Figure

    with mpl.rc_context(_RC):
        fig = Figure(figsize=figsize, dpi=DPI)
        yield fig
        fig.tight_layout()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Drawn in memory and renamed into place: Ctrl-C or a full disk
        # mid-way leaves the old picture or none, never half of one.
        buffer = io.BytesIO()
        fig.savefig(buffer, dpi=DPI, format="png")
        fig.clear()
        with atomic_write(path) as f:
            f.write(buffer.getvalue())


def _history_dict(owner: str, history) -> tuple[dict[str, list[float]], list[int]]:
    if hasattr(history, "history") and hasattr(history, "epoch"):
        values, epochs = history.history, list(history.epoch)
    elif isinstance(history, Mapping):
        values, epochs = dict(history), []
    else:
        raise TypeError(
            f"{owner}: history must be a chainrule History or a dict of lists; "
            f"got {type(history).__name__}."
        )
    n = max((len(v) for v in values.values()), default=0)
    if n == 0:
        raise ValueError(f"{owner}: history has no epochs; train with cr.fit() first.")
    if len(epochs) != n:
        epochs = list(range(n))
    return values, epochs


def _integer_epochs(ax) -> None:
    """Whole-number epoch ticks; a single epoch gets the axis 0.5 to 1.5 with
    one tick, not matplotlib's 0.945 to 1.055 around a lone point."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    xs = {float(v) for line in ax.get_lines() for v in np.atleast_1d(line.get_xdata())}
    if len(xs) == 1:
        (only,) = xs
        ax.set_xlim(only - 0.5, only + 0.5)
        ax.set_xticks([only])


def _class_names(class_names, k: int) -> list[str]:
    if class_names is None:
        return [str(i) for i in range(k)]
    names = [str(c) for c in class_names]
    if len(names) < k:
        names += [str(i) for i in range(len(names), k)]
    return names


def _as_probabilities(owner: str, probs) -> np.ndarray:
    """Class probabilities (N, K) from probabilities or raw scores.

    Rows that are not already probabilities (negative entries, or not summing
    to 1) are taken as logits and passed through a softmax; a single column is
    p(class 1) (through a sigmoid when outside [0, 1]).
    """
    p = np.asarray(probs, dtype=np.float64)
    if not np.isfinite(p).all():
        raise ValueError(f"{owner}: probs hold NaN or inf.")
    if p.ndim == 1 or (p.ndim == 2 and p.shape[1] == 1):
        p = p.reshape(-1)
        if p.size and (p.min() < 0 or p.max() > 1):
            p = sigmoid(p)
        return np.stack([1.0 - p, p], axis=1)
    if p.ndim != 2:
        raise ValueError(f"{owner}: probs must have shape (N, K); got {p.shape}.")
    if p.size and ((p < 0).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-3)):
        p = softmax(p, axis=1)  # logits given: the package's one softmax
    return p


def _as_labels(owner: str, y, n: int, k: int | None = None) -> np.ndarray:
    """Class numbers (N,) from labels or one-hot rows, checked as the losses
    check theirs; with ``k`` classes each must be one of 0 .. k-1 (a label
    of -1 would show the last class)."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:  # one-hot rows
        y = y.argmax(axis=1)
    y = y.reshape(-1)
    if len(y) != n:
        raise ValueError(
            f"{owner}: y_true must have {n} labels, one per image; got {len(y)}."
        )
    if y.dtype.kind == "b":
        y = y.astype(np.int64)
    return _check_labels(owner, y, n, k)


def _as_images(owner: str, x) -> np.ndarray:
    """(N, H, W) or (N, H, W, 3) images from (N, C, H, W), (N, H, W) or (N, D)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 4:
        if x.shape[1] == 3:
            return x.transpose(0, 2, 3, 1)
        return x[:, 0]  # grey, or more channels than colours: the first
    if x.ndim == 3:
        return x
    if x.ndim == 2:
        d = x.shape[1]
        side = math.isqrt(d)
        if side * side != d:
            raise ValueError(
                f"{owner}: flat images must have a square number of features "
                f"(784 for 28x28); got {d}. Reshape x to (N, 1, H, W)."
            )
        return x.reshape(len(x), side, side)
    raise ValueError(
        f"{owner}: x must have shape (N, 1, H, W), (N, H, W) or (N, H*W); got {x.shape}."
    )


def _grid_shape(n: int, ncols: int | None = None) -> tuple[int, int]:
    if ncols is None:
        ncols = min(n, max(1, math.ceil(math.sqrt(n))))
    ncols = max(1, min(ncols, n))
    return math.ceil(n / ncols), ncols


def _draw_grid(
    fig, images, titles, ncols, cmap, symmetric, title_size, vmin=None, vmax=None
) -> None:
    n = len(images)
    nrows, ncols = _grid_shape(n, ncols)
    for i, img in enumerate(images):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        img = np.asarray(img, dtype=np.float64)
        if img.ndim == 3 and img.shape[0] in (1, 3) and img.shape[-1] not in (1, 3):
            img = img.transpose(1, 2, 0)  # CHW -> HWC
        if img.ndim == 3 and img.shape[-1] == 1:
            img = img[..., 0]
        if img.ndim == 1:
            side = math.isqrt(img.size)
            img = img.reshape(side, -1) if side * side == img.size else img[None, :]
        if symmetric:
            lim = float(np.abs(img).max()) or 1.0
            ax.imshow(img, cmap=cmap, vmin=-lim, vmax=lim, interpolation="nearest")
        elif img.ndim == 3:
            lo, hi = float(img.min()), float(img.max())
            ax.imshow(
                (img - lo) / (hi - lo) if hi > lo else img * 0, interpolation="nearest"
            )
        else:
            ax.imshow(img, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        if titles is not None and i < len(titles) and titles[i]:
            ax.set_title(titles[i], fontsize=title_size)
