"""scikit-learn estimators backed by chainrule networks.

    from chainrule.sklearn import MLPClassifier
    clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=50, random_state=0)
    clf.fit(X, y).score(X_test, y_test)

``MLPClassifier`` and ``MLPRegressor`` take the arguments of
``sklearn.neural_network``'s estimators of the same name that make sense for
mini-batch training (no lbfgs, no learning-rate schedules), plus ``dropout``,
``loss`` (any chainrule :class:`~chainrule.losses.Loss`) and
``transform_layer``. ``ConvClassifier`` puts convolution blocks in front of the
hidden layers, for images given as (N, C, H, W) or flattened (N, H*W).

Everything is float64, and everything random comes from ``random_state``, so a
fit repeats bit for bit. This module imports scikit-learn; ``import chainrule``
does not import it.

Differences from scikit-learn's MLP, on purpose:

- ``alpha`` is the L2 penalty of scikit-learn's loss, (alpha / 2) ||W||^2 per
  batch average, given to the optimizer as ``weight_decay = alpha / batch_size``
  (the gradient scikit-learn adds); it also decays the biases.
- The classifier always has one output per class (two for a binary problem) and
  trains with softmax cross-entropy; ``predict_proba`` is their softmax.
- ``early_stopping`` watches the validation *loss* (recorded in
  ``validation_loss_curve_``), not the validation score, and restores the
  weights of its best epoch.
"""

from .classifier import ConvClassifier, MLPClassifier
from .regressor import MLPRegressor

__all__ = ["ConvClassifier", "MLPClassifier", "MLPRegressor"]
