import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.layers import (
    Conv2D,
    Dropout,
    Flatten,
    HardTanh,
    Linear,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)


def test_gradcheck_mlp(rng):
    net = cr.Sequential(Linear(4, 5, rng=0), Tanh(), Linear(5, 3, rng=1), Sigmoid())
    cr.gradcheck(net, rng.standard_normal((3, 4)))


def test_gradcheck_cnn(rng):
    net = cr.Sequential(
        Conv2D(1, 2, 3, stride=2, padding=1, rng=0),
        Tanh(),
        MaxPool2D(2, stride=1),
        Flatten(),
        Linear(2 * 3 * 2, 3, rng=1),
        Softmax(),
    )
    cr.gradcheck(net, rng.standard_normal((2, 1, 7, 5)))


def test_gradcheck_relu_net_with_dropout(rng, off_zero):
    first = Linear(3, 4, rng=0, init="zeros")
    first.weight.data[:] = np.eye(4, 3)
    first.bias.data[:] = off_zero(4) * 0.01  # pre-activations = x + b stay off 0
    drop = Dropout(0.5)
    drop.mask = np.array([[1, 0, 1, 1], [0, 1, 1, 1]], bool)
    net = cr.Sequential(first, ReLU(), drop, Linear(4, 2, rng=1), HardTanh(-5, 5))
    cr.gradcheck(net, off_zero(2, 3))


def test_backward_is_the_chain_of_layer_backwards(rng):
    a, b = Linear(3, 4, rng=0).to(np.float64), Linear(4, 2, rng=1).to(np.float64)
    net = cr.Sequential(a, Tanh(), b)
    x = rng.standard_normal((5, 3))
    dy = rng.standard_normal((5, 2))
    net(x)
    dx = net.backward(dy)
    h = np.tanh(x @ a.weight.data.T + a.bias.data)
    dh = dy @ b.weight.data
    dz = dh * (1 - h**2)
    np.testing.assert_allclose(b.weight.grad, dy.T @ h, rtol=1e-12)
    np.testing.assert_allclose(a.weight.grad, dz.T @ x, rtol=1e-12)
    np.testing.assert_allclose(dx, dz @ a.weight.data, rtol=1e-12)
    # The deltas: each layer's output_grad is dL/d(its output).
    np.testing.assert_array_equal(b.output_grad, dy)
    np.testing.assert_allclose(net[1].output_grad, dh, rtol=1e-12)
    np.testing.assert_allclose(a.output_grad, dz, rtol=1e-12)
    names = [name for name, _ in net.deltas()]
    assert names == ["0:Linear", "1:Tanh", "2:Linear"]
    assert net.deltas()[2][1] is b.output_grad


def test_layer_listed_twice_shares_weights(rng):
    shared = Linear(3, 3, rng=0)
    net = cr.Sequential(shared, Tanh(), shared)
    assert [n for n, _ in net.named_parameters()] == ["0.weight", "0.bias"]
    cr.gradcheck(net, rng.standard_normal((2, 3)))


def test_input_grad_false(rng):
    net = cr.Sequential(Linear(3, 2, rng=0), Tanh())
    y = net(rng.standard_normal((4, 3)))
    assert net.backward(np.ones_like(y), input_grad=False) is None
    assert net[0].weight.grad.any()
    assert not net[0].skip_input_grad


def test_second_backward_raises(rng):
    net = cr.Sequential(Linear(3, 2, rng=0))
    y = net(rng.standard_normal((4, 3)))
    net.backward(np.ones_like(y))
    with pytest.raises(
        RuntimeError, match="backward\\(\\) needs a forward\\(\\) first"
    ):
        net.backward(np.ones_like(y))


def test_named_parameters_and_container_protocol():
    net = cr.Sequential(Linear(4, 8), ReLU(), Linear(8, 3))
    assert [n for n, _ in net.named_parameters()] == [
        "0.weight",
        "0.bias",
        "2.weight",
        "2.bias",
    ]
    assert len(net) == 3 and isinstance(net[1], ReLU) and list(net)[2] is net[2]
    net.append(Sigmoid())
    assert isinstance(net[3], Sigmoid)


