import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.layers import (
    Add,
    Concat,
    Conv2D,
    Dropout,
    Flatten,
    Identity,
    Linear,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Tanh,
)


def test_fan_out_sums_both_paths(rng):
    # x feeds two layers; dL/dx is the sum of what each sends back.
    x = cr.Input((3,))
    a, b = Linear(3, 2, rng=0), Linear(3, 2, rng=1)
    y = Add()(Tanh()(a(x)), b(x))
    model = cr.Graph(x, y)
    cr.gradcheck(model, rng.standard_normal((4, 3)))


def test_residual_block(rng):
    x = cr.Input((4,))
    h = Tanh()(Linear(4, 4, rng=0)(x))
    h = Linear(4, 4, rng=1)(h)
    y = Sigmoid()(Add()(x, h))  # skip connection
    cr.gradcheck(cr.Graph(x, y), rng.standard_normal((3, 4)))


def test_conv_residual_with_concat(distinct):
    x = cr.Input((2, 5, 4))
    a = Conv2D(2, 3, 3, padding=1, rng=0)(x)
    b = Conv2D(2, 1, 1, rng=1)(x)
    y = Flatten()(MaxPool2D(2, stride=1)(Concat()(Tanh()(a), b)))
    cr.gradcheck(cr.Graph(x, y), distinct(2, 2, 5, 4))


def test_concat_of_features(rng):
    x = cr.Input((3,))
    y = Concat()(Linear(3, 2, rng=0)(x), Tanh()(x), Linear(3, 1, rng=1)(x))
    model = cr.Graph(x, y)
    assert model(rng.standard_normal((2, 3))).shape == (2, 6)
    cr.gradcheck(model, rng.standard_normal((2, 3)))


def test_shared_layer_gradient_is_the_sum_of_its_uses(rng):
    xv = rng.standard_normal((4, 3))
    dy = rng.standard_normal((4, 3))

    # Tied: one layer object, called on three nodes.
    shared = Linear(3, 3, rng=0).to(np.float64)
    x = cr.Input((3,))
    tied = cr.Graph(x, Add()(shared(x), shared(Tanh()(shared(x)))))
    assert [n for n, _ in tied.named_parameters()] == ["0.weight", "0.bias"]
    y_tied = tied(xv)
    tied.backward(dy)

    # Untied: three copies with the same weights, one per use.
    copies = [shared.copy() for _ in range(3)]
    for c in copies:
        c.zero_grad()
    x = cr.Input((3,))
    untied = cr.Graph(x, Add()(copies[0](x), copies[2](Tanh()(copies[1](x)))))
    np.testing.assert_allclose(untied(xv), y_tied, rtol=1e-14)
    untied.backward(dy)
    for name in ("weight", "bias"):
        total = sum(getattr(c, name).grad for c in copies)
        np.testing.assert_allclose(getattr(shared, name).grad, total, rtol=1e-12)
    cr.gradcheck(tied, xv)


def test_several_outputs(rng):
    x = cr.Input((3,))
    h = Tanh()(Linear(3, 4, rng=0)(x))
    y1, y2 = Linear(4, 2, rng=1)(h), Sigmoid()(Linear(4, 1, rng=2)(h))
    model = cr.Graph(x, [y1, y2])
    out = model(rng.standard_normal((5, 3)))
    assert isinstance(out, tuple) and [o.shape for o in out] == [(5, 2), (5, 1)]
    cr.gradcheck(model, rng.standard_normal((5, 3)))


def test_output_without_gradient(rng):
    # None for an output the loss does not use: as if its dy were zero.
    x = cr.Input((3,))
    head = Linear(3, 1, rng=2)
    model = cr.Graph(x, [Linear(3, 2, rng=1)(x), head(x)])
    xv = rng.standard_normal((2, 3))
    y1, _ = model(xv)
    dx = model.backward((np.ones_like(y1), None))
    assert dx.shape == xv.shape
    assert not head.weight.grad.any()
    cr.gradcheck(model, xv, dy=(np.ones_like(y1), np.zeros((2, 1))))


def test_same_node_twice_into_one_layer(rng):
    # y = h + h: both arguments send dy back to h, so dL/dh = 2 dy.
    x = cr.Input((3,))
    h = Tanh()(x)
    model = cr.Graph(x, Add()(h, h))
    xv = rng.standard_normal((2, 3))
    y = model(xv)
    np.testing.assert_allclose(y, 2 * np.tanh(xv))
    np.testing.assert_allclose(
        model.backward(np.ones_like(y)), 2 * (1 - np.tanh(xv) ** 2)
    )
    cr.gradcheck(model, xv)


