"""Inference: ``predict`` and ``evaluate``, in eval mode with no gradient work,
and the input checks that ``fit`` shares with them."""

from __future__ import annotations

import numpy as np

from ._checks import all_finite, integer
from .backend import no_grad
from .losses import BinaryCrossEntropy, Loss
from .metrics import Metric, get_metric
from .module import Module


def _as_inputs(owner: str, x, dtype) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind not in "fiub":
        raise TypeError(f"{owner}: x must be a numeric array; got dtype {x.dtype}.")
    if x.ndim < 1 or len(x) == 0:
        raise ValueError(
            f"{owner}: x must hold at least one sample; got shape {x.shape}."
        )
    if x.dtype != dtype:
        x = x.astype(dtype)
    if x.dtype.kind == "f" and not all_finite(x):
        raise ValueError(
            f"{owner}: x contains NaN or inf (first at row {_first_non_finite_row(x)})."
        )
    return x


def _first_non_finite_row(a: np.ndarray) -> int:
    return int(np.flatnonzero(~np.isfinite(a.reshape(len(a), -1)).all(axis=1))[0])


def _check_pair(owner: str, x: np.ndarray, y) -> np.ndarray:
    y = np.asarray(y)
    if len(y) != len(x):
        raise ValueError(
            f"{owner}: x and y must have the same number of samples; got {len(x)} and {len(y)}."
        )
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError(f"{owner}: y contains NaN or inf.")
    return y


def _model_dtype(model: Module):
    return model.dtype or np.float32


def _default_metrics(loss: Loss) -> list[str]:
    return list(loss.default_metrics)


def _metric_objects(metrics, loss: Loss) -> list[Metric]:
    if metrics is None:
        metrics = _default_metrics(loss)
    if isinstance(metrics, (str, Metric)):
        metrics = [metrics]
    # A single sigmoid output is a probability, a single logit is thresholded at 0.
    threshold = (
        0.0 if isinstance(loss, BinaryCrossEntropy) and loss.from_logits else 0.5
    )
    return [get_metric(m, threshold) for m in metrics]


# A batch's loss is a mean over its samples (summed for SSE); the loss of a
# whole set, in training and in evaluate alike, is the mean over all samples
# (for SSE the sum over all of them).
def _batch_total(loss: Loss, value: float, n: int) -> float:
    return value if loss.reduction == "sum" else value * n


def _set_loss(loss: Loss, total: float, n: int) -> float:
    return total if loss.reduction == "sum" else total / max(n, 1)


def _positive_int(owner: str, name: str, value, allow_zero: bool = False) -> int:
    return integer(owner, name, value, minimum=0 if allow_zero else 1)


def predict(model: Module, x, batch_size: int = 256) -> np.ndarray:
    """The model's outputs for ``x``, in eval mode (Dropout off), batch by
    batch, with no gradient bookkeeping.

    Parameters
    ----------
    x : ndarray, shape (N, ...)
    batch_size : int

    Returns
    -------
    ndarray, shape (N, ...)
    """
    batch_size = _positive_int("predict", "batch_size", batch_size)
    out = _outputs(model, _as_inputs("predict", x, _model_dtype(model)), batch_size)
    if out.dtype.kind == "f" and not all_finite(out):
        # The inputs were finite: the model overflows (weights that grew huge
        # in a run that diverged, or inputs far outside what it was trained on).
        largest = max(
            (float(np.abs(p.data).max()) for p in model.parameters() if p.data.size),
            default=0.0,
        )
        raise ValueError(
            f"predict: the model's output for row {_first_non_finite_row(out)} is NaN "
            f"or infinite, from a finite input; its weights reach {largest:.3g} in "
            f"size, and its computation overflows {out.dtype}."
        )
    return out


def _outputs(model: Module, x: np.ndarray, batch_size: int) -> np.ndarray:
    """predict on inputs already checked (evaluate checks them once, itself)."""
    # Switch modes only when needed: walking the modules twice is most of what
    # a one-sample prediction would otherwise cost.
    was_training = model.training
    if was_training:
        model.eval()
    try:
        with no_grad():
            if len(x) <= batch_size:
                out = model.forward(x)
                # An identity-like model may hand back the caller's own array.
                return out.copy() if np.may_share_memory(out, x) else out
            first = model.forward(x[:batch_size])
            out = np.empty((len(x), *first.shape[1:]), dtype=first.dtype)
            out[:batch_size] = first
            for start in range(batch_size, len(x), batch_size):
                out[start : start + batch_size] = model.forward(
                    x[start : start + batch_size]
                )
            return out
    finally:
        if was_training:
            model.train()


def evaluate(
    model: Module,
    loss: Loss,
    x,
    y,
    batch_size: int = 256,
    metrics=None,
    sample_weight=None,
) -> dict[str, float]:
    """The loss and metrics of ``model`` on (x, y), in eval mode.

    Returns
    -------
    dict
        ``{"loss": ..., "accuracy": ...}``: the loss averaged over all samples
        (summed for SSE) and each metric over the whole set.
    """
    metric_objs = _metric_objects(metrics, loss)
    x = _as_inputs("evaluate", x, _model_dtype(model))
    y = _check_pair("evaluate", x, y)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=x.dtype)
    batch_size = _positive_int("evaluate", "batch_size", batch_size)
    out = _outputs(model, x, batch_size)
    total = 0.0
    n = len(x)
    for start in range(0, n, batch_size):
        sl = slice(start, start + batch_size)
        with no_grad():  # nothing kept for a backward that never comes
            value = loss.forward(out[sl], y[sl], None if w is None else w[sl])
        total += _batch_total(loss, value, len(out[sl]))
    result = {"loss": _set_loss(loss, total, n)}
    for m in metric_objs:
        m.update(out, y)
        result[m.name] = m.result()
    return result
