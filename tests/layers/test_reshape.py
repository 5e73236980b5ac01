"""Flatten and Reshape (chainrule/layers/reshape.py)."""

import re

import numpy as np
import pytest
from _examples import Example
from _requires import importorskip

import chainrule as cr
from chainrule.layers import Flatten, Reshape

# For the registry-driven checks (tests/layers/test_registry.py).
EXAMPLES = [
    Example(lambda: Flatten(), ((2, 3, 4, 4),), onnx_op="Flatten"),
    Example(lambda: Reshape((3, 2, 2)), ((2, 12),), onnx_op="Reshape"),
    Example(lambda: Reshape((4, -1)), ((3, 2, 4),), "inferred", spec=False),
]


def test_flatten_keeps_the_batch_axis_and_backward_restores_the_shape():
    layer = Flatten()
    x = np.arange(24.0).reshape(2, 3, 2, 2)
    y = layer(x)
    assert y.shape == (2, 12)
    np.testing.assert_array_equal(y[1], x[1].ravel())
    assert layer.backward(np.ones_like(y)).shape == x.shape


def test_flatten_of_an_empty_batch():
    # reshape(0, -1) cannot work out the width; the other layers take N = 0.
    layer = Flatten()
    assert layer(np.ones((0, 2, 3, 4), np.float32)).shape == (0, 24)
    assert layer.backward(np.ones((0, 24), np.float32)).shape == (0, 2, 3, 4)


def test_flatten_needs_a_batch_axis():
    with pytest.raises(ValueError, match=r"Flatten\(\): input must have a batch axis"):
        Flatten()(np.float32(3.0))
    assert cr.registry.layer_name(Flatten) == "Flatten"


def test_forward_keeps_the_batch_axis(rng):
    x = rng.standard_normal((3, 24))
    y = Reshape((2, 3, 4))(x)
    assert y.shape == (3, 2, 3, 4)
    np.testing.assert_array_equal(y[1].ravel(), x[1])


def test_is_the_inverse_of_flatten(rng):
    x = rng.standard_normal((2, 4, 3, 5))
    np.testing.assert_array_equal(Reshape((4, 3, 5))(Flatten()(x)), x)


def test_minus_one_is_inferred():
    assert Reshape((-1, 2)).output_shape((12,)) == (6, 2)
    assert Reshape(6).output_shape((2, 3)) == (6,)


def test_gradcheck(rng):
    cr.gradcheck(Reshape((3, 2, 2)), rng.standard_normal((2, 12)))
    cr.gradcheck(Reshape((-1,)), rng.standard_normal((2, 3, 2)))


def test_backward_restores_the_input_shape(rng):
    layer = Reshape((2, 6))
    layer(np.zeros((4, 3, 4)))
    dy = rng.standard_normal((4, 2, 6))
    np.testing.assert_array_equal(layer.backward(dy), dy.reshape(4, 3, 4))


def test_repr():
    assert repr(Reshape((16, 7, 7))) == "Reshape(shape=(16, 7, 7))"
    assert Reshape([1, 28, 28]).shape == (1, 28, 28)


@pytest.mark.parametrize(
    ("x_shape", "message"),
    [
        (
            (2, 10),
            "each sample must have 12 elements; got input of shape (2, 10) "
            "(10 per sample).",
        ),
        (
            (2,),
            "each sample must have 12 elements; got input of shape (2,) "
            "(1 per sample).",
        ),
    ],
)
def test_wrong_size_message(x_shape, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Reshape((3, 4))(np.zeros(x_shape))


def test_wrong_size_with_minus_one():
    with pytest.raises(
        ValueError, match=re.escape("each sample must have 4 elements or a multiple")
    ):
        Reshape((-1, 4))(np.zeros((2, 6)))


@pytest.mark.parametrize("shape", [(), (0, 2), (-1, -1), (2.0,), "ab", (True,), None])
def test_invalid_shape(shape):
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Reshape: shape must be a tuple of positive integers, one of them "
            f"possibly -1; got {shape!r}."
        ),
    ):
        Reshape(shape)


def test_matches_pytorch_unflatten_in_float64(rng):
    torch = importorskip("torch")
    x = rng.standard_normal((3, 12))
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.Unflatten(1, (3, 2, 2))(xt)
    dy = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.from_numpy(dy))
    layer = Reshape((3, 2, 2))
    np.testing.assert_array_equal(layer(x), yt.detach().numpy())
    np.testing.assert_array_equal(layer.backward(dy), xt.grad.numpy())
