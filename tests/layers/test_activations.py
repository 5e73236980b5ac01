import re

import numpy as np
import pytest
from _examples import Example

import chainrule as cr
from chainrule.layers import (
    HardTanh,
    Identity,
    LinearActivation,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Step,
    Tanh,
)

# For the registry-driven checks (tests/layers/test_registry.py).
EXAMPLES = [
    Example(lambda: ReLU(), ((6, 7),), onnx_op="Relu"),
    Example(lambda: Sigmoid(), ((6, 7),), onnx_op="Sigmoid"),
    Example(lambda: Tanh(), ((6, 7),), onnx_op="Tanh"),
    Example(lambda: HardTanh(), ((6, 7),), onnx_op="Clip"),
    Example(lambda: HardTanh(-0.5, 0.7), ((6, 7),), "narrow", spec=False),
    Example(lambda: Softmax(), ((6, 7),), onnx_op="Softmax"),
    Example(lambda: Softmax(axis=1), ((2, 3, 4, 2),), "axis1", spec=False),
    Example(lambda: LogSoftmax(), ((6, 7),), onnx_op="LogSoftmax"),
    Example(lambda: LogSoftmax(axis=2), ((2, 3, 4, 2),), "axis2", spec=False),
    Example(lambda: LinearActivation(2.5), ((6, 7),), onnx_op="Mul", torch=False),
    Example(lambda: Identity(), ((6, 7),), onnx_op="Identity"),
    Example(lambda: Step(0.0), ((6, 7),), onnx_op="GreaterOrEqual", torch=False),
    Example(lambda: Step(0.53), ((6, 7),), "threshold", onnx_op="Cast", torch=False),
]

ALL = [
    Identity,
    lambda: LinearActivation(-2.5),
    lambda: Step(0.5),
    Sigmoid,
    Tanh,
    HardTanh,
    lambda: HardTanh(-0.5, 2.0),
    ReLU,
    Softmax,
    LogSoftmax,
    lambda: Softmax(axis=0),
    lambda: LogSoftmax(axis=0),
]
IDS = [
    "Identity",
    "Linear(k=-2.5)",
    "Step",
    "Sigmoid",
    "Tanh",
    "HardTanh",
    "HardTanh(-0.5,2)",
    "ReLU",
    "Softmax",
    "LogSoftmax",
    "Softmax(axis=0)",
    "LogSoftmax(axis=0)",
]


@pytest.mark.parametrize("make", ALL, ids=IDS)
def test_gradcheck(make, off_zero):
    # |x| in [0.1, 2]: clear of ReLU's kink at 0, and, with the values below,
    # of HardTanh's corners at -1, 1 (and -0.5, 2) and Step's threshold 0.5.
    x = off_zero(4, 5) * 2
    x[np.isclose(np.abs(x), 1.0, atol=0.05)] = 0.7
    x[np.isclose(x, -0.5, atol=0.05) | np.isclose(x, 0.5, atol=0.05)] = 0.3
    x[np.isclose(x, 2.0, atol=0.05)] = 1.5
    cr.gradcheck(make(), x)


@pytest.mark.parametrize(
    ("layer", "f"),
    [
        (Identity(), lambda x: x),
        (LinearActivation(3.0), lambda x: 3 * x),
        (Step(0.5), lambda x: (x >= 0.5).astype(float)),
        (Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
        (Tanh(), np.tanh),
        (HardTanh(), lambda x: np.clip(x, -1, 1)),
        (ReLU(), lambda x: np.maximum(x, 0)),
        (Softmax(), lambda x: np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)),
        (LogSoftmax(), lambda x: x - np.log(np.exp(x).sum(axis=1, keepdims=True))),
    ],
    ids=lambda v: repr(v) if isinstance(v, cr.Module) else "f",
)
def test_forward_values(layer, f, rng):
    x = rng.standard_normal((3, 4)) * 3
    x[0, 0] = 0.5  # Step's threshold belongs to the upper side
    np.testing.assert_allclose(layer(x), f(x), rtol=1e-13, atol=1e-15)


