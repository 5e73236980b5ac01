"""MLPRegressor."""

from __future__ import annotations

import numpy as np
from sklearn.base import (
    RegressorMixin,
)
from sklearn.utils.validation import (
    validate_data,
)

from ..losses import MSE
from ._base import (
    _DTYPE,
    _BaseMLP,
)


class MLPRegressor(RegressorMixin, _BaseMLP):
    """A multi-layer perceptron regressor trained by chainrule.

    Linear -> activation [-> Dropout] per hidden size, then a linear output per
    target, trained with ``MSE`` (1/2 mean squared error, as scikit-learn).
    The parameters and attributes are those of :class:`MLPClassifier` (without
    ``classes``); ``y`` may have several columns.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.sklearn import MLPRegressor
    >>> X = np.linspace(-1, 1, 200)[:, None]
    >>> reg = MLPRegressor((32,), batch_size=20, learning_rate_init=0.01,
    ...                    random_state=0).fit(X, X[:, 0] ** 2)
    >>> reg.score(X, X[:, 0] ** 2) > 0.9
    True
    """

    _default_loss = MSE
    _is_clf = False

    def _validate_Xy(self, X, y, reset):
        X, y = validate_data(
            self, X, y, reset=reset, dtype=_DTYPE, multi_output=True, y_numeric=True
        )
        return X, y

    def _encode_targets(self, y, first, incremental, classes):
        y = np.asarray(y, dtype=_DTYPE)
        if first:
            self._y_ndim = y.ndim
            self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        t = y.reshape(len(y), -1)
        if t.shape[1] != self.n_outputs_:
            raise ValueError(
                f"{type(self).__name__}: y must have {self.n_outputs_} output(s), as "
                f"in the first fit; got {t.shape[1]}."
            )
        return t

    def _n_outputs(self, t) -> int:
        return t.shape[1]

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing from the current weights."""
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X) -> np.ndarray:
        """Predictions, shape (n_samples,) or (n_samples, n_outputs) as y was."""
        out = self._forward(X)
        return out[:, 0] if self._y_ndim == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
