import re

import numpy as np
import pytest
from _examples import Example
from _requires import importorskip

import chainrule as cr
from chainrule.layers import GlobalAvgPool2D

# For the registry-driven checks (tests/layers/test_registry.py).
EXAMPLES = [
    Example(lambda: GlobalAvgPool2D(), ((2, 3, 4, 5),), onnx_op="GlobalAveragePool"),
]


def test_forward_is_the_mean_per_channel(rng):
    x = rng.standard_normal((3, 4, 5, 6))
    y = GlobalAvgPool2D()(x)
    assert y.shape == (3, 4)
    np.testing.assert_allclose(y[1, 2], x[1, 2].sum() / 30, rtol=1e-13)


@pytest.mark.parametrize("hw", [(1, 1), (3, 4), (7, 2)])
def test_gradcheck(rng, hw):
    cr.gradcheck(GlobalAvgPool2D(), rng.standard_normal((2, 3, *hw)))


def test_gradient_is_an_equal_share():
    pool = GlobalAvgPool2D()
    pool(np.zeros((1, 2, 2, 2)))
    dx = pool.backward(np.array([[4.0, -8.0]]))
    np.testing.assert_array_equal(dx[0, 0], np.full((2, 2), 1.0))
    np.testing.assert_array_equal(dx[0, 1], np.full((2, 2), -2.0))
    dx[0, 0, 0, 0] = 5.0  # a real array, not a read-only broadcast view


def test_output_shape_and_repr():
    assert GlobalAvgPool2D().output_shape((16, 7, 7)) == (16,)
    assert repr(GlobalAvgPool2D()) == "GlobalAvgPool2D()"
    assert GlobalAvgPool2D()(np.ones((1, 1, 2, 2), np.float64)).dtype == np.float64


@pytest.mark.parametrize("shape", [(4, 4), (2, 3, 0, 4)])
def test_wrong_shape_message(shape):
    with pytest.raises(
        ValueError,
        match=re.escape(
            "input must have shape (batch, channels, height, width) with at least "
            f"one pixel; got {shape}."
        ),
    ):
        GlobalAvgPool2D()(np.zeros(shape))


def test_matches_pytorch_in_float64(rng):
    torch = importorskip("torch")
    x = rng.standard_normal((2, 3, 5, 4))
    xt = torch.tensor(x, requires_grad=True)
    theirs = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    yt = theirs(xt)
    dy = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.from_numpy(dy))
    pool = GlobalAvgPool2D()
    for what, ours, t in [("y", pool(x), yt), ("dx", pool.backward(dy), xt.grad)]:
        t = t.detach().numpy()
        assert ours.shape == t.shape, what
        err = np.abs(ours - t).max() / np.abs(t).max()
        assert err <= 1e-10, f"{what}: relative error {err:.3e}"