def numeric_jacobian(layer, x, eps=1e-6):
    """J[i, j] = dy_i / dx_j of one row, by central differences."""
    k = x.shape[1]
    jac = np.empty((k, k))
    for j in range(k):
        e = np.zeros_like(x)
        e[0, j] = eps
        with cr.no_grad():
            jac[:, j] = (layer(x + e)[0] - layer(x - e)[0]) / (2 * eps)
    return jac


def backward_jacobian(layer, x):
    """Row i of J from backward(e_i): backward returns J^T dy."""
    k = x.shape[1]
    jac = np.empty((k, k))
    for i in range(k):
        layer(x)
        dy = np.zeros_like(x)
        dy[0, i] = 1.0
        jac[i] = layer.backward(dy)[0]
    return jac


def test_softmax_full_jacobian(rng):
    x = rng.standard_normal((1, 5))
    layer = Softmax()
    y = layer(x)[0]
    exact = np.diag(y) - np.outer(y, y)  # dy_i/dx_j = y_i (delta_ij - y_j)
    np.testing.assert_allclose(numeric_jacobian(layer, x), exact, atol=1e-9)
    np.testing.assert_allclose(backward_jacobian(layer, x), exact, atol=1e-15)
    # The JVP with a random dy equals J^T dy built from the full matrix.
    dy = rng.standard_normal((1, 5))
    layer(x)
    np.testing.assert_allclose(layer.backward(dy)[0], exact.T @ dy[0], atol=1e-15)


def test_log_softmax_full_jacobian(rng):
    # Not symmetric (I - 1 softmax^T), so this also checks backward uses J^T.
    x = rng.standard_normal((1, 4))
    layer = LogSoftmax()
    p = np.exp(layer(x)[0])
    exact = np.eye(4) - np.outer(np.ones(4), p)
    np.testing.assert_allclose(numeric_jacobian(layer, x), exact, atol=1e-9)
    np.testing.assert_allclose(backward_jacobian(layer, x), exact, atol=1e-15)


def test_softmax_over_channels_of_images(rng):
    x = rng.standard_normal((2, 3, 2, 2))
    y = Softmax(axis=1)(x)
    np.testing.assert_allclose(y.sum(axis=1), 1.0)
    cr.gradcheck(Softmax(axis=1), x)
    cr.gradcheck(LogSoftmax(axis=1), x)


@pytest.mark.parametrize("make", ALL, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stable_for_huge_inputs(make, dtype, rng):
    # RuntimeWarnings (overflow, invalid) are errors under the pytest config.
    x = np.array([[1e4, -1e4, 0.0, 3.0], [-1e4, -1e4, 1e4, 1e4]], dtype=dtype)
    layer = make()
    y = layer(x)
    dx = layer.backward(rng.standard_normal(x.shape).astype(dtype))
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))
    assert y.dtype == dtype and dx.dtype == dtype


def test_huge_input_values():
    x = np.array([[1e4, -1e4, 0.0]])
    np.testing.assert_array_equal(Sigmoid()(x), [[1.0, 0.0, 0.5]])
    np.testing.assert_allclose(Softmax()(x), [[1.0, 0.0, 0.0]])
    np.testing.assert_allclose(LogSoftmax()(x), [[0.0, -2e4, -1e4]])


def test_relu_gradient_at_zero_is_zero():
    relu = ReLU()
    relu(np.array([[0.0, -1.0, 2.0]]))
    np.testing.assert_array_equal(relu.backward(np.ones((1, 3))), [[0.0, 0.0, 1.0]])


def test_hardtanh_gradient_zero_at_and_beyond_corners():
    h = HardTanh()
    h(np.array([[-2.0, -1.0, 0.0, 1.0, 2.0]]))
    np.testing.assert_array_equal(h.backward(np.ones((1, 5))), [[0, 0, 1, 0, 0]])


def test_step_passes_no_gradient():
    s = Step()
    s(np.array([[-1.0, 1.0]]))
    np.testing.assert_array_equal(s.backward(np.ones((1, 2))), [[0.0, 0.0]])


def test_integer_input_becomes_float32():
    assert Sigmoid()(np.array([[1, 2]])).dtype == np.float32


