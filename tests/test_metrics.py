"""Metrics against values worked by hand (and R^2 against scikit-learn)."""

from __future__ import annotations

import numpy as np
import pytest
from _requires import importorskip

import chainrule as cr
from chainrule import metrics as M


def test_accuracy_argmax():
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    # predicted 1, 0, 1, 0 against 1, 1, 1, 0: three of four right
    assert M.accuracy(scores, [1, 1, 1, 0]) == 0.75
    # one-hot targets read by argmax too
    assert M.accuracy(scores, np.eye(2)[[1, 1, 1, 0]]) == 0.75


def test_accuracy_single_output_threshold():
    probs = np.array([[0.2], [0.5], [0.7], [0.49]])
    # p >= 0.5 is class 1: predictions 0, 1, 1, 0
    assert M.accuracy(probs, [0, 1, 1, 1]) == 0.75
    logits = np.array([[-1.0], [0.0], [2.0], [-0.1]])
    # logit >= 0 is class 1 with threshold 0: predictions 0, 1, 1, 0
    assert M.accuracy(logits, np.array([0.0, 1.0, 1.0, 1.0]), threshold=0.0) == 0.75
    # with the probability threshold, the logit 0.0 would count as class 0
    assert M.accuracy(logits, [0, 0, 1, 0], threshold=0.5) == 1.0


def test_accuracy_accumulates_over_batches_exactly():
    m = M.Accuracy()
    m.update(np.array([[0.0, 1.0]] * 3), [1, 1, 0])  # 2 of 3
    m.update(np.array([[1.0, 0.0]]), [0])  # 1 of 1
    # 3 of 4 samples, not the mean of the batch means (2/3 + 1) / 2
    assert m.result() == 0.75
    m.reset()
    assert np.isnan(m.result())


def test_top_k_accuracy():
    scores = np.array(
        [
            [0.5, 0.3, 0.2, 0.0],  # true 1: 2nd highest -> top-2 hit, top-1 miss
            [0.1, 0.2, 0.3, 0.4],  # true 0: lowest -> miss
            [0.9, 0.05, 0.03, 0.02],  # true 0: top-1 hit
        ]
    )
    y = [1, 0, 0]
    assert M.top_k_accuracy(scores, y, k=1) == pytest.approx(1 / 3)
    assert M.top_k_accuracy(scores, y, k=2) == pytest.approx(2 / 3)
    assert M.top_k_accuracy(scores, y, k=4) == 1.0
    assert M.top_k_accuracy(scores, y, k=10) == 1.0  # k above K counts everything
    assert M.get_metric("top2_accuracy").name == "top2_accuracy"
    with pytest.raises(
        ValueError, match=r"TopKAccuracy: k must be a positive integer; got 0"
    ):
        M.TopKAccuracy(0)


def test_mean_absolute_error():
    # |1 - 0| + |2 - 4| + |-1 - (-1)| + |0.5 - 0| = 3.5 over 4 values
    pred = np.array([[1.0, 2.0], [-1.0, 0.5]])
    assert M.mean_absolute_error(pred, [[0.0, 4.0], [-1.0, 0.0]]) == 0.875


def test_r2_by_hand_and_against_sklearn():
    sklearn_metrics = importorskip("sklearn.metrics")
    t = np.array([1.0, 2.0, 3.0, 4.0])
    y = np.array([1.0, 2.0, 4.0, 4.0])
    # SS_res = 1, SS_tot = sum (t - 2.5)^2 = 5: R^2 = 1 - 1/5
    assert M.r2_score(y, t) == pytest.approx(0.8)
    assert M.r2_score(y, t) == pytest.approx(sklearn_metrics.r2_score(t, y))
    rng = np.random.default_rng(0)
    t2 = rng.standard_normal((50, 3)) * [1.0, 5.0, 0.1]
    y2 = t2 + rng.standard_normal((50, 3)) * 0.3
    expected = sklearn_metrics.r2_score(t2, y2, multioutput="variance_weighted")
    assert M.r2_score(y2, t2) == pytest.approx(expected, rel=1e-10)
    # accumulated in batches, the same
    m = M.R2Score()
    for s in range(0, 50, 16):
        m.update(y2[s : s + 16], t2[s : s + 16])
    assert m.result() == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("offset", [1e8, 1e9])
