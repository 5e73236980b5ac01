"""The seeds' four tasks: what each trains with and how each is scored.

==========  =======================  ===============  ===========================
task        output layer             losses           test metrics
==========  =======================  ===============  ===========================
regress     Linear(T)                mse (the 1/2),   RMSE, MAE, R^2 per target,
                                     sse              in the target's units
binary      Linear(1), Sigmoid       bce              accuracy, precision, recall,
                                                      F1, ROC AUC (threshold 0.5)
classify    Linear(K) (+LogSoftmax   ce (softmax      accuracy, macro precision,
            for nll)                 fused), nll      recall, F1, confusion matrix
autoencode  Linear(D) (+Sigmoid      mse, sse, bce    reconstruction MSE against
            for bce)                                  PCA with as many components
==========  =======================  ===============  ===========================

Binary classification is the seeds' single sigmoid output with binary
cross-entropy, not a two-way softmax (``--task classify`` gives that).

>>> infer_task([{"numeric": True, "integers": True, "distinct": 2}])[0]
'binary'
"""

from __future__ import annotations

import numpy as np

from . import losses as _losses

TASKS = ("regress", "binary", "classify", "autoencode")

LOSSES = {
    "mse": _losses.MSE,
    "sse": _losses.SSE,
    "bce": _losses.BinaryCrossEntropy,
    "ce": _losses.CrossEntropy,
    "nll": _losses.NLL,
}

#: The losses each task can train with, the default first.
TASK_LOSSES = {
    "regress": ("mse", "sse"),
    "binary": ("bce",),
    "classify": ("ce", "nll"),
    "autoencode": ("mse", "sse", "bce"),
}

_WHY_NOT = {
    ("binary", "ce"): "use --task classify for a two-way softmax with ce",
    ("binary", "nll"): "use --task classify for a two-way softmax with nll",
    ("binary", "mse"): "binary classification trains a sigmoid with bce",
    ("regress", "bce"): "bce needs targets in [0, 1]; use --task binary for 0/1 targets",
    ("regress", "ce"): "ce needs class labels; use --task classify",
    ("classify", "mse"): "classes are not numbers; use --task regress to fit numbers",
    ("classify", "bce"): "use --task binary for one sigmoid output with bce",
}


def check_loss(task: str, loss: str | None) -> str:
    """The loss name to train ``task`` with (its default when ``loss`` is None).

    Raises
    ------
    ValueError
        An unknown task or loss, or a loss that does not fit the task.
    """
    if task not in TASKS:
        raise ValueError(f"--task must be one of {', '.join(TASKS)}; got {task!r}.")
    if loss is None:
        return TASK_LOSSES[task][0]
    if loss not in LOSSES:
        raise ValueError(f"--loss must be one of {', '.join(LOSSES)}; got {loss!r}.")
    if loss not in TASK_LOSSES[task]:
        why = _WHY_NOT.get((task, loss), "")
        raise ValueError(
            f"--loss {loss} does not fit --task {task}, which trains with "
            f"{' or '.join(TASK_LOSSES[task])}" + (f"; {why}." if why else ".")
        )
    return loss


def make_loss(name: str) -> _losses.Loss:
    return LOSSES[name]()


def head_spec(task: str, loss: str, n_out: int) -> str:
    """The SPEC of the output layers that end a preset for this task."""
    if task == "binary":
        return "linear1-sigmoid"
    if task == "classify" and loss == "nll":
        return f"linear{n_out}-logsoftmax"
    if task == "autoencode" and loss == "bce":
        return f"linear{n_out}-sigmoid"
    return f"linear{n_out}"


def infer_task(targets: list[dict]) -> tuple[str, str]:
    """The task for the given target columns, and why, in words.

    Parameters
    ----------
    targets : list of dict
        Per target column: ``numeric`` (bool), ``integers`` (bool, all values
        whole numbers), ``distinct`` (int, or None when over 1,000), ``name``.

    Returns
    -------
    task, reason : str, str
    """
    from .data.tables import CLASS_INFER_MAX

    if not targets:
        return "autoencode", "no target column"
    if len(targets) > 1:
        return "regress", f"{len(targets)} target columns"
    t = targets[0]
    name = repr(t.get("name", "target"))
    k = t["distinct"]
    if not t["numeric"]:
        if k == 2:
            return "binary", f"target {name} has 2 distinct values"
        return "classify", f"target {name} is text with {k} distinct values"
    if k == 2:
        return "binary", f"target {name} has 2 distinct values"
    if t["integers"] and k is not None and k <= CLASS_INFER_MAX:
        return "classify", (
            f"target {name} has {k} distinct whole numbers; use --task regress to "
            "predict it as a number"
        )
    return "regress", f"target {name} is numeric"


