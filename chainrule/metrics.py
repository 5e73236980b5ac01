"""Metrics: accuracy, top-k accuracy, MAE, R^2, confusion matrix, precision
and recall.

Each metric class accumulates over the batches of an epoch (``update``) and
reports the value for everything it saw (``result``), so an epoch's accuracy
is exact, not a mean of per-batch means. The plain functions compute the same
on whole arrays.
"""

from __future__ import annotations

import copy

import numpy as np

from ._checks import integer


def _labels_from_outputs(y_pred: np.ndarray, threshold: float) -> np.ndarray:
    """Predicted classes: argmax of class scores, or a threshold on one output."""
    if y_pred.ndim == 2 and y_pred.shape[1] > 1:
        return y_pred.argmax(axis=1)
    return (y_pred.reshape(len(y_pred)) >= threshold).astype(np.int64)


def _true_labels(y_true: np.ndarray) -> np.ndarray:
    y_true = np.asarray(y_true)
    if y_true.ndim == 2 and y_true.shape[1] > 1:  # one-hot or probability rows
        return y_true.argmax(axis=1)
    return y_true.reshape(len(y_true)).astype(np.int64)


class Metric:
    """Base class: ``reset()``, ``update(y_pred, y_true)``, ``result() -> float``."""

    name = "metric"

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def fresh(self) -> Metric:
        """A new, empty metric with the same settings."""
        m = copy.copy(self)
        m.reset()
        return m

    def result(self) -> float:
        return float(self.total / self.count) if self.count else float("nan")

    def state_dict(self) -> dict:
        """The running sums, JSON-friendly, for checkpoints."""
        return {"total": float(self.total), "count": float(self.count)}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""
        if isinstance(state, list):  # checkpoints written before the dict form
            state = dict(zip(("total", "count"), state))
        self.total, self.count = state["total"], state["count"]


class Accuracy(Metric):
    """Fraction of samples whose predicted class is the true class.

    Class scores (N, K) are read by argmax; a single output (N, 1) by
    ``output >= threshold`` (0.5 for probabilities, 0 for logits).
    """

    name = "accuracy"

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold
        super().__init__()

    def update(self, y_pred, y_true) -> None:
        pred = _labels_from_outputs(y_pred, self.threshold)
        self.total += float(np.count_nonzero(pred == _true_labels(y_true)))
        self.count += len(pred)


class TopKAccuracy(Metric):
    """Fraction of samples whose true class is among the k highest scores."""

    def __init__(self, k: int = 5) -> None:
        self.k = integer("TopKAccuracy", "k", k)
        self.name = f"top{self.k}_accuracy"
        super().__init__()

    def update(self, y_pred, y_true) -> None:
        k = min(self.k, y_pred.shape[1])
        top = np.argpartition(-y_pred, k - 1, axis=1)[:, :k]
        hit = (top == _true_labels(y_true)[:, None]).any(axis=1)
        self.total += float(np.count_nonzero(hit))
        self.count += len(hit)


class MeanAbsoluteError(Metric):
    """MAE = 1/(N D) sum |y - t| over every output."""

    name = "mae"

    def update(self, y_pred, y_true) -> None:
        t = np.asarray(y_true, dtype=np.float64).reshape(y_pred.shape)
        self.total += float(np.abs(y_pred - t).sum())
        self.count += y_pred.size


class R2Score(Metric):
    """Coefficient of determination R^2 = 1 - SS_res / SS_tot, over all outputs
    pooled (scikit-learn's ``r2_score`` with ``multioutput='variance_weighted'``;
    the same as its default for one output).

    SS_tot = sum_i (t_i - mean t)^2 is gathered batch by batch as a running
    mean and sum of squared deviations (Chan et al.'s pairwise update), not as
    sum t^2 - (sum t)^2 / n, which cancels to noise for targets far from zero
    (values near 1e8 with a spread of 1).
    """

    name = "r2"

    def reset(self) -> None:
        self.ss_res = 0.0
        self.mean = None  # per output
        self.m2 = None  # per output: sum of squared deviations from the mean
        self.count = 0.0

    def update(self, y_pred, y_true) -> None:
        t = np.asarray(y_true, dtype=np.float64).reshape(y_pred.shape)
        t2 = t.reshape(len(t), -1)
        if not len(t2):
            return
        self.ss_res += float(((y_pred.reshape(t2.shape) - t2) ** 2).sum())
        nb = float(len(t2))
        mb = t2.mean(axis=0)
        m2b = ((t2 - mb) ** 2).sum(axis=0)
        if self.mean is None:
            self.mean, self.m2, self.count = mb, m2b, nb
            return
        n = self.count + nb
        delta = mb - self.mean
        self.mean = self.mean + delta * (nb / n)
        self.m2 = self.m2 + m2b + delta**2 * (self.count * nb / n)
        self.count = n

    def result(self) -> float:
        if not self.count:
            return float("nan")
        ss_tot = float(self.m2.sum())
        return 1.0 - self.ss_res / ss_tot if ss_tot > 0 else float("nan")

    def state_dict(self) -> dict:
        return {
            "ss_res": self.ss_res,
            "mean": None if self.mean is None else self.mean.tolist(),
            "m2": None if self.m2 is None else self.m2.tolist(),
            "count": self.count,
        }

    def load_state_dict(self, state: dict) -> None:
        if isinstance(state, list):  # checkpoints written before the dict form
            state = dict(zip(("ss_res", "sum_t", "sum_t2", "count"), state))
        self.ss_res, self.count = state["ss_res"], state["count"]
        if "sum_t" in state:  # checkpoints written with sums of t and t^2
            s, s2 = state["sum_t"], state["sum_t2"]
            if s is None or not self.count:
                self.mean = self.m2 = None
            else:
                s, s2 = np.asarray(s), np.asarray(s2)
                self.mean = s / self.count
                self.m2 = s2 - s * s / self.count
            return
        mean, m2 = state["mean"], state["m2"]
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float64)
        self.m2 = None if m2 is None else np.asarray(m2, dtype=np.float64)


