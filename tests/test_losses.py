import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.losses import MSE, NLL, SSE, BinaryCrossEntropy, CrossEntropy


def log_softmax(z):
    m = z.max(axis=1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


def make_case(name, rng):
    """(loss, predictions y, targets t, per-sample losses l_i) for 4 samples."""
    n, k = 4, 3
    if name == "MSE":
        y, t = rng.standard_normal((n, k)), rng.standard_normal((n, k))
        return MSE(), y, t, 0.5 * ((y - t) ** 2).sum(axis=1)
    if name == "SSE":
        y, t = rng.standard_normal((n, k)), rng.standard_normal((n, k))
        return SSE(), y, t, ((y - t) ** 2).sum(axis=1)
    if name == "BCE":
        y, t = rng.uniform(0.05, 0.95, (n, k)), rng.uniform(0, 1, (n, k))
        per = -(t * np.log(y) + (1 - t) * np.log(1 - y)).sum(axis=1)
        return BinaryCrossEntropy(), y, t, per
    if name == "BCE(logits)":
        z, t = rng.standard_normal((n, k)) * 3, (rng.random((n, k)) > 0.5) * 1.0
        s = 1 / (1 + np.exp(-z))
        per = -(t * np.log(s) + (1 - t) * np.log(1 - s)).sum(axis=1)
        return BinaryCrossEntropy(from_logits=True), z, t, per
    if name == "CE(labels)":
        z, t = rng.standard_normal((n, k)) * 2, np.array([0, 2, 1, 2])
        return CrossEntropy(), z, t, -log_softmax(z)[np.arange(n), t]
    if name == "CE(probs)":
        z, t = rng.standard_normal((n, k)) * 2, rng.dirichlet(np.ones(k), n)
        return CrossEntropy(), z, t, -(t * log_softmax(z)).sum(axis=1)
    if name == "CE(probs, unnormalised)":
        # Soft targets whose rows do not sum to one (PyTorch takes them too):
        # the gradient is softmax(z) sum_k t_k - t, not softmax(z) - t.
        z, t = rng.standard_normal((n, k)) * 2, rng.uniform(0, 1, (n, k))
        return CrossEntropy(), z, t, -(t * log_softmax(z)).sum(axis=1)
    if name == "CE(labels, smoothed)":
        z, t = rng.standard_normal((n, k)) * 2, np.array([0, 2, 1, 2])
        q = np.full((n, k), 0.1 / k) + 0.9 * np.eye(k)[t]
        return CrossEntropy(label_smoothing=0.1), z, t, -(q * log_softmax(z)).sum(1)
    if name == "CE(probs, smoothed)":
        z, t = rng.standard_normal((n, k)) * 2, rng.dirichlet(np.ones(k), n)
        q = 0.75 * t + 0.25 / k
        return CrossEntropy(label_smoothing=0.25), z, t, -(q * log_softmax(z)).sum(1)
    if name == "NLL":
        y, t = log_softmax(rng.standard_normal((n, k))), np.array([1, 1, 0, 2])
        return NLL(), y, t, -y[np.arange(n), t]
    raise KeyError(name)


NAMES = [
    "MSE",
    "SSE",
    "BCE",
    "BCE(logits)",
    "CE(labels)",
    "CE(probs)",
    "CE(probs, unnormalised)",
    "CE(labels, smoothed)",
    "CE(probs, smoothed)",
    "NLL",
]


@pytest.mark.parametrize("name", NAMES)
def test_value(name, rng):
    loss, y, t, per = make_case(name, rng)
    expected = per.sum() if name == "SSE" else per.mean()
    assert loss(y, t) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_weighted_value(name, rng):
    loss, y, t, per = make_case(name, rng)
    w = np.array([0.5, 2.0, 0.0, 1.5])
    # L = (1/N) sum_i w_i l_i (SSE: sum_i w_i l_i)
    expected = (w * per).sum() / (1 if name == "SSE" else len(w))
    assert loss(y, t, sample_weight=w) == pytest.approx(expected, rel=1e-12)
    assert loss(y, t, sample_weight=np.ones(4)) == pytest.approx(loss(y, t), rel=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck(name, rng):
    loss, y, t, _ = make_case(name, rng)
    cr.gradcheck_loss(loss, y, t)


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_weighted(name, rng):
    loss, y, t, _ = make_case(name, rng)
    cr.gradcheck_loss(loss, y, t, sample_weight=np.array([0.5, 2.0, 0.0, 1.5]))


@pytest.mark.parametrize("name", NAMES)
def test_backward_keeps_dtype_and_shape(name, rng):
    loss, y, t, _ = make_case(name, rng)
    y = y.astype(np.float32)
    loss(y, t)
    g = loss.backward()
    assert g.shape == y.shape and g.dtype == np.float32


@pytest.mark.parametrize("name", NAMES)
def test_one_backward_per_forward(name, rng):
    loss, y, t, _ = make_case(name, rng)
    with pytest.raises(
        RuntimeError, match="backward\\(\\) needs a forward\\(\\) first"
    ):
        loss.backward()
    loss(y, t)
    loss.backward()
    with pytest.raises(
        RuntimeError, match="each forward\\(\\) allows one backward\\(\\)"
    ):
        loss.backward()


def test_mse_uses_the_half():
    # L = 1/(2N) sum ||t - y||^2: (1 + 4) / 4
    assert MSE()(np.array([[1.0], [3.0]]), np.array([[0.0], [1.0]])) == 1.25


def test_mse_gradient_is_y_minus_t_over_n():
    loss = MSE()
    loss(np.array([[1.0], [3.0]]), np.array([[0.0], [1.0]]))
    np.testing.assert_array_equal(loss.backward(), [[0.5], [1.0]])


def test_cross_entropy_gradient_is_softmax_minus_onehot(rng):
    z = rng.standard_normal((3, 4))
    t = np.array([3, 0, 1])
    loss = CrossEntropy()
    loss(z, t)
    p = np.exp(log_softmax(z))
    np.testing.assert_allclose(loss.backward(), (p - np.eye(4)[t]) / 3, rtol=1e-12)


def test_one_hot_targets_equal_labels(rng):
    z = rng.standard_normal((3, 4))
    t = np.array([3, 0, 1])
    assert CrossEntropy()(z, np.eye(4)[t]) == pytest.approx(
        CrossEntropy()(z, t), rel=1e-14
    )


def test_float_labels_that_are_integers_are_accepted(rng):
    z = rng.standard_normal((2, 3))
    assert CrossEntropy()(z, np.array([1.0, 2.0])) == CrossEntropy()(
        z, np.array([1, 2])
    )


def test_column_targets_for_one_output():
    # (N,) targets for an (N, 1) output are reshaped.
    y = np.array([[0.2], [0.7]])
    assert BinaryCrossEntropy()(y, np.array([0.0, 1.0])) == pytest.approx(
        BinaryCrossEntropy()(y, np.array([[0.0], [1.0]]))
    )


@pytest.mark.parametrize("loss", [MSE(), SSE()], ids=["MSE", "SSE"])
def test_targets_in_another_layout_are_read_in_order_or_refused(loss, rng):
    y = rng.standard_normal((4, 1, 2, 3))
    t = rng.standard_normal((4, 1, 2, 3))
    # Flat targets (as Flatten orders the values) and axes of length 1 are the
    # same targets; a transposed image is not, and is refused.
    assert loss(y, t.reshape(4, 6)) == loss(y, t)
    assert loss(y, t.reshape(4, 2, 3)) == loss(y, t)
    with pytest.raises(ValueError, match=re.escape("shape (4, 1, 2, 3); got (4, 3, 2)")):
        loss(y, t.reshape(4, 3, 2))


@pytest.mark.parametrize(
    "bad", [np.nan, -0.5], ids=["NaN", "negative"]
)
def test_cross_entropy_probability_targets_must_be_finite_and_non_negative(bad):
    t = np.full((2, 3), 1 / 3)
    t[1, 2] = bad
    with pytest.raises(ValueError, match="must be finite and non-negative"):
        CrossEntropy()(np.zeros((2, 3)), t)
    with pytest.raises(TypeError, match="must be numeric; got dtype <U1"):
        CrossEntropy()(np.zeros((1, 2)), np.array([["a", "b"]]))


@pytest.mark.parametrize("eps", [float("nan"), -1.0, 0.0, 0.5, "0.1"])
def test_bce_eps_must_be_a_small_positive_number(eps):
    with pytest.raises(ValueError, match="BinaryCrossEntropy: eps must be"):
        BinaryCrossEntropy(eps=eps)


ALL_LOSSES = [
    MSE,
    SSE,
    lambda: BinaryCrossEntropy(from_logits=True),
    CrossEntropy,
    NLL,
]


@pytest.mark.parametrize(
    "make", ALL_LOSSES, ids=["MSE", "SSE", "BCE(logits)", "CE", "NLL"]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stable_for_huge_inputs(make, dtype):
    # RuntimeWarnings are errors under the pytest config.
    y = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], dtype=dtype)
    t = (
        np.array([1, 0])
        if make in (CrossEntropy, NLL)
        else np.array([[0, 1, 0], [1, 0, 1.0]])
    )
    loss = make()
    value = loss(y, t)
    g = loss.backward()
    assert np.isfinite(value) and np.all(np.isfinite(g))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_exact_for_huge_logits(dtype):
    # A confidently wrong answer: -log softmax(z)_1 = 2e4, not capped at -log(tiny).
    z = np.array([[1e4, -1e4]], dtype=dtype)
    assert CrossEntropy()(z, np.array([1])) == pytest.approx(2e4)
    assert CrossEntropy()(z, np.array([[0.0, 1.0]])) == pytest.approx(2e4)


def test_bce_logits_exact_for_huge_logits():
    loss = BinaryCrossEntropy(from_logits=True)
    assert loss(np.array([[1e4], [-1e4]]), np.array([0.0, 1.0])) == pytest.approx(1e4)
    np.testing.assert_allclose(loss.backward(), [[0.5], [-0.5]])


def test_bce_probabilities_zero_and_one_are_finite():
    loss = BinaryCrossEntropy()
    value = loss(np.array([[0.0], [1.0]]), np.array([1.0, 0.0]))
    assert np.isfinite(value) and value > 10  # -log(1e-7) ~ 16.1
    assert np.all(np.isfinite(loss.backward()))


# -------------------------------------------------------------------- errors
@pytest.mark.parametrize("loss", [CrossEntropy(), NLL()], ids=["CrossEntropy", "NLL"])
def test_labels_out_of_range(loss):
    name = type(loss).__name__
    y = np.zeros((3, 10))
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"{name}: target labels must be integers in [0, 10); got 10 at row 1."
        ),
    ):
        loss(y, np.array([0, 10, 3]))
    with pytest.raises(ValueError, match=re.escape("in [0, 10); got -1 at row 2.")):
        loss(y, np.array([0, 1, -1]))