# ------------------------------------------------------------------ metrics
def regression_metrics(pred: np.ndarray, true: np.ndarray, names) -> dict:
    """RMSE, MAE and R^2 per target column (arrays (N, T), in the same units)."""
    pred = np.asarray(pred, np.float64).reshape(len(pred), -1)
    true = np.asarray(true, np.float64).reshape(len(true), -1)
    # Each column in units of its largest value, so that squares of values
    # near 1e300 (a column in float64's range) do not overflow to inf; R^2 is
    # a ratio, and RMSE is scaled back.
    top = np.abs(true).max(axis=0)
    unit = np.where((top > 0) & np.isfinite(top), top, 1.0)
    err = (pred - true) / unit
    rmse = np.sqrt((err**2).mean(axis=0)) * unit
    mae = np.abs(err).mean(axis=0) * unit
    ss_res = (err**2).sum(axis=0)
    t = true / unit
    ss_tot = ((t - t.mean(axis=0)) ** 2).sum(axis=0)
    r2 = np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1), np.nan)
    per = {
        str(n): {"rmse": float(a), "mae": float(b), "r2": float(c)}
        for n, a, b, c in zip(names, rmse, mae, r2)
    }
    return {
        "rmse": float(rmse.mean()),
        "mae": float(mae.mean()),
        "r2": float(np.nanmean(r2)) if np.isfinite(r2).any() else float("nan"),
        "per_target": per,
    }


def binary_metrics(prob: np.ndarray, true: np.ndarray, threshold: float = 0.5) -> dict:
    """Accuracy, precision, recall, F1 and ROC AUC of P(positive) against 0/1."""
    from .metrics import roc_auc

    p = np.asarray(prob, np.float64).reshape(-1)
    t = np.asarray(true).reshape(-1).astype(bool)
    pred = p >= threshold
    tp = int((pred & t).sum())
    fp = int((pred & ~t).sum())
    fn = int((~pred & t).sum())
    tn = int((~pred & ~t).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "accuracy": (tp + tn) / max(len(t), 1),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "roc_auc": roc_auc(t, p),
        "threshold": threshold,
        "confusion_matrix": [[tn, fp], [fn, tp]],
    }


def classification_metrics(scores: np.ndarray, true: np.ndarray, k: int) -> dict:
    """Accuracy, macro precision / recall / F1, per class, and the confusion matrix."""
    from .metrics import confusion_matrix, precision_recall

    cm = confusion_matrix(true, np.asarray(scores).argmax(axis=1), n_classes=k)
    precision, recall = precision_recall(cm)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
    return {
        "accuracy": float(np.trace(cm) / max(cm.sum(), 1)),
        "precision": float(precision.mean()),
        "recall": float(recall.mean()),
        "f1": float(f1.mean()),
        "per_class_precision": precision.tolist(),
        "per_class_recall": recall.tolist(),
        "confusion_matrix": cm.tolist(),
    }


def pca_reconstruction_mse(x_train: np.ndarray, x_test: np.ndarray, k: int) -> float:
    """Mean squared error of reconstructing ``x_test`` from its first ``k``
    principal components fitted on ``x_train``: the linear baseline an
    autoencoder with a code of size k should match or beat."""
    a = np.asarray(x_train, np.float64).reshape(len(x_train), -1)
    b = np.asarray(x_test, np.float64).reshape(len(x_test), -1)
    mu = a.mean(axis=0)
    # Eigenvectors of the D x D covariance: cheaper than an SVD of N x D rows.
    cov = (a - mu).T @ (a - mu)
    _, vecs = np.linalg.eigh(cov)
    v = vecs[:, ::-1][:, : min(k, vecs.shape[1])]
    rec = (b - mu) @ v @ v.T + mu
    return float(((rec - b) ** 2).mean())


def autoencode_metrics(
    x_train: np.ndarray, x_test: np.ndarray, rec: np.ndarray, k: int
) -> dict:
    """The autoencoder's reconstruction MSE on the test rows, PCA's with k
    components, and their ratio (below 1: the autoencoder wins)."""
    b = np.asarray(x_test, np.float64).reshape(len(x_test), -1)
    mse = float(((np.asarray(rec, np.float64).reshape(b.shape) - b) ** 2).mean())
    pca = pca_reconstruction_mse(x_train, x_test, k)
    return {
        "reconstruction_mse": mse,
        "pca_mse": pca,
        "ratio_to_pca": mse / pca if pca > 0 else float("nan"),
        "code_size": k,
    }
