"""scikit-learn estimators backed by chainrule networks.

    from chainrule.sklearn import MLPClassifier
    clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=50, random_state=0)
    clf.fit(X, y).score(X_test, y_test)

``MLPClassifier`` and ``MLPRegressor`` are drop-in replacements for
``sklearn.neural_network``'s estimators of the same name: the same
parameters, the same fitted attributes, and, for the same settings and
``random_state``, the same numbers (initial weights, L2 penalty, sample
weights, solvers adam, sgd and lbfgs, stopping rule; the classifier's
docstring lists each point). The forward and backward passes are chainrule's
layers; ``model_`` is the chainrule network and ``coefs_`` / ``intercepts_``
are views of its parameters. chainrule adds ``dropout``, ``transform_layer``
(``transform`` returns a hidden layer's activations), any chainrule
activation or :class:`~chainrule.losses.Loss`, and ``ConvClassifier``, which
puts convolution blocks in front of the hidden layers, for images given as
(N, C, H, W) or flattened (N, H*W).

Precision follows the input: float32 X trains in float32, anything else in
float64. Everything random comes from ``random_state``, so a fit repeats bit
for bit.

``register_onnx_converters()`` registers the estimators with skl2onnx (the
``onnx`` extra), so that ``skl2onnx.to_onnx`` converts them, alone or in a
Pipeline. This module imports scikit-learn; ``import chainrule`` does not.
"""

import sys

try:
    import sklearn  # noqa: F401
except ModuleNotFoundError as exc:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "chainrule.sklearn needs scikit-learn, which is not installed. Install "
        "the extra: pip install 'chainrule[sklearn]'."
    ) from exc

from .classifier import ConvClassifier, MLPClassifier
from .regressor import MLPRegressor


def register_onnx_converters() -> None:
    """Register the estimators with skl2onnx, so that ``skl2onnx.to_onnx``
    converts them alone or in a Pipeline (see ``chainrule.sklearn._onnx``).

    Raises
    ------
    ImportError
        When skl2onnx is not installed, naming the extra that installs it.
    """
    try:
        from ._onnx import register_onnx_converters as register
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] not in ("skl2onnx", "onnx"):
            raise
        raise ImportError(
            f"register_onnx_converters needs the package {exc.name!r}, which is not "
            "installed. Install the extra: pip install 'chainrule[onnx]'."
        ) from exc
    register()


# Whoever has imported skl2onnx already means to convert: register for them.
if sys.modules.get("skl2onnx") is not None:
    register_onnx_converters()

__all__ = [
    "ConvClassifier",
    "MLPClassifier",
    "MLPRegressor",
    "register_onnx_converters",
]
