"""Batch-last memory (functional/layout.py): a wide Conv2D followed by a
max-pooling hands its output over with the batch innermost in memory. The
values, gradients and deltas must be those of the usual layout."""

from __future__ import annotations

import numpy as np
import pytest
from _plain_chain import assert_matches_plain_chain

import chainrule as cr
from chainrule.functional.conv import col2im, im2col, im2col_batch_last
from chainrule.functional.layout import as_batch_first, as_batch_last, is_batch_last
from chainrule.functional.pooling import maxpool2d_backward, maxpool2d_forward
from chainrule.layers import BatchNorm2D, Conv2D, Flatten, Linear, MaxPool2D, ReLU
from chainrule.spec import build_spec


def test_batch_last_memory_keeps_the_meaning(rng):
    x = rng.standard_normal((3, 2, 4, 5))
    b = as_batch_last(x)
    assert is_batch_last(b) and not is_batch_last(x)
    assert b.shape == x.shape and b.strides[0] == b.itemsize
    np.testing.assert_array_equal(b, x)
    assert not is_batch_last(as_batch_last(x[:1]))  # one sample: plain C order


@pytest.mark.parametrize("n", [1, 3, 40])  # 40: a blocked transposing copy
def test_batch_first_memory_undoes_batch_last(rng, n):
    x = rng.standard_normal((n, 3, 5, 4)).astype(np.float32)
    back = as_batch_first(as_batch_last(x))
    assert back.flags.c_contiguous
    np.testing.assert_array_equal(back, x)
    assert as_batch_first(x) is x
    odd = x[:, :, ::2]  # neither layout: a plain copy
    np.testing.assert_array_equal(as_batch_first(odd), odd)


@pytest.mark.parametrize(
    "kernel, stride, padding",
    [
        ((3, 3), (1, 1), (1, 1)),  # "same": the centre's slab is copied in
        ((5, 5), (1, 1), (2, 2)),
        ((3, 2), (2, 1), (0, 1)),  # pixels past the last window get 0
        ((2, 3), (3, 2), (2, 0)),  # stride past the kernel: pixels no window reads
        ((3, 3), (1, 1), (3, 2)),  # padding past the kernel: offsets that miss
        ((1, 1), (1, 1), (0, 0)),
    ],
)
def test_col2im_is_the_adjoint_of_im2col(rng, kernel, stride, padding):
    """<im2col(x), D> = <x, col2im(D)> for every x and D: col2im adds each
    column entry back to the pixel it was copied from, and nothing else."""
    x = rng.standard_normal((3, 2, 7, 6))
    cols = im2col_batch_last(x, kernel, stride, padding)
    d = rng.standard_normal(cols.shape)
    dx = col2im(d, x.shape, kernel, stride, padding)
    assert dx.shape == x.shape and dx.flags.c_contiguous
    np.testing.assert_allclose(np.sum(x * dx), np.sum(cols * d), rtol=1e-12)
    # And entry by entry: dx[pixel] is the sum of the D entries at its copies.
    for index in [(0, 0, 0, 0), (2, 1, 6, 5), (1, 0, 3, 2)]:
        unit = np.zeros_like(x)
        unit[index] = 1.0
        expected = np.sum(im2col_batch_last(unit, kernel, stride, padding) * d)
        np.testing.assert_allclose(dx[index], expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "kernel, stride, padding, ones_row",
    [((3, 3), (1, 1), (1, 1), False), ((2, 3), (2, 1), (0, 2), True)],
)
def test_batch_last_columns_are_the_columns_sample_last(
    rng, kernel, stride, padding, ones_row
):
    x = rng.standard_normal((3, 4, 7, 6))
    cols = im2col(x, kernel, stride, padding)
    k, pixels = cols.shape
    n = x.shape[0]
    last = im2col_batch_last(x, kernel, stride, padding, ones_row=ones_row)
    assert last.shape == (k + ones_row, pixels)
    by_sample = cols.reshape(k, n, -1).transpose(0, 2, 1).reshape(k, -1)
    np.testing.assert_array_equal(last[:k], by_sample)
    if ones_row:
        np.testing.assert_array_equal(last[k], 1)
    # Already batch-last input (a convolution after another) reads the same.
    np.testing.assert_array_equal(
        im2col_batch_last(as_batch_last(x), kernel, stride, padding), by_sample
    )


