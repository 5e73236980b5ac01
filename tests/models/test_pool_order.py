"""Pool order: a Conv2D writes its output with each window offset's pixels in
a plane of their own when a tiling max-pooling follows (Sequential.forward).

Reference: the same layers run one by one in the usual layout. Outputs, dL/dx,
parameter gradients and every layer's delta must agree to float64 rounding
(the weight gradient and batch statistics sum the pixels in another order).
"""

import numpy as np
import pytest
from _plain_chain import assert_matches_plain_chain

import chainrule as cr
from chainrule.functional.conv import im2col_per_sample
from chainrule.functional.pooling import (
    from_pool_order,
    maxpool2d_backward,
    maxpool2d_forward,
    to_pool_order,
)
from chainrule.layers import (
    BatchNorm2D,
    Conv2D,
    Flatten,
    Linear,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Tanh,
)


# ----------------------------------------------------------------- the layout
@pytest.mark.parametrize("kernel", [(2, 2), (2, 3), (3, 1)])
def test_pool_order_puts_each_window_offset_in_its_own_plane(rng, kernel):
    kh, kw = kernel
    x = rng.standard_normal((2, 3, 6 * kh, 4 * kw))
    po = to_pool_order(x, kernel)
    assert po.shape == (2, 3, kh * kw * 6, 4)
    for a in range(kh):
        for b in range(kw):
            plane = po[:, :, (a * kw + b) * 6 : (a * kw + b + 1) * 6]
            np.testing.assert_array_equal(plane, x[:, :, a::kh, b::kw])
    np.testing.assert_array_equal(from_pool_order(po, kernel), x)


@pytest.mark.parametrize(
    "kernel, stride, padding, window, size",
    [
        ((5, 5), (1, 1), (0, 0), (2, 2), (28, 30)),  # the seed CNN's
        ((3, 3), (1, 1), (1, 1), (2, 2), (28, 26)),  # the two-conv CNN's first
        ((3, 3), (2, 2), (1, 1), (2, 2), (15, 11)),  # a strided convolution
        ((2, 3), (1, 2), (2, 1), (3, 2), (9, 11)),  # everything rectangular
        ((1, 1), (1, 1), (0, 0), (3, 3), (9, 6)),
    ],
)
@pytest.mark.parametrize("ones_row", [False, True])
def test_columns_in_pool_order_are_the_columns_reordered(
    rng, kernel, stride, padding, window, size, ones_row
):
    x = rng.standard_normal((3, 2, *size))
    plain = im2col_per_sample(x, kernel, stride, padding, ones_row)
    ordered = im2col_per_sample(x, kernel, stride, padding, ones_row, window)
    n, k, _ = plain.shape
    oh = (size[0] + 2 * padding[0] - kernel[0]) // stride[0] + 1
    ow = (size[1] + 2 * padding[1] - kernel[1]) // stride[1] + 1
    assert oh % window[0] == 0 and ow % window[1] == 0  # the case's premise
    expected = to_pool_order(plain.reshape(n, k, oh, ow), window).reshape(n, k, -1)
    np.testing.assert_array_equal(ordered, expected)


@pytest.mark.parametrize("kernel", [(2, 2), (3, 3), (2, 3), (3, 1)])
def test_pooling_in_pool_order_finds_the_same_winners(rng, kernel):
    kh, kw = kernel
    # Few levels: most windows hold ties; and NaN in one pixel of six, so
    # that many windows hold one or more, anywhere: the same pixel must win.
    x = rng.integers(-2, 3, (3, 2, 6 * kh, 5 * kw)).astype(np.float32)
    x[rng.random(x.shape) < 1 / 6] = np.nan
    y, winners = maxpool2d_forward(x, kernel, kernel)
    y_po, winners_po = maxpool2d_forward(to_pool_order(x, kernel), kernel, kernel, True)
    np.testing.assert_array_equal(y_po, y)  # NaN where y has NaN
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = maxpool2d_backward(dy, winners, kernel, kernel)
    dx_po = maxpool2d_backward(dy, winners_po, kernel, kernel)
    np.testing.assert_array_equal(dx_po, to_pool_order(dx, kernel))


# ------------------------------------------------------------- in a model
def spy_on_pool_order(model):
    """Count the calls of every forward_in_pool_order in the model."""
    calls = []
    for layer in model.layers:
        if isinstance(layer, Conv2D):
            method = layer.forward_in_pool_order

            def spy(x, window, method=method):
                calls.append(window)
                return method(x, window)

            layer.forward_in_pool_order = spy
    return calls


def check_against_the_plain_chain(model, x, rng, reordered: bool):
    model.to(np.float64)
    calls = spy_on_pool_order(model)
    # A ReLU before a pool: its delta follows its tie rule (test_relu_pool_swap).
    assert_matches_plain_chain(model, x, rng, skip_delta=ReLU)
    assert bool(calls) == reordered


