"""MLPClassifier and ConvClassifier."""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    check_classification_targets,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from .. import layers as L
from ..functional.activations import softmax
from ..losses import Loss
from ..module import Module
from ._base import (
    _DTYPES,
    OUTPUT_ACTIVATIONS,
    _activation,
    _BaseMLP,
    _hidden_sizes,
)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """A multi-layer perceptron classifier: scikit-learn's, on chainrule layers.

    Linear -> activation [-> Dropout] per hidden size, then a Linear layer and
    the output activation: softmax over the classes (multiclass), one logistic
    unit (binary) or one per label (multilabel), trained on the log-loss. The
    same settings give scikit-learn's numbers: with the same ``random_state``
    the network starts from scikit-learn's weights and takes its steps.

    What is scikit-learn's, point by point:

    - initial weights and biases: U(-b, b), b = sqrt(6 / (fan_in + fan_out))
      (factor 2 instead of 6 for ``activation="logistic"``), drawn from
      ``random_state`` layer after layer, weights then bias;
    - loss: L = (1 / S) [sum_i w_i l_i + (alpha / 2) sum_layers ||W||^2] per
      batch, S = sum_i w_i the batch's total ``sample_weight`` (its size
      without weights): the penalty covers the weights, not the biases, and
      ``sample_weight`` scales each sample's share, normalised by S;
    - adam: beta_1 0.9, beta_2 0.999, epsilon 1e-8 added to sqrt(v), the bias
      corrections folded into the step lr sqrt(1 - b2^t) / (1 - b1^t);
    - sgd: momentum 0.9 with Nesterov's update, ``learning_rate`` schedules
      "constant", "invscaling" (lr / (t + 1)^power_t, t samples seen, set after
      each epoch) and "adaptive" (lr / 5 each time the stopping rule fires,
      until lr <= 1e-6);
    - lbfgs: ``scipy.optimize.minimize(method="L-BFGS-B")`` on the parameters
      flattened into one vector, full batch, ``maxiter=max_iter``,
      ``maxfun=max_fun``, ``gtol=tol``;
    - stopping (sgd, adam): an epoch is "no improvement" when its mean
      training loss is above best_loss_ - tol (with ``early_stopping``: its
      validation score, accuracy, is below best_validation_score_ + tol); the
      best follows every gain, however small; training stops when more than
      ``n_iter_no_change`` such epochs come in a row. ``early_stopping`` holds
      out ``validation_fraction`` (stratified for a binary problem) and puts
      back the weights of the best-scoring epoch;
    - ``n_iter_`` counts the epochs (lbfgs: iterations) of the last ``fit``
      or ``partial_fit`` call; ``t_`` the samples seen over all calls;
    - precision: float32 X trains and predicts in float32, any other X in
      float64; ``predict_proba`` returns the network's dtype.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default (100,)
        Width of each hidden layer.
    activation : str or Module, default "relu"
        "relu", "tanh", "logistic", "identity", or any chainrule activation name
        ("sigmoid", "hardtanh", ...), or a layer instance (copied per layer).
    solver : {"adam", "sgd", "lbfgs"}, default "adam"
    alpha : float, default 1e-4
        Strength of the L2 penalty (see above).
    batch_size : int or "auto", default "auto"
        "auto" is min(200, n_samples); lbfgs uses the whole set.
    learning_rate : {"constant", "invscaling", "adaptive"}, default "constant"
        Schedule of sgd's step.
    learning_rate_init : float, default 1e-3
    power_t : float, default 0.5
        Exponent of "invscaling".
    max_iter : int, default 200
        Epochs of sgd and adam; iterations of lbfgs.
    loss : None, "log_loss" or chainrule Loss, default None
        None and "log_loss" are scikit-learn's log-loss. A chainrule Loss (``cr.losses.CrossEntropy()``, say) gets the raw
        outputs, one per class, and the class indices; ``predict_proba`` is
        then the softmax of the outputs.
    shuffle : bool, default True
    random_state : int, RandomState or None
        Initial weights, shuffles, the validation split (and dropout masks).
    tol : float, default 1e-4
    verbose : bool
        Prints the loss of each epoch.
    warm_start : bool
        ``fit`` continues from the previous weights (the optimizer restarts).
    momentum : float in [0, 1], default 0.9
    nesterovs_momentum : bool, default True
    early_stopping : bool, default False
    validation_fraction : float in (0, 1), default 0.1
    beta_1, beta_2 : float in [0, 1), default 0.9, 0.999
    epsilon : float, default 1e-8
    n_iter_no_change : int, default 10
    max_fun : int, default 15000
        Most loss evaluations of lbfgs.
    dropout : float in [0, 1), default 0
        Dropout after each hidden activation (training only); chainrule's own.
    transform_layer : int, default -1
        Which hidden layer ``transform`` returns; chainrule's own.

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
    n_features_in_, n_outputs_, n_layers_ : int
    out_activation_ : {"softmax", "logistic"}
    model_ : chainrule Sequential
        The network up to the output activation.
    coefs_, intercepts_ : list of ndarray
        Weights (fan_in, fan_out) and biases of the dense layers, views of
        ``model_``'s parameters.
    loss_ : float
        Training loss of the last epoch (lbfgs: of the result), penalty included.
    loss_curve_ : list of float
        One entry per epoch (sgd, adam).
    best_loss_ : float or None
        The lowest of ``loss_curve_`` (None with ``early_stopping``).
    validation_scores_ : list of float or None
        Accuracy on the held-out set, per epoch, with ``early_stopping``.
    best_validation_score_ : float or None
    n_iter_ : int
    t_ : int

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from chainrule.sklearn import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier((16,), solver="lbfgs", random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """

    _is_clf = True
    _losses = ("log_loss",)

    def _validate_Xy(self, X, y, incremental, reset):
        X, y = validate_data(
            self,
            self._flatten(X, reset),
            y,
            multi_output=True,
            dtype=_DTYPES,
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if y.ndim == 1 or isinstance(self.loss, Loss):
            check_classification_targets(y)
        custom = isinstance(self.loss, Loss)
        if custom and y.ndim != 1:
            raise ValueError(
                f"{type(self).__name__}: a chainrule loss needs one label per sample; "
                f"got y of shape {y.shape}."
            )
        if incremental and _check_partial_fit_first_call(self, self._classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(self._classes)
                unknown = np.setdiff1d(unique_labels(y), self._label_binarizer.classes_)
                if len(unknown):
                    # The binarizer would code them as no class at all.
                    raise ValueError(
                        f"{type(self).__name__}: y contains labels not in classes "
                        f"{self._label_binarizer.classes_.tolist()}; got "
                        f"{unknown.tolist()}."
                    )
        elif not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start and not incremental:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        f"{type(self).__name__}: warm_start needs y with the classes "
                        f"of the previous fit {self.classes_.tolist()}; got "
                        f"{classes.tolist()}."
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    f"{type(self).__name__}: y contains labels not in classes_ "
                    f"{self.classes_.tolist()}; got "
                    f"{np.setdiff1d(classes, self.classes_).tolist()}. Pass every "
                    "class to the first partial_fit (classes=...) or refit."
                )
        self.classes_ = self._label_binarizer.classes_
        if reset or not hasattr(self, "out_activation_"):
            multiclass = self._label_binarizer.y_type_ == "multiclass"
            self.out_activation_ = "softmax" if multiclass or custom else "logistic"
            self._loss_kind = "log_loss" if multiclass else "binary_log_loss"
        return X, y

    def _targets(self, y, dtype) -> np.ndarray:
        if isinstance(self.loss, Loss):
            return np.searchsorted(self.classes_, y).astype(np.int64)
        return self._label_binarizer.transform(y).astype(dtype)

    def _n_outputs(self, Y) -> int:
        return len(self.classes_) if Y.ndim == 1 else Y.shape[1]

    def _score_outputs(self, z, y, sample_weight) -> float:
        return accuracy_score(y, self._labels(z), sample_weight=sample_weight)

    def _labels(self, z: np.ndarray) -> np.ndarray:
        if isinstance(self.loss, Loss):
            return self.classes_[z.argmax(axis=1)]
        p = OUTPUT_ACTIVATIONS[self.out_activation_](z)
        if self.n_outputs_ == 1:
            p = p.ravel()
        return self._label_binarizer.inverse_transform(p)

    def fit(self, X, y, sample_weight=None):
        self._classes = None
        return super().fit(X, y, sample_weight)

    fit.__doc__ = _BaseMLP.fit.__doc__

    @available_if(_BaseMLP._stochastic)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y), continuing from the current weights.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        y : array-like, shape (n_samples,)
        sample_weight : array-like, shape (n_samples,), optional
        classes : array-like, shape (n_classes,)
            Every class that will ever appear; required on the first call.

        Returns
        -------
        self
        """
        self._classes = classes
        return self._fit(X, y, sample_weight, incremental=True)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities; shape (n_samples, n_classes), the network's dtype.

        Softmax of the outputs (multiclass); [1 - p, p] of the logistic unit
        (binary); one probability per label (multilabel).
        """
        z = self._forward(X)
        if isinstance(self.loss, Loss):
            return softmax(z)
        p = OUTPUT_ACTIVATIONS[self.out_activation_](z)
        if self.n_outputs_ == 1:
            p = p.ravel()
            return np.stack([1 - p, p], axis=1)
        return p

    def predict_log_proba(self, X) -> np.ndarray:
        """log(predict_proba(X))."""
        p = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(p, out=p)

    def predict(self, X) -> np.ndarray:
        """The most probable class of each sample; shape (n_samples,)
        (an indicator matrix for multilabel y)."""
        check_is_fitted(self, "model_")
        return self._labels(self._forward(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
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
        super().__init__(
            hidden_layer_sizes,
            activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            loss=loss,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            dropout=dropout,
            transform_layer=transform_layer,
        )
        self.image_shape = image_shape
        self.conv_channels = conv_channels
        self.kernel_size = kernel_size
        self.pool_size = pool_size

    def _flatten(self, X, reset: bool):
        if isinstance(X, np.ndarray) and X.ndim == 4:
            if reset:
                self._x_shape = tuple(X.shape[1:])
            elif hasattr(self, "n_features_in_"):
                # Only the flat size would be checked next: (3, 7, 5) images
                # would be read as the (3, 5, 7) ones the model learned.
                fitted = self._input_shape(self.n_features_in_)
                if tuple(X.shape[1:]) != fitted:
                    raise ValueError(
                        f"{type(self).__name__}: X holds images of shape "
                        f"{tuple(X.shape[1:])}; the model was fitted on {fitted}."
                    )
            return X.reshape(len(X), -1)
        if reset:
            self._x_shape = None
        return X

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

    def _feature_layers(self, input_shape):
        who = type(self).__name__
        channels = _hidden_sizes(who, self.conv_channels)
        c, h, w = input_shape
        layers: list[Module] = []
        ends: list[int] = []
        for out_c in channels:
            kh, kw = min(self.kernel_size, h), min(self.kernel_size, w)
            # Odd kernels with padding k // 2 keep the size; even ones shrink it by 1.
            layers.append(
                L.Conv2D(c, out_c, (kh, kw), padding=(kh // 2, kw // 2), rng=0)
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
