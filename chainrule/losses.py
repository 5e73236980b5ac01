"""Losses derived from maximum likelihood (seed 000), each with its gradient.

Every loss averages over the N samples of the batch (except SSE, a plain
sum), so that the learning rate does not depend on the batch size. With
``sample_weight`` w, the average becomes L = (1/N) sum_i w_i l_i.

``forward(y, t)`` returns the loss as a float and keeps what ``backward()``
needs; ``backward()`` returns dL/dy with the shape and dtype of y.
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import all_finite
from ._checks import real as _real
from .backend import ForwardCache
from .functional.activations import log_softmax, sigmoid, softmax_columns_, softplus


class Loss(ForwardCache):
    """Base class: ``forward(y, t, sample_weight=None) -> float``, ``backward() -> dL/dy``."""

    #: "mean" losses average over the batch; "sum" losses (SSE) add up.
    reduction = "mean"

    #: The metrics ``fit`` and ``evaluate`` report when given none: a
    #: classification loss says "accuracy".
    default_metrics: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.cache = None

    def __call__(self, y, t, sample_weight=None) -> float:
        return self.forward(y, t, sample_weight)

    def forward(self, y, t, sample_weight=None) -> float:
        raise NotImplementedError

    def backward(self) -> np.ndarray:
        raise NotImplementedError

    # -- checks shared by the losses ------------------------------------------
    def _prediction(self, y) -> np.ndarray:
        y = np.asarray(y)
        if y.dtype.kind != "f":
            y = y.astype(np.float32)
        if y.ndim < 1 or y.shape[0] == 0:
            raise ValueError(
                f"{type(self).__name__}: predictions must have a batch axis with at "
                f"least one sample; got shape {y.shape}."
            )
        return y

    def _weights(self, sample_weight, n: int, dtype) -> np.ndarray | None:
        if sample_weight is None:
            return None
        w = np.asarray(sample_weight, dtype=dtype)
        if w.shape != (n,):
            raise ValueError(
                f"{type(self).__name__}: sample_weight must have shape ({n},); got {w.shape}."
            )
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError(
                f"{type(self).__name__}: sample_weight must be finite and non-negative."
            )
        return w

    def _same_shape_target(self, y: np.ndarray, t) -> np.ndarray:
        t = np.asarray(t)
        if t.dtype.kind not in "fiub":
            raise TypeError(
                f"{type(self).__name__}: targets must be numeric; got {t.dtype}."
            )
        if t.shape != y.shape and _same_layout(t.shape, y.shape):
            t = t.reshape(y.shape)  # (N,) targets for an (N, 1) output, say
        if t.shape != y.shape:
            raise ValueError(
                f"{type(self).__name__}: targets must have the predictions' shape "
                f"{y.shape}; got {t.shape}."
            )
        return t.astype(y.dtype, copy=False)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _same_layout(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """Whether targets of shape ``a`` can stand for predictions of shape ``b``
    read in the same order: the same batch and number of values per sample,
    and either the same axes up to axes of length 1 ((N,) for (N, 1)) or one
    side flat ((N, 784) for (N, 1, 28, 28), as Flatten orders them). A
    transposed target, (N, 3, 2) for (N, 2, 3), is not: its values would be
    compared with the wrong predictions."""
    if a[:1] != b[:1] or math.prod(a) != math.prod(b):
        return False
    rest_a = [d for d in a[1:] if d != 1]
    rest_b = [d for d in b[1:] if d != 1]
    return rest_a == rest_b or len(a) <= 2 or len(b) <= 2


def _per_sample(v: np.ndarray) -> np.ndarray:
    """Sum every axis but the batch axis."""
    return v.reshape(v.shape[0], -1).sum(axis=1)


def _reduce(per_sample: np.ndarray, w: np.ndarray | None, mean: bool = True) -> float:
    """(1/N) sum_i w_i l_i, or the plain sum without ``mean``."""
    if w is not None:
        per_sample = per_sample * w
    total = per_sample.sum(dtype=np.float64)
    return float(total / per_sample.shape[0] if mean else total)


def _scale(n: int, w: np.ndarray | None, ndim: int, dtype, mean: bool = True):
    """The factor w_i / N (w_i without ``mean``) broadcast over sample i's
    entries, or the scalar 1/N (1) without weights."""
    d = n if mean else 1
    if w is None:
        return np.asarray(1.0 / d, dtype=dtype)
    return (w / d).astype(dtype).reshape(n, *([1] * (ndim - 1)))


class MSE(Loss):
    """Mean squared error with the seeds' 1/2: L = 1/(2N) sum_i ||t_i - y_i||^2.

    Backward: dL/dy = (y - t) / N

    The 1/2 cancels the 2 of the derivative. Minimising it is maximum
    likelihood under Gaussian noise of fixed variance (seed 000).

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> loss = cr.losses.MSE()
    >>> loss(np.array([[1.0], [3.0]]), np.array([[0.0], [1.0]]))
    1.25
    """

    def forward(self, y, t, sample_weight=None) -> float:
        y = self._prediction(y)
        t = self._same_shape_target(y, t)
        w = self._weights(sample_weight, y.shape[0], y.dtype)
        diff = y - t
        self.keep_cache((diff, w))
        return 0.5 * _reduce(_per_sample(diff * diff), w)

    def backward(self) -> np.ndarray:
        diff, w = self.take_cache()
        return diff * _scale(diff.shape[0], w, diff.ndim, diff.dtype)


class SSE(Loss):
    """Sum of squared errors (residual sum of squares): L = sum_i ||t_i - y_i||^2.

    Backward: dL/dy = 2 (y - t)
    Not averaged: the gradient grows with the batch. With sample weights,
    L = sum_i w_i ||t_i - y_i||^2.
    """

    reduction = "sum"

    def forward(self, y, t, sample_weight=None) -> float:
        y = self._prediction(y)
        t = self._same_shape_target(y, t)
        w = self._weights(sample_weight, y.shape[0], y.dtype)
        diff = y - t
        self.keep_cache((diff, w))
        return _reduce(_per_sample(diff * diff), w, mean=False)

    def backward(self) -> np.ndarray:
        diff, w = self.take_cache()
        return 2 * diff * _scale(diff.shape[0], w, diff.ndim, diff.dtype, mean=False)


class BinaryCrossEntropy(Loss):
    """L = -1/N sum_i sum_j [t log y + (1 - t) log(1 - y)]: the negative
    log-likelihood of independent Bernoulli outputs (seed 000).

    Backward (probabilities): dL/dy = (y - t) / (y (1 - y)) / N
    Backward (``from_logits=True``, y = z the pre-sigmoid value):
              dL/dz = (sigma(z) - t) / N, computed from
              l = max(z, 0) - t z + log(1 + exp(-|z|)), stable for any z.

    Parameters
    ----------
    from_logits : bool
        Take pre-sigmoid values instead of probabilities. Prefer it: it is
        stable where a saturated sigmoid would give log(0).
    eps : float
        With probabilities, y is clipped to [eps, 1 - eps] so that a confident
        wrong answer costs a large finite loss instead of inf.
    """

    default_metrics = ("accuracy",)

    def __init__(self, from_logits: bool = False, eps: float = 1e-7) -> None:
        super().__init__()
        self.from_logits = bool(from_logits)
        self.eps = _real("BinaryCrossEntropy", "eps", eps)
        if not 0.0 < self.eps < 0.5:
            # [eps, 1 - eps] must be an interval of probabilities, and eps = 0
            # would let log(0) through.
            raise ValueError(
                f"BinaryCrossEntropy: eps must be in (0, 0.5); got {eps!r}."
            )

    def forward(self, y, t, sample_weight=None) -> float:
        y = self._prediction(y)
        t = self._same_shape_target(y, t)
        if not _in_unit_interval(t):
            raise ValueError("BinaryCrossEntropy: targets must be in [0, 1].")
        w = self._weights(sample_weight, y.shape[0], y.dtype)
        if self.from_logits:
            per = softplus(y) - t * y
            self.keep_cache(("logits", y, t, w))
        else:
            if not _in_unit_interval(y):
                bad = y[~((y >= 0) & (y <= 1))].flat[0]
                raise ValueError(
                    "BinaryCrossEntropy: predictions must be probabilities in [0, 1]; "
                    f"got {bad}. Pass from_logits=True for pre-sigmoid values."
                )
            yc = np.clip(y, self.eps, 1 - self.eps)
            per = -(t * np.log(yc) + (1 - t) * np.log1p(-yc))
            self.keep_cache(("probs", yc, t, w))
        return _reduce(_per_sample(per), w)

    def backward(self) -> np.ndarray:
        kind, y, t, w = self.take_cache()
        scale = _scale(y.shape[0], w, y.ndim, y.dtype)
        if kind == "logits":
            return (sigmoid(y) - t) * scale
        return (y - t) / (y * (1 - y)) * scale

    def __repr__(self) -> str:
        return f"BinaryCrossEntropy(from_logits={self.from_logits})"


def _in_unit_interval(a: np.ndarray) -> bool:
    """Every value in [0, 1]: in one test, since NaN fails both comparisons."""
    return bool(((a >= 0) & (a <= 1)).all())


def _check_labels(owner: str, t, n: int, k: int | None) -> np.ndarray:
    """Integer class labels in [0, k) for n samples (``k`` None: not negative,
    no upper bound)."""
    t = np.asarray(t)
    if t.shape != (n,):
        raise ValueError(
            f"{owner}: integer targets must have shape ({n},) for {n} predictions; "
            f"got {t.shape}."
        )
    if t.dtype.kind == "f":
        if not np.all(np.isfinite(t)) or np.any(t != np.round(t)):
            i = int(np.flatnonzero(~np.isfinite(t) | (t != np.round(t)))[0])
            raise ValueError(
                f"{owner}: target labels must be integers; got {t[i]} at row {i}."
            )
        t = t.astype(np.int64)
    elif t.dtype.kind not in "iu":
        raise TypeError(
            f"{owner}: target labels must be integers; got dtype {t.dtype}."
        )
    top = np.iinfo(np.int64).max if k is None else k
    if t.size and (
        t.min() < 0 or t.max() >= top
    ):  # two reductions; the mask only on error
        i = int(np.flatnonzero((t < 0) | (t >= top))[0])
        raise ValueError(
            f"{owner}: target labels must be integers in [0, {k}); got {t[i]} at row {i}."
        )
    return t


class CrossEntropy(Loss):
    """Softmax and categorical cross-entropy fused, on logits z.

    L = -1/N sum_i sum_k t_ik log softmax(z_i)_k
      = 1/N sum_i (logsumexp(z_i) - z_i,t_i)        for integer labels t_i
    Backward: dL/dz = (softmax(z) - t) / N, the seeds' "o - y".

    With label smoothing eps (PyTorch's definition), the target of sample i
    is mixed with the uniform distribution over the K classes before the
    cross-entropy is taken:

        q_ik = (1 - eps) t_ik + eps / K
        L = -1/N sum_i sum_k q_ik log softmax(z_i)_k
        dL/dz = (softmax(z) - q) / N

    It keeps the network from driving logit gaps to infinity on the training
    set, which a model that has to generalise rarely gains from.

    Parameters
    ----------
    label_smoothing : float in [0, 1)
        eps above; 0 (the default) is the plain cross-entropy.

    Targets are integer labels of shape (N,) or probability rows of shape
    (N, K) (one-hot or soft labels).

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> loss = cr.losses.CrossEntropy()
    >>> round(loss(np.zeros((1, 4)), np.array([2])), 4)  # log 4
    1.3863
    """

    default_metrics = ("accuracy",)

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        eps = float(label_smoothing)
        if not 0.0 <= eps < 1.0:
            raise ValueError(
                f"CrossEntropy: label_smoothing must be in [0, 1); got {label_smoothing!r}."
            )
        self.label_smoothing = eps

    def __repr__(self) -> str:
        if self.label_smoothing:
            return f"CrossEntropy(label_smoothing={self.label_smoothing})"
        return "CrossEntropy()"

    def forward(self, y, t, sample_weight=None) -> float:
        z = self._prediction(y)
        if z.ndim != 2:
            raise ValueError(
                f"CrossEntropy: logits must have shape (batch, classes); got {z.shape}."
            )
        eps = self.label_smoothing
        n, k = z.shape
        w = self._weights(sample_weight, n, z.dtype)
        t_arr = np.asarray(t)
        if t_arr.ndim == 2:
            if t_arr.shape != z.shape:
                raise ValueError(
                    f"CrossEntropy: probability targets must have shape {z.shape}; "
                    f"got {t_arr.shape}."
                )
            if t_arr.dtype.kind not in "fiub":
                raise TypeError(
                    f"CrossEntropy: probability targets must be numeric; got dtype "
                    f"{t_arr.dtype}."
                )
            t_arr = t_arr.astype(z.dtype, copy=False)
            if not bool((t_arr >= 0).all()) or not all_finite(t_arr):
                raise ValueError(
                    "CrossEntropy: probability targets must be finite and "
                    "non-negative."
                )
            if eps:
                t_arr = t_arr * (1 - eps) + eps / k  # q = (1 - eps) t + eps / K
            log_p = log_softmax(z)
            per = -(t_arr * log_p).sum(axis=1)
            self.keep_cache((np.exp(log_p), t_arr, w))
            return _reduce(per, w)
        labels = _check_labels("CrossEntropy", t_arr, n, k)
        # The loss in the log domain, never as -log(softmax): a confidently
        # wrong logit gap of 1e4 costs 1e4, where -log of an underflowed p is
        # inf. l_i = log sum_k exp(z_ik - m_i) - (z_i,t_i - m_i), m_i = max_k z_ik.
        # Worked class-major, (K, N): with few classes, NumPy's reductions
        # across a row of K are ten times slower than across rows of N.
        p = np.array(z.T, order="C")  # always a copy: z is the caller's array
        # softmax(z), transposed, kept for the backward o - y; with m and total
        # the loss is log(total) - (z_t - m), all from the one pass.
        m, total = softmax_columns_(p)
        z_t = z[np.arange(n), labels] - m
        per = np.log(total) - z_t
        if eps:
            # -sum_k q_k log p_k = lse - (1 - eps) z_t - eps mean_k z_k; the
            # shift m cancels because the weights of q sum to one.
            per = np.log(total) - (1 - eps) * z_t - eps * (z.mean(axis=1) - m)
        self.keep_cache((p, labels, w))
        return _reduce(per, w)

    def backward(self) -> np.ndarray:
        p, t, w = self.take_cache()
        if t.ndim == 2:  # probability targets: p is (N, K)
            # d/dz of -sum_k t_k log softmax(z)_k is p sum_k t_k - t, which is
            # p - t when the targets of a row sum to one (as PyTorch, any
            # non-negative targets are taken).
            g = p * t.sum(axis=1, keepdims=True)
            g -= t
            g *= _scale(len(g), w, 2, g.dtype)
            return g
        # integer labels: p is softmax(z) transposed, (K, N)
        n = p.shape[1]
        eps = self.label_smoothing
        if eps:  # softmax(z) - q with q = (1 - eps) onehot(t) + eps / K
            p -= eps / p.shape[0]
        p[t, np.arange(n)] -= 1 - eps  # softmax(z) - onehot(t), in the softmax buffer
        p *= _scale(n, w, 2, p.dtype).reshape(-1)  # w_i / N, one per column
        return np.ascontiguousarray(p.T)


class NLL(Loss):
    """Negative log-likelihood of integer labels from log-probabilities.

    L = -1/N sum_i y_i,t_i   where y = log p (the output of LogSoftmax)
    Backward: dL/dy_ik = -1/N if k = t_i else 0

    The seeds' NLL(p, t) = -log p_t, applied to log p so that the log is
    never taken of a rounded-to-zero probability.
    """

    default_metrics = ("accuracy",)

    def forward(self, y, t, sample_weight=None) -> float:
        y = self._prediction(y)
        if y.ndim != 2:
            raise ValueError(
                f"NLL: log-probabilities must have shape (batch, classes); got {y.shape}."
            )
        n, k = y.shape
        labels = _check_labels("NLL", t, n, k)
        w = self._weights(sample_weight, n, y.dtype)
        per = -y[np.arange(n), labels]
        self.keep_cache((y.shape, y.dtype, labels, w))
        return _reduce(per, w)

    def backward(self) -> np.ndarray:
        shape, dtype, labels, w = self.take_cache()
        n = shape[0]
        g = np.zeros(shape, dtype=dtype)
        # -w_i / N at each sample's label, zero elsewhere (no pass over all of g)
        g[np.arange(n), labels] = -_scale(n, w, 1, dtype)
        return g


__all__ = ["BinaryCrossEntropy", "CrossEntropy", "Loss", "MSE", "NLL", "SSE"]
