"""The four tasks: inference from the target, losses per task, metrics
against scikit-learn, the PCA baseline."""

from __future__ import annotations

import numpy as np
import pytest
from _requires import importorskip

from chainrule.metrics import roc_auc, roc_curve
from chainrule.tasks import (
    autoencode_metrics,
    binary_metrics,
    check_loss,
    classification_metrics,
    head_spec,
    infer_task,
    pca_reconstruction_mse,
    regression_metrics,
)

sk = importorskip("sklearn.metrics")


@pytest.mark.parametrize(
    "info, task",
    [
        ({"numeric": True, "integers": False, "distinct": 300}, "regress"),
        ({"numeric": True, "integers": True, "distinct": 2}, "binary"),
        ({"numeric": False, "integers": True, "distinct": 2}, "binary"),
        ({"numeric": True, "integers": True, "distinct": 7}, "classify"),
        ({"numeric": True, "integers": True, "distinct": 200}, "regress"),
        ({"numeric": False, "integers": True, "distinct": 40}, "classify"),
    ],
)
def test_infer_task(info, task):
    assert infer_task([{"name": "y", **info}])[0] == task


def test_infer_task_several_targets_and_none():
    t = {"numeric": True, "integers": False, "distinct": None}
    assert infer_task([t, t]) == ("regress", "2 target columns")
    assert infer_task([])[0] == "autoencode"


def test_losses_per_task():
    assert check_loss("regress", None) == "mse"
    assert check_loss("regress", "sse") == "sse"
    assert check_loss("binary", None) == "bce"
    assert check_loss("classify", "nll") == "nll"
    assert check_loss("autoencode", "bce") == "bce"
    with pytest.raises(ValueError, match="--loss ce does not fit --task binary.*--task classify"):
        check_loss("binary", "ce")
    with pytest.raises(ValueError, match="--loss mse does not fit --task classify"):
        check_loss("classify", "mse")
    with pytest.raises(ValueError, match="--loss bce does not fit --task regress"):
        check_loss("regress", "bce")
    with pytest.raises(ValueError, match="--task must be one of"):
        check_loss("cluster", None)
    assert head_spec("binary", "bce", 1) == "linear1-sigmoid"
    assert head_spec("classify", "nll", 4) == "linear4-logsoftmax"


def test_regression_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    t = rng.normal(size=(50, 2))
    p = t + rng.normal(scale=0.3, size=t.shape)
    m = regression_metrics(p, t, ["a", "b"])
    for j, name in enumerate("ab"):
        got = m["per_target"][name]
        assert got["rmse"] == pytest.approx(np.sqrt(sk.mean_squared_error(t[:, j], p[:, j])))
        assert got["mae"] == pytest.approx(sk.mean_absolute_error(t[:, j], p[:, j]))
        assert got["r2"] == pytest.approx(sk.r2_score(t[:, j], p[:, j]))


def test_regression_metrics_of_values_near_float64s_limit():
    # (pred - true)^2 of values near 1e300 overflows: RMSE was inf, R^2 NaN.
    rng = np.random.default_rng(0)
    t = rng.normal(size=(50, 1))
    p = t + rng.normal(scale=0.3, size=t.shape)
    small = regression_metrics(p, t, ["a"])
    big = regression_metrics(p * 1e300, t * 1e300, ["a"])
    assert big["rmse"] == pytest.approx(small["rmse"] * 1e300)
    assert big["mae"] == pytest.approx(small["mae"] * 1e300)
    assert big["r2"] == pytest.approx(small["r2"])


def test_binary_metrics_and_roc_match_sklearn():
    rng = np.random.default_rng(1)
    t = rng.integers(0, 2, 300)
    s = np.clip(t * 0.3 + rng.random(300) * 0.7, 0, 1).round(2)  # with ties
    m = binary_metrics(s, t)
    pred = (s >= 0.5).astype(int)
    assert m["accuracy"] == pytest.approx(sk.accuracy_score(t, pred))
    assert m["precision"] == pytest.approx(sk.precision_score(t, pred))
    assert m["recall"] == pytest.approx(sk.recall_score(t, pred))
    assert m["f1"] == pytest.approx(sk.f1_score(t, pred))
    assert m["roc_auc"] == pytest.approx(sk.roc_auc_score(t, s))
    fpr, tpr = roc_curve(t, s)
    fpr2, tpr2, _ = sk.roc_curve(t, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, fpr2)
    np.testing.assert_allclose(tpr, tpr2)
    assert np.isnan(roc_auc([1, 1], [0.2, 0.3]))


def test_classification_metrics_match_sklearn():
    rng = np.random.default_rng(2)
    t = rng.integers(0, 3, 100)
    scores = rng.random((100, 3)) + np.eye(3)[t] * 0.5
    m = classification_metrics(scores, t, 3)
    pred = scores.argmax(1)
    assert m["accuracy"] == pytest.approx(sk.accuracy_score(t, pred))
    assert m["f1"] == pytest.approx(sk.f1_score(t, pred, average="macro"))
    assert m["precision"] == pytest.approx(sk.precision_score(t, pred, average="macro"))
    np.testing.assert_array_equal(m["confusion_matrix"], sk.confusion_matrix(t, pred))


def test_pca_baseline_matches_sklearn():
    decomposition = importorskip("sklearn.decomposition")
    rng = np.random.default_rng(3)
    a = rng.normal(size=(80, 6)) @ rng.normal(size=(6, 6))
    b = rng.normal(size=(20, 6)) @ rng.normal(size=(6, 6))
    pca = decomposition.PCA(2).fit(a)
    expected = ((pca.inverse_transform(pca.transform(b)) - b) ** 2).mean()
    assert pca_reconstruction_mse(a, b, 2) == pytest.approx(expected)
    m = autoencode_metrics(a, b, b, 2)  # a perfect reconstruction
    assert m["reconstruction_mse"] == 0 and m["ratio_to_pca"] == 0
