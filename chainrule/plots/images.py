"""Images: grids, the most confident mistakes, the first layer's weights."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._checks import integer
from ._figure import (
    PathLike,
    _as_images,
    _as_labels,
    _as_probabilities,
    _class_names,
    _draw_grid,
    _figure,
    _grid_shape,
)


def plot_image_grid(
    images,
    titles: Sequence[str] | None,
    path: PathLike,
    suptitle: str | None = None,
    ncols: int | None = None,
    cmap: str = "gray",
    symmetric: bool = False,
    vmin: float | None = None,
    vmax: float | None = None,
) -> Path:
    """A grid of images, each with an optional title.

    Parameters
    ----------
    images : sequence of ndarray, each (H, W), (1, H, W), (H, W, 3) or (H*W,)
        Flat images with a square number of pixels are shown square.
    titles : sequence of str or None
        One per image (an empty string leaves an image untitled).
    path : str or path-like
    suptitle : str, optional
        A title over the whole grid.
    ncols : int, optional
        Images per row; about sqrt(len(images)) by default. For original vs
        reconstruction pairs, interleave them and pass an even ``ncols``.
    cmap : str
        Colormap of single-channel images.
    symmetric : bool
        Centre each image's colour scale at 0 (for weights; use a diverging
        ``cmap`` such as "RdBu_r").
    vmin, vmax : float, optional
        One grey scale for every image (``0, 1`` compares originals with
        reconstructions fairly); by default each image spans its own range.

    Returns
    -------
    pathlib.Path
        The file written: ``ncols * 1.8`` by ``nrows * 2.0`` inches at 100 dpi
        (plus 0.6 inch for a suptitle).
    """
    images = list(images)
    if not images:
        raise ValueError(
            "plot_image_grid: images must hold at least one image; got none."
        )
    nrows, ncols = _grid_shape(len(images), ncols)
    figsize = (max(ncols * 1.8, 4.0), nrows * 2.0 + (0.6 if suptitle else 0.0))
    with _figure(figsize, path) as fig:
        _draw_grid(
            fig,
            images,
            titles,
            ncols,
            cmap,
            symmetric,
            title_size=10,
            vmin=vmin,
            vmax=vmax,
        )
        if suptitle:
            fig.suptitle(suptitle)
    return Path(path)


def plot_misclassified(
    x, y_true, probs, class_names: Sequence[str] | None, path: PathLike, n: int = 16
) -> Path:
    """The ``n`` most confidently misclassified images: wrong predictions
    sorted by the probability the model gave its (wrong) answer.

    Each image is titled ``true: 7  pred: 1 (0.98)``. With no mistakes the
    figure says so.

    Parameters
    ----------
    x : ndarray, shape (N, 1, H, W), (N, H, W) or (N, H*W)
        784 features are shown as 28x28, other square counts as sqrt x sqrt.
    y_true : ndarray, shape (N,) of int, or (N, K) one-hot
    probs : ndarray, shape (N, K)
        Predicted class probabilities; logits are turned into probabilities
        with a softmax.
    class_names : sequence of K str, or None for 0 .. K-1
    path : str or path-like
    n : int
        How many images at most.

    Returns
    -------
    pathlib.Path
        A grid of about sqrt(n) columns, 2.3 x 2.5 inches per image.
    """
    owner = "plot_misclassified"
    integer(owner, "n", n)
    images = _as_images(owner, x)
    p = _as_probabilities(owner, probs)
    if len(p) != len(images):
        raise ValueError(
            f"{owner}: probs must have one row per image; got {len(p)} rows for "
            f"{len(images)} images."
        )
    y = _as_labels(owner, y_true, len(images), p.shape[1])
    names = _class_names(class_names, p.shape[1])
    pred = p.argmax(axis=1)
    wrong = np.flatnonzero(pred != y)
    confidence = p[wrong, pred[wrong]]
    picked = wrong[np.argsort(-confidence, kind="stable")][:n]

    if len(picked) == 0:
        with _figure((6, 3), path) as fig:
            fig.text(
                0.5,
                0.5,
                f"No misclassified images:\nall {len(y):,} predicted correctly",
                ha="center",
                va="center",
                fontsize=15,
            )
        return Path(path)

    long_names = max(len(names[y[i]]) + len(names[pred[i]]) for i in picked) > 8
    sep = "\n" if long_names else "  "
    titles = [
        f"true: {names[y[i]]}{sep}pred: {names[pred[i]]} ({p[i, pred[i]]:.2f})"
        for i in picked
    ]
    nrows, ncols = _grid_shape(len(picked))
    figsize = (max(ncols * 2.3, 5.0), nrows * 2.5 + 0.7)
    with _figure(figsize, path) as fig:
        _draw_grid(fig, images[picked], titles, ncols, "gray_r", False, title_size=10)
        fig.suptitle(
            f"Most confident mistakes: {len(picked)} of {len(wrong):,} misclassified "
            f"({len(y):,} images)"
        )
    return Path(path)


def _first_weighted_layer(model):
    """(dotted name, layer) of the first layer, in model order, with a weight
    that has filters to show: 2-D (Linear) or 4-D (Conv2D). BatchNorm's 1-D
    scale is passed over (a model starting with one failed after training)."""

    def walk(module, prefix):
        weight = getattr(module, "weight", None)
        if weight is not None and getattr(weight, "data", np.empty(0)).ndim in (2, 4):
            yield prefix.rstrip("."), module
        for name, child in module.named_children():
            yield from walk(child, f"{prefix}{name}.")

    return next(walk(model, ""), (None, None))


def plot_first_layer(model, path: PathLike, max_filters: int = 64) -> Path:
    """The first trainable layer's weights as pictures: what each unit looks for.

    - ``Linear`` with 784 inputs: each row of ``weight`` (one hidden unit) as a
      28x28 image; other square input counts as sqrt x sqrt images.
    - ``Conv2D``: each filter's first input channel as a kH x kW image.
    - ``Linear`` with other input counts: each row as a bar chart over inputs.

    Images use a diverging colormap centred at 0 (red positive, blue negative),
    each scaled to its own largest ``|w|``.

    Parameters
    ----------
    model : Module
        A Sequential, Graph or single layer.
    path : str or path-like
    max_filters : int
        Show at most this many units or filters (the first ones).

    Returns
    -------
    pathlib.Path
    """
    owner = "plot_first_layer"
    integer(owner, "max_filters", max_filters)
    name, layer = _first_weighted_layer(model)
    if layer is None:
        raise ValueError(
            f"{owner}: the model has no layer with a weight (Linear or Conv2D); "
            f"got {type(model).__name__}."
        )
    w = np.asarray(layer.weight.data, dtype=np.float64)
    kind = type(layer).__name__
    label = f"layer {name}" if name else "the layer"
    if w.ndim == 4:
        filters = w[:, 0]
        desc = (
            f"{kind} {label}: {w.shape[0]} filters {w.shape[2]}x{w.shape[3]}"
            f"{' (input channel 0)' if w.shape[1] > 1 else ''}"
        )
    elif w.ndim == 2:
        filters = w
        desc = f"{kind} {label}: {w.shape[0]} units x {w.shape[1]} inputs"
    else:
        raise ValueError(
            f"{owner}: the first weight must be 2-D (Linear) or 4-D (Conv2D); got shape {w.shape}."
        )
    total = len(filters)
    filters = filters[:max_filters]
    shown = (
        f"first {len(filters)} of {total}" if len(filters) < total else f"all {total}"
    )
    suptitle = f"First-layer weights, {desc} ({shown})"

    d = filters.shape[1] if filters.ndim == 2 else None
    side = math.isqrt(d) if d else 0
    if filters.ndim == 3 or side * side == d:
        if filters.ndim == 2:
            filters = filters.reshape(len(filters), side, side)
        n = len(filters)
        nrows, ncols = _grid_shape(n)
        cell = 1.25 if n > 16 else 2.0
        figsize = (max(ncols * cell, 6.0), nrows * cell + 0.9)
        titles = [str(i) for i in range(n)]
        with _figure(figsize, path) as fig:
            _draw_grid(
                fig,
                filters,
                titles,
                ncols,
                "RdBu_r",
                True,
                title_size=8 if n > 16 else 10,
            )
            fig.suptitle(
                f"{suptitle}\nred > 0, blue < 0; each image scaled to its max |w|",
                fontsize=12,
            )
        return Path(path)

    n = len(filters)
    nrows, ncols = _grid_shape(n, min(n, 4))
    figsize = (ncols * 3.0, nrows * 2.2 + 0.8)
    lim = float(np.abs(filters).max()) or 1.0
    with _figure(figsize, path) as fig:
        for i, row in enumerate(filters):
            ax = fig.add_subplot(nrows, ncols, i + 1)
            colours = np.where(row >= 0, "tab:red", "tab:blue")
            ax.bar(np.arange(len(row)), row, color=colours, width=0.8)
            ax.axhline(0, color="0.3", linewidth=0.8)
            ax.set_ylim(-lim * 1.1, lim * 1.1)
            ax.set_title(f"unit {i}", fontsize=10)
            if len(row) <= 10:
                ax.set_xticks(np.arange(len(row)))
            if i // ncols == nrows - 1:
                ax.set_xlabel("input", fontsize=10)
            if i % ncols == 0:
                ax.set_ylabel("weight", fontsize=10)
        fig.suptitle(suptitle, fontsize=12)
    return Path(path)
