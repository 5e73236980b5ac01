import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.layers import MaxPool2D


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
