import re

import numpy as np
import pytest
from _examples import Example
from _examples import distinct as ramp

import chainrule as cr
from chainrule.layers import MaxPool2D

# For the registry-driven checks (tests/layers/test_registry.py).
EXAMPLES = [
    Example(lambda: MaxPool2D(2), ((2, 3, 6, 6),), draw=ramp, onnx_op="MaxPool"),
    Example(lambda: MaxPool2D(3, stride=2), ((2, 2, 7, 7),), "overlap", draw=ramp),
]


def naive_maxpool(x, k, s):
    n, c, h, w = x.shape
    oh, ow = (h - k[0]) // s[0] + 1, (w - k[1]) // s[1] + 1
    y = np.empty((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = x[:, :, i * s[0] : i * s[0] + k[0], j * s[1] : j * s[1] + k[1]]
            y[:, :, i, j] = win.max(axis=(2, 3))
    return y


CASES = [
    # (kernel, stride, input H x W)
    (2, None, (4, 6)),
    (3, 2, (7, 5)),  # overlapping windows (stride < kernel), non-square input
    (2, 1, (4, 4)),  # overlapping, every inner pixel in four windows
    ((2, 3), (1, 2), (5, 7)),  # non-square kernel and stride
    (3, None, (7, 8)),  # rows and columns left over at the edge
]


@pytest.mark.parametrize(("k", "s", "hw"), CASES)
def test_forward_matches_naive(distinct, k, s, hw):
    pool = MaxPool2D(k, s)
    x = distinct(2, 3, *hw)
    np.testing.assert_array_equal(
        pool(x), naive_maxpool(x, pool.kernel_size, pool.stride)
    )


@pytest.mark.parametrize(("k", "s", "hw"), CASES)
def test_gradcheck(distinct, k, s, hw):
    cr.gradcheck(MaxPool2D(k, s), distinct(2, 2, *hw))


def test_overlapping_winner_receives_the_sum():
    # The 9 sits in all four 2x2 windows of stride 1: it wins each of them.
    x = np.array([[[[1.0, 2.0, 3.0], [4.0, 9.0, 5.0], [6.0, 7.0, 8.0]]]])
    pool = MaxPool2D(2, stride=1)
    np.testing.assert_array_equal(pool(x), [[[[9.0, 9.0], [9.0, 9.0]]]])
    dx = pool.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    expected = np.zeros((1, 1, 3, 3))
    expected[0, 0, 1, 1] = 1 + 2 + 3 + 4
    np.testing.assert_array_equal(dx, expected)


def test_tie_rule_first_max_in_row_major_order_wins():
    x = np.array(
        [
            [
                [
                    [5.0, 5.0, 0.0, 7.0],
                    [5.0, 5.0, 7.0, 7.0],
                    [1.0, 2.0, 3.0, 3.0],
                    [2.0, 0.0, 3.0, 3.0],
                ]
            ]
        ]
    )
    pool = MaxPool2D(2)
    pool(x)
    dx = pool.backward(np.array([[[[10.0, 20.0], [30.0, 40.0]]]]))
    expected = np.zeros((1, 1, 4, 4))
    expected[0, 0, 0, 0] = 10.0  # four 5s: the top-left one
    expected[0, 0, 0, 3] = 20.0  # 7s at (0,3), (1,2), (1,3): (0,3) comes first
    expected[0, 0, 2, 1] = 30.0  # 2s at (2,1), (3,0): (2,1) comes first
    expected[0, 0, 2, 2] = 40.0  # four 3s: the top-left one
    np.testing.assert_array_equal(dx, expected)


def test_tie_rule_with_overlapping_windows():
    # Windows of stride 1 over [[1, 1, 1]]: (0, 0) wins the first window, (0, 1)
    # the second (it comes first there), so each gets one window's gradient.
    x = np.ones((1, 1, 1, 3))
    pool = MaxPool2D((1, 2), stride=1)
    pool(x)
    dx = pool.backward(np.array([[[[1.0, 2.0]]]]))
    np.testing.assert_array_equal(dx, [[[[1.0, 2.0, 0.0]]]])


def test_integer_input_becomes_float32():
    y = MaxPool2D(2)(np.arange(16).reshape(1, 1, 4, 4))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y[0, 0], [[5, 7], [13, 15]])


def test_repr_and_default_stride():
    assert repr(MaxPool2D(2)) == "MaxPool2D(kernel_size=(2, 2), stride=(2, 2))"
    assert repr(MaxPool2D(3, 1)) == "MaxPool2D(kernel_size=(3, 3), stride=(1, 1))"


def test_wrong_rank_message():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "input must have shape (batch, channels, height, width); got (4, 4)."
        ),
    ):
        MaxPool2D(2)(np.zeros((4, 4)))


def test_input_smaller_than_window():
    with pytest.raises(
        ValueError, match="input of 1x4 pixels is smaller than the 2x2 window"
    ):
        MaxPool2D(2)(np.zeros((1, 1, 1, 4)))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            (0,),
            "MaxPool2D: kernel_size must be an integer >= 1 or a pair of them; got 0.",
        ),
        ((2, 0), "MaxPool2D: stride must be an integer >= 1 or a pair of them; got 0."),
        (
            (2.5,),
            "MaxPool2D: kernel_size must be an integer >= 1 or a pair of them; got 2.5.",
        ),
    ],
)
def test_invalid_constructor_args(args, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        MaxPool2D(*args)


@pytest.mark.parametrize(
    "shape, kernel, stride",
    [
        ((2, 3, 7, 9), (2, 2), None),  # tiling, with a row and a column left over
        ((2, 2, 6, 6), (1, 2), None),  # a one-row window
        ((2, 2, 6, 6), (3, 1), None),  # a one-column window
        ((1, 2, 9, 9), (3, 3), None),  # 9 positions per window
        ((2, 1, 8, 7), (3, 2), (2, 3)),  # gaps between windows
        ((1, 1, 5, 5), (1, 1), None),  # the identity
    ],
)
def test_every_window_shape_matches_finite_differences(shape, kernel, stride):
    # Distinct values, so that no window has a tie.
    rng = np.random.default_rng(3)
    x = rng.permutation(np.prod(shape)).reshape(shape) / 7.0
    cr.gradcheck(MaxPool2D(kernel, stride), x)


def _reference_maxpool(x, dy, k, s):
    """Window by window, the first maximum in row-major order wins."""
    n, c, h, w = x.shape
    oh, ow = (h - k) // s + 1, (w - k) // s + 1
    y = np.empty((n, c, oh, ow))
    dx = np.zeros_like(x)
    for a in range(n):
        for b in range(c):
            for i in range(oh):
                for j in range(ow):
                    win = x[a, b, i * s : i * s + k, j * s : j * s + k]
                    r, q = divmod(int(np.argmax(win)), k)  # argmax: first on ties
                    y[a, b, i, j] = win[r, q]
                    dx[a, b, i * s + r, j * s + q] += dy[a, b, i, j]
    return y, dx


@pytest.mark.parametrize("k, s", [(2, 2), (3, 3), (3, 2), (2, 1)])
def test_ties_go_to_the_first_maximum_on_every_path(k, s):
    # Plateaus of equal values (0, 1, 2), as after a ReLU.
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, (2, 3, 9, 9)).astype(np.float64)
    pool = MaxPool2D(k, s)
    y = pool(x)
    dy = rng.standard_normal(y.shape)
    y_ref, dx_ref = _reference_maxpool(x, dy, k, s)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_allclose(pool.backward(dy), dx_ref, rtol=0, atol=1e-12)
