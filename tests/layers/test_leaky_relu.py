import re

import numpy as np
import pytest
from _examples import Example
from _requires import importorskip

import chainrule as cr
from chainrule.layers import LeakyReLU

# For the registry-driven checks (tests/layers/test_registry.py).
EXAMPLES = [
    Example(lambda: LeakyReLU(), ((3, 5),), onnx_op="LeakyRelu"),
    Example(lambda: LeakyReLU(0.2), ((2, 3, 4, 4),), "0.2"),
    Example(lambda: LeakyReLU(-0.5), ((3, 5),), "negative", spec=False),
]


@pytest.mark.parametrize("slope", [0.01, 0.2, -0.5, 0.0, 1.5])
def test_forward_and_gradcheck(off_zero, slope):
    x = off_zero(3, 5)
    y = LeakyReLU(slope)(x)
    np.testing.assert_array_equal(y, np.where(x > 0, x, slope * x))
    cr.gradcheck(LeakyReLU(slope), x)


def test_slope_at_zero_is_the_negative_slope():
    layer = LeakyReLU(0.1)
    layer(np.array([[0.0, 2.0, -2.0]]))
    np.testing.assert_allclose(layer.backward(np.ones((1, 3))), [[0.1, 1.0, 0.1]])


def test_negative_slope_mask_from_x_not_y():
    # With slope -1, y = |x| is positive on both sides; only x says which.
    layer = LeakyReLU(-1.0)
    np.testing.assert_array_equal(layer(np.array([[-3.0, 3.0]])), [[3.0, 3.0]])
    np.testing.assert_array_equal(layer.backward(np.ones((1, 2))), [[-1.0, 1.0]])


def test_dtype_kept():
    x = np.array([[-1.0, 1.0]], np.float32)
    layer = LeakyReLU()
    assert layer(x).dtype == np.float32
    assert layer.backward(np.ones((1, 2), np.float32)).dtype == np.float32


def test_repr_default():
    assert repr(LeakyReLU()) == "LeakyReLU(negative_slope=0.01)"


@pytest.mark.parametrize("bad", ["0.1", None, True, float("nan"), float("inf")])
def test_invalid_slope(bad):
    # NaN or inf (a model file's JSON can hold both) would spread silently.
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"LeakyReLU: negative_slope must be a finite real number; got {bad!r}."
        ),
    ):
        LeakyReLU(bad)


@pytest.mark.parametrize("slope", [0.01, 0.2, -0.5])
def test_matches_pytorch_in_float64(rng, off_zero, slope):
    torch = importorskip("torch")
    x = off_zero(4, 6)
    x[0, :2] = 0.0  # the kink: both use the negative slope there
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.LeakyReLU(slope)(xt)
    dy = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.from_numpy(dy))
    layer = LeakyReLU(slope)
    for what, ours, t in [("y", layer(x), yt), ("dx", layer.backward(dy), xt.grad)]:
        t = t.detach().numpy()
        err = np.abs(ours - t).max() / np.abs(t).max()
        assert err <= 1e-10, f"{what}: relative error {err:.3e}"
