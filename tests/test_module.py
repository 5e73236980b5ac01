import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.layers import Conv2D, Dropout, Flatten, Linear, ReLU, Sigmoid, Tanh


def mlp():
    return cr.Sequential(Linear(4, 3, rng=0), ReLU(), Linear(3, 2, rng=1))


def test_named_parameters():
    net = cr.Sequential(Conv2D(1, 2, 3, bias=False), Flatten(), Linear(8, 2))
    names = [(n, p.shape) for n, p in net.named_parameters()]
    assert names == [("0.weight", (2, 1, 3, 3)), ("2.weight", (2, 8)), ("2.bias", (2,))]
    assert net.num_parameters() == 18 + 16 + 2
    assert net.parameters()[1] is net[2].weight


def test_shared_parameter_listed_once():
    a = Linear(2, 2)
    b = Linear(2, 2)
    b.weight = a.weight
    names = [n for n, _ in cr.Sequential(a, b).named_parameters()]
    assert names == ["0.weight", "0.bias", "1.bias"]


def test_zero_grad(rng):
    net = mlp()
    y = net(rng.standard_normal((2, 4)))
    net.backward(np.ones_like(y))
    assert any(p.grad.any() for p in net.parameters())
    grad_array = net[0].weight.grad
    net.zero_grad()
    assert not any(p.grad.any() for p in net.parameters())
    assert net[0].weight.grad is grad_array  # in place: optimizers may hold it


def test_backward_adds_into_grad(rng):
    net = mlp().to(np.float64)
    x = rng.standard_normal((3, 4)) + 0.5
    dy = rng.standard_normal((3, 2))
    net(x)
    net.backward(dy)
    once = {n: p.grad.copy() for n, p in net.named_parameters()}
    net(x)
    net.backward(dy)
    for n, p in net.named_parameters():
        np.testing.assert_allclose(p.grad, 2 * once[n], rtol=1e-14, err_msg=n)


def test_train_eval_reach_every_submodule():
    drop = Dropout(0.5)
    net = cr.Sequential(Linear(2, 2), cr.Sequential(drop, Tanh()))
    assert net.eval() is net
    assert all(not m.training for m in net.modules())
    x = np.ones((3, 2), np.float32)
    assert drop(x) is x  # identity in eval mode
    assert net.train() is net
    assert all(m.training for m in net.modules())


def test_state_dict_round_trip(rng):
    a, b = mlp(), cr.Sequential(Linear(4, 3, rng=5), ReLU(), Linear(3, 2, rng=6))
    state = a.state_dict()
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    state["0.weight"][0, 0] = 99.0  # a copy: the model is untouched
    assert a[0].weight.data[0, 0] != 99.0
    b.load_state_dict(a.state_dict())
    x = rng.standard_normal((2, 4)).astype(np.float32)
    np.testing.assert_array_equal(a(x), b(x))
    assert b.state_dict()["0.weight"] is not a.state_dict()["0.weight"]


