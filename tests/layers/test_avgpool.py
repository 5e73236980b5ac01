import re

import numpy as np
import pytest
from _examples import Example
from _requires import importorskip

import chainrule as cr
from chainrule.layers import AvgPool2D

# For the registry-driven checks (tests/layers/test_registry.py).
EXAMPLES = [
    Example(lambda: AvgPool2D(2), ((2, 3, 4, 6),), onnx_op="AveragePool"),
    Example(lambda: AvgPool2D(3, 2, 1), ((2, 2, 7, 5),), "padded-overlapping"),
    Example(
        lambda: AvgPool2D((2, 3), (1, 2), (1, 1)), ((2, 2, 5, 7),), "rect", spec=False
    ),
]


def naive_avgpool(x, k, s, p):
    """The forward formula, one window at a time, zeros counted in the mean."""
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    n, c, h, w = xp.shape
    oh, ow = (h - k[0]) // s[0] + 1, (w - k[1]) // s[1] + 1
    y = np.empty((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = xp[:, :, i * s[0] : i * s[0] + k[0], j * s[1] : j * s[1] + k[1]]
            y[:, :, i, j] = win.sum(axis=(2, 3)) / (k[0] * k[1])
    return y


CASES = [
    # (kernel, stride, padding, input H x W)
    (2, None, 0, (4, 6)),
    (3, 2, 1, (7, 5)),  # overlapping windows, padding, non-square input
    (2, 1, 0, (4, 4)),  # every inner pixel in four windows
    ((2, 3), (1, 2), (1, 1), (5, 7)),  # non-square kernel, stride and padding
    (3, None, 0, (7, 8)),  # rows and columns left over at the edge
    (1, 2, 0, (5, 5)),  # 1x1 windows with gaps between them
]


@pytest.mark.parametrize(("k", "s", "p", "hw"), CASES)
def test_forward_matches_naive(rng, k, s, p, hw):
    pool = AvgPool2D(k, s, p)
    x = rng.standard_normal((2, 3, *hw))
    np.testing.assert_allclose(
        pool(x),
        naive_avgpool(x, pool.kernel_size, pool.stride, pool.padding),
        rtol=1e-12,
        atol=1e-14,
    )


@pytest.mark.parametrize(("k", "s", "p", "hw"), CASES)
def test_gradcheck(rng, k, s, p, hw):
    cr.gradcheck(AvgPool2D(k, s, p), rng.standard_normal((2, 2, *hw)))


def test_gradient_is_an_equal_share_and_overlaps_add():
    pool = AvgPool2D(2, stride=1)
    pool(np.zeros((1, 1, 3, 3)))
    dx = pool.backward(np.array([[[[4.0, 8.0], [12.0, 16.0]]]]))
    # The centre pixel is in all four windows: (4 + 8 + 12 + 16) / 4.
    expected = [[1.0, 3.0, 2.0], [4.0, 10.0, 6.0], [3.0, 7.0, 4.0]]
    np.testing.assert_array_equal(dx[0, 0], expected)


def test_padding_zeros_count_in_the_mean():
    y = AvgPool2D(2, stride=2, padding=1)(np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(y[0, 0], [[0.25, 0.25], [0.25, 0.25]])


def test_dtype_kept_and_integers_become_float32():
    assert AvgPool2D(2)(np.ones((1, 1, 2, 2), np.float64)).dtype == np.float64
    y = AvgPool2D(2)(np.arange(16).reshape(1, 1, 4, 4))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y[0, 0], [[2.5, 4.5], [10.5, 12.5]])


def test_repr_and_default_stride():
    assert repr(AvgPool2D(2)) == (
        "AvgPool2D(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))"
    )
    assert AvgPool2D(3, 1, 1).output_shape((4, 9, 9)) == (4, 9, 9)


def test_wrong_rank_message():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "input must have shape (batch, channels, height, width); got (4, 4)."
        ),
    ):
        AvgPool2D(2)(np.zeros((4, 4)))


def test_input_smaller_than_window():
    with pytest.raises(
        ValueError,
        match=re.escape("input of 1x4 pixels is smaller than the 2x2 window"),
    ):
        AvgPool2D(2)(np.zeros((1, 1, 1, 4)))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            (0,),
            "AvgPool2D: kernel_size must be an integer >= 1 or a pair of them; got 0.",
        ),
        ((2, 0), "AvgPool2D: stride must be an integer >= 1 or a pair of them; got 0."),
        (
            (2, 2, -1),
            "AvgPool2D: padding must be an integer >= 0 or a pair of them; got -1.",
        ),
        (
            (3, 1, 2),
            "AvgPool2D: padding must be at most half the kernel size (3, 3); got 2.",
        ),
    ],
)
def test_invalid_constructor_args(args, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        AvgPool2D(*args)


@pytest.mark.parametrize(("k", "s", "p", "hw"), CASES)
def test_matches_pytorch_in_float64(rng, k, s, p, hw):
    torch = importorskip("torch")
    x = rng.standard_normal((2, 3, *hw))
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.AvgPool2d(k, s, p)(xt)
    dy = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.from_numpy(dy))
    pool = AvgPool2D(k, s, p)
    for what, ours, theirs in [("y", pool(x), yt), ("dx", pool.backward(dy), xt.grad)]:
        theirs = theirs.detach().numpy()
        assert ours.shape == theirs.shape, what
        err = np.abs(ours - theirs).max() / np.abs(theirs).max()
        assert err <= 1e-10, f"{what}: relative error {err:.3e}"