def test_an_output_that_also_feeds_another_output(rng):
    x = cr.Input((3,))
    h = Linear(3, 3, rng=0)(x)
    model = cr.Graph(x, [h, Sigmoid()(h), x])  # an intermediate, its child, the input
    cr.gradcheck(model, rng.standard_normal((2, 3)))


def test_several_inputs(rng):
    a, b = cr.Input((3,)), cr.Input((2,))
    y = Tanh()(Add()(Linear(3, 4, rng=0)(a), Linear(2, 4, rng=1)(b)))
    model = cr.Graph([a, b], y)
    cr.gradcheck(model, rng.standard_normal((3, 3)), rng.standard_normal((3, 2)))


def _two_in_two_out():
    a, b = cr.Input((3,)), cr.Input((2,))
    h = Add()(Linear(3, 4, rng=0)(a), Linear(2, 4, rng=1)(b))
    return cr.Graph([a, b], [h, Tanh()(h)])


@pytest.mark.parametrize("batch_size", [256, 2])
def test_predict_takes_a_list_of_inputs_and_gives_a_tuple_of_outputs(rng, batch_size):
    model = _two_in_two_out()
    xa = rng.standard_normal((5, 3)).astype(np.float32)
    xb = rng.standard_normal((5, 2)).astype(np.float32)
    got = cr.predict(model, [xa, xb], batch_size=batch_size)
    assert isinstance(got, tuple) and len(got) == 2
    for g, want in zip(got, model.eval()(xa, xb)):
        np.testing.assert_allclose(g, want, rtol=1e-6, atol=1e-6)


def test_predict_names_what_a_graph_with_several_inputs_needs(rng):
    model = _two_in_two_out()
    xa, xb = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    # One array was stacked into a (2, N, ...) array and failed far inside.
    with pytest.raises(ValueError, match="has 2 inputs, so x must be a list of 2 arrays"):
        cr.predict(model, xa)
    with pytest.raises(ValueError, match="the same number of samples; got \\[5, 4\\]"):
        cr.predict(model, [xa, xb[:4]])


@pytest.mark.parametrize("call", ["fit", "evaluate"])
def test_fit_and_evaluate_refuse_several_inputs_or_outputs_plainly(rng, call):
    model = _two_in_two_out()
    x, y = [rng.standard_normal((6, 3)), rng.standard_normal((6, 2))], np.zeros((6, 4))
    with pytest.raises(ValueError, match=f"{call}: takes a model with one input and one output; this Graph has 2 input"):
        if call == "fit":
            cr.fit(model, cr.losses.MSE(), cr.optim.SGD(model, lr=0.1), x, y, verbose=0)
        else:
            cr.evaluate(model, cr.losses.MSE(), x, y)


def test_input_nothing_depends_on_gets_zero_gradient(rng):
    a, unused = cr.Input((3,)), cr.Input((2, 2))
    model = cr.Graph([a, unused], Linear(3, 2, rng=0)(a))
    y = model(rng.standard_normal((4, 3)), rng.standard_normal((4, 2, 2)))
    da, du = model.backward(np.ones_like(y))
    assert da.shape == (4, 3)
    np.testing.assert_array_equal(du, np.zeros((4, 2, 2)))
    cr.gradcheck(model, rng.standard_normal((4, 3)), rng.standard_normal((4, 2, 2)))


def test_graph_5000_layers_deep():
    x = cr.Input((2,))
    h = x
    for _ in range(5000):
        h = Identity()(h)
    h = Linear(2, 2, rng=0)(h)
    model = cr.Graph(x, h)
    xv = np.array([[1.0, -2.0]], np.float32)
    y = model(xv)
    layer = model.layers[-1]
    np.testing.assert_allclose(y, xv @ layer.weight.data.T, rtol=1e-6)
    dx = model.backward(np.ones_like(y))
    np.testing.assert_allclose(dx, np.ones_like(y) @ layer.weight.data, rtol=1e-6)
    assert len(model.deltas()) == 5002
    assert [n for n, _ in model.named_parameters()] == ["5000.weight", "5000.bias"]


def test_cycle_is_refused():
    x = cr.Input((2,))
    a = Tanh()(x)
    b = Tanh()(a)
    a.parents = (b,)  # a -> b -> a
    with pytest.raises(
        ValueError,
        match="Graph: the layers form a cycle .*; a graph model must be acyclic.",
    ):
        cr.Graph(x, b)


def test_self_loop_is_refused():
    x = cr.Input((2,))
    a = Tanh()(x)
    a.parents = (x, a)
    with pytest.raises(ValueError, match="form a cycle"):
        cr.Graph(x, a)


