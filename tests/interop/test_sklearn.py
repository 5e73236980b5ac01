"""The scikit-learn estimators: the full estimator checks, then behaviour."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _requires import importorskip

importorskip("sklearn")

from sklearn.datasets import load_digits, make_classification, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule.sklearn import ConvClassifier, MLPClassifier, MLPRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SOLVERS = ["adam", "sgd", "lbfgs"]


def _estimators():
    for solver in SOLVERS:
        yield MLPClassifier(max_iter=100, solver=solver)
        yield MLPRegressor(max_iter=100, solver=solver)
        # Small conv nets learn slowly with sgd's default step; 0.01 is enough
        # for check_classifiers_train's accuracy bar in 50 epochs.
        yield ConvClassifier(max_iter=50, solver=solver, learning_rate_init=0.01)


# No expected failures: every check of scikit-learn's suite passes, for every
# solver, sample-weight equivalence included.
@parametrize_with_checks(list(_estimators()))
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


@pytest.fixture
def blobs():
    X, y = make_classification(
        n_samples=300, n_features=8, n_informative=5, n_classes=3, random_state=0
    )
    return X, y


def test_classifier_learns_and_exposes_sklearn_attributes(blobs):
    X, y = blobs
    clf = MLPClassifier(
        (32, 16), max_iter=60, learning_rate_init=0.01, random_state=0
    ).fit(X, y)
    assert clf.score(X, y) > 0.9
    assert clf.n_features_in_ == 8
    assert clf.classes_.tolist() == [0, 1, 2]
    assert clf.n_iter_ == len(clf.loss_curve_) <= 60
    assert clf.loss_ == clf.loss_curve_[-1]
    proba = clf.predict_proba(X[:5])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert proba.dtype == np.float64
    assert clf.transform(X).shape == (300, 16)
    assert clf.set_params(transform_layer=0).transform(X).shape == (300, 32)
    assert clf.get_feature_names_out().tolist()[:2] == [
        "mlpclassifier0",
        "mlpclassifier1",
    ]


def test_fit_is_reproducible_with_random_state(blobs):
    X, y = blobs
    a = MLPClassifier((8,), max_iter=5, dropout=0.2, random_state=3).fit(X, y)
    b = MLPClassifier((8,), max_iter=5, dropout=0.2, random_state=3).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_string_labels_and_partial_fit_needs_classes(blobs):
    X, y = blobs
    names = np.array(["ant", "bee", "cat"])[y]
    clf = MLPClassifier((16,), learning_rate_init=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, names)
    for _ in range(30):
        clf.partial_fit(X, names, classes=["ant", "bee", "cat"])
    # As scikit-learn: n_iter_ counts the last call's epochs, t_ every sample.
    assert clf.n_iter_ == 1
    assert clf.t_ == 30 * len(X)
    assert len(clf.loss_curve_) == 30
    assert set(clf.predict(X)) <= {"ant", "bee", "cat"}
    assert clf.score(X, names) > 0.8
    with pytest.raises(ValueError, match="not in classes_"):
        clf.partial_fit(X[:3], ["ant", "dog", "cat"])
    # The first call checks y against the classes it is given, as scikit-learn:
    # a label outside them would be trained as no class at all.
    fresh = MLPClassifier((16,), random_state=0)
    with pytest.raises(ValueError, match=r"not in classes \['ant', 'bee'\]; got \['cat'\]"):
        fresh.partial_fit(X, names, classes=["ant", "bee"])


def test_early_stopping_records_validation_curve(blobs):
    X, y = blobs
    clf = MLPClassifier(
        (16,),
        max_iter=200,
        early_stopping=True,
        n_iter_no_change=3,
        learning_rate_init=0.05,
        random_state=0,
    ).fit(X, y)
    assert len(clf.validation_scores_) == len(clf.loss_curve_) == clf.n_iter_
    assert clf.n_iter_ < 200
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.best_loss_ is None


def test_warm_start_continues(blobs):
    X, y = blobs
    clf = MLPClassifier((16,), max_iter=3, warm_start=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
        first = clf.model_.state_dict()
        clf.fit(X, y)
    assert clf.n_iter_ == 3
    assert len(clf.loss_curve_) == 6
    assert clf.t_ == 6 * len(X)
    assert not np.array_equal(first["0.weight"], clf.model_.state_dict()["0.weight"])


def test_sample_weight_zero_ignores_samples(blobs):
    X, y = blobs
    w = np.ones(len(y))
    w[y == 2] = 0
    clf = MLPClassifier((16,), max_iter=60, learning_rate_init=0.01, random_state=0)
    clf.fit(X, y, sample_weight=w)
    assert (clf.predict(X[y == 2]) != 2).mean() > 0.9


def test_sgd_solver_custom_activation_and_loss():
    X, y = make_regression(n_samples=200, n_features=5, noise=1.0, random_state=0)
    y = y / y.std()
    reg = MLPRegressor(
        (32,),
        activation="hardtanh",
        solver="sgd",
        learning_rate_init=0.001,
        max_iter=100,
        loss=cr.losses.SSE(),
        batch_size=20,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)
    assert isinstance(reg.model_[1], cr.layers.HardTanh)
    assert reg.score(X, y) > 0.9
    multi = MLPRegressor((16,), max_iter=50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        multi.fit(X, np.c_[y, -y])
    assert multi.predict(X).shape == (200, 2)


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(solver="newton"), "solver must be one of 'lbfgs', 'sgd', 'adam'"),
        (dict(learning_rate="cyclic"), "learning_rate must be one of"),
        (dict(momentum=1.5), r"momentum must be in \[0, 1\]; got 1.5"),
        (dict(beta_2=1.0), r"beta_2 must be in \[0, 1\)"),
        (dict(max_fun=0), "max_fun must be a positive integer"),
        (dict(loss="hinge"), "loss must be one of 'log_loss' or a chainrule Loss"),
        (dict(activation="swish"), "activation must be one of"),
        (dict(hidden_layer_sizes=(0,)), "hidden_layer_sizes must be positive"),
        (dict(dropout=1.0), r"dropout must be in \[0, 1\)"),
        (dict(batch_size=0), "batch_size must be 'auto' or a positive integer"),
    ],
)
def test_bad_parameters_are_reported_at_fit(bad, match):
    X, y = make_classification(n_samples=20, random_state=0)
    with pytest.raises(ValueError, match=match):
        MLPClassifier(**bad).fit(X, y)


def test_pipeline_in_grid_search():
    X, y = load_digits(return_X_y=True)
    X, y = X[:400], y[:400]
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            (
                "mlp",
                MLPClassifier(max_iter=50, learning_rate_init=0.01, random_state=0),
            ),
        ]
    )
    search = GridSearchCV(
        pipe,
        {"mlp__hidden_layer_sizes": [(16,), (32,)], "mlp__alpha": [1e-4, 1e-2]},
        cv=3,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    assert search.best_score_ > 0.85
    assert search.best_params_["mlp__hidden_layer_sizes"] in [(16,), (32,)]
    assert search.score(X, y) > 0.9


def test_conv_classifier_on_images():
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0)[:500]
    y = y[:500]
    images = X.reshape(-1, 1, 8, 8)
    clf = ConvClassifier(
        (32,), conv_channels=(8,), max_iter=15, learning_rate_init=0.01, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(images, y)
    assert clf.n_features_in_ == 64
    assert isinstance(clf.model_[0], cr.layers.Conv2D)
    assert clf.score(images, y) > 0.9
    # The flat rows of the same images, read with image_shape, give the same model.
    flat = ConvClassifier(
        (32,),
        conv_channels=(8,),
        image_shape=(8, 8),
        max_iter=15,
        learning_rate_init=0.01,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        flat.fit(X, y)
    np.testing.assert_array_equal(flat.predict_proba(X), clf.predict_proba(images))
    with pytest.raises(ValueError, match="image_shape must be"):
        ConvClassifier(image_shape=(3, 3)).fit(X, y)
    # Images of another shape with as many values were read as the fitted ones.
    with pytest.raises(ValueError, match=r"images of shape \(1, 4, 16\); the model was fitted on \(1, 8, 8\)"):
        clf.predict(X.reshape(-1, 1, 4, 16))


@pytest.mark.parametrize(
    ("param", "value"), [("conv_channels", (0,)), ("kernel_size", 0), ("pool_size", 0)]
)
def test_conv_classifier_names_its_own_bad_parameter(param, value):
    X = np.zeros((4, 16))
    with pytest.raises(ValueError, match=f"ConvClassifier: {param} must be positive"):
        ConvClassifier(**{param: value}).fit(X, [0, 1, 0, 1])