@pytest.mark.parametrize("loss", [CrossEntropy(), NLL()], ids=["CrossEntropy", "NLL"])
def test_non_integer_labels(loss):
    name = type(loss).__name__
    y = np.zeros((3, 4))
    with pytest.raises(
        ValueError,
        match=re.escape(f"{name}: target labels must be integers; got 1.5 at row 2."),
    ):
        loss(y, np.array([0.0, 1.0, 1.5]))
    with pytest.raises(ValueError, match=re.escape("got nan at row 0.")):
        loss(y, np.array([np.nan, 1.0, 1.0]))
    with pytest.raises(
        TypeError,
        match=re.escape(f"{name}: target labels must be integers; got dtype <U1."),
    ):
        loss(y, np.array(["a", "b", "c"]))


@pytest.mark.parametrize("loss", [CrossEntropy(), NLL()], ids=["CrossEntropy", "NLL"])
def test_label_shape_mismatch(loss):
    with pytest.raises(
        ValueError,
        match=re.escape(
            "integer targets must have shape (3,) for 3 predictions; got (2,)."
        ),
    ):
        loss(np.zeros((3, 4)), np.array([0, 1]))


def test_probability_target_shape_mismatch():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "CrossEntropy: probability targets must have shape (3, 4); got (3, 5)."
        ),
    ):
        CrossEntropy()(np.zeros((3, 4)), np.zeros((3, 5)))


