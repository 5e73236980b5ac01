"""Training curves: loss and metrics per epoch, gradient norms per layer."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ._figure import (
    PathLike,
    _figure,
    _history_dict,
    _integer_epochs,
)


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
    # A parameter "3.weight" belongs to layer "3"; one colour per layer, in order.
    layer_of = {name: name.rsplit(".", 1)[0] for name in norms}
    colour_of = {
        layer: f"C{i % 10}" for i, layer in enumerate(dict.fromkeys(layer_of.values()))
    }
    many = len(norms) > 8
    with _figure((10, 5.5), path) as fig:
        ax = fig.add_subplot(1, 1, 1)
        for name, values in norms.items():
            v = np.asarray(values, dtype=np.float64)
            v = np.where(v > 0, v, np.nan)  # log scale: zero and below cannot be drawn
            colour = colour_of[layer_of[name]]
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
