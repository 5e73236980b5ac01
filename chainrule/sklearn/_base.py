"""What the estimators share: the network builder, the training loop, the
stopping rule and the L2 penalty."""

from __future__ import annotations

import copy
import warnings

import numpy as np
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
from ..callbacks import Callback
from ..inference import predict
from ..losses import MSE, Loss
from ..models.sequential import Sequential
from ..module import Module
from ..optim import SGD, Adam
from ..spec import activation_tokens
from ..training import Trainer

#: Every chainrule activation name ("relu", "tanh", "identity" among them),
#: and scikit-learn's name for the sigmoid.
ACTIVATIONS = {"logistic": L.Sigmoid, **activation_tokens()}
_DTYPE = np.float64


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


class _L2Penalty(Callback):
    """Adds scikit-learn's L2 term (wd / 2) sum ||W||^2 to each epoch's loss,
    before the stopping rule reads it, so ``tol`` means what it means there."""

    def __init__(self, model: Module, weight_decay: float) -> None:
        self.weights = [p for name, p in model.named_parameters() if "weight" in name]
        self.weight_decay = weight_decay
        self.curve: list[float] = []

    def on_epoch_end(self, trainer, logs) -> None:
        squares = sum(float(np.vdot(p.data, p.data)) for p in self.weights)
        logs["loss"] = logs["loss"] + 0.5 * self.weight_decay * squares
        self.curve.append(logs["loss"])


class _Stopping(Callback):
    """scikit-learn's stopping rule: an epoch counts as no improvement when its
    value exceeds the best so far minus ``tol``; the best follows every
    decrease, however small; stop after more than ``patience`` such epochs in
    a row. With ``restore``, the weights of the best epoch are put back."""

    def __init__(self, key: str, patience: int, tol: float, restore: bool) -> None:
        self.key, self.patience, self.tol, self.restore = key, patience, tol, restore
        self.best = np.inf
        self.count = 0
        self.best_weights: dict | None = None

    def on_epoch_end(self, trainer, logs) -> None:
        value = logs[self.key]
        self.count = self.count + 1 if value > self.best - self.tol else 0
        if value < self.best:
            self.best = value
            if self.restore:
                self.best_weights = trainer.model.state_dict()
        if self.count > self.patience:
            trainer.stop_training = True
            trainer.stop_reason = (
                f"{self.key} did not improve by more than tol={self.tol} for "
                f"{self.count} consecutive epochs"
            )

    def on_train_end(self, trainer) -> None:
        if self.best_weights is not None:
            trainer.model.load_state_dict(self.best_weights)


