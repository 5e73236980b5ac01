"""What the estimators share: parameter checks, the network, scikit-learn's
initialisation, loss, solvers and stopping rule on chainrule layers."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import scipy.optimize
from scipy.special import xlogy
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from .. import layers as L
from .._checks import integer
from ..backend import no_grad
from ..losses import Loss
from ..models.sequential import Sequential
from ..module import Module
from ..spec import activation_tokens
from ._solvers import AdamSolver, SGDSolver

#: Every chainrule activation name ("relu", "tanh", "identity" among them),
#: and scikit-learn's name for the sigmoid.
ACTIVATIONS = {"logistic": L.Sigmoid, **activation_tokens()}
#: The input dtypes kept as they are; anything else becomes float64.
_DTYPES = (np.float64, np.float32)
_SIGMOIDS = ("logistic", "sigmoid")


def _activation(owner: str, activation) -> Module:
    if isinstance(activation, Module):
        return copy.deepcopy(activation)
    if isinstance(activation, str) and activation in ACTIVATIONS:
        return ACTIVATIONS[activation]()
    raise ValueError(
        f"{owner}: activation must be one of {', '.join(ACTIVATIONS)} or a chainrule "
        f"Module; got {activation!r}."
    )


def _hidden_sizes(
    owner: str, sizes, name: str = "hidden_layer_sizes"
) -> tuple[int, ...]:
    sizes = (sizes,) if isinstance(sizes, (int, np.integer)) else tuple(sizes)
    if not all(isinstance(s, (int, np.integer)) and s > 0 for s in sizes):
        raise ValueError(f"{owner}: {name} must be positive integers; got {sizes!r}.")
    return tuple(int(s) for s in sizes)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # exp of -|z| only: no overflow warning for large logits of either sign.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _softmax(z: np.ndarray) -> np.ndarray:
    """exp(z_k - max z) / sum_j exp(z_j - max z), row by row."""
    e = z - z.max(axis=1, keepdims=True)
    np.exp(e, out=e)
    e /= e.sum(axis=1, keepdims=True)
    return e


#: The output activation applied to the network's last Linear layer.
OUTPUT_ACTIVATIONS = {
    "identity": lambda z: z,
    "exp": np.exp,
    "logistic": _sigmoid,
    "softmax": _softmax,
}


def _average(a: np.ndarray, w) -> np.ndarray:
    """The ``w``-weighted mean of the rows of ``a`` (np.average, axis=0)."""
    if w is None:
        return a.sum(axis=0) / len(a)
    return (w @ a) / w.sum()


def _output_loss(kind: str, y: np.ndarray, p: np.ndarray, w) -> float:
    """scikit-learn's loss of outputs ``p`` for targets ``y`` (both (N, k)),
    a ``w``-weighted average over the samples.

    log_loss (softmax):      -sum_k y_k log p_k
    binary_log_loss:         -sum_k [y_k log p_k + (1 - y_k) log(1 - p_k)]
    squared_error:           (1/2) mean_k (y_k - p_k)^2
    poisson (exp):           sum_k [y_k log(y_k / p_k) - y_k + p_k]
    """
    if kind == "squared_error":
        return float(0.5 * _average((y - p) ** 2, w).mean())
    if kind == "poisson":
        return float(_average(xlogy(y, y / p) - y + p, w).sum())
    eps = np.finfo(p.dtype).eps
    p = np.clip(p, eps, 1 - eps)
    if kind == "binary_log_loss":
        terms = xlogy(y, p) + xlogy(1 - y, 1 - p)
    else:
        terms = xlogy(y, p)
    return float(-_average(terms, w).sum())


class _BaseMLP(TransformerMixin, ClassNamePrefixFeaturesOutMixin, BaseEstimator):
    """The shared machinery: parameter checks, the network, the solvers."""

    _is_clf = False
    _losses: tuple[str, ...] = ()

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        loss=None,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dropout=0.0,
        transform_layer=-1,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.loss = loss
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.transform_layer = transform_layer

    # ------------------------------------------------------------- checks
    def _check_params(self) -> None:
        who = type(self).__name__
        _hidden_sizes(who, self.hidden_layer_sizes)
        _activation(who, self.activation)
        options = [
            ("solver", self.solver, ("lbfgs", "sgd", "adam")),
            (
                "learning_rate",
                self.learning_rate,
                ("constant", "invscaling", "adaptive"),
            ),
        ]
        for name, value, allowed in options:
            if value not in allowed:
                raise ValueError(
                    f"{who}: {name} must be one of {', '.join(map(repr, allowed))}; "
                    f"got {value!r}."
                )
        # (name, value, low, high, low closed, high closed)
        ranges = [
            ("alpha", self.alpha, 0.0, np.inf, True, False),
            ("learning_rate_init", self.learning_rate_init, 0.0, np.inf, False, False),
            ("power_t", self.power_t, 0.0, np.inf, True, False),
            ("tol", self.tol, 0.0, np.inf, True, False),
            ("momentum", self.momentum, 0.0, 1.0, True, True),
            ("validation_fraction", self.validation_fraction, 0.0, 1.0, False, False),
            ("beta_1", self.beta_1, 0.0, 1.0, True, False),
            ("beta_2", self.beta_2, 0.0, 1.0, True, False),
            ("epsilon", self.epsilon, 0.0, np.inf, False, False),
            ("dropout", self.dropout, 0.0, 1.0, True, False),
        ]
        for name, value, low, high, lc, hc in ranges:
            ok = (
                isinstance(value, (int, float, np.number))
                and not isinstance(value, bool)
                and (value >= low if lc else value > low)
                and (value <= high if hc else value < high)
            )
            if not ok:
                span = f"{'[' if lc else '('}{low:g}, {high:g}{']' if hc else ')'}"
                raise ValueError(f"{who}: {name} must be in {span}; got {value!r}.")
        for name in ("max_iter", "n_iter_no_change", "max_fun"):
            value = getattr(self, name)
            if name == "n_iter_no_change" and value == np.inf:
                continue
            integer(who, name, value)
        if self.batch_size != "auto" and (
            not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1
        ):
            raise ValueError(
                f"{who}: batch_size must be 'auto' or a positive integer; got "
                f"{self.batch_size!r}."
            )
        if not (isinstance(self.loss, Loss) or self.loss in (None, *self._losses)):
            raise ValueError(
                f"{who}: loss must be one of {', '.join(map(repr, self._losses))} or "
                f"a chainrule Loss; got {self.loss!r}."
            )

    def _stochastic(self) -> bool:
        """partial_fit exists for sgd and adam only, as in scikit-learn."""
        if self.solver == "lbfgs":
            raise AttributeError(
                f"{type(self).__name__}: partial_fit needs solver 'sgd' or 'adam'; "
                "got 'lbfgs'."
            )
        return True

    def _loss_name(self) -> str:
        return self._losses[0] if self.loss is None else self.loss

    # ------------------------------------------------------------ network
    def _input_shape(self, n_features: int) -> tuple[int, ...]:
        return (n_features,)

    def _feature_layers(self, input_shape) -> tuple[list[Module], list[int], int]:
        """Layers before the dense hidden ones: (layers, block ends, width out)."""
        return [], [], int(input_shape[0])

    def _build(self, n_features: int, n_outputs: int, dtype) -> None:
        """The network, its weights drawn as scikit-learn's ``_init_coef``.

        Each layer's weights, then its bias, come from U(-b, b) with
        b = sqrt(factor / (fan_in + fan_out)), factor 2 for the logistic
        activation and 6 otherwise (Glorot and Bengio's uniform rule), drawn
        from ``random_state`` in layer order: with the same seed a dense
        network starts from scikit-learn's weights.
        """
        who = type(self).__name__
        layers, ends, width = self._feature_layers(self._input_shape(n_features))
        for size in _hidden_sizes(who, self.hidden_layer_sizes):
            layers += [L.Linear(width, size, rng=0, init="zeros")]
            layers += [_activation(who, self.activation)]
            ends.append(len(layers))
            if self.dropout:
                layers.append(L.Dropout(self.dropout))
            width = size
        layers.append(L.Linear(width, n_outputs, rng=0, init="zeros"))
        self.model_ = Sequential(*layers).to(dtype)
        self._block_ends = ends
        factor = 2.0 if self.activation in _SIGMOIDS else 6.0
        for layer in self.model_.layers:
            if isinstance(layer, L.Linear):
                fan_in, fan_out = layer.in_features, layer.out_features
                shape = (fan_in, fan_out)  # scikit-learn's coefs_ layout
            elif isinstance(layer, L.Conv2D):
                out_c, in_c, kh, kw = layer.weight.shape
                fan_in, fan_out = in_c * kh * kw, out_c * kh * kw
                shape = layer.weight.shape
            else:
                continue
            bound = np.sqrt(factor / (fan_in + fan_out))
            coef = self._random_state.uniform(-bound, bound, shape)
            layer.weight.data[...] = coef.T if isinstance(layer, L.Linear) else coef
            layer.bias.data[...] = self._random_state.uniform(
                -bound, bound, layer.bias.shape
            )
        if self.dropout:
            # Drawn after the weights, so that dropout=0 leaves the stream as
            # scikit-learn's; a fit repeats bit for bit all the same.
            seed = self._random_state.randint(2**31 - 1)
            rng = np.random.default_rng(seed)
            for layer in self.model_.layers:
                if isinstance(layer, L.Dropout):
                    layer.rng = rng
        self.n_layers_ = len(_hidden_sizes(who, self.hidden_layer_sizes)) + 2
        self.n_outputs_ = n_outputs

    @property
    def _linears(self) -> list:
        return [m for m in self.model_.layers if isinstance(m, L.Linear)]

    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weight matrices of the dense layers, shape (fan_in, fan_out) each:
        views of the chainrule ``Linear.weight`` arrays (their transposes),
        so writing into them changes the model."""
        check_is_fitted(self, "model_")
        return [m.weight.data.T for m in self._linears]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Bias vectors of the dense layers: the ``Linear.bias`` arrays themselves."""
        check_is_fitted(self, "model_")
        return [m.bias.data for m in self._linears]

    def _solver_params(self):
        """(parameters, data arrays, gradient arrays, number of weights), the
        weights first, dense ones in scikit-learn's (fan_in, fan_out) layout.
        Views, found once per network: the solvers update them in place."""
        cached = getattr(self, "_params_cache", None)
        if cached is not None and cached[0] is self.model_:
            return cached[1]
        weights, biases = [], []
        for name, p in self.model_.named_parameters():
            (weights if name.endswith("weight") else biases).append(p)
        params = weights + biases
        # Linear's (out, in) weight, transposed: scikit-learn's (in, out).
        dense = {id(m.weight) for m in self._linears}

        def view(a, p):
            return a.T if id(p) in dense else a

        data = [view(p.data, p) for p in params]
        grads = [view(p.grad, p) for p in params]
        found = (params, data, grads, len(weights))
        self._params_cache = (self.model_, found)
        return found

    def __getstate__(self):
        # The cached views would come back from a pickle or deepcopy as
        # copies, and the solvers would then update arrays the model does not
        # read: they are found again on first use instead.
        state = super().__getstate__()
        state.pop("_params_cache", None)
        return state

    # ------------------------------------------------------------ fitting
    def _flatten(self, X, reset: bool):
        """X as scikit-learn will check it (ConvClassifier flattens images)."""
        return X

    def _validate_X(self, X, reset: bool) -> np.ndarray:
        return validate_data(self, self._flatten(X, reset), reset=reset, dtype=_DTYPES)

    def _decision(self, X: np.ndarray) -> np.ndarray:
        """The network's raw output z for checked X, in eval mode."""
        return self._eval_forward(
            self._reshape(X.astype(self.model_.dtype, copy=False))
        )

    def _forward(self, X) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = self._validate_X(X, reset=False)
        return self._decision(X)

    def _backprop(self, X, Y, sample_weight) -> float:
        """Loss and gradients of one batch, as scikit-learn's ``_backprop``.

        L = (1 / S) [sum_i w_i l_i + (alpha / 2) sum ||W||^2], S = sum_i w_i
        (S = N without weights), so the penalty shrinks as the batch grows.
        The output activation matches the loss (softmax with cross-entropy,
        logistic with binary cross-entropy, identity with squared error, exp
        with Poisson), so dL/dz = w_i (p_i - y_i) / S. A chainrule ``Loss``
        gets weights w_i N / S instead, which makes its (1/N) sum the same
        average. The weight gradients then get (alpha / S) W added.
        """
        n = X.shape[0]
        sw_sum = n if sample_weight is None else float(sample_weight.sum())
        params, data, grads, n_weights = self._solver_params()
        for p in params:
            p.zero_grad()
        z = self.model_.forward(X)
        if isinstance(self.loss, Loss):
            w = None if sample_weight is None else sample_weight * (n / sw_sum)
            loss = float(self.loss.forward(z, Y, sample_weight=w))
            delta = self.loss.backward()
        else:
            p = OUTPUT_ACTIVATIONS[self.out_activation_](z)
            loss = _output_loss(self._loss_kind, Y, p, sample_weight)
            delta = p - Y
            if sample_weight is not None:
                delta *= sample_weight.reshape(-1, 1)
            delta /= sw_sum
        self.model_.backward(delta, input_grad=False)
        squares = 0.0
        for w, g in zip(data[:n_weights], grads[:n_weights]):
            squares += float(np.vdot(w, w))
            if self.alpha:
                g += (self.alpha / sw_sum) * w
        return loss + 0.5 * self.alpha * squares / sw_sum

    def _batch_size(self, n: int) -> int:
        if self.batch_size == "auto":
            return min(200, n)
        if self.batch_size > n:
            warnings.warn(
                f"{type(self).__name__}: batch_size {self.batch_size} is larger than "
                f"the {n} samples; using {n}.",
                UserWarning,
                stacklevel=4,
            )
        return int(np.clip(self.batch_size, 1, n))

    def _fit(self, X, y, sample_weight, incremental: bool):
        self._check_params()
        who = type(self).__name__
        first = not hasattr(self, "model_") or not (incremental or self.warm_start)
        X, y = self._validate_Xy(X, y, incremental, reset=first)
        if not first:
            X = X.astype(self.model_.dtype, copy=False)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)
        Y = self._targets(y, X.dtype)
        self._input_shape(X.shape[1])  # a bad image_shape fails here
        X = self._reshape(X)
        self._random_state = check_random_state(self.random_state)
        if first:
            self.n_iter_ = 0
            self.t_ = 0
            self._build(self.n_features_in_, self._n_outputs(Y), X.dtype)
            if self.solver != "lbfgs":
                self.loss_curve_ = []
                self._no_improvement_count = 0
                if self.early_stopping:
                    self.validation_scores_ = []
                    self.best_validation_score_ = -np.inf
                    self.best_loss_ = None
                else:
                    self.best_loss_ = np.inf
                    self.validation_scores_ = None
                    self.best_validation_score_ = None
                # Restored at the end of an early-stopped fit, as scikit-learn's
                # _best_coefs: the initial weights if no epoch scored.
                self._best_params = [a.copy() for a in self._solver_params()[1]]
        elif self._n_outputs(Y) != self.n_outputs_:
            raise ValueError(
                f"{who}: y must have {self.n_outputs_} output(s), as in the first "
                f"fit; got {self._n_outputs(Y)}."
            )
        if self.solver == "lbfgs":
            if incremental:
                raise ValueError(
                    f"{who}: partial_fit needs solver 'sgd' or 'adam'; got 'lbfgs'."
                )
            self._fit_lbfgs(X, Y, sample_weight)
        else:
            self._fit_stochastic(X, Y, y, sample_weight, incremental)
        if not all(np.isfinite(p.data).all() for p in self.model_.parameters()):
            raise ValueError(
                f"{who}: the solver produced non-finite weights; the input may hold "
                "large values: scale it first (StandardScaler)."
            )
        return self

    def _fit_lbfgs(self, X, Y, sample_weight) -> None:
        """scipy's L-BFGS-B on the parameters packed into one float64 vector,
        full batch, ``maxiter=max_iter``, ``maxfun=max_fun``, ``gtol=tol``."""
        params, data, grads, _ = self._solver_params()
        sizes = np.cumsum([0] + [a.size for a in data])

        def loss_and_grad(packed):
            for a, start, stop in zip(data, sizes[:-1], sizes[1:]):
                a[...] = packed[start:stop].reshape(a.shape)
            loss = self._backprop(X, Y, sample_weight)
            return loss, np.concatenate([g.ravel() for g in grads]).astype(np.float64)

        x0 = np.concatenate([a.ravel() for a in data]).astype(np.float64)
        result = scipy.optimize.minimize(
            loss_and_grad,
            x0,
            method="L-BFGS-B",
            jac=True,
            options={
                "maxfun": int(self.max_fun),
                "maxiter": int(self.max_iter),
                "gtol": float(self.tol),
            },
        )
        loss_and_grad(result.x)  # the parameters of the result, not of the last try
        self.n_iter_ = min(int(result.nit), int(self.max_iter))
        self.loss_ = float(result.fun)
        if result.status != 0:
            message = result.message
            if isinstance(message, bytes):
                message = message.decode("latin1")
            warnings.warn(
                f"{type(self).__name__}: lbfgs failed to converge after "
                f"{self.n_iter_} iteration(s) (status={result.status}): {message}. "
                "Increase max_iter (or max_fun), or scale the data.",
                ConvergenceWarning,
                stacklevel=4,
            )

    def _split(self, X, Y, y, sample_weight):
        """scikit-learn's early-stopping split: ``validation_fraction`` held
        out with the estimator's random state, stratified for a classifier
        with one output column (binary), as scikit-learn does."""
        stratify = Y if self._is_clf and Y.shape[1] == 1 else None
        parts = [X, Y, y] + ([] if sample_weight is None else [sample_weight])
        split = train_test_split(
            *parts,
            random_state=self._random_state,
            test_size=self.validation_fraction,
            stratify=stratify,
        )
        if len(split[1]) < 2:
            raise ValueError(
                f"{type(self).__name__}: the validation set must hold at least 2 "
                f"samples; got {len(split[1])}. Increase validation_fraction or "
                "give more data."
            )
        train = (split[0], split[2], None if sample_weight is None else split[6])
        val = (split[1], split[5], None if sample_weight is None else split[7])
        return train, val

    def _fit_stochastic(self, X, Y, y, sample_weight, incremental) -> None:
        params, data, grads, _ = self._solver_params()
        if not incremental or not hasattr(self, "_optimizer"):
            if self.solver == "sgd":
                self._optimizer = SGDSolver(
                    data,
                    self.learning_rate_init,
                    self.learning_rate,
                    self.momentum,
                    self.nesterovs_momentum,
                    self.power_t,
                )
            else:
                self._optimizer = AdamSolver(
                    data,
                    self.learning_rate_init,
                    self.beta_1,
                    self.beta_2,
                    self.epsilon,
                )
        if self.early_stopping and incremental:
            raise ValueError(
                f"{type(self).__name__}: partial_fit does not support "
                "early_stopping=True; use fit, or set early_stopping=False."
            )
        early = self.early_stopping
        if early:
            (X_train, Y_train, sw_train), val = self._split(X, Y, y, sample_weight)
        else:
            X_train, Y_train, sw_train, val = X, Y, sample_weight, None
        n = X_train.shape[0]
        index = np.arange(n, dtype=int)
        batch_size = self._batch_size(n)
        self.n_iter_ = 0
        for _ in range(int(self.max_iter)):
            if self.shuffle:
                # sklearn.utils.shuffle(index, random_state) without its
                # checks: the same draws, so the same order as scikit-learn.
                order = np.arange(n)
                self._random_state.shuffle(order)
                index = index[order]
            accumulated = 0.0
            for start in range(0, n, batch_size):
                # gen_batches(n, batch_size), without its parameter checks
                batch = slice(start, min(start + batch_size, n))
                rows = index[batch] if self.shuffle else batch
                sw = None if sw_train is None else sw_train[rows]
                loss = self._backprop(X_train[rows], Y_train[rows], sw)
                accumulated += loss * (batch.stop - batch.start)
                self._optimizer.update(data, grads)
            self.n_iter_ += 1
            self.loss_ = accumulated / n
            self.t_ += n
            self.loss_curve_.append(self.loss_)
            if self.verbose:
                print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
            self._update_no_improvement_count(val, data)
            self._optimizer.iteration_ends(self.t_)
            if self._no_improvement_count > self.n_iter_no_change:
                what = "Validation score" if early else "Training loss"
                if self.verbose:
                    print(
                        f"{what} did not improve more than tol={self.tol} for "
                        f"{self.n_iter_no_change} consecutive epochs."
                    )
                if self._optimizer.trigger_stopping():
                    break
                self._no_improvement_count = 0
            if incremental:
                break
            if self.n_iter_ == self.max_iter:
                warnings.warn(
                    f"{type(self).__name__}: stochastic optimizer: maximum iterations "
                    f"({self.max_iter}) reached and the optimization hasn't "
                    "converged yet.",
                    ConvergenceWarning,
                    stacklevel=4,
                )
        if early:
            for a, best in zip(data, self._best_params):
                a[...] = best

    def _update_no_improvement_count(self, val, data) -> None:
        """scikit-learn's rule: an epoch counts as no improvement when the
        training loss is above best - tol (with ``early_stopping``: the
        validation score below best + tol); the best follows every gain."""
        if val is not None:
            X_val, y_val, sw_val = val
            score = self._validation_score(X_val, y_val, sw_val)
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params = [a.copy() for a in data]
        else:
            last = self.loss_curve_[-1]
            if last > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if last < self.best_loss_:
                self.best_loss_ = last

    def _eval_forward(self, X: np.ndarray, model: Module | None = None) -> np.ndarray:
        """``model`` (default the whole network) on network-shaped X, in eval mode."""
        model = self.model_ if model is None else model
        model.eval()
        try:
            with no_grad():
                return model.forward(X)
        finally:
            model.train()

    def _validation_score(self, X, y, sample_weight) -> float:
        z = self._eval_forward(X)
        if not np.isfinite(z).all():
            return np.nan
        return float(self._score_outputs(z, y, sample_weight))

    def fit(self, X, y, sample_weight=None):
        """Train on (X, y): ``max_iter`` epochs at most (sgd, adam), or
        ``max_iter`` L-BFGS iterations (lbfgs).

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            float32 trains in float32; anything else in float64.
        y : array-like, shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like, shape (n_samples,), optional
            Per-sample weights w_i: the loss is sum_i w_i l_i / sum_i w_i.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=False)

    # ---------------------------------------------------------- inference
    def _reshape(self, X: np.ndarray) -> np.ndarray:
        return X

    def _block_end(self) -> int:
        ends = self._block_ends
        if not ends:
            raise ValueError(
                f"{type(self).__name__}: transform needs a hidden layer; "
                "hidden_layer_sizes is empty."
            )
        i = self.transform_layer
        if not isinstance(i, (int, np.integer)) or not -len(ends) <= i < len(ends):
            raise ValueError(
                f"{type(self).__name__}: transform_layer must be an index into the "
                f"{len(ends)} hidden layers (-{len(ends)} to {len(ends) - 1}); got "
                f"{i!r}."
            )
        return ends[i]

    def transform(self, X) -> np.ndarray:
        """The activations of hidden layer ``transform_layer`` (default the last).

        Returns
        -------
        ndarray, shape (n_samples, width of that layer)
        """
        check_is_fitted(self, "model_")
        end = self._block_end()
        X = self._validate_X(X, reset=False)
        head = Sequential(*self.model_.layers[:end])
        out = self._eval_forward(
            self._reshape(X.astype(self.model_.dtype, copy=False)), head
        )
        return out.reshape(len(out), -1)

    @property
    def _n_features_out(self) -> int:
        end = self._block_end()
        shape = Sequential(*self.model_.layers[:end]).output_shape(
            self._input_shape(self.n_features_in_)
        )
        return int(np.prod(shape))
