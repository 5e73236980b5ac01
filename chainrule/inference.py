"""Inference: ``predict`` and ``evaluate``, in eval mode with no gradient work,
and the input checks that ``fit`` shares with them."""

from __future__ import annotations

import numpy as np

from ._checks import all_finite, integer
from .backend import no_grad
from .losses import BinaryCrossEntropy, Loss
from .metrics import Metric, get_metric
from .models.graph import Graph
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


def _check_weights(owner: str, sample_weight, n: int, dtype) -> np.ndarray | None:
    """One finite, non-negative weight per sample, checked against the whole
    set (the loss checks each batch's share, and would name the batch's
    shape)."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight)
    if w.dtype.kind not in "fiub":
        raise TypeError(
            f"{owner}: sample_weight must be numeric; got dtype {w.dtype}."
        )
    if w.shape != (n,):
        raise ValueError(
            f"{owner}: sample_weight must have shape ({n},), one weight per sample; "
            f"got {w.shape}."
        )
    w = w.astype(dtype, copy=False)
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError(f"{owner}: sample_weight must be finite and non-negative.")
    return w


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


def predict(model: Module, x, batch_size: int = 256):
    """The model's outputs for ``x``, in eval mode (Dropout off), batch by
    batch, with no gradient bookkeeping.

    Parameters
    ----------
    x : ndarray, shape (N, ...), or a list of them
        A Graph with several inputs takes a list (or tuple) of arrays, one per
        input in the order of ``model.inputs``, with the same N.
    batch_size : int

    Returns
    -------
    ndarray, shape (N, ...), or a tuple of them
        A tuple for a Graph with several outputs, one array per output.
    """
    batch_size = _positive_int("predict", "batch_size", batch_size)
    dtype = _model_dtype(model)
    n_in = _n_inputs(model)
    if n_in == 1:
        xs = [_as_inputs("predict", x, dtype)]
    else:
        if not isinstance(x, (list, tuple)) or len(x) != n_in:
            got = f"a list of {len(x)}" if isinstance(x, (list, tuple)) else "one array"
            raise ValueError(
                f"predict: this Graph has {n_in} inputs, so x must be a list of "
                f"{n_in} arrays (one per input, in the order of model.inputs); got {got}."
            )
        xs = [_as_inputs(f"predict (input {i})", xi, dtype) for i, xi in enumerate(x)]
        if len({len(xi) for xi in xs}) > 1:
            raise ValueError(
                f"predict: the inputs must have the same number of samples; got "
                f"{[len(xi) for xi in xs]}."
            )
    outs = _outputs(model, xs, batch_size)
    for k, out in enumerate(outs):
        if out.dtype.kind == "f" and not all_finite(out):
            # The inputs were finite: the model overflows (weights that grew huge
            # in a run that diverged, or inputs far outside what it was trained on).
            largest = max(
                (float(np.abs(p.data).max()) for p in model.parameters() if p.data.size),
                default=0.0,
            )
            which = f"output {k} for row" if len(outs) > 1 else "output for row"
            raise ValueError(
                f"predict: the model's {which} {_first_non_finite_row(out)} is NaN "
                f"or infinite, from a finite input; its weights reach {largest:.3g} in "
                f"size, and its computation overflows {out.dtype}."
            )
    return tuple(outs) if _n_outputs(model) > 1 else outs[0]


def _n_inputs(model: Module) -> int:
    """How many arrays the model's forward takes (a Graph may take several)."""
    return len(model.inputs) if isinstance(model, Graph) else 1


def _n_outputs(model: Module) -> int:
    return len(model.outputs) if isinstance(model, Graph) else 1


def _one_in_one_out(owner: str, model: Module) -> None:
    """fit and evaluate pair one output with one y: refuse other models plainly
    (a list of inputs would otherwise be read as one stacked array)."""
    n_in, n_out = _n_inputs(model), _n_outputs(model)
    if (n_in, n_out) != (1, 1):
        raise ValueError(
            f"{owner}: takes a model with one input and one output; this Graph has "
            f"{n_in} input(s) and {n_out} output(s). Use predict for its outputs, "
            "or call the model, the loss and backward in a loop of your own."
        )


def _outputs(model: Module, xs: list[np.ndarray], batch_size: int) -> list[np.ndarray]:
    """The model's outputs (a list, one array per output) for inputs already
    checked (evaluate checks them once, itself)."""
    # Switch modes only when needed: walking the modules twice is most of what
    # a one-sample prediction would otherwise cost.
    was_training = model.training
    if was_training:
        model.eval()
    try:
        with no_grad():
            n = len(xs[0])
            if n <= batch_size:
                out = model.forward(*xs)
                if len(xs) == 1 and type(out) is np.ndarray:  # the common case
                    # An identity-like model may hand back the caller's array.
                    return [out.copy() if np.may_share_memory(out, xs[0]) else out]
                return [
                    o.copy() if any(np.may_share_memory(o, xi) for xi in xs) else o
                    for o in _as_list(out)
                ]
            first = _as_list(model.forward(*(xi[:batch_size] for xi in xs)))
            outs = [np.empty((n, *f.shape[1:]), dtype=f.dtype) for f in first]
            for o, f in zip(outs, first):
                o[:batch_size] = f
            for start in range(batch_size, n, batch_size):
                part = model.forward(*(xi[start : start + batch_size] for xi in xs))
                for o, p in zip(outs, _as_list(part)):
                    o[start : start + batch_size] = p
            return outs
    finally:
        if was_training:
            model.train()


def _as_list(out) -> list[np.ndarray]:
    return list(out) if isinstance(out, (tuple, list)) else [out]


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
    _one_in_one_out("evaluate", model)
    metric_objs = _metric_objects(metrics, loss)
    x = _as_inputs("evaluate", x, _model_dtype(model))
    y = _check_pair("evaluate", x, y)
    w = _check_weights("evaluate", sample_weight, len(x), x.dtype)
    batch_size = _positive_int("evaluate", "batch_size", batch_size)
    [out] = _outputs(model, [x], batch_size)
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
