"""Pictures of training, written as PNG files with matplotlib.

matplotlib is an optional extra (``pip install 'chainrule[plots]'``), imported
only when a function here is called. Figures are drawn on the Agg canvas
through ``matplotlib.figure.Figure``, not pyplot: that works headless, leaves
the user's pyplot backend and open figures alone (a notebook keeps its inline
plots), and a figure nobody registered cannot leak.

Every function takes what it draws and a ``path``, writes one PNG at 100 dpi
and returns the path as a ``pathlib.Path``. ``save_all`` writes the usual set
for a classifier into one directory.

>>> from chainrule import plots                                # doctest: +SKIP
>>> plots.plot_history(history, "run/history.png")             # doctest: +SKIP
PosixPath('run/history.png')
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

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
        fig.savefig(path, dpi=DPI, format="png")
        fig.clear()


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
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


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
    if p.ndim == 1 or (p.ndim == 2 and p.shape[1] == 1):
        p = p.reshape(-1)
        if p.size and (p.min() < 0 or p.max() > 1):
            p = 1.0 / (1.0 + np.exp(-p))
        return np.stack([1.0 - p, p], axis=1)
    if p.ndim != 2:
        raise ValueError(f"{owner}: probs must have shape (N, K); got {p.shape}.")
    if p.size and ((p < 0).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-3)):
        z = np.exp(p - p.max(axis=1, keepdims=True))
        p = z / z.sum(axis=1, keepdims=True)
    return p


def _as_labels(owner: str, y, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:  # one-hot rows
        y = y.argmax(axis=1)
    y = y.reshape(-1).astype(np.int64)
    if len(y) != n:
        raise ValueError(
            f"{owner}: y_true must have {n} labels, one per image; got {len(y)}."
        )
    return y


def _as_images(owner: str, x) -> np.ndarray:
    """(N, H, W) or (N, H, W, 3) images from (N, C, H, W), (N, H, W) or (N, D)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 4:
        if x.shape[1] == 1:
            return x[:, 0]
        if x.shape[1] == 3:
            return x.transpose(0, 2, 3, 1)
        return x[:, 0]  # more channels than colours: show the first
    if x.ndim == 3:
        return x
    if x.ndim == 2:
        d = x.shape[1]
        side = 28 if d == 784 else math.isqrt(d)
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


# ----------------------------------------------------------------- functions
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


def plot_history(history, path: PathLike) -> Path:
    """Loss (left) and the first metric (right) per epoch, training and
    validation, with the best epoch marked when ``history.best_epoch`` is set.

    Parameters
    ----------
    history : History or dict of str -> list of float
        What ``cr.fit`` returned. Epochs are numbered from 1 on the x axis.
    path : str or path-like

    Returns
    -------
    pathlib.Path
        A 12 x 4.5 inch (1200 x 450 pixel) PNG.
    """
    values, epochs = _history_dict("plot_history", history)
    x = [e + 1 for e in epochs]
    skip = {"loss", "lr", "time"}
    metrics = [k for k in values if k not in skip and not k.startswith("val_")]
    best = getattr(history, "best_epoch", None)
    panels = [("loss", "Loss")] + [
        (m, m.replace("_", " ").capitalize()) for m in metrics[:1]
    ]

    with _figure((12, 4.5), path) as fig:
        for i, (key, label) in enumerate(panels):
            ax = fig.add_subplot(1, len(panels), i + 1)
            for name, style, colour in ((key, "o-", "C0"), (f"val_{key}", "s--", "C1")):
                if name in values and values[name]:
                    ys = values[name]
                    kind = "validation" if name.startswith("val_") else "training"
                    ax.plot(
                        x[: len(ys)], ys, style, color=colour, label=kind, markersize=4
                    )
            if best is not None:
                ax.axvline(
                    best + 1,
                    color="0.4",
                    linestyle=":",
                    linewidth=1.5,
                    label=f"best epoch ({best + 1})",
                )
            ax.set_title(f"{label} per epoch")
            ax.set_xlabel("epoch")
            ax.set_ylabel(label.lower() if key == "loss" else label)
            _integer_epochs(ax)
            ax.grid(True, alpha=0.3)
            ax.legend(loc="best")
    return Path(path)


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
                    text = f"{v:.2f}" if normalize and cm[i, j] else f"{int(v)}"
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
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{owner}: n must be a positive integer; got {n!r}.")
    images = _as_images(owner, x)
    p = _as_probabilities(owner, probs)
    if len(p) != len(images):
        raise ValueError(
            f"{owner}: probs must have one row per image; got {len(p)} rows for "
            f"{len(images)} images."
        )
    y = _as_labels(owner, y_true, len(images))
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
    """(dotted name, layer) of the first layer, in model order, with a weight."""

    def walk(module, prefix):
        if getattr(module, "weight", None) is not None and hasattr(
            module.weight, "data"
        ):
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
    if (
        isinstance(max_filters, bool)
        or not isinstance(max_filters, (int, np.integer))
        or (max_filters < 1)
    ):
        raise ValueError(
            f"{owner}: max_filters must be a positive integer; got {max_filters!r}."
        )
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
    side = 28 if d == 784 else (math.isqrt(d) if d else 0)
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