@pytest.mark.parametrize("bias", [True, False])
def test_a_wide_convolution_in_batch_last_memory_matches_forward(rng, bias):
    usual = Conv2D(8, 5, 3, padding=1, bias=bias, rng=0).to(np.float64)
    other = Conv2D(8, 5, 3, padding=1, bias=bias, rng=0).to(np.float64)
    x = rng.standard_normal((4, 8, 6, 7))
    assert other.batch_last_possible()
    y0, y = usual.forward(x), other.forward_batch_last(x)
    assert is_batch_last(y) and y.shape == y0.shape
    np.testing.assert_allclose(y, y0, rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    for given in (dy, as_batch_last(dy)):  # backward takes dy in either layout
        usual.zero_grad()
        other.zero_grad()
        usual.forward(x)
        other.forward_batch_last(x)
        np.testing.assert_allclose(
            other.backward(given), usual.backward(dy), rtol=1e-12, atol=1e-12
        )
        for p, p0 in zip(other.parameters(), usual.parameters()):
            np.testing.assert_allclose(p.grad, p0.grad, rtol=1e-12, atol=1e-12)


def test_a_narrow_convolution_keeps_its_usual_output(rng):
    conv = Conv2D(1, 4, 3, rng=0)  # 9 rows per column: per-sample products
    x = rng.standard_normal((2, 1, 6, 6)).astype(np.float32)
    assert not conv.batch_last_possible()
    y = conv.forward_batch_last(x)
    assert y.flags.c_contiguous
    np.testing.assert_array_equal(y, conv.forward(x))


@pytest.mark.parametrize(
    "shape, kernel",
    [((6, 5, 8, 8), (2, 2)), ((4, 3, 9, 7), (2, 2)), ((3, 2, 9, 6), (3, 2))],
)
def test_pooling_batch_last_memory_finds_the_same_winners(rng, shape, kernel):
    # Small integers make ties; NaN windows must send their gradient to the
    # same pixel too. Odd sizes leave pixels past the last window (gradient 0).
    x = rng.integers(-3, 3, shape).astype(np.float32)
    x[rng.random(shape) < 0.15] = np.nan
    y0, winners0 = maxpool2d_forward(x, kernel, kernel)
    y, winners = maxpool2d_forward(as_batch_last(x), kernel, kernel)
    np.testing.assert_array_equal(y, y0)  # NaN where NaN
    assert y.flags.c_contiguous  # the layers after the pooling read NCHW
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx0 = maxpool2d_backward(dy, winners0, kernel, kernel)
    dx = maxpool2d_backward(dy, winners, kernel, kernel)
    np.testing.assert_array_equal(dx, dx0)
    assert is_batch_last(dx)  # the order the convolution's backward reads


def spy_on_batch_last(model):
    calls = []
    for layer in model.layers:
        if hasattr(layer, "forward_batch_last"):
            original = layer.forward_batch_last

            def spy(x, original=original):
                calls.append(x.shape)
                return original(x)

            layer.forward_batch_last = spy
    return calls


@pytest.mark.parametrize(
    "layers, size, used",
    [
        # the cnn preset's second block: ReLU runs after the pooling
        (lambda: [Conv2D(8, 6, 3, padding=1, rng=0), ReLU(), MaxPool2D(2)], 8, True),
        (lambda: [Conv2D(8, 6, 3, rng=0), MaxPool2D(2)], 9, True),  # 7x7: crop
        # overlapping windows take no pool order: the usual layout
        (lambda: [Conv2D(8, 4, 3, rng=0), MaxPool2D(2, stride=1)], 6, False),
        # a layer between the two: the usual layout
        (lambda: [Conv2D(8, 4, 3, rng=0), BatchNorm2D(4), MaxPool2D(2)], 6, False),
    ],
)
def test_a_model_in_batch_last_memory_matches_the_layers_one_by_one(
    rng, layers, size, used
):
    model = cr.Sequential(*layers(), Flatten()).to(np.float64)
    calls = spy_on_batch_last(model)
    x = rng.standard_normal((3, 8, size, size))
    # A ReLU before a pool: its delta follows its tie rule (test_relu_pool_swap).
    assert_matches_plain_chain(model, x, rng, skip_delta=ReLU)
    assert bool(calls) == used


def test_gradcheck_through_batch_last_memory(off_zero):
    net = cr.Sequential(
        Conv2D(8, 2, 3, rng=0), ReLU(), MaxPool2D(2), Flatten(), Linear(8, 3, rng=1)
    )
    assert cr.gradcheck(net, off_zero(2, 8, 6, 6)).passed


def test_training_steps_agree_with_the_usual_layout(rng):
    """Two SGD steps of a two-block CNN in float64 (its second convolution
    makes a wide product): Sequential, batch-last, against the layers run one
    by one in the usual layout."""
    spec = "conv8x3p1-relu-maxpool2-conv8x3p1-relu-maxpool2-flatten-linear10"
    a = build_spec(spec, input_shape=(1, 8, 8), rng=0).to(np.float64)
    b = build_spec(spec, input_shape=(1, 8, 8), rng=0).to(np.float64)
    calls = spy_on_batch_last(a)
    x = rng.standard_normal((5, 1, 8, 8))
    labels = rng.integers(0, 10, 5)
    loss = cr.losses.CrossEntropy()
    opt_a = cr.optim.SGD(a, lr=0.1, momentum=0.9)
    opt_b = cr.optim.SGD(b, lr=0.1, momentum=0.9)
    for _ in range(2):
        a.zero_grad()
        loss.forward(a.forward(x), labels)
        a.backward(loss.backward())
        opt_a.step()

        b.zero_grad()
        h, caches = x, []
        for layer in b.layers:
            h = layer.forward(h)
            caches.append(layer.cache)
        loss.forward(h, labels)
        dy = loss.backward()
        for layer, cache in zip(b.layers[::-1], caches[::-1]):
            layer.cache = cache
            dy = layer.backward(dy)
        opt_b.step()
    assert calls == [(5, 8, 4, 4)] * 2  # the second convolution, once a step
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-10, atol=1e-12)