class _BaseMLP(TransformerMixin, ClassNamePrefixFeaturesOutMixin, BaseEstimator):
    """The shared machinery: parameter checks, the network, the training loop."""

    _default_loss: type[Loss] = MSE

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate_init=0.001,
        momentum=0.9,
        nesterovs_momentum=True,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        dropout=0.0,
        loss=None,
        transform_layer=-1,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.dropout = dropout
        self.loss = loss
        self.transform_layer = transform_layer

    # ------------------------------------------------------------- checks
    def _check_params(self) -> None:
        who = type(self).__name__
        _hidden_sizes(who, self.hidden_layer_sizes)
        _activation(who, self.activation)
        if self.solver not in ("sgd", "adam"):
            raise ValueError(
                f"{who}: solver must be 'sgd' or 'adam'; got {self.solver!r}."
            )
        checks = [
            ("alpha", self.alpha, 0.0, False),
            ("learning_rate_init", self.learning_rate_init, 0.0, True),
            ("tol", self.tol, 0.0, False),
        ]
        for name, value, low, strict in checks:
            ok = isinstance(value, (int, float, np.number)) and (
                value > low if strict else value >= low
            )
            if not ok:
                kind = "positive" if strict else "non-negative"
                raise ValueError(
                    f"{who}: {name} must be a {kind} number; got {value!r}."
                )
        for name in ("max_iter", "n_iter_no_change"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(
                    f"{who}: {name} must be a positive integer; got {value!r}."
                )
        if not 0 <= self.momentum < 1:
            raise ValueError(
                f"{who}: momentum must be in [0, 1); got {self.momentum!r}."
            )
        if not 0 < self.validation_fraction < 1:
            raise ValueError(
                f"{who}: validation_fraction must be in (0, 1); got "
                f"{self.validation_fraction!r}."
            )
        if not 0 <= self.dropout < 1:
            raise ValueError(f"{who}: dropout must be in [0, 1); got {self.dropout!r}.")
        if self.batch_size != "auto" and (
            not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1
        ):
            raise ValueError(
                f"{who}: batch_size must be 'auto' or a positive integer; got "
                f"{self.batch_size!r}."
            )
        if self.loss is not None and not isinstance(self.loss, Loss):
            raise TypeError(
                f"{who}: loss must be a chainrule Loss or None; got "
                f"{type(self.loss).__name__}."
            )

    def _batch_size(self, n: int) -> int:
        if self.batch_size == "auto":
            return min(200, n)
        if self.batch_size > n:
            warnings.warn(
                f"{type(self).__name__}: batch_size {self.batch_size} is larger than "
                f"the {n} samples; using {n}.",
                UserWarning,
                stacklevel=3,
            )
        return min(int(self.batch_size), n)

    # ------------------------------------------------------------ network
    def _input_shape(self, n_features: int) -> tuple[int, ...]:
        return (n_features,)

    def _feature_layers(self, input_shape, gen) -> tuple[list[Module], list[int], int]:
        """Layers before the dense hidden ones: (layers, block ends, width out)."""
        return [], [], int(input_shape[0])

    def _build(self, n_features: int, n_outputs: int, gen) -> None:
        who = type(self).__name__
        init = "glorot"
        layers, ends, width = self._feature_layers(self._input_shape(n_features), gen)
        for size in _hidden_sizes(who, self.hidden_layer_sizes):
            layers += [L.Linear(width, size, rng=gen, init=init)]
            layers += [_activation(who, self.activation)]
            ends.append(len(layers))
            if self.dropout:
                layers.append(L.Dropout(self.dropout, rng=gen))
            width = size
        layers.append(L.Linear(width, n_outputs, rng=gen, init="glorot"))
        self.model_ = Sequential(*layers).to(_DTYPE)
        self._block_ends = ends

    def _optimizer(self, batch_size: int):
        wd = float(self.alpha) / batch_size
        if self.solver == "adam":
            return Adam(self.model_, lr=self.learning_rate_init, weight_decay=wd)
        return SGD(
            self.model_,
            lr=self.learning_rate_init,
            momentum=self.momentum,
            nesterov=bool(self.nesterovs_momentum and self.momentum > 0),
            weight_decay=wd,
        )

    # ------------------------------------------------------------ fitting
    def _validate_X(self, X, reset: bool) -> np.ndarray:
        return validate_data(self, X, reset=reset, dtype=_DTYPE)

    def _fit(self, X, y, sample_weight, incremental: bool, classes=None):
        self._check_params()
        fitted = hasattr(self, "model_")
        first = not fitted or not (incremental or self.warm_start)
        X, y = self._validate_Xy(X, y, reset=first)
        sample_weight = (
            None
            if sample_weight is None
            else _check_sample_weight(sample_weight, X, dtype=_DTYPE)
        )
        t = self._encode_targets(y, first, incremental, classes)
        X = self._reshape(X)
        if first:
            self._random = check_random_state(self.random_state)
            gen = np.random.default_rng(self._random.randint(2**31 - 1))
            self._build(self.n_features_in_, self._n_outputs(t), gen)
            self.loss_curve_ = []
            self.validation_loss_curve_ = []
            self.best_loss_ = np.inf
            self.n_iter_ = 0
            self.t_ = 0
        bs = self._batch_size(len(X))
        solver_class = Adam if self.solver == "adam" else SGD
        if first or not isinstance(self._optimizer_, solver_class):
            self._optimizer_ = self._optimizer(bs)
        else:
            # Continuing (warm_start, partial_fit): keep the moments, take the
            # current settings and the batch size's weight decay.
            self._optimizer_.lr = float(self.learning_rate_init)
            self._optimizer_.weight_decay = float(self.alpha) / bs

        validation = None
        early = self.early_stopping and not incremental
        if early:
            parts = [X, t] + ([] if sample_weight is None else [sample_weight])
            seed = self._random.randint(2**31 - 1)
            # Stratified for a classifier, unless a class has too few samples.
            for stratify in (t, None) if self._is_clf else (None,):
                try:
                    split = train_test_split(
                        *parts,
                        test_size=self.validation_fraction,
                        random_state=seed,
                        stratify=stratify,
                    )
                    break
                except ValueError:
                    if stratify is None:
                        raise
            X, t = split[0], split[2]
            validation = (split[1], split[3]) + (
                () if sample_weight is None else (split[5],)
            )
            sample_weight = None if sample_weight is None else split[4]

        loss = (
            copy.deepcopy(self.loss) if self.loss is not None else self._default_loss()
        )
        epochs = 1 if incremental else int(self.max_iter)
        penalty = _L2Penalty(self.model_, self._optimizer_.weight_decay)
        callbacks = [penalty]
        if not incremental:
            callbacks.append(
                _Stopping(
                    "val_loss" if early else "loss",
                    int(self.n_iter_no_change),
                    float(self.tol),
                    restore=early,
                )
            )
        trainer = Trainer(
            self.model_,
            loss,
            self._optimizer_,
            X,
            t,
            epochs=epochs,
            batch_size=bs,
            shuffle=bool(self.shuffle),
            validation_data=validation,
            metrics=[],
            callbacks=callbacks,
            seed=int(self._random.randint(2**31 - 1)),
            verbose=2 if self.verbose else 0,
            sample_weight=sample_weight,
        )
        history = trainer.run()
        ran = len(history.epoch)
        self.loss_curve_ += penalty.curve
        self.validation_loss_curve_ += history.history.get("val_loss", [])
        self.n_iter_ += ran
        self.t_ += ran * len(X)
        if ran:
            self.loss_ = float(self.loss_curve_[-1])
            self.best_loss_ = float(min(self.best_loss_, min(self.loss_curve_)))
        if early and self.validation_loss_curve_:
            self.best_validation_loss_ = float(min(self.validation_loss_curve_))
        if not incremental and ran == epochs and not history.stop_reason:
            warnings.warn(
                f"{type(self).__name__}: stochastic optimizer: maximum iterations "
                f"({self.max_iter}) reached and the optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=3,
            )
        return self

    def fit(self, X, y, sample_weight=None):
        """Train on (X, y) for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        y : array-like, shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like, shape (n_samples,), optional
            Per-sample weights w_i of the batch loss (1/B) sum_i w_i l_i.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=False)

    # ---------------------------------------------------------- inference
    def _forward(self, X) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = self._validate_X(X, reset=False)
        return predict(self.model_, self._reshape(X))

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
        out = predict(head, self._reshape(X))
        return out.reshape(len(out), -1)

    @property
    def _n_features_out(self) -> int:
        end = self._block_end()
        shape = Sequential(*self.model_.layers[:end]).output_shape(
            self._input_shape(self.n_features_in_)
        )
        return int(np.prod(shape))
