"""Pictures of the tasks beyond classification: predicted against true
(regression), the ROC curve (binary), reconstructions and the code scatter
(autoencoders)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._figure import PathLike, _figure
from .images import plot_image_grid


def plot_predicted_vs_true(
    pred, true, names: Sequence[str], path: PathLike
) -> Path:
    """One scatter per target (at most four) of predicted against true values,
    with the diagonal a perfect model would lie on and R^2 in the title.

    Parameters
    ----------
    pred, true : ndarray, shape (N, T)
    names : sequence of T str
    """
    pred = np.asarray(pred, np.float64).reshape(len(pred), -1)
    true = np.asarray(true, np.float64).reshape(len(true), -1)
    k = min(pred.shape[1], 4)
    with _figure((4.2 * k, 4.2), path) as fig:
        for j in range(k):
            ax = fig.add_subplot(1, k, j + 1)
            t, p = true[:, j], pred[:, j]
            ax.scatter(t, p, s=10, alpha=0.6)
            lo, hi = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
            ax.plot([lo, hi], [lo, hi], color="grey", lw=1, ls="--")
            ss = ((t - t.mean()) ** 2).sum()
            r2 = 1 - ((t - p) ** 2).sum() / ss if ss > 0 else float("nan")
            ax.set_title(f"{names[j]}  (R\u00b2 {r2:.3f})")
            ax.set_xlabel("true")
            ax.set_ylabel("predicted")
    return Path(path)


def plot_roc_curve(y_true, scores, path: PathLike, positive: str = "1") -> Path:
    """The ROC curve of a binary classifier, with its area in the title."""
    from ..metrics import roc_auc, roc_curve

    fpr, tpr = roc_curve(y_true, scores)
    with _figure((4.8, 4.6), path) as fig:
        ax = fig.add_subplot(1, 1, 1)
        ax.plot(fpr, tpr, lw=2)
        ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel(f"true positive rate (class {positive!r})")
        ax.set_title(f"ROC curve  (AUC {roc_auc(y_true, scores):.3f})")
    return Path(path)


def plot_reconstructions(x, rec, path: PathLike, n: int = 8) -> Path:
    """Originals (odd columns) beside their reconstructions, on one grey scale.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), values in [0, 1]
    rec : ndarray, shape (N, C*H*W) or (N, C, H, W)
    """
    x = np.asarray(x)[:n]
    rec = np.clip(np.asarray(rec)[: len(x)].reshape(x.shape), 0, 1)
    images, titles = [], []
    for a, b in zip(x, rec):
        for img, title in ((a, "original"), (b, "reconstructed")):
            images.append(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0))
            titles.append(title)
    return plot_image_grid(
        images, titles, path, suptitle="autoencoder", ncols=4, vmin=0, vmax=1
    )


def plot_codes(codes, labels, path: PathLike, label_name: str = "label") -> Path:
    """The first two code dimensions (the first two principal directions of
    the codes when the code has more than two), coloured by ``labels``."""
    c = np.asarray(codes, np.float64).reshape(len(codes), -1)
    if c.shape[1] > 2:
        centred = c - c.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        c = centred @ vt[:2].T
        axes = ("code PC 1", "code PC 2")
    elif c.shape[1] == 2:
        axes = ("code 1", "code 2")
    else:
        c = np.c_[c, np.zeros(len(c))]
        axes = ("code 1", "")
    with _figure((5.6, 4.8), path) as fig:
        ax = fig.add_subplot(1, 1, 1)
        if labels is None:
            ax.scatter(c[:, 0], c[:, 1], s=8, alpha=0.7)
        else:
            labels = np.asarray([str(v) for v in labels])
            kinds = sorted(set(labels))
            if len(kinds) <= 20:
                for k in kinds:
                    m = labels == k
                    ax.scatter(c[m, 0], c[m, 1], s=8, alpha=0.7, label=k)
                ax.legend(title=label_name, markerscale=2, fontsize=8)
            else:  # a numeric label: a colour scale instead of a legend
                try:
                    v = labels.astype(np.float64)
                except ValueError:
                    v = np.unique(labels, return_inverse=True)[1].astype(np.float64)
                sc = ax.scatter(c[:, 0], c[:, 1], s=8, c=v, cmap="viridis")
                fig.colorbar(sc, ax=ax, label=label_name)
        ax.set_xlabel(axes[0])
        ax.set_ylabel(axes[1])
        ax.set_title("codes")
    return Path(path)