def test_output_depending_on_an_unlisted_input_is_refused():
    a, b = cr.Input((2,)), cr.Input((2,))
    y = Add()(a, b)
    with pytest.raises(
        ValueError,
        match="Graph: the outputs depend on an Input that is not among the graph's inputs",
    ):
        cr.Graph(a, y)


def test_second_backward_without_forward_raises(rng):
    x = cr.Input((3,))
    model = cr.Graph(x, Linear(3, 2, rng=0)(x))
    y = model(rng.standard_normal((2, 3)))
    model.backward(np.ones_like(y))
    with pytest.raises(
        RuntimeError, match="backward\\(\\) needs a forward\\(\\) first"
    ):
        model.backward(np.ones_like(y))


def test_backward_twice_after_two_forwards_doubles_the_grad(rng):
    x = cr.Input((3,))
    layer = Linear(3, 2, rng=0)
    model = cr.Graph(x, layer(x))
    xv = rng.standard_normal((2, 3))
    model.backward(np.ones_like(model(xv)))
    once = layer.weight.grad.copy()
    model.backward(np.ones_like(model(xv)))
    np.testing.assert_allclose(layer.weight.grad, 2 * once, rtol=1e-6)


def test_input_grad_false(rng):
    x = cr.Input((3,))
    first = Linear(3, 2, rng=0)
    model = cr.Graph(x, Tanh()(first(x)))
    y = model(rng.standard_normal((2, 3)))
    assert model.backward(np.ones_like(y), input_grad=False) is None
    assert first.weight.grad.any()


def test_dropout_in_a_graph(rng):
    x = cr.Input((4,))
    drop = Dropout(0.5)
    drop.mask = np.array([[1, 0, 1, 1], [0, 1, 0, 1]], bool)
    model = cr.Graph(x, Linear(4, 2, rng=0)(drop(x)))
    cr.gradcheck(model, rng.standard_normal((2, 4)))
    assert model.eval().layers[0].training is False


def test_graph_inside_a_sequential(rng):
    x = cr.Input((3,))
    block = cr.Graph(x, Add()(x, Tanh()(Linear(3, 3, rng=0)(x))))
    net = cr.Sequential(block, Linear(3, 2, rng=1))
    assert [n for n, _ in net.named_parameters()][:2] == ["0.0.weight", "0.0.bias"]
    cr.gradcheck(net, rng.standard_normal((2, 3)))


def test_named_layers_name_the_parameters():
    x = cr.Input((3,))
    enc, head = Linear(3, 2), Linear(2, 1)
    enc.name, head.name = "encoder", "head"
    model = cr.Graph(x, head(ReLU()(enc(x))))
    assert [n for n, _ in model.named_parameters()] == [
        "encoder.weight",
        "encoder.bias",
        "head.weight",
        "head.bias",
    ]


def test_deltas_are_the_node_gradients(rng):
    x = cr.Input((3,))
    lin = Linear(3, 2, rng=0)
    h = lin(x)
    model = cr.Graph(x, Tanh()(h))
    y = model(rng.standard_normal((2, 3)))
    dy = rng.standard_normal(y.shape)
    model.backward(dy)
    deltas = model.deltas()
    assert [k for k, _ in deltas] == ["input:Input", "0:Linear", "1:Tanh"]
    np.testing.assert_array_equal(deltas[2][1], dy)
    np.testing.assert_allclose(deltas[1][1], dy * (1 - y**2), rtol=1e-6)
    assert h.output_grad is deltas[1][1] and lin.output_grad is deltas[1][1]


def test_build_time_shape_error():
    x = cr.Input((5,))
    with pytest.raises(
        ValueError, match=re.escape("input must have shape (batch, 3); got (1, 5).")
    ):
        Linear(3, 2)(x)


def test_construction_errors():
    x = cr.Input((2,))
    h = Tanh()(x)
    with pytest.raises(
        TypeError, match="Graph: inputs\\[0\\] must be made by cr.Input"
    ):
        cr.Graph(h, h)
    with pytest.raises(
        ValueError, match="Graph: the same Input node is listed twice in inputs."
    ):
        cr.Graph([x, x], h)
    with pytest.raises(TypeError, match="Graph: outputs must be nodes; got ndarray."):
        cr.Graph(x, np.zeros(2))
    with pytest.raises(ValueError, match="Graph: inputs must name at least one node."):
        cr.Graph([], h)
    with pytest.raises(
        TypeError, match="when building a graph every input must be a node"
    ):
        Add()(x, 3)
    with pytest.raises(
        ValueError,
        match="Input: shape must be a tuple of positive integers; got \\(0,\\).",
    ):
        cr.Input(0)
    with pytest.raises(ValueError, match="got \\(True,\\)"):  # a bool is not a size
        cr.Input((True,))