@pytest.mark.parametrize(
    ("loss", "what"),
    [(CrossEntropy(), "logits"), (NLL(), "log-probabilities")],
    ids=["CrossEntropy", "NLL"],
)
def test_predictions_must_be_2d(loss, what):
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"{type(loss).__name__}: {what} must have shape (batch, classes); got (3,)."
        ),
    ):
        loss(np.zeros(3), np.array([0, 1, 0]))


@pytest.mark.parametrize(
    "loss", [MSE(), SSE(), BinaryCrossEntropy()], ids=["MSE", "SSE", "BCE"]
)
def test_same_shape_target_mismatch(loss):
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"{type(loss).__name__}: targets must have the predictions' shape (4, 2); got (4, 3)."
        ),
    ):
        loss(np.full((4, 2), 0.5), np.zeros((4, 3)))


def test_non_numeric_targets():
    with pytest.raises(
        TypeError, match=re.escape("MSE: targets must be numeric; got <U1.")
    ):
        MSE()(np.zeros((1, 1)), np.array([["a"]]))


def test_empty_batch():
    with pytest.raises(
        ValueError,
        match="MSE: predictions must have a batch axis with at least one sample; got shape \\(0, 2\\).",
    ):
        MSE()(np.zeros((0, 2)), np.zeros((0, 2)))


