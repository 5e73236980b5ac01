"""Pictures of training, written as PNG files with matplotlib.

matplotlib is an optional extra (``pip install 'chainrule[plots]'``), imported
only when a function here is called. Figures are drawn on the Agg canvas
through ``matplotlib.figure.Figure``, not pyplot: that works headless, leaves
the user's pyplot backend and open figures alone (a notebook keeps its inline
plots), and a figure nobody registered cannot leak.

Every function takes what it draws and a ``path``, writes one PNG at 100 dpi
and returns the path as a ``pathlib.Path``. ``save_all`` writes the usual set
for a classifier into one directory.

For example, with the ``History`` that ``cr.fit`` returned::

    from chainrule import plots
    plots.plot_history(history, "run/history.png")  # -> Path('run/history.png')

(``tests/test_plots.py`` draws every picture and checks what it shows.)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ._figure import DPI, PathLike, _as_labels, _as_probabilities
from .evaluation import plot_confusion_matrix, plot_decision_boundary
from .images import plot_first_layer, plot_image_grid, plot_misclassified
from .training import plot_grad_norms, plot_history

__all__ = [
    "DPI",
    "plot_confusion_matrix",
    "plot_decision_boundary",
    "plot_first_layer",
    "plot_grad_norms",
    "plot_history",
    "plot_image_grid",
    "plot_misclassified",
    "save_all",
]


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
    from ..metrics import confusion_matrix

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