METRICS = {
    "accuracy": Accuracy,
    "acc": Accuracy,
    "mae": MeanAbsoluteError,
    "r2": R2Score,
}


def get_metric(spec, threshold: float = 0.5) -> Metric:
    """A Metric from a name ('accuracy', 'topK_accuracy', 'mae', 'r2') or instance."""
    if isinstance(spec, Metric):
        return spec
    if isinstance(spec, str):
        if spec in ("accuracy", "acc"):
            return Accuracy(threshold)
        if spec.startswith("top") and spec.endswith("_accuracy"):
            k = spec[3 : -len("_accuracy")]
            if k.isdigit():
                return TopKAccuracy(int(k))
        if spec in METRICS:
            return METRICS[spec]()
    raise ValueError(
        f"metrics: unknown metric {spec!r}; expected one of accuracy, topK_accuracy "
        "(e.g. top5_accuracy), mae, r2, or a chainrule.metrics.Metric."
    )


# ---------------------------------------------------------------- functions
def accuracy(y_pred, y_true, threshold: float = 0.5) -> float:
    """Fraction of correct predictions (argmax, or threshold for one output)."""
    m = Accuracy(threshold)
    m.update(np.asarray(y_pred), y_true)
    return m.result()


def top_k_accuracy(y_pred, y_true, k: int = 5) -> float:
    m = TopKAccuracy(k)
    m.update(np.asarray(y_pred), y_true)
    return m.result()


def mean_absolute_error(y_pred, y_true) -> float:
    m = MeanAbsoluteError()
    m.update(np.asarray(y_pred, dtype=np.float64), y_true)
    return m.result()


def r2_score(y_pred, y_true) -> float:
    m = R2Score()
    m.update(np.asarray(y_pred, dtype=np.float64), y_true)
    return m.result()


def confusion_matrix(y_true, y_pred, n_classes: int | None = None) -> np.ndarray:
    """C[i, j] = number of samples of true class i predicted as class j.

    ``y_pred`` may be labels (N,) or class scores (N, K).
    """
    y_pred = np.asarray(y_pred)
    pred = (
        _labels_from_outputs(y_pred, 0.5)
        if y_pred.ndim == 2
        else y_pred.astype(np.int64)
    )
    true = _true_labels(y_true)
    if n_classes is None:
        n_classes = int(max(pred.max(initial=0), true.max(initial=0))) + 1
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (true, pred), 1)
    return cm


def precision_recall(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class precision C[k,k]/sum_i C[i,k] and recall C[k,k]/sum_j C[k,j]
    (0 where a class was never predicted or never present)."""
    tp = np.diag(cm).astype(np.float64)
    predicted = cm.sum(axis=0)
    actual = cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    return precision, recall


def roc_curve(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    """False and true positive rates as the threshold falls through ``scores``.

    Returns
    -------
    fpr, tpr : ndarray, from (0, 0) to (1, 1); tied scores make one step.
    """
    t = np.asarray(y_true).reshape(-1).astype(bool)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    order = np.argsort(-s, kind="mergesort")
    s, t = s[order], t[order]
    # The last index of each run of equal scores: one point per threshold.
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp = np.cumsum(t)[last]
    fp = (last + 1) - tp
    p, n = max(int(t.sum()), 1), max(int((~t).sum()), 1)
    return np.r_[0.0, fp / n], np.r_[0.0, tp / p]


def roc_auc(y_true, scores) -> float:
    """Area under the ROC curve: the probability that a random positive
    scores above a random negative (ties count one half).

    Computed from ranks (the Mann-Whitney U statistic): AUC = (R+ - n+(n+ + 1)/2)
    / (n+ n-), with R+ the sum of the positives' ranks and tied scores given
    their mean rank. NaN when only one class is present.

    >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    t = np.asarray(y_true).reshape(-1).astype(bool)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    n_pos = int(t.sum())
    n_neg = len(t) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    # Runs of equal scores share the mean of the ranks they span.
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_s)) + 1]
    ends = np.r_[starts[1:], len(s)]
    mean_rank = (starts + ends + 1) / 2.0  # ranks are 1-based
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return float((ranks[t].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
