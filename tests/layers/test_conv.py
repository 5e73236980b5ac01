import re

import numpy as np
import pytest
from _examples import Example

import chainrule as cr
from chainrule.layers import Conv2D

# For the registry-driven checks (tests/layers/test_registry.py).
EXAMPLES = [
    Example(
        lambda: Conv2D(2, 3, 3, stride=2, padding=1, rng=0),
        ((3, 2, 7, 6),),
        onnx_op="Conv",
    ),
    Example(
        lambda: Conv2D(2, 3, (3, 2), stride=(2, 1), padding=(1, 2), rng=0),
        ((2, 2, 6, 5),),
        "rectangular",
        spec=False,
    ),
    Example(
        lambda: Conv2D(2, 3, 3, bias=False, rng=0),
        ((2, 2, 5, 5),),
        "nobias",
        spec=False,
    ),
    Example(lambda: Conv2D(9, 4, 3, padding=1, rng=0), ((2, 9, 4, 4),), "wide"),
]


def naive_conv(x, w, b, stride, padding):
    """The seeds' formula, one output pixel at a time."""
    (sh, sw), (ph, pw) = stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, _, h, wd = xp.shape
    oc, _, kh, kw = w.shape
    oh, ow = (h - kh) // sh + 1, (wd - kw) // sw + 1
    y = np.zeros((n, oc, oh, ow))
    for s in range(n):
        for o in range(oc):
            for i in range(oh):
                for j in range(ow):
                    patch = xp[s, :, i * sh : i * sh + kh, j * sw : j * sw + kw]
                    y[s, o, i, j] = np.sum(patch * w[o]) + b[o]
    return y


CASES = [
    # (in_channels, out_channels, kernel, stride, padding, input H x W)
    (2, 3, 3, 1, 0, (5, 6)),
    (2, 3, 3, 2, 1, (7, 5)),  # stride 2, padding 1, non-square input
    (1, 2, (3, 2), (2, 1), (1, 0), (6, 5)),  # non-square kernel and stride
    (3, 2, 1, 1, 0, (3, 4)),  # 1x1 convolution
    (1, 1, 4, 3, 2, (5, 4)),  # padding that leaves a partial last window
]


@pytest.mark.parametrize(("cin", "cout", "k", "s", "p", "hw"), CASES)
def test_forward_matches_naive_formula(rng, cin, cout, k, s, p, hw):
    conv = Conv2D(cin, cout, k, stride=s, padding=p, rng=0).to(np.float64)
    conv.bias.data[:] = rng.standard_normal(cout)
    x = rng.standard_normal((2, cin, *hw))
    expected = naive_conv(
        x, conv.weight.data, conv.bias.data, conv.stride, conv.padding
    )
    np.testing.assert_allclose(conv(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("cin", "cout", "k", "s", "p", "hw"), CASES)
def test_gradcheck(rng, cin, cout, k, s, p, hw):
    conv = Conv2D(cin, cout, k, stride=s, padding=p, rng=1)
    conv.bias.data[:] = rng.standard_normal(cout)
    cr.gradcheck(conv, rng.standard_normal((2, cin, *hw)))


def test_gradcheck_without_bias(rng):
    cr.gradcheck(
        Conv2D(2, 2, 2, stride=2, bias=False, rng=0), rng.standard_normal((1, 2, 4, 6))
    )


def test_output_shape_formula():
    conv = Conv2D(1, 16, 5, stride=2, padding=1)
    # OH = (28 + 2 - 5) // 2 + 1 = 13
    assert conv(np.zeros((2, 1, 28, 28), np.float32)).shape == (2, 16, 13, 13)
    assert conv.output_shape((1, 28, 28)) == (16, 13, 13)


def test_backward_adds_into_grad(rng):
    conv = Conv2D(1, 2, 2, rng=0).to(np.float64)
    x = rng.standard_normal((1, 1, 3, 3))
    dy = rng.standard_normal((1, 2, 2, 2))
    conv(x)
    conv.backward(dy)
    once = conv.weight.grad.copy()
    conv(x)
    conv.backward(dy)
    np.testing.assert_allclose(conv.weight.grad, 2 * once)


def test_repr():
    assert repr(Conv2D(1, 16, 5)) == (
        "Conv2D(in_channels=1, out_channels=16, kernel_size=(5, 5), stride=(1, 1), "
        "padding=(0, 0), bias=True)"
    )


def test_wrong_channels_message():
    conv = Conv2D(3, 4, 3)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "input must have shape (batch, 3, height, width); got (2, 1, 8, 8)."
        ),
    ):
        conv(np.zeros((2, 1, 8, 8)))


def test_input_smaller_than_kernel():
    with pytest.raises(
        ValueError, match="input of 2x2 pixels is smaller than the 3x3 kernel"
    ):
        Conv2D(1, 1, 3)(np.zeros((1, 1, 2, 2)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"in_channels": 0, "out_channels": 1, "kernel_size": 3},
            "Conv2D: in_channels must be a positive integer; got 0.",
        ),
        (
            {"in_channels": 1, "out_channels": 1, "kernel_size": 0},
            "Conv2D: kernel_size must be an integer >= 1 or a pair of them; got 0.",
        ),
        (
            {"in_channels": 1, "out_channels": 1, "kernel_size": 3, "stride": (1, 0)},
            "Conv2D: stride must be an integer >= 1 or a pair of them; got (1, 0).",
        ),
        (
            {"in_channels": 1, "out_channels": 1, "kernel_size": 3, "padding": -1},
            "Conv2D: padding must be an integer >= 0 or a pair of them; got -1.",
        ),
        (
            {"in_channels": 1, "out_channels": 1, "kernel_size": (3, 3, 3)},
            "Conv2D: kernel_size must be an integer >= 1 or a pair of them; got (3, 3, 3).",
        ),
    ],
)
def test_invalid_constructor_args(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Conv2D(**kwargs)


@pytest.mark.parametrize(
    "cin, k, path",
    [
        (1, 3, "per-sample products"),
        (8, 3, "one wide product"),
        (3, (5, 5), "one wide"),
    ],
)
def test_both_product_layouts_match_finite_differences_and_a_loop(cin, k, path):
    # Columns with fewer than 64 rows (cin * kH * kW) go through per-sample
    # products, the others through one product for the batch: both must give
    # the seeds' formula and its gradients.
    rng = np.random.default_rng(7)
    conv = Conv2D(cin, 3, k, stride=(1, 2), padding=1, rng=0).to(np.float64)
    x = rng.standard_normal((2, cin, 6, 7))
    cr.gradcheck(conv, x, max_elements=600)
    w, b = conv.weight.data, conv.bias.data
    kh, kw = w.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    y = conv(x)
    for i in range(y.shape[2]):
        for j in range(y.shape[3]):
            patch = xp[:, :, i : i + kh, 2 * j : 2 * j + kw]
            expected = np.einsum("scij,ocij->so", patch, w) + b
            np.testing.assert_allclose(y[:, :, i, j], expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("channels", [1, 8])  # per-sample products, one wide product
def test_an_empty_batch_goes_forward_and_back(channels):
    # backward's reshape(0, OC, -1) could not work out the last size.
    conv = Conv2D(channels, 4, 3, rng=0)
    y = conv(np.zeros((0, channels, 6, 6), np.float32))
    assert y.shape == (0, 4, 4, 4)
    assert conv.backward(np.zeros_like(y)).shape == (0, channels, 6, 6)
    np.testing.assert_array_equal(conv.weight.grad, 0)
