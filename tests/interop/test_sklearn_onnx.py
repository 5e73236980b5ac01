"""Deployment of the scikit-learn estimators: skl2onnx converters, and the
lazy ``cr.sklearn`` / ``cr.onnx`` attributes of a plain ``import chainrule``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _requires import importorskip
from _run_cli import run_python

importorskip("sklearn")

from sklearn.datasets import (  # noqa: E402
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    make_multilabel_classification,
)
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from chainrule.sklearn import ConvClassifier, MLPClassifier, MLPRegressor  # noqa: E402


def _onnx_run(onx, X):
    ort = importorskip("onnxruntime")
    sess = ort.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return sess.run(None, {sess.get_inputs()[0].name: X.astype(np.float32)})


CASES = {
    "multiclass-strings": (
        load_iris,
        lambda y: np.array(["setosa", "versicolor", "virginica"])[y],
        MLPClassifier((16,), max_iter=100, random_state=0),
    ),
    "binary-tanh-lbfgs": (
        load_breast_cancer,
        None,
        MLPClassifier((16, 8), activation="tanh", solver="lbfgs", random_state=0),
    ),
    "conv-digits": (
        load_digits,
        None,
        ConvClassifier((16,), conv_channels=(4,), max_iter=5, random_state=0),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_pipeline_converts_with_skl2onnx_and_matches(case):
    skl2onnx = importorskip("skl2onnx")
    from chainrule.sklearn import register_onnx_converters

    register_onnx_converters()
    load, relabel, est = CASES[case]
    X, y = load(return_X_y=True)
    if relabel is not None:
        y = relabel(y)
    pipe = make_pipeline(StandardScaler(), est)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X, y)
    onx = skl2onnx.to_onnx(pipe, X[:1].astype(np.float32), options={"zipmap": False})
    label, proba = _onnx_run(onx, X)
    np.testing.assert_allclose(proba, pipe.predict_proba(X), atol=1e-5)
    # Labels agree wherever the decision is not a float32 coin toss.
    top2 = np.sort(pipe.predict_proba(X), axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-4
    np.testing.assert_array_equal(label[clear], pipe.predict(X)[clear])


def test_classifier_default_zipmap_and_regressor():
    skl2onnx = importorskip("skl2onnx")
    from chainrule.sklearn import register_onnx_converters

    register_onnx_converters()
    X, y = load_iris(return_X_y=True)
    clf = make_pipeline(
        StandardScaler(), MLPClassifier((8,), solver="lbfgs", random_state=0)
    )
    clf.fit(X, y)
    label, maps = _onnx_run(skl2onnx.to_onnx(clf, X[:1].astype(np.float32)), X)
    assert sorted(maps[0]) == [0, 1, 2]
    np.testing.assert_allclose(
        [[m[k] for k in range(3)] for m in maps], clf.predict_proba(X), atol=1e-5
    )
    X, y = load_diabetes(return_X_y=True)
    for loss in ("squared_error", "poisson"):
        reg = make_pipeline(
            StandardScaler(),
            MLPRegressor((16,), solver="lbfgs", loss=loss, random_state=0),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            reg.fit(X, y / 100)
        (out,) = _onnx_run(skl2onnx.to_onnx(reg, X[:1].astype(np.float32)), X)
        assert out.shape == (len(X), 1)
        np.testing.assert_allclose(out[:, 0], reg.predict(X), rtol=1e-5, atol=1e-5)


def test_multilabel_and_double_input_are_refused_clearly():
    skl2onnx = importorskip("skl2onnx")
    from skl2onnx.common.data_types import DoubleTensorType

    from chainrule.sklearn import register_onnx_converters

    register_onnx_converters()
    X, Y = make_multilabel_classification(n_samples=40, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        multi = MLPClassifier((4,), max_iter=3, random_state=0).fit(X, Y)
        single = MLPClassifier((4,), max_iter=3, random_state=0).fit(X, Y[:, 0])
    with pytest.raises(ValueError, match="multilabel classifiers are not supported"):
        skl2onnx.to_onnx(multi, X[:1].astype(np.float32), options={"zipmap": False})
    with pytest.raises(TypeError, match="input must be a float32 tensor"):
        skl2onnx.to_onnx(
            single,
            initial_types=[("x", DoubleTensorType([None, X.shape[1]]))],
            options={"zipmap": False},
        )


def test_import_chainrule_is_light_and_lazy_attributes_work():
    result = run_python(
        """
        import sys
        import chainrule as cr
        heavy = [m for m in ("sklearn", "onnx", "scipy", "skl2onnx") if m in sys.modules]
        print("heavy", heavy)
        assert "sklearn" in dir(cr) and "onnx" in dir(cr)
        print(cr.sklearn.MLPClassifier.__name__, cr.onnx.export.__name__)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "heavy []" in result.stdout
    assert "MLPClassifier export" in result.stdout


@pytest.mark.parametrize(
    ("attr", "block", "extra"),
    [("onnx", "onnx", "onnx"), ("sklearn", "sklearn", "sklearn")],
)
def test_lazy_attribute_names_the_extra_when_a_package_is_missing(attr, block, extra):
    result = run_python(
        f"""
        import sys
        sys.modules[{block!r}] = None  # as if it were not installed
        import chainrule as cr
        try:
            cr.{attr}
        except ImportError as exc:
            print("ERROR", exc)
        """
    )
    assert result.returncode == 0, result.stderr
    assert f"ERROR chainrule.{attr} needs" in result.stdout
    assert f"pip install 'chainrule[{extra}]'" in result.stdout


def test_register_names_the_extra_without_skl2onnx_and_unknown_attr():
    result = run_python(
        """
        import sys
        sys.modules["skl2onnx"] = None
        import chainrule as cr
        try:
            cr.sklearn.register_onnx_converters()
        except ImportError as exc:
            print("ERROR", exc)
        try:
            cr.nonexistent
        except AttributeError as exc:
            print("ATTR", exc)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'chainrule[onnx]'" in result.stdout
    assert "has no attribute 'nonexistent'" in result.stdout