def test_duplicate_layer_names():
    x = cr.Input((2,))
    a, b = Tanh(), Tanh()
    a.name = b.name = "act"
    with pytest.raises(ValueError, match="Graph: two layers have the same name."):
        cr.Graph(x, b(a(x)))


def test_call_errors(rng):
    a, b = cr.Input((3,)), cr.Input((2,))
    model = cr.Graph([a, b], Concat()(a, b))
    with pytest.raises(
        ValueError, match=re.escape("Graph: forward takes 2 input array(s); got 1.")
    ):
        model(np.zeros((1, 3)))
    with pytest.raises(
        ValueError,
        match=re.escape("Graph: input 1 must have shape (batch, 2); got (1, 4)."),
    ):
        model(np.zeros((1, 3)), np.zeros((1, 4)))
    model(np.zeros((1, 3)), np.zeros((1, 2)))
    with pytest.raises(
        ValueError,
        match=re.escape("Graph: backward takes one gradient per output (1); got 2."),
    ):
        model.backward((np.zeros((1, 5)), np.zeros((1, 5))))


def test_repr_and_summary():
    x = cr.Input((4,))
    model = cr.Graph(x, Add()(Linear(4, 4)(x), x))
    text = repr(model)
    assert text.startswith("Graph(\n  in0 = Input(shape=(4,))\n")
    assert "(0) Linear(in_features=4, out_features=4, bias=True)(in0)  -> (4,)" in text
    assert "(1) Add()(n" in text and text.endswith(")")
    summary = model.summary().splitlines()
    assert summary[2].split() == ["input", "Input", "(N,", "4)", "0"]
    assert summary[3].split() == ["0", "Linear", "(N,", "4)", "20"]
    assert summary[-1] == "Total parameters: 20"


def test_training_backward_prunes_branches_without_parameters():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    dy = rng.standard_normal((3, 4))

    def run(input_grad):
        cr.seed(0)
        inp = cr.Input((4,))
        free = cr.layers.Tanh()(inp)  # no parameters on the path from the input
        lin = cr.layers.Linear(4, 4)
        out = cr.layers.Add()(lin(inp), free)
        g = cr.Graph(inp, out).to(np.float64)
        g(x)
        dx = g.backward(dy, input_grad=input_grad)
        tanh_node = g.order[1]
        return dx, tanh_node, [p.grad.copy() for p in g.parameters()]

    dx_full, _, full = run(True)
    dx_none, tanh_node, pruned = run(False)
    assert dx_full.shape == x.shape and dx_none is None
    # dL/d(tanh output) is known, but the Tanh itself was not run backward
    assert tanh_node.output_grad is not None
    assert tanh_node.layer.output_grad is None
    for a, b in zip(full, pruned):
        np.testing.assert_array_equal(a, b)


def test_summary_counts_the_parameters_of_a_nested_model():
    x = cr.Input((4,))
    inner = cr.Sequential(Linear(4, 2), cr.layers.ReLU())
    model = cr.Graph(x, Linear(2, 2)(inner(x)))
    rows = model.summary().splitlines()
    assert rows[3].split()[-1] == "10" and rows[4].split()[-1] == "6"
    assert rows[-1] == "Total parameters: 16"


def test_deltas_are_named_as_sequentials_are(rng):
    """The same stack as a Sequential and as a Graph: the same names; a shared
    layer's uses are numbered; several inputs are numbered."""
    a, b = Linear(3, 4, rng=0), Linear(4, 2, rng=1)
    seq = cr.Sequential(a, Tanh(), b)
    x = cr.Input((3,))
    graph = cr.Graph(x, b(Tanh()(a(x))))
    for model in (seq, graph):
        model.backward(np.ones_like(model(rng.standard_normal((2, 3)))))
    assert [k for k, _ in graph.deltas()][1:] == [k for k, _ in seq.deltas()]

    shared = Linear(3, 3, rng=2)
    x0, x1 = cr.Input((3,)), cr.Input((3,))
    two = cr.Graph([x0, x1], cr.layers.Add()(shared(x0), shared(x1)))
    two(rng.standard_normal((2, 3)), rng.standard_normal((2, 3)))
    names = [k for k, _ in two.deltas()]
    assert sorted(names) == sorted(
        ["input0:Input", "input1:Input", "0:Linear#1", "0:Linear#2", "1:Add"]
    )