def test_backward_needs_forward():
    with pytest.raises(
        RuntimeError, match=re.escape("Tanh(): backward() needs a forward() first")
    ):
        Tanh().backward(np.ones((1, 1)))


def test_one_backward_per_forward():
    t = Tanh()
    t(np.ones((1, 1)))
    t.backward(np.ones((1, 1)))
    with pytest.raises(
        RuntimeError, match="each forward\\(\\) allows one backward\\(\\)"
    ):
        t.backward(np.ones((1, 1)))


def test_no_grad_keeps_no_cache():
    t = Tanh()
    with cr.no_grad():
        t(np.ones((1, 1)))
    assert t.cache is None
    with pytest.raises(RuntimeError, match="under cr.no_grad\\(\\) keeps nothing"):
        t.backward(np.ones((1, 1)))


def test_reprs():
    assert repr(ReLU()) == "ReLU()"
    assert repr(HardTanh()) == "HardTanh(min_val=-1.0, max_val=1.0)"
    assert repr(Softmax()) == "Softmax(axis=-1)"
    assert repr(LinearActivation(2)) == "LinearActivation(k=2.0)"
    assert repr(Identity()) == "Identity()"
    assert repr(Step(0.5)) == "Step(threshold=0.5)"


@pytest.mark.parametrize(
    ("make", "exc", "message"),
    [
        (
            lambda: HardTanh(1.0, -1.0),
            ValueError,
            "HardTanh: min_val must be less than max_val; got 1.0 and -1.0.",
        ),
        (
            lambda: HardTanh("a"),
            ValueError,
            "HardTanh: min_val must be a finite real number; got 'a'.",
        ),
        (
            lambda: LinearActivation(None),
            ValueError,
            "LinearActivation: k must be a finite real number; got None.",
        ),
        (
            lambda: Step(True),
            ValueError,
            "Step: threshold must be a finite real number; got True.",
        ),
        # NaN or inf (a model file's JSON can hold both) would spread silently.
        (
            lambda: Step(float("nan")),
            ValueError,
            "Step: threshold must be a finite real number; got nan.",
        ),
        (
            lambda: LinearActivation(float("-inf")),
            ValueError,
            "LinearActivation: k must be a finite real number; got -inf.",
        ),
        (
            lambda: HardTanh(-1.0, float("inf")),
            ValueError,
            "HardTanh: max_val must be a finite real number; got inf.",
        ),
    ],
)
def test_invalid_constructor_args(make, exc, message):
    with pytest.raises(exc, match=re.escape(message)):
        make()


def test_relu_keeps_nan_and_its_zeros_stay_zero():
    from chainrule.functional import relu

    x = np.array([[-2.0, np.nan, 3.0, -np.inf, np.inf]], dtype=np.float32)
    y = relu(x)
    np.testing.assert_array_equal(y, [[0, np.nan, 3, 0, np.inf]])
    y += 7  # the caller owns the result; the shared zeros are untouched
    np.testing.assert_array_equal(relu(-x), [[2, np.nan, 0, np.inf, 0]])
    for n in range(1, 40):  # many shapes: the cache of zeros stays bounded
        relu(np.ones((n, 3), np.float32))
    from chainrule.functional.activations import _ZEROS

    assert len(_ZEROS) <= 16


@pytest.mark.parametrize("layer", [Softmax, LogSoftmax])
@pytest.mark.parametrize("axis", [2**64, 64, 1.5, False])
def test_softmax_refuses_an_axis_no_array_has(layer, axis):
    # A model file may carry any number here; NumPy would raise OverflowError.
    with pytest.raises(
        ValueError, match=rf"{layer.__name__}: axis must be an integer from -64 to 63"
    ):
        layer(axis=axis)


@pytest.mark.parametrize("layer", [Softmax, LogSoftmax])
def test_softmax_names_an_axis_its_input_lacks(layer):
    with pytest.raises(
        ValueError,
        match=re.escape(f"{layer.__name__}(axis=2): axis 2 does not exist in an input of shape (4, 3)."),
    ):
        layer(axis=2)(np.zeros((4, 3), np.float32))
