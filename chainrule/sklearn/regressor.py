"""MLPRegressor."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import column_or_1d, validate_data

from ..losses import Loss
from ._base import _DTYPES, OUTPUT_ACTIVATIONS, _BaseMLP


class MLPRegressor(RegressorMixin, _BaseMLP):
    """A multi-layer perceptron regressor: scikit-learn's, on chainrule layers.

    Linear -> activation [-> Dropout] per hidden size, then a linear output per
    target, trained on half the squared error, (1/2) mean_k (y_k - p_k)^2
    per sample (``loss="squared_error"``, or None, the default), or on half the Poisson deviance
    with an exponential output (``loss="poisson"``), or on any chainrule
    :class:`~chainrule.losses.Loss` of the linear outputs. Initialisation,
    penalty, sample weights, solvers, stopping rule, precision and attributes
    are those of :class:`MLPClassifier` (which lists them), with R^2 as the
    validation score of ``early_stopping``; ``y`` may have several columns.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.sklearn import MLPRegressor
    >>> X = np.linspace(-1, 1, 200)[:, None]
    >>> reg = MLPRegressor((32,), solver="lbfgs", random_state=0).fit(X, X[:, 0] ** 2)
    >>> reg.score(X, X[:, 0] ** 2) > 0.9
    True
    """

    _is_clf = False
    _losses = ("squared_error", "poisson")

    def _validate_Xy(self, X, y, incremental, reset):
        X, y = validate_data(
            self,
            X,
            y,
            reset=reset,
            dtype=_DTYPES,
            multi_output=True,
            y_numeric=True,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self._loss_name() == "poisson" and (y < 0).any():
            raise ValueError(
                f"{type(self).__name__}: loss='poisson' needs non-negative y; got "
                f"a minimum of {y.min()!r}."
            )
        if reset or not hasattr(self, "out_activation_"):
            poisson = self._loss_name() == "poisson"
            self.out_activation_ = "exp" if poisson else "identity"
            self._loss_kind = self._loss_name()
        return X, y

    def _targets(self, y, dtype) -> np.ndarray:
        return np.asarray(y, dtype=dtype).reshape(len(y), -1)

    def _n_outputs(self, Y) -> int:
        return Y.shape[1]

    def _predictions(self, z: np.ndarray) -> np.ndarray:
        if not isinstance(self.loss, Loss):
            z = OUTPUT_ACTIVATIONS[self.out_activation_](z)
        return z[:, 0] if z.shape[1] == 1 else z

    def _score_outputs(self, z, y, sample_weight) -> float:
        return r2_score(y, self._predictions(z), sample_weight=sample_weight)

    @available_if(_BaseMLP._stochastic)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing from the current weights.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        y : array-like, shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like, shape (n_samples,), optional

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X) -> np.ndarray:
        """Predictions, shape (n_samples,) for one output, else (n_samples,
        n_outputs); the network's dtype."""
        return self._predictions(self._forward(X))