def test_repr():
    net = cr.Sequential(Linear(784, 256), ReLU())
    assert repr(net) == (
        "Sequential(\n"
        "  (0): Linear(in_features=784, out_features=256, bias=True)\n"
        "  (1): ReLU()\n"
        ")"
    )


def test_nested_sequential(rng):
    inner = cr.Sequential(Linear(3, 3, rng=0), Tanh())
    net = cr.Sequential(inner, Linear(3, 2, rng=1))
    assert [n for n, _ in net.named_parameters()] == [
        "0.0.weight",
        "0.0.bias",
        "1.weight",
        "1.bias",
    ]
    assert repr(net).splitlines()[1] == "  (0): Sequential("
    cr.gradcheck(net, rng.standard_normal((2, 3)))


def test_layer_class_instead_of_instance():
    with pytest.raises(
        TypeError,
        match=re.escape(
            "Sequential: layer 1 must be a chainrule Module; got type. "
            "Did you pass the class instead of an instance?"
        ),
    ):
        cr.Sequential(Linear(2, 2), ReLU)


def test_append_non_module():
    with pytest.raises(
        TypeError, match="Sequential.append: expected a Module; got int."
    ):
        cr.Sequential().append(3)


def test_empty_model():
    with pytest.raises(RuntimeError, match="Sequential: the model has no layers."):
        cr.Sequential()(np.zeros((1, 2)))


def test_summary():
    net = cr.Sequential(Linear(4, 8), ReLU(), Linear(8, 3))
    lines = net.summary().splitlines()
    assert lines[0].split() == ["name", "layer", "output", "shape", "params"]
    assert lines[2].split() == ["0", "Linear", "(N,", "8)", "40"]
    assert lines[3].split() == ["1", "ReLU", "(N,", "8)", "0"]
    assert lines[4].split() == ["2", "Linear", "(N,", "3)", "27"]
    assert lines[-1] == "Total parameters: 67"


def test_summary_of_a_cnn_needs_the_input_shape():
    net = cr.Sequential(Conv2D(1, 4, 3), Flatten())
    with pytest.raises(
        ValueError,
        match=r"summary: input_shape is needed for this model \(it starts with Conv2D\)",
    ):
        net.summary()
    text = net.summary(input_shape=(1, 6, 5))
    assert (
        "(N, 4, 4, 3)" in text and "(N, 48)" in text and "Total parameters: 40" in text
    )


def test_training_backward_stops_at_the_first_layer_with_parameters():
    # fit calls backward(dy, input_grad=False): a Flatten in front of the first
    # Linear is not visited, and the Linear skips its dL/dx; the parameter
    # gradients are the same as a full backward's.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 1, 3, 3))
    dy = rng.standard_normal((4, 2))

    def grads(input_grad):
        cr.seed(0)
        net = cr.Sequential(
            cr.layers.Flatten(),
            cr.layers.Linear(9, 5),
            cr.layers.Tanh(),
            cr.layers.Linear(5, 2),
        ).to(np.float64)
        net(x)
        dx = net.backward(dy, input_grad=input_grad)
        return dx, net, [p.grad.copy() for p in net.parameters()]

    dx_full, _, full = grads(True)
    dx_none, net, pruned = grads(False)
    assert dx_full.shape == x.shape and dx_none is None
    assert net[0].output_grad is None  # the Flatten was not visited
    for a, b in zip(full, pruned):
        np.testing.assert_array_equal(a, b)


def test_skip_input_grad_reaches_into_a_nested_container():
    # fit sets skip_input_grad on the model; each container passes it on to its
    # first trainable layer, also when that layer is itself a container.
    rng = np.random.default_rng(1)
    inner = cr.Sequential(cr.layers.Flatten(), cr.layers.Linear(4, 3))
    net = cr.Sequential(inner, cr.layers.Tanh(), cr.layers.Linear(3, 2)).to(np.float64)
    net(rng.standard_normal((5, 1, 2, 2)))
    net.skip_input_grad = True
    assert net.backward(rng.standard_normal((5, 2))) is None
    assert inner[0].output_grad is None  # the Flatten was not visited
    assert inner[1].output_grad is not None
