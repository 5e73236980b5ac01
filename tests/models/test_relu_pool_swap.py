"""Sequential runs ReLU after a MaxPool2D that follows it (they commute).

Reference: the same layers run one by one in the written order, the chain rule
by hand. Every result must be equal, bit for bit, except the ReLU's delta in
windows whose inputs are all <= 0 (a tie of zeros; see Sequential.forward).
"""

import numpy as np
import pytest
from _plain_chain import plain_chain

import chainrule as cr
from chainrule.layers import Conv2D, Flatten, Linear, MaxPool2D, ReLU


def with_zeros_and_negative_windows(rng, shape):
    """Values with exact zeros, ties and whole windows <= 0."""
    x = rng.standard_normal(shape).round(1)  # rounding makes ties and zeros
    x[:, :, :4, :4] = -np.abs(x[:, :, :4, :4])  # windows with no positive input
    x[:, :, 4:8, 4:8] = 0.0  # windows of exact zeros
    x[:, :, 1, 6] = 0.0
    return x


@pytest.mark.parametrize(
    "pool, size",
    [
        (MaxPool2D(2), 8),
        (MaxPool2D(2), 9),  # a last row and column no window covers
        (MaxPool2D(3, stride=2), 9),  # overlapping windows
        (MaxPool2D((2, 3)), 12),
    ],
)
def test_swapped_pair_gives_the_plain_results(rng, pool, size):
    model = cr.Sequential(Conv2D(2, 3, 1, rng=0), ReLU(), pool, Flatten()).to(
        np.float64
    )
    x = with_zeros_and_negative_windows(rng, (4, 2, size, size))
    # A 1x1 convolution with weight 1 on channel 0 keeps x's zeros exact.
    model[0].weight.data[:] = 0
    model[0].weight.data[:, 0] = 1
    model[0].bias.data[:] = 0
    y = model.forward(x)
    dy = rng.standard_normal(y.shape)
    model.zero_grad()
    dx = model.backward(dy)
    got = [p.grad.copy() for p in model.parameters()]
    relu_delta, pool_delta = model[1].output_grad, model[2].output_grad

    model.zero_grad()
    y0, dx0, deltas = plain_chain(model.layers, x, dy)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(dx, dx0)
    # Tiling windows also put the convolution's output in pool order, which
    # sums the weight gradient over the pixels in another order: rounding.
    for g, p in zip(got, model.parameters()):
        np.testing.assert_allclose(g, p.grad, rtol=1e-13, atol=1e-14)
    np.testing.assert_array_equal(pool_delta, deltas[2])
    # The ReLU's delta: equal wherever its window had a positive input.
    assert isinstance(relu_delta, np.ndarray) and relu_delta.shape == deltas[1].shape
    plain_pool = MaxPool2D(pool.kernel_size, pool.stride)
    positive_max = plain_pool.forward(model[0].forward(x)) > 0
    assert positive_max.any() and (~positive_max).any()  # both cases occur
    both = relu_delta != deltas[1]
    if pool.stride == pool.kernel_size:
        # Tiling windows: every difference lies in a window with max <= 0.
        kh, kw = pool.kernel_size
        oh, ow = positive_max.shape[2:]
        in_window = both[:, :, : oh * kh, : ow * kw].reshape(4, 3, oh, kh, ow, kw)
        assert not in_window.any(axis=(3, 5))[positive_max].any()
        assert not both[:, :, oh * kh :].any() and not both[:, :, :, ow * kw :].any()
    # Summed over each window, the two deltas agree (same dy, another pixel).
    np.testing.assert_allclose(relu_delta.sum(), deltas[1].sum(), rtol=1e-12)


def test_gradcheck_through_the_swapped_pair(off_zero):
    net = cr.Sequential(
        Conv2D(1, 2, 3, rng=0), ReLU(), MaxPool2D(2), Flatten(), Linear(18, 3, rng=1)
    )
    cr.gradcheck(net, off_zero(2, 1, 8, 8))


def test_training_backward_stops_at_the_first_parameters(rng):
    # The pair sits before the first layer with parameters: never visited.
    net = cr.Sequential(ReLU(), MaxPool2D(2), Flatten(), Linear(16, 2, rng=0))
    x = rng.standard_normal((3, 1, 8, 8))
    net.to(np.float64).forward(x)
    assert net.backward(np.ones((3, 2)), input_grad=False) is None
    assert net[3].weight.grad is not None


def test_subclasses_that_change_the_function_are_not_swapped(rng):
    class Shifted(ReLU):
        def forward(self, x):
            return super().forward(x - 0.5)

    class Pool(MaxPool2D):
        def backward(self, dy):
            return super().backward(dy)

    assert ReLU().commutes_with_max and MaxPool2D(2).takes_window_max
    assert not Shifted().commutes_with_max and not Pool(2).takes_window_max
    net = cr.Sequential(Shifted(), MaxPool2D(2))
    x = rng.standard_normal((2, 1, 4, 4))
    expected = MaxPool2D(2).forward(np.maximum(x - 0.5, 0))
    np.testing.assert_array_equal(net.forward(x), expected)


def test_a_returned_output_is_not_overwritten_by_the_next_call(rng):
    net = cr.Sequential(ReLU(), MaxPool2D(2))
    x = rng.standard_normal((2, 1, 4, 4))
    first = net.forward(x)
    kept = first.copy()
    net.forward(-x)
    np.testing.assert_array_equal(first, kept)


def test_a_changed_layer_list_is_planned_again(rng):
    net = cr.Sequential(Conv2D(1, 2, 3, rng=0))
    x = rng.standard_normal((2, 1, 6, 6))
    net.forward(x)
    net.append(ReLU()).append(MaxPool2D(2))
    expected = MaxPool2D(2).forward(np.maximum(net[0].forward(x), 0))
    np.testing.assert_array_equal(net.forward(x), expected)
    assert net._swap_plan[1] == {1}
    net.layers[1] = cr.layers.Tanh()  # replaced in place: no longer a pair
    np.testing.assert_allclose(
        net.forward(x), MaxPool2D(2).forward(np.tanh(net[0].forward(x))), rtol=1e-6
    )
    assert net._swap_plan[1] == frozenset()
