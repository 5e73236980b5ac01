"""chainrule's estimators against scikit-learn's MLP: the same settings and
random_state give the same weights, losses and attributes, step for step."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _requires import importorskip

importorskip("sklearn")

from sklearn import neural_network as nn  # noqa: E402
from sklearn.datasets import load_iris, make_multilabel_classification, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _fit_both(kind, X, y, sample_weight=None, **params):
    ours = {"clf": MLPClassifier, "reg": MLPRegressor}[kind](**params)
    theirs = {"clf": nn.MLPClassifier, "reg": nn.MLPRegressor}[kind](**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y, sample_weight=sample_weight)
        theirs.fit(X, y, sample_weight=sample_weight)
    return ours, theirs


def _assert_same(ours, theirs, rtol=1e-7, atol=1e-9):
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.t_ == theirs.t_
    assert len(ours.coefs_) == len(theirs.coefs_)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=rtol)


def test_initial_weights_are_sklearns_glorot_uniform(iris):
    X, y = iris
    for activation in ("relu", "logistic", "tanh", "identity"):
        ours, theirs = _fit_both(
            "clf",
            X,
            y,
            hidden_layer_sizes=(7, 5),
            activation=activation,
            max_iter=1,
            random_state=3,
            learning_rate_init=1e-12,
        )
        # One epoch with a vanishing step: the weights are the initial ones.
        _assert_same(ours, theirs, rtol=1e-9)
        fan_in, fan_out = ours.coefs_[0].shape
        factor = 2.0 if activation == "logistic" else 6.0
        bound = np.sqrt(factor / (fan_in + fan_out))
        assert np.abs(ours.coefs_[0]).max() <= bound
        assert np.abs(ours.coefs_[0]).max() > 0.8 * bound


@pytest.mark.parametrize(
    "params",
    [
        dict(solver="adam"),
        dict(solver="adam", early_stopping=True, n_iter_no_change=3),
        dict(solver="adam", batch_size=32, alpha=0.1, beta_1=0.8, epsilon=1e-6),
        dict(solver="sgd", learning_rate="constant", momentum=0.5),
        dict(
            solver="sgd",
            learning_rate="invscaling",
            power_t=0.3,
            learning_rate_init=0.05,
        ),
        dict(
            solver="sgd",
            learning_rate="adaptive",
            nesterovs_momentum=False,
            n_iter_no_change=2,
            tol=1e-2,
        ),
        dict(solver="sgd", shuffle=False, batch_size=50),
        dict(solver="lbfgs"),
        dict(solver="lbfgs", max_fun=40, activation="tanh"),
    ],
    ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()),
)
def test_same_fit_as_sklearn_classifier(iris, params):
    X, y = iris
    ours, theirs = _fit_both(
        "clf", X, y, hidden_layer_sizes=(16,), max_iter=60, random_state=0, **params
    )
    # lbfgs runs through 60 iterations of line searches: rounding grows.
    tight = params["solver"] != "lbfgs"
    _assert_same(
        ours, theirs, rtol=1e-7 if tight else 1e-4, atol=1e-9 if tight else 1e-6
    )
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    np.testing.assert_allclose(
        ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-6, atol=1e-9
    )
    if params["solver"] != "lbfgs":
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)
        if params.get("early_stopping"):
            np.testing.assert_allclose(
                ours.validation_scores_, theirs.validation_scores_
            )
            assert ours.best_validation_score_ == theirs.best_validation_score_
            assert ours.best_loss_ is theirs.best_loss_ is None
        else:
            np.testing.assert_allclose(ours.best_loss_, theirs.best_loss_, rtol=1e-9)
            assert ours.validation_scores_ is theirs.validation_scores_ is None
        assert ours._optimizer.learning_rate == pytest.approx(
            theirs._optimizer.learning_rate
        )


def test_binary_classifier_has_one_logistic_output(iris):
    X, y = iris
    ours, theirs = _fit_both(
        "clf", X, y == 1, hidden_layer_sizes=(8,), max_iter=30, random_state=1
    )
    assert ours.out_activation_ == theirs.out_activation_ == "logistic"
    assert ours.coefs_[-1].shape == (8, 1)
    _assert_same(ours, theirs)
    np.testing.assert_allclose(
        ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-7
    )


def test_multilabel_classifier():
    X, Y = make_multilabel_classification(n_samples=80, n_classes=3, random_state=0)
    ours, theirs = _fit_both(
        "clf", X, Y, hidden_layer_sizes=(8,), max_iter=40, random_state=0
    )
    _assert_same(ours, theirs)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert ours.predict_proba(X).shape == (80, 3)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_same_fit_as_sklearn_regressor(solver, loss):
    X, y = make_regression(n_samples=120, n_features=5, n_targets=2, random_state=0)
    X = StandardScaler().fit_transform(X)
    y = y / y.std()
    if loss == "poisson":
        y = np.abs(y)
    ours, theirs = _fit_both(
        "reg",
        X,
        y,
        hidden_layer_sizes=(10,),
        max_iter=40,
        random_state=0,
        solver=solver,
        loss=loss,
        learning_rate_init=0.01,
    )
    tight = solver != "lbfgs"
    _assert_same(
        ours, theirs, rtol=1e-7 if tight else 1e-4, atol=1e-9 if tight else 1e-6
    )
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_sample_weight_as_sklearn_and_as_repetition(iris, solver):
    X, y = iris
    w = np.random.default_rng(0).integers(0, 4, len(y)).astype(float)
    ours, theirs = _fit_both(
        "clf",
        X,
        y,
        sample_weight=w,
        hidden_layer_sizes=(8,),
        max_iter=30,
        random_state=0,
        solver=solver,
    )
    _assert_same(ours, theirs, rtol=1e-6, atol=1e-8)
    # Weight k is the sample listed k times: sum_i w_i l_i / sum_i w_i, one batch.
    rows = np.repeat(np.arange(len(y)), w.astype(int))
    repeated = MLPClassifier(
        (8,),
        max_iter=30,
        random_state=0,
        solver=solver,
        batch_size=len(rows),
    ).fit(X[rows], y[rows])
    weighted = MLPClassifier(
        (8,),
        max_iter=30,
        random_state=0,
        solver=solver,
        batch_size=len(X),
    ).fit(X, y, sample_weight=w)
    for a, b in zip(weighted.coefs_, repeated.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)


def test_alpha_penalty_is_divided_by_the_weight_sum(iris):
    X, y = iris
    clf = MLPClassifier((4,), alpha=2.0, random_state=0, max_iter=1)
    clf.fit(X, y)
    clf._random_state = np.random.RandomState(0)
    w = np.full(len(y), 0.5)
    # L = sum w l / sum w + (alpha / 2) sum ||W||^2 / sum w
    loss = clf._backprop(X, clf._targets(y, X.dtype), w)
    z = clf._decision(X)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    data = -np.mean(np.log(p[np.arange(len(y)), y]))
    squares = sum((c**2).sum() for c in clf.coefs_)
    assert loss == pytest.approx(data + 0.5 * 2.0 * squares / w.sum(), rel=1e-12)
    # ... and the weight gradient carries alpha W / sum w, the bias none.
    g = clf.model_[-1].weight.grad.T.copy()
    clf.alpha = 0.0
    clf._backprop(X, clf._targets(y, X.dtype), w)
    np.testing.assert_allclose(
        g - clf.model_[-1].weight.grad.T, 2.0 * clf.coefs_[-1] / w.sum(), rtol=1e-10
    )


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_computes_in_the_input_precision(iris, solver):
    X, y = iris
    for dtype in (np.float32, np.float64):
        Xd = X.astype(dtype)
        clf = MLPClassifier((8,), solver=solver, max_iter=20, random_state=0).fit(Xd, y)
        reg = MLPRegressor((8,), solver=solver, max_iter=20, random_state=0).fit(Xd, y)
        assert clf.model_.dtype == dtype
        assert all(c.dtype == dtype for c in clf.coefs_ + clf.intercepts_)
        assert clf.predict_proba(Xd).dtype == dtype
        assert reg.predict(Xd).dtype == dtype
    # Integer input trains in float64, as scikit-learn's.
    assert (
        MLPRegressor((4,), max_iter=2).fit(X.astype(int), y).model_.dtype == np.float64
    )
    # float32 training follows the float64 one closely (same draws, rounded).
    X32 = MLPClassifier((8,), solver=solver, max_iter=20, random_state=0).fit(
        X.astype(np.float32), y
    )
    X64 = MLPClassifier((8,), solver=solver, max_iter=20, random_state=0).fit(X, y)
    np.testing.assert_allclose(X32.coefs_[0], X64.coefs_[0], atol=2e-3)


def test_coefs_are_views_of_the_chainrule_parameters(iris):
    X, y = iris
    clf = MLPClassifier((6,), max_iter=5, random_state=0).fit(X, y)
    assert np.shares_memory(clf.coefs_[0], clf.model_[0].weight.data)
    assert clf.intercepts_[1] is clf.model_[2].bias.data
    before = clf.predict_proba(X[:3])
    clf.coefs_[-1][...] = 0
    clf.intercepts_[-1][...] = 0
    np.testing.assert_allclose(clf.predict_proba(X[:3]), 1 / 3)
    assert not np.allclose(before, 1 / 3)
    assert clf.n_layers_ == 3 and clf.n_outputs_ == 3


def test_stopping_rule_and_n_iter(iris):
    X, y = iris
    clf = MLPClassifier(
        (8,), max_iter=500, tol=1e-2, n_iter_no_change=4, random_state=0
    )
    clf.fit(X, y)
    curve = np.array(clf.loss_curve_)
    assert clf.n_iter_ == len(curve) < 500
    # The last n_iter_no_change + 1 epochs each missed best - tol.
    best = [curve[: i + 1].min() for i in range(len(curve))]
    assert all(curve[i] > best[i - 1] - 1e-2 for i in range(len(curve) - 5, len(curve)))
    assert clf.best_loss_ == curve.min()
    # max_iter reached: scikit-learn's warning.
    with pytest.warns(ConvergenceWarning, match="maximum iterations \\(3\\) reached"):
        MLPClassifier((8,), max_iter=3, random_state=0).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        MLPClassifier((8,), solver="lbfgs", max_fun=5, random_state=0).fit(X, y)


def test_sgd_schedules(iris):
    X, y = iris
    inv = MLPClassifier(
        (8,),
        solver="sgd",
        learning_rate="invscaling",
        power_t=0.5,
        learning_rate_init=0.1,
        max_iter=4,
        random_state=0,
    ).fit(X, y)
    assert inv._optimizer.learning_rate == pytest.approx(0.1 / (4 * 150 + 1) ** 0.5)
    ada = MLPClassifier(
        (8,),
        solver="sgd",
        learning_rate="adaptive",
        tol=10.0,
        n_iter_no_change=1,
        learning_rate_init=0.1,
        max_iter=7,
        random_state=0,
    ).fit(X, y)
    # tol 10 makes every epoch a miss; each second one fires: 0.1 / 5^3.
    assert ada.n_iter_ == 7
    assert ada._optimizer.learning_rate == pytest.approx(0.1 / 5**3)


def test_partial_fit_only_for_stochastic_solvers(iris):
    X, y = iris
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    assert hasattr(MLPRegressor(solver="sgd"), "partial_fit")
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])


def test_chainrule_loss_and_dropout_still_work(iris):
    X, y = iris
    clf = MLPClassifier(
        (16,),
        loss=cr.losses.CrossEntropy(),
        dropout=0.1,
        max_iter=100,
        learning_rate_init=0.01,
        random_state=0,
    ).fit(X, y)
    assert clf.coefs_[-1].shape == (16, 3)
    assert clf.score(X, y) > 0.9
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0)


def test_warm_start_after_pickle_keeps_training_the_model(iris):
    import pickle

    X, y = iris
    clf = MLPClassifier((8,), max_iter=5, warm_start=True, random_state=0).fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    before = again.coefs_[0].copy()
    again.fit(X, y)
    assert not np.allclose(before, again.coefs_[0])
    assert np.shares_memory(again.coefs_[0], again.model_[0].weight.data)
    # ... and takes the steps the original takes.
    clf.fit(X, y)
    np.testing.assert_array_equal(clf.coefs_[0], again.coefs_[0])
