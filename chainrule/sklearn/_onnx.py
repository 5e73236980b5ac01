"""skl2onnx converters for the chainrule estimators.

    import skl2onnx
    from chainrule.sklearn import register_onnx_converters
    register_onnx_converters()
    onx = skl2onnx.to_onnx(pipeline, X[:1].astype(np.float32),
                           options={"zipmap": False})

The network goes through :func:`chainrule.onnx.to_onnx` (the same graph that
``cr.onnx.export`` writes), whose nodes and weights are copied into
skl2onnx's graph under fresh names; the output activation and the label
follow, as skl2onnx writes them for scikit-learn's MLP:

    classifier   softmax:  probabilities = Softmax(z)
                 logistic: p = Sigmoid(z), probabilities = Concat(1 - p, p)
                 label = ArrayFeatureExtractor(classes_, ArgMax(probabilities))
    regressor    variable = z (identity) or Exp(z) (poisson)

Inputs and weights are float32 (the weights of a float64 model are rounded
to float32). Multilabel classifiers are not converted.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper
from skl2onnx import update_registered_converter
from skl2onnx.common.data_types import FloatTensorType
from skl2onnx.common.shape_calculator import (
    calculate_linear_classifier_output_shapes,
    calculate_linear_regressor_output_shapes,
)

from .. import onnx as cr_onnx
from .classifier import ConvClassifier, MLPClassifier
from .regressor import MLPRegressor

_ALIASES = {
    MLPClassifier: "ChainruleMLPClassifier",
    ConvClassifier: "ChainruleConvClassifier",
    MLPRegressor: "ChainruleMLPRegressor",
}


def _network(scope, operator, container) -> str:
    """Copy the chainrule network of ``operator``'s estimator into
    ``container``; return the name of its output z, shape (N, n_outputs)."""
    est = operator.raw_operator
    who = type(est).__name__
    if not isinstance(operator.inputs[0].type, FloatTensorType):
        raise TypeError(
            f"{who} ONNX converter: the input must be a float32 tensor "
            f"(FloatTensorType); got {type(operator.inputs[0].type).__name__}. "
            "Convert with X.astype(np.float32)."
        )
    shape = est._input_shape(est.n_features_in_)
    opset = container.target_opset or cr_onnx.DEFAULT_OPSET
    proto = cr_onnx.to_onnx(est.model_, shape, opset=max(13, int(opset)))
    graph = proto.graph
    x = operator.inputs[0].full_name
    if len(shape) > 1:
        # The estimator takes flat rows; the network wants (N, C, H, W).
        dims = scope.get_unique_variable_name("chainrule_shape")
        container.add_initializer(dims, TensorProto.INT64, [4], [-1, *shape])
        image = scope.get_unique_variable_name("chainrule_image")
        container.add_node(
            "Reshape",
            [x, dims],
            [image],
            name=scope.get_unique_operator_name("Reshape"),
        )
        x = image
    names = {graph.input[0].name: x}

    def rename(value: str) -> str:
        if value == "":
            return value  # an omitted optional input
        if value not in names:
            names[value] = scope.get_unique_variable_name(f"chainrule_{value}")
        return names[value]

    for init in graph.initializer:
        array = numpy_helper.to_array(init)
        container.add_initializer(
            rename(init.name),
            init.data_type,
            list(array.shape),
            array.ravel().tolist(),
        )
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        container.add_node(
            node.op_type,
            [rename(v) for v in node.input],
            [rename(v) for v in node.output],
            op_domain=node.domain,
            name=scope.get_unique_operator_name(f"chainrule_{node.op_type}"),
            **attrs,
        )
    return names[graph.output[0].name]


def _convert_classifier(scope, operator, container) -> None:
    est = operator.raw_operator
    who = type(est).__name__
    if est._label_binarizer.y_type_.startswith("multilabel"):
        raise ValueError(
            f"{who} ONNX converter: multilabel classifiers are not supported; got "
            f"{len(est.classes_)} labels."
        )
    z = _network(scope, operator, container)
    label, proba = operator.outputs[0].full_name, operator.outputs[1].full_name

    def node(op, inputs, **attrs) -> str:
        out = scope.get_unique_variable_name(f"chainrule_{op.lower()}")
        container.add_node(
            op, inputs, [out], name=scope.get_unique_operator_name(op), **attrs
        )
        return out

    if est.out_activation_ == "softmax":
        container.add_node(
            "Softmax",
            [z],
            [proba],
            name=scope.get_unique_operator_name("Softmax"),
            axis=1,
        )
    else:  # one logistic unit: [1 - p, p]
        p = node("Sigmoid", [z])
        one = scope.get_unique_variable_name("chainrule_one")
        container.add_initializer(one, TensorProto.FLOAT, [], [1.0])
        q = node("Sub", [one, p])
        container.add_node(
            "Concat",
            [q, p],
            [proba],
            name=scope.get_unique_operator_name("Concat"),
            axis=1,
        )
    index = node("ArgMax", [proba], axis=1, keepdims=0)
    classes = scope.get_unique_variable_name("chainrule_classes")
    if est.classes_.dtype.kind in "iub" or (
        est.classes_.dtype.kind == "f"
        and np.array_equal(est.classes_, np.round(est.classes_))
    ):
        values = est.classes_.astype(np.int64).tolist()
        container.add_initializer(classes, TensorProto.INT64, [len(values)], values)
    else:
        values = [str(c).encode("utf-8") for c in est.classes_]
        container.add_initializer(classes, TensorProto.STRING, [len(values)], values)
    found = node("ArrayFeatureExtractor", [classes, index], op_domain="ai.onnx.ml")
    flat = scope.get_unique_variable_name("chainrule_flat")
    container.add_initializer(flat, TensorProto.INT64, [1], [-1])
    container.add_node(
        "Reshape",
        [found, flat],
        [label],
        name=scope.get_unique_operator_name("Reshape"),
    )


def _convert_regressor(scope, operator, container) -> None:
    est = operator.raw_operator
    z = _network(scope, operator, container)
    op = "Exp" if est.out_activation_ == "exp" else "Identity"
    container.add_node(
        op,
        [z],
        [operator.outputs[0].full_name],
        name=scope.get_unique_operator_name(op),
    )


def _regressor_shapes(operator) -> None:
    calculate_linear_regressor_output_shapes(operator)
    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type.shape = [n, operator.raw_operator.n_outputs_]


def register_onnx_converters() -> None:
    """Register chainrule's estimators with skl2onnx (safe to call again).

    After this, ``skl2onnx.to_onnx`` converts them alone or inside a Pipeline,
    with the options of skl2onnx's classifiers (``zipmap``). ``import
    chainrule.sklearn`` calls it when skl2onnx is already imported.

    Examples
    --------
    >>> import numpy as np, skl2onnx
    >>> from chainrule.sklearn import MLPClassifier, register_onnx_converters
    >>> register_onnx_converters()
    >>> X = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    >>> y = (X[:, 0] > 0).astype(int)
    >>> clf = MLPClassifier((4,), solver="lbfgs", random_state=0).fit(X, y)
    >>> onx = skl2onnx.to_onnx(clf, X[:1], options={"zipmap": False})
    >>> [o.name for o in onx.graph.output]
    ['label', 'probabilities']
    """
    for cls, alias in _ALIASES.items():
        if issubclass(cls, MLPClassifier):
            update_registered_converter(
                cls,
                alias,
                calculate_linear_classifier_output_shapes,
                _convert_classifier,
                options={"zipmap": [True, False, "columns"], "nocl": [True, False]},
            )
        else:
            update_registered_converter(
                cls, alias, _regressor_shapes, _convert_regressor
            )