@pytest.mark.parametrize(
    "layers, size",
    [
        (lambda: [Conv2D(1, 4, 5, rng=0), ReLU(), MaxPool2D(2)], 12),
        (lambda: [Conv2D(2, 3, 3, padding=1, rng=0), Tanh(), MaxPool2D(2)], 8),
        (
            lambda: [
                Conv2D(1, 4, 3, bias=False, rng=0),
                BatchNorm2D(4),
                ReLU(),
                MaxPool2D(2),
            ],
            10,
        ),
        (lambda: [Conv2D(1, 3, 3, stride=2, padding=1, rng=0), MaxPool2D(2)], 7),
        (lambda: [Conv2D(1, 2, (2, 3), rng=0), Sigmoid(), MaxPool2D((3, 2))], 10),
    ],
)
def test_a_convolution_before_a_pooling_writes_pool_order(rng, layers, size):
    model = cr.Sequential(*layers(), Flatten())
    x = rng.standard_normal((3, model[0].in_channels, size, size))
    check_against_the_plain_chain(model, x, rng, reordered=True)


@pytest.mark.parametrize(
    "layers, size",
    [
        (lambda: [Conv2D(1, 2, 3, rng=0), MaxPool2D(2)], 9),  # 7x7: not tiled
        (lambda: [Conv2D(1, 2, 2, rng=0), MaxPool2D(2, stride=1)], 6),  # overlap
        (lambda: [Conv2D(8, 2, 3, rng=0), MaxPool2D(2)], 6),  # one wide product
        (lambda: [Conv2D(1, 2, 3, rng=0), Flatten()], 6),  # no pooling
    ],
)
def test_other_layouts_keep_the_usual_order(rng, layers, size):
    model = cr.Sequential(*layers(), Flatten())
    x = rng.standard_normal((2, model[0].in_channels, size, size))
    check_against_the_plain_chain(model, x, rng, reordered=False)


def test_a_subclass_that_changes_a_layer_gets_the_usual_order(rng):
    class Shifted(Conv2D):
        def forward(self, x):
            return super().forward(x) + 1

    class Scaled(Tanh):
        def backward(self, dy):
            return 2 * super().backward(dy)

    assert Conv2D(1, 1, 1).orders_for_pool and not Shifted(1, 1, 1).orders_for_pool
    x = rng.standard_normal((2, 1, 6, 6))
    for model in (
        cr.Sequential(Shifted(1, 2, 3, rng=0), MaxPool2D(2)),
        cr.Sequential(Conv2D(1, 2, 3, rng=0), Scaled(), MaxPool2D(2)),
    ):
        check_against_the_plain_chain(model, x, rng, reordered=False)


def test_pool_order_where_it_cannot_apply_is_refused(rng):
    conv = Conv2D(1, 2, 3, rng=0)
    x = rng.standard_normal((2, 1, 8, 8))  # a 6x6 output
    assert conv.pool_order_possible(x, (2, 2))
    assert not conv.pool_order_possible(x, (4, 4))
    with pytest.raises(ValueError, match=r"Conv2D.*4x4 window.*6x6"):
        conv.forward_in_pool_order(x, (4, 4))
    wide = Conv2D(8, 2, 3, rng=0)  # 72 rows per column: one wide product
    assert not wide.pool_order_possible(np.zeros((1, 8, 8, 8)), (2, 2))


def test_gradcheck_through_pool_order(off_zero):
    net = cr.Sequential(
        Conv2D(1, 2, 3, bias=False, rng=0),
        BatchNorm2D(2),
        ReLU(),
        MaxPool2D(2),
        Flatten(),
        Linear(8, 3, rng=1),
    )
    assert cr.gradcheck(net, off_zero(3, 1, 6, 6)).passed


def test_predict_in_pool_order_matches_the_layers_one_by_one(rng):
    model = cr.Sequential(
        Conv2D(1, 4, 3, padding=1, rng=0), ReLU(), MaxPool2D(2), Flatten()
    ).eval()
    x = rng.standard_normal((5, 1, 8, 8)).astype(np.float32)
    calls = spy_on_pool_order(model)
    expected = x
    for layer in model.layers:
        expected = layer.forward(expected)
    np.testing.assert_allclose(cr.predict(model, x), expected, rtol=1e-6)
    assert calls == [(2, 2)]


def test_a_model_with_deltas_pending_pickles(rng):
    # scikit-learn pickles estimators; a delta kept as a call must survive it.
    import pickle

    model = cr.Sequential(Conv2D(1, 2, 3, rng=0), ReLU(), MaxPool2D(2), Flatten())
    x = rng.standard_normal((2, 1, 6, 6)).astype(np.float32)
    y = model.forward(x)
    model.backward(np.ones_like(y))
    copy = pickle.loads(pickle.dumps(model))
    assert callable(copy[0].__dict__["_output_grad"])  # not read yet
    assert copy[0].output_grad.shape == (2, 2, 4, 4)  # the conv's own layout
    for a, b in zip(model.layers, copy.layers):
        np.testing.assert_array_equal(b.output_grad, a.output_grad)