@pytest.mark.parametrize("bad", [1.5, -0.25, np.nan])
def test_bce_probabilities_outside_unit_interval(bad):
    y = np.array([[0.5], [bad]])
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"BinaryCrossEntropy: predictions must be probabilities in [0, 1]; got {bad}. "
            "Pass from_logits=True for pre-sigmoid values."
        ),
    ):
        BinaryCrossEntropy()(y, np.array([[0.0], [1.0]]))


@pytest.mark.parametrize("from_logits", [False, True])
def test_bce_targets_outside_unit_interval(from_logits):
    with pytest.raises(
        ValueError, match=re.escape("BinaryCrossEntropy: targets must be in [0, 1].")
    ):
        BinaryCrossEntropy(from_logits=from_logits)(
            np.full((2, 1), 0.5), np.array([0.0, 2.0])
        )


@pytest.mark.parametrize("name", NAMES)
def test_sample_weight_shape(name, rng):
    loss, y, t, _ = make_case(name, rng)
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"{type(loss).__name__}: sample_weight must have shape (4,); got (4, 1)."
        ),
    ):
        loss(y, t, sample_weight=np.ones((4, 1)))


@pytest.mark.parametrize("w", [[1.0, -1.0, 1.0, 1.0], [1.0, np.inf, 1.0, 1.0]])
def test_sample_weight_values(w, rng):
    loss, y, t, _ = make_case("MSE", rng)
    with pytest.raises(
        ValueError, match="MSE: sample_weight must be finite and non-negative."
    ):
        loss(y, t, sample_weight=np.array(w))


def test_reprs():
    assert repr(MSE()) == "MSE()"
    assert (
        repr(BinaryCrossEntropy(from_logits=True))
        == "BinaryCrossEntropy(from_logits=True)"
    )


@pytest.mark.parametrize("shape", [(1, 3), (4, 1), (5, 3)])
def test_cross_entropy_leaves_the_logits_untouched(shape):
    z = np.random.default_rng(0).standard_normal(shape)
    before = z.copy()
    loss = CrossEntropy()
    loss(z, np.zeros(shape[0], dtype=np.int64))
    loss.backward()
    np.testing.assert_array_equal(z, before)


def test_a_loss_under_no_grad_keeps_nothing_for_backward():
    loss = CrossEntropy()
    with cr.no_grad():
        loss(np.zeros((2, 3), np.float32), np.array([0, 1]))
    assert loss.cache is None
    with pytest.raises(RuntimeError, match=r"CrossEntropy\(\): backward\(\) needs"):
        loss.backward()


def test_label_smoothing_gradient_is_softmax_minus_smoothed_target(rng):
    z, t = rng.standard_normal((5, 4)), np.array([3, 0, 1, 1, 2])
    loss = CrossEntropy(label_smoothing=0.2)
    loss(z, t)
    p = np.exp(log_softmax(z))
    q = 0.8 * np.eye(4)[t] + 0.2 / 4
    np.testing.assert_allclose(loss.backward(), (p - q) / 5, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("bad", [-0.1, 1.0, 2.0, float("nan")])
def test_label_smoothing_out_of_range(bad):
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\)"):
        CrossEntropy(label_smoothing=bad)