def test_load_state_dict_reports_every_problem_at_once():
    net = mlp()
    before = net.state_dict()
    state = net.state_dict()
    del state["0.bias"]
    state["2.weight"] = np.zeros((3, 3))
    state["5.weight"] = np.zeros(1)
    message = (
        "Sequential.load_state_dict: the state does not fit; missing keys: 0.bias; "
        "unexpected keys: 5.weight; 2.weight has shape (3, 3), expected (2, 3)."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        net.load_state_dict(state)
    for k, v in net.state_dict().items():  # nothing changed
        np.testing.assert_array_equal(v, before[k])


def test_load_state_dict_non_strict_still_checks_shapes():
    net = mlp()
    net.load_state_dict({"0.bias": np.ones(3), "extra": np.ones(1)}, strict=False)
    np.testing.assert_array_equal(net[0].bias.data, np.ones(3))
    with pytest.raises(
        ValueError, match=re.escape("0.bias has shape (4,), expected (3,).")
    ):
        net.load_state_dict({"0.bias": np.ones(4)}, strict=False)
    with pytest.raises(ValueError, match="0.bias has non-numeric dtype <U1"):
        net.load_state_dict({"0.bias": np.array(["a", "b", "c"])}, strict=False)


def test_to_converts_and_returns_the_module(rng):
    net = mlp()
    assert net.dtype == np.float32
    assert net.to(np.float64) is net
    assert net.dtype == np.float64
    assert all(p.data.dtype == p.grad.dtype == np.float64 for p in net.parameters())
    assert net(rng.standard_normal((2, 4))).dtype == np.float64
    assert ReLU().dtype is None


def test_to_refuses_non_float():
    with pytest.raises(
        TypeError, match="Sequential.to: dtype must be a float type; got int64."
    ):
        mlp().to(np.int64)


def test_copy_is_deep():
    net = mlp()
    clone = net.copy()
    clone[0].weight.data[:] = 0
    assert net[0].weight.data.any()


def test_output_grad_holds_the_deltas(rng):
    net = cr.Sequential(Linear(3, 2, rng=0), Sigmoid())
    y = net(rng.standard_normal((4, 3)))
    dy = rng.standard_normal(y.shape).astype(np.float32)
    net.backward(dy)
    assert net[1].output_grad is dy
    np.testing.assert_allclose(net[0].output_grad, dy * y * (1 - y), rtol=1e-6)
    assert [k for k, _ in net.deltas()] == ["0:Linear", "1:Sigmoid"]


def test_repr_format():
    assert (
        repr(Linear(784, 256)) == "Linear(in_features=784, out_features=256, bias=True)"
    )
    assert (
        repr(cr.Parameter(np.zeros((2, 3)))) == "Parameter(shape=(2, 3), dtype=float64)"
    )


def test_output_shape():
    assert Conv2D(1, 4, 3, padding=1).output_shape((1, 5, 6)) == (4, 5, 6)
    assert Flatten().output_shape((2, 3, 4)) == (24,)


def test_base_module_needs_forward_and_backward():
    with pytest.raises(NotImplementedError, match="Module does not define forward"):
        cr.Module()(np.zeros(1))
    with pytest.raises(NotImplementedError, match="Module does not define backward"):
        cr.Module().backward(np.zeros(1))


def test_to_dot_sequential(rng):
    net = cr.Sequential(Linear(3, 2, rng=0), Tanh())
    dot = cr.to_dot(net)
    assert dot.startswith("digraph model {\n")
    assert dot.endswith("}\n")
    assert '  l0 [label="0: Linear\\n(2,)"];' in dot
    assert "  input -> l0;" in dot and "  l0 -> l1;" in dot
    y = net(rng.standard_normal((2, 3)))
    net.backward(np.ones_like(y))
    dot = cr.to_dot(net)
    assert "|dweight|=" in dot and "|dbias|=" in dot and "|dy|=" in dot


def test_to_dot_graph(rng):
    x = cr.Input((3,))
    lin = Linear(3, 3, rng=0)
    model = cr.Graph(x, cr.layers.Add()(lin(x), x))
    dot = cr.to_dot(model)
    assert f'  n{x.id} [label="Input\\n(3,)"];' in dot
    assert dot.count(f"n{x.id} -> ") == 2  # fan-out: two edges leave the input
    assert '[label="output 0", shape=ellipse]' in dot
    y = model(rng.standard_normal((2, 3)))
    model.backward(np.ones_like(y))
    assert "|dweight|=" in cr.to_dot(model)


def test_summary_function():
    text = cr.summary(mlp())
    assert "Linear" in text and text.endswith("Total parameters: 23")


def test_has_parameters_looks_through_children():
    assert cr.Sequential(cr.layers.ReLU(), cr.layers.Linear(2, 2)).has_parameters()
    assert not cr.Sequential(cr.layers.Flatten(), cr.layers.ReLU()).has_parameters()
