"""Evaluation: the confusion matrix and a 2-D decision boundary."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._checks import integer
from ._figure import (
    PathLike,
    _as_labels,
    _class_names,
    _figure,
    _matplotlib,
)


def plot_confusion_matrix(
    cm, class_names: Sequence[str] | None, path: PathLike, normalize: bool = False
) -> Path:
    """An annotated heat map of a confusion matrix: true class down the
    y axis, predicted class along the x axis, overall accuracy in the title.

    Parameters
    ----------
    cm : ndarray, shape (K, K)
        ``cm[i, j]`` counts samples of true class i predicted as j
        (``cr.metrics.confusion_matrix``).
    class_names : sequence of K str, or None for 0 .. K-1
    path : str or path-like
    normalize : bool
        Show each row as fractions of its true class (per-class recall on the
        diagonal) instead of counts.

    Returns
    -------
    pathlib.Path
        A square PNG: 8 x 7 inches up to 12 classes, larger beyond.
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(
            f"plot_confusion_matrix: cm must have shape (K, K); got {cm.shape}."
        )
    if cm.dtype.kind not in "iuf" or not np.isfinite(cm).all() or (cm < 0).any():
        raise ValueError(
            "plot_confusion_matrix: cm must hold finite, non-negative counts "
            "(or fractions)."
        )
    k = cm.shape[0]
    names = _class_names(class_names, k)
    total = cm.sum()
    accuracy = float(np.trace(cm)) / total if total else float("nan")
    if normalize:
        rows = cm.sum(axis=1, keepdims=True)
        shown = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    else:
        shown = cm

    grow = max(0, k - 12) * 0.5
    figsize = (8 + grow, 7 + grow)
    with _figure(figsize, path) as fig:
        ax = fig.add_subplot(1, 1, 1)
        im = ax.imshow(shown, cmap="Blues", vmin=0, interpolation="nearest")
        cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        cbar.set_label("fraction of true class" if normalize else "count")
        if k <= 30:
            size = 11 if k <= 10 else max(6, 11 - (k - 10) // 3)
            for i in range(k):
                for j in range(k):
                    v = shown[i, j]
                    # An empty cell reads "0", not "0.00": the eye finds the mistakes.
                    # Counts as whole numbers, anything else (a matrix
                    # normalised elsewhere) as it is.
                    whole = float(v).is_integer()
                    fraction = (normalize and cm[i, j]) or not whole
                    text = f"{v:.2f}" if fraction else f"{int(v)}"
                    # Pick black or white by the cell's luminance, so text
                    # stays readable on both dark and light cells.
                    r, g, b, _ = im.cmap(im.norm(v))
                    colour = (
                        "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"
                    )
                    ax.text(
                        j,
                        i,
                        text,
                        ha="center",
                        va="center",
                        color=colour,
                        fontsize=size,
                    )
        ax.set_xticks(range(k))
        ax.set_yticks(range(k))
        long_names = max(len(n) for n in names) > 3
        ax.set_xticklabels(
            names,
            rotation=45 if long_names else 0,
            ha="right" if long_names else "center",
            rotation_mode="anchor",
        )
        ax.set_yticklabels(names)
        ax.set_xlabel("predicted label")
        ax.set_ylabel("true label")
        what = "row-normalised" if normalize else "counts"
        ax.set_title(
            f"Confusion matrix ({what})\naccuracy {accuracy:.1%} on {int(total):,} samples"
        )
    return Path(path)


def plot_decision_boundary(
    model,
    x,
    y,
    path: PathLike,
    title: str = "Decision boundary",
    class_names: Sequence[str] | None = None,
    resolution: int = 300,
) -> Path:
    """The classes a model predicts over the plane, with the data on top.

    Evaluates ``cr.predict`` on a ``resolution`` x ``resolution`` grid around
    the points, colours each region by its predicted class (shaded lighter
    where the model is less sure) and scatters the points by true class.

    Parameters
    ----------
    model : Module
        Maps (M, 2) inputs to class scores (M, K), or to one output (M, 1)
        read as a probability (thresholded at 0.5) when all outputs lie in
        [0, 1], else as a logit (thresholded at 0).
    x : ndarray, shape (N, 2)
    y : ndarray, shape (N,) of int labels, or (N, K) one-hot
    path : str or path-like
    title : str
        The plot's title; the accuracy on (x, y) is added below it.
    class_names : sequence of str, optional
        Legend entries; "class 0", "class 1", ... by default.
    resolution : int
        Grid points per axis.

    Returns
    -------
    pathlib.Path
        A 7 x 6 inch (700 x 600 pixel) PNG.
    """
    from ..inference import predict

    owner = "plot_decision_boundary"
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 2 or not len(x):
        raise ValueError(
            f"{owner}: x must have shape (N, 2) with N >= 1; got {x.shape}."
        )
    if not np.isfinite(x).all() or np.abs(x).max() > 1e150:
        # The grid around the points is evaluated too: it must stay finite.
        raise ValueError(f"{owner}: x must hold finite points below 1e150 in size.")
    integer(owner, "resolution", resolution, minimum=2)
    labels = _as_labels(owner, y, len(x))
    lo, hi = x.min(axis=0), x.max(axis=0)
    pad = np.maximum((hi - lo) * 0.1, 1e-3)
    lo, hi = lo - pad, hi + pad
    g0, g1 = np.meshgrid(
        np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution)
    )
    grid = np.column_stack([g0.ravel(), g1.ravel()])

    def classify(inputs):
        out = np.asarray(predict(model, inputs), dtype=np.float64)
        out = out.reshape(len(inputs), -1)
        if out.shape[1] == 1:
            s = out[:, 0]
            probability = s.min() >= 0 and s.max() <= 1
            return (s >= (0.5 if probability else 0.0)).astype(np.int64), out
        return out.argmax(axis=1), out

    grid_pred, grid_out = classify(grid)
    point_pred, _ = classify(x)
    accuracy = float(np.mean(point_pred == labels))
    k = int(max(labels.max(initial=0), grid_pred.max(initial=0))) + 1
    if grid_out.shape[1] > 1:
        k = max(k, grid_out.shape[1])
    names = (
        [f"class {c}" for c in range(k)]
        if class_names is None
        else _class_names(class_names, k)
    )

    mpl = _matplotlib()
    with _figure((7, 6), path) as fig:
        from matplotlib.colors import ListedColormap

        base = mpl.colormaps["tab10"]
        colours = [base(c % 10) for c in range(k)]
        ax = fig.add_subplot(1, 1, 1)
        ax.contourf(
            g0,
            g1,
            grid_pred.reshape(g0.shape),
            levels=np.arange(k + 1) - 0.5,
            cmap=ListedColormap(colours),
            alpha=0.3,
        )
        # The boundary itself: where the predicted class changes.
        ax.contour(
            g0,
            g1,
            grid_pred.reshape(g0.shape),
            levels=np.arange(k) + 0.5,
            colors="0.25",
            linewidths=1.0,
        )
        for c in range(k):
            mask = labels == c
            if mask.any():
                ax.scatter(
                    x[mask, 0],
                    x[mask, 1],
                    s=22,
                    color=colours[c],
                    edgecolors="black",
                    linewidths=0.5,
                    label=names[c],
                )
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
        ax.set_title(f"{title}\naccuracy {accuracy:.1%} on {len(x):,} points")
        ax.legend(loc="best", framealpha=0.9)
    return Path(path)