def test_r2_of_targets_far_from_zero(offset):
    # sum t^2 - (sum t)^2 / n cancels to noise here (it gave NaN at 1e8);
    # the running mean and squared deviations keep sklearn's value.
    sklearn_metrics = importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    t = offset + rng.standard_normal((1000, 1))
    y = t + 0.1 * rng.standard_normal((1000, 1))
    m = M.R2Score()
    for s in range(0, 1000, 64):
        m.update(y[s : s + 64], t[s : s + 64])
    assert m.result() == pytest.approx(sklearn_metrics.r2_score(t, y), rel=1e-8)


def test_r2_state_written_with_sums_still_loads():
    # Checkpoints from before kept sum t and sum t^2.
    t = np.array([[1.0], [2.0], [3.0], [4.0]])
    y = np.array([[1.0], [2.0], [4.0], [4.0]])
    m = M.R2Score()
    m.load_state_dict(
        {"ss_res": 1.0, "sum_t": [10.0], "sum_t2": [30.0], "count": 4.0}
    )
    assert m.result() == pytest.approx(0.8)
    m.update(y, t)  # and goes on accumulating
    assert m.result() == pytest.approx(M.r2_score(np.vstack([y, y]), np.vstack([t, t])))


def test_confusion_matrix_and_precision_recall():
    y_true = [0, 0, 1, 1, 1, 2]
    y_pred = [0, 1, 1, 1, 0, 1]
    cm = M.confusion_matrix(y_true, y_pred)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [1, 2, 0], [0, 1, 0]])
    # class scores give the same matrix
    scores = np.eye(3)[y_pred]
    np.testing.assert_array_equal(M.confusion_matrix(y_true, scores), cm)
    assert M.confusion_matrix(y_true, y_pred, n_classes=4).shape == (4, 4)
    precision, recall = M.precision_recall(cm)
    # precision: column-wise 1/2, 2/4, 0 (never predicted -> 0)
    # recall: row-wise 1/2, 2/3, 0/1
    np.testing.assert_allclose(precision, [0.5, 0.5, 0.0])
    np.testing.assert_allclose(recall, [0.5, 2 / 3, 0.0])


def test_confusion_matrix_matches_sklearn():
    sklearn_metrics = importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    t, p = rng.integers(0, 5, 200), rng.integers(0, 5, 200)
    np.testing.assert_array_equal(
        M.confusion_matrix(t, p), sklearn_metrics.confusion_matrix(t, p)
    )
    precision, recall = M.precision_recall(M.confusion_matrix(t, p))
    np.testing.assert_allclose(
        precision, sklearn_metrics.precision_score(t, p, average=None)
    )
    np.testing.assert_allclose(recall, sklearn_metrics.recall_score(t, p, average=None))


def test_unknown_metric():
    with pytest.raises(
        ValueError, match=r"metrics: unknown metric 'f1'; expected one of"
    ):
        M.get_metric("f1")


def test_fit_and_evaluate_report_metrics_by_name():
    x, t = cr.data.polynomial(64, seed=0)
    model = cr.Sequential(cr.layers.Linear(1, 1, rng=0))
    h = cr.fit(
        model,
        cr.losses.MSE(),
        cr.optim.SGD(model, lr=0.1),
        x,
        t,
        epochs=2,
        metrics=["mae", "r2"],
        verbose=0,
    )
    assert set(h.history) == {"loss", "mae", "r2", "lr", "time"}
    out = cr.evaluate(model, cr.losses.MSE(), x, t, metrics=["mae", "r2"])
    y = cr.predict(model, x)
    assert out["mae"] == pytest.approx(M.mean_absolute_error(y, t))
    assert out["r2"] == pytest.approx(M.r2_score(y, t))
    # MSE with the seeds' 1/2: mean of (y - t)^2 / 2
    assert out["loss"] == pytest.approx(float(np.mean((y - t) ** 2) / 2), rel=1e-5)