def plot_grad_norms(history, path: PathLike) -> Path:
    """Each parameter's mean gradient L2 norm per epoch, on a log y axis:
    where gradients vanish (falling towards 0) or explode.

    Parameters
    ----------
    history : History or dict of str -> list of float
        A History recorded with ``callbacks=[cr.callbacks.GradientNorms()]``
        (its ``grad_norms``), or that dict itself.
    path : str or path-like

    Returns
    -------
    pathlib.Path
        A 10 x 5.5 inch (1000 x 550 pixel) PNG; one line per parameter, one
        colour per layer, weights solid and biases dashed.
    """
    owner = "plot_grad_norms"
    norms = getattr(history, "grad_norms", history)
    if not isinstance(norms, Mapping):
        raise TypeError(
            f"{owner}: history must be a History or a dict of lists; "
            f"got {type(history).__name__}."
        )
    if not norms or not any(len(v) for v in norms.values()):
        raise ValueError(
            f"{owner}: history.grad_norms is empty; train with "
            "callbacks=[cr.callbacks.GradientNorms()] to record them."
        )
    layers: list[str] = []
    for name in norms:
        layer = name.rsplit(".", 1)[0] if "." in name else name
        if layer not in layers:
            layers.append(layer)
    many = len(norms) > 8
    with _figure((10, 5.5), path) as fig:
        ax = fig.add_subplot(1, 1, 1)
        for name, values in norms.items():
            v = np.asarray(values, dtype=np.float64)
            v = np.where(v > 0, v, np.nan)  # log scale: zero and below cannot be drawn
            layer = name.rsplit(".", 1)[0] if "." in name else name
            colour = f"C{layers.index(layer) % 10}"
            style = "--" if name.endswith("bias") else "-"
            ax.plot(
                np.arange(1, len(v) + 1),
                v,
                style,
                marker="o",
                markersize=4,
                color=colour,
                label=name,
            )
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("mean gradient L2 norm (log scale)")
        ax.set_title("Gradient norm per parameter (mean over the epoch's batches)")
        _integer_epochs(ax)
        ax.grid(True, which="both", alpha=0.3)
        if many:
            ax.legend(
                loc="upper left",
                bbox_to_anchor=(1.01, 1.0),
                fontsize=9,
                ncol=1 + len(norms) // 20,
            )
        else:
            ax.legend(loc="best")
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
    from .inference import predict

    owner = "plot_decision_boundary"
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"{owner}: x must have shape (N, 2); got {x.shape}.")
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


def save_all(
    run_dir: PathLike,
    model,
    history,
    x_test,
    y_test,
    probs,
    class_names: Sequence[str] | None = None,
) -> list[Path]:
    """Write the usual pictures of a classifier's run into ``run_dir``.

    history.png, confusion_matrix.png, misclassified.png, first_layer.png and
    grad_norms.png (the last only when ``history.grad_norms`` was recorded).

    Parameters
    ----------
    run_dir : str or path-like
        Created if missing.
    model : Module
    history : History
    x_test : ndarray, shape (N, ...)
    y_test : ndarray, shape (N,) of int, or (N, K) one-hot
    probs : ndarray, shape (N, K)
        The model's class probabilities (or logits) for ``x_test``.
    class_names : sequence of K str, optional

    Returns
    -------
    list of pathlib.Path
        The files written, in the order above.
    """
    from .metrics import confusion_matrix

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    p = _as_probabilities("save_all", probs)
    labels = _as_labels("save_all", y_test, len(p))
    k = max(p.shape[1], int(labels.max(initial=0)) + 1)
    cm = confusion_matrix(labels, p.argmax(axis=1), n_classes=k)
    paths = [
        plot_history(history, run_dir / "history.png"),
        plot_confusion_matrix(cm, class_names, run_dir / "confusion_matrix.png"),
        plot_misclassified(
            x_test, labels, p, class_names, run_dir / "misclassified.png"
        ),
        plot_first_layer(model, run_dir / "first_layer.png"),
    ]
    norms = getattr(history, "grad_norms", None)
    if norms and any(len(v) for v in norms.values()):
        paths.append(plot_grad_norms(history, run_dir / "grad_norms.png"))
    return paths


__all__ = [
    "plot_confusion_matrix",
    "plot_decision_boundary",
    "plot_first_layer",
    "plot_grad_norms",
    "plot_history",
    "plot_image_grid",
    "plot_misclassified",
    "save_all",
]
