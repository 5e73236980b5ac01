"""MLPClassifier and ConvClassifier."""

from __future__ import annotations

import numpy as np
from sklearn.base import (
    ClassifierMixin,
)
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    check_classification_targets,
)
from sklearn.utils.validation import (
    assert_all_finite,
    column_or_1d,
    validate_data,
)

from .. import layers as L
from ..functional.activations import log_softmax, softmax
from ..losses import CrossEntropy
from ..module import Module
from ._base import (
    _DTYPE,
    _activation,
    _BaseMLP,
    _hidden_sizes,
)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """A multi-layer perceptron classifier trained by chainrule.

    Linear -> activation [-> Dropout] per hidden size, then a Linear layer with
    one logit per class; trained with softmax cross-entropy by mini-batch SGD or
    Adam.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (100,)
        Width of each hidden layer.
    activation : str or Module, default "relu"
        "relu", "tanh", "logistic", "identity", or any chainrule activation name
        ("sigmoid", "hardtanh", ...), or a layer instance (copied per layer).
    solver : {"adam", "sgd"}
    alpha : float, default 1e-4
        L2 penalty; weight_decay = alpha / batch_size, as scikit-learn's gradient.
    batch_size : int or "auto"
        "auto" is min(200, n_samples).
    learning_rate_init : float
    momentum : float in [0, 1), nesterovs_momentum : bool
        For ``solver="sgd"``.
    max_iter : int
        Epochs (passes over the data) of ``fit``.
    shuffle : bool
    random_state : int, RandomState or None
        Initial weights, dropout masks, shuffles and the validation split.
    tol : float, n_iter_no_change : int
        Stop when the training loss (validation loss with ``early_stopping``)
        has not improved by ``tol`` for ``n_iter_no_change`` epochs.
    verbose : bool
        One line per epoch.
    warm_start : bool
        ``fit`` continues from the previous weights and optimizer state.
    early_stopping : bool, validation_fraction : float
        Hold out a stratified ``validation_fraction`` and stop on its loss,
        restoring the best weights.
    dropout : float in [0, 1)
        Dropout after each hidden activation (training only).
    loss : chainrule Loss or None
        Default ``CrossEntropy()`` on the logits and integer labels.
    transform_layer : int, default -1
        Which hidden layer ``transform`` returns.

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
    n_features_in_ : int
    model_ : chainrule Sequential
    loss_ : float
        Training loss of the last epoch, with the L2 term as scikit-learn's.
    loss_curve_, validation_loss_curve_ : list of float
        One entry per epoch; the latter only with ``early_stopping``.
    best_loss_ : float
    n_iter_ : int
        Epochs run, over all calls.
    t_ : int
        Training samples seen.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from chainrule.sklearn import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier((16,), batch_size=32, learning_rate_init=0.01,
    ...                     random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """

    _default_loss = CrossEntropy
    _is_clf = True

    def _validate_Xy(self, X, y, reset):
        if y is None:
            validate_data(self, X, y, reset=reset)  # raises scikit-learn's message
        X = self._validate_X(X, reset=reset)
        y = column_or_1d(y, warn=True)
        if y.dtype.kind in "fc":
            assert_all_finite(y, input_name="y")
        if len(y) != len(X):
            raise ValueError(
                f"{type(self).__name__}: X and y must have the same number of "
                f"samples; got {len(X)} and {len(y)}."
            )
        check_classification_targets(y)
        return X, y

    def _encode_targets(self, y, first, incremental, classes):
        if incremental:
            if _check_partial_fit_first_call(self, classes):
                first = True
        elif first:
            self.classes_ = np.unique(y)
        labels = np.searchsorted(self.classes_, y)
        labels = np.clip(labels, 0, len(self.classes_) - 1)
        unknown = self.classes_[labels] != y
        if unknown.any():
            raise ValueError(
                f"{type(self).__name__}: y contains labels not in classes_ "
                f"{self.classes_.tolist()}; got {y[unknown][0]!r}. Pass every class "
                "to the first partial_fit (classes=...) or refit."
            )
        return labels.astype(np.int64)

    def _n_outputs(self, t) -> int:
        return len(self.classes_)

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over (X, y), continuing from the current weights.

        Parameters
        ----------
        classes : array-like, shape (n_classes,)
            Every class that will ever appear; required on the first call.
        """
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, the softmax of the logits; shape (n_samples, n_classes)."""
        return softmax(self._forward(X))

    def predict_log_proba(self, X) -> np.ndarray:
        return log_softmax(self._forward(X))

    def predict(self, X) -> np.ndarray:
        """The most probable class of each sample; shape (n_samples,)."""
        logits = self._forward(X)
        return self.classes_[logits.argmax(axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        return tags


class ConvClassifier(MLPClassifier):
    """A convolutional classifier: conv blocks, then the hidden layers of
    :class:`MLPClassifier`.

    Each block is Conv2D(channels, kernel_size, padding kernel_size // 2) ->
    activation -> MaxPool2D(pool_size); then Flatten and the dense layers.
    Kernel and pool sizes are clipped to the image, so any image shape works.

    Parameters
    ----------
    image_shape : (C, H, W), (H, W) or None
        How to read a row of a flat (n_samples, n_features) X. None: from a
        4-D X, its shape; from a flat X, a square single-channel image when
        n_features is a square number, else a 1 x n_features strip.
    conv_channels : tuple of int, default (16,)
        Output channels of each convolution block.
    kernel_size, pool_size : int
    hidden_layer_sizes : tuple of int, default (64,)
    Other parameters : as :class:`MLPClassifier`.

    X may be (N, C, H, W); it is flattened, so ``n_features_in_`` is C*H*W and
    the estimator also fits in a Pipeline behind a StandardScaler.
    """

    def __init__(
        self,
        hidden_layer_sizes=(64,),
        activation="relu",
        *,
        image_shape=None,
        conv_channels=(16,),
        kernel_size=3,
        pool_size=2,
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
        super().__init__(
            hidden_layer_sizes,
            activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate_init=learning_rate_init,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            max_iter=max_iter,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            dropout=dropout,
            loss=loss,
            transform_layer=transform_layer,
        )
        self.image_shape = image_shape
        self.conv_channels = conv_channels
        self.kernel_size = kernel_size
        self.pool_size = pool_size

    def _validate_X(self, X, reset: bool) -> np.ndarray:
        if isinstance(X, np.ndarray) and X.ndim == 4:
            if reset:
                self._x_shape = tuple(X.shape[1:])
            X = X.reshape(len(X), -1)
        elif reset:
            self._x_shape = None
        return validate_data(self, X, reset=reset, dtype=_DTYPE)

    def _input_shape(self, n_features: int) -> tuple[int, ...]:
        who = type(self).__name__
        shape = self.image_shape
        if shape is None:
            shape = getattr(self, "_x_shape", None)
        if shape is None:
            side = int(round(n_features**0.5))
            shape = (1, side, side) if side * side == n_features else (1, 1, n_features)
        shape = tuple(int(s) for s in shape)
        if len(shape) == 2:
            shape = (1, *shape)
        if len(shape) != 3 or int(np.prod(shape)) != n_features:
            raise ValueError(
                f"{who}: image_shape must be (C, H, W) or (H, W) with "
                f"{n_features} values in all; got {self.image_shape!r}."
            )
        return shape

    def _reshape(self, X: np.ndarray) -> np.ndarray:
        return X.reshape(len(X), *self._input_shape(X.shape[1]))

    def _feature_layers(self, input_shape, gen):
        who = type(self).__name__
        channels = _hidden_sizes(who, self.conv_channels)
        c, h, w = input_shape
        layers: list[Module] = []
        ends: list[int] = []
        for out_c in channels:
            kh, kw = min(self.kernel_size, h), min(self.kernel_size, w)
            # Odd kernels with padding k // 2 keep the size; even ones shrink it by 1.
            layers.append(
                L.Conv2D(c, out_c, (kh, kw), padding=(kh // 2, kw // 2), rng=gen)
            )
            layers.append(_activation(who, self.activation))
            h, w = h + 2 * (kh // 2) - kh + 1, w + 2 * (kw // 2) - kw + 1
            ph, pw = min(self.pool_size, h), min(self.pool_size, w)
            if ph * pw > 1:
                layers.append(L.MaxPool2D((ph, pw)))
                h, w = h // ph, w // pw
            c = out_c
            ends.append(len(layers))
        layers.append(L.Flatten())
        if ends:
            ends[-1] = len(layers)
        return layers, ends, c * h * w

    def _check_params(self) -> None:
        super()._check_params()
        who = type(self).__name__
        _hidden_sizes(who, self.conv_channels, "conv_channels")
        for name in ("kernel_size", "pool_size"):
            _hidden_sizes(who, getattr(self, name), name)

    def _validate_Xy(self, X, y, reset):
        X, y = super()._validate_Xy(X, y, reset)
        self._input_shape(X.shape[1])
        return X, y
