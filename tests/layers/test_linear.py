import re

import numpy as np
import pytest
from _examples import Example

import chainrule as cr
from chainrule.layers import Linear

# For the registry-driven checks (tests/layers/test_registry.py).
EXAMPLES = [
    Example(lambda: Linear(7, 4, rng=0), ((6, 7),), onnx_op="Gemm"),
    Example(lambda: Linear(7, 4, bias=False, rng=0), ((6, 7),), "nobias", spec=False),
    Example(
        lambda: Linear(8, 3, rng=0), ((5, 4, 8),), "3d", onnx_op="MatMul", spec=False
    ),
]


def test_forward_is_x_weight_t_plus_bias(rng):
    layer = Linear(3, 4, rng=0).to(np.float64)
    x = rng.standard_normal((5, 3))
    expected = x @ layer.weight.data.T + layer.bias.data
    np.testing.assert_allclose(layer(x), expected, rtol=1e-14)


@pytest.mark.parametrize("bias", [True, False])
def test_gradcheck(rng, bias):
    cr.gradcheck(Linear(3, 4, bias=bias, rng=1), rng.standard_normal((5, 3)))


def test_gradcheck_with_extra_leading_axes(rng):
    # (N, T, in_features): every leading axis is a batch axis.
    cr.gradcheck(Linear(3, 2, rng=1), rng.standard_normal((2, 4, 3)))


def test_backward_formulas(rng):
    layer = Linear(3, 2, rng=0).to(np.float64)
    x = rng.standard_normal((4, 3))
    dy = rng.standard_normal((4, 2))
    layer(x)
    dx = layer.backward(dy)
    np.testing.assert_allclose(dx, dy @ layer.weight.data, rtol=1e-14)
    np.testing.assert_allclose(layer.weight.grad, dy.T @ x, rtol=1e-14)
    np.testing.assert_allclose(layer.bias.grad, dy.sum(axis=0), rtol=1e-14)


def test_default_dtype_is_float32_and_input_is_cast():
    layer = Linear(3, 2, rng=0)
    y = layer(np.ones((2, 3), dtype=np.float64))
    assert layer.weight.dtype == np.float32 and y.dtype == np.float32


def test_same_seed_same_weights():
    a, b = Linear(5, 4, rng=3), Linear(5, 4, rng=3)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    assert not np.array_equal(a.weight.data, Linear(5, 4, rng=4).weight.data)
    np.testing.assert_array_equal(a.bias.data, np.zeros(4))


@pytest.mark.parametrize("init", ["he", "he_uniform", "glorot", "glorot_normal"])
def test_init_scales(init):
    w = Linear(400, 300, rng=0, init=init).weight.data
    expected_std = {
        "he": np.sqrt(2 / 400),
        "he_uniform": np.sqrt(2 / 400),
        "glorot": np.sqrt(2 / 700),
        "glorot_normal": np.sqrt(2 / 700),
    }[init]
    assert abs(w.std() / expected_std - 1) < 0.05


def test_zeros_init():
    assert not Linear(3, 2, init="zeros").weight.data.any()


def test_skip_input_grad_returns_none_but_fills_grads(rng):
    layer = Linear(3, 2, rng=0)
    layer(rng.standard_normal((4, 3)))
    layer.skip_input_grad = True
    assert layer.backward(np.ones((4, 2), np.float32)) is None
    assert layer.weight.grad.any()


def test_repr():
    assert (
        repr(Linear(784, 256)) == "Linear(in_features=784, out_features=256, bias=True)"
    )
    assert repr(Linear(2, 1, bias=False)) == (
        "Linear(in_features=2, out_features=1, bias=False)"
    )


def test_wrong_input_shape_message():
    layer = Linear(3, 4)
    msg = "Linear(in_features=3, out_features=4, bias=True): input must have shape (batch, 3); got (32, 5)."
    with pytest.raises(ValueError, match=re.escape(msg)):
        layer(np.zeros((32, 5)))


def test_single_sample_hint():
    with pytest.raises(ValueError, match=re.escape("needs a batch axis: x[None]")):
        Linear(3, 4)(np.zeros(3))


def test_non_numeric_input():
    with pytest.raises(TypeError, match="input must be numeric; got dtype <U1"):
        Linear(1, 1)(np.array([["a"]]))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 3), "Linear: in_features must be a positive integer; got 0."),
        ((3, -1), "Linear: out_features must be a positive integer; got -1."),
        ((2.5, 3), "Linear: in_features must be a positive integer; got 2.5."),
        ((True, 3), "Linear: in_features must be a positive integer; got True."),
    ],
)
def test_invalid_constructor_args(args, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Linear(*args)


def test_invalid_init():
    with pytest.raises(
        ValueError, match="Linear: init must be one of he, .*; got 'bogus'"
    ):
        Linear(3, 2, init="bogus")


def test_invalid_rng():
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        Linear(3, 2, rng="seed")


def _column_major(a):
    return a.flags.f_contiguous and not a.flags.c_contiguous


def test_weight_stays_column_major_through_copies_dtype_and_files(tmp_path, rng):
    # The fast products need weight.T row-major; every way a weight is rebuilt
    # (copy, to, load_state_dict, a model file, optimizer state) must keep it.
    model = cr.Sequential(Linear(5, 3, rng=0), cr.layers.ReLU(), Linear(3, 2, rng=1))
    opt = cr.optim.SGD(model, lr=0.1, momentum=0.9)
    x, y = rng.standard_normal((4, 5)).astype(np.float32), np.array([0, 1, 1, 0])
    loss = cr.losses.CrossEntropy()
    loss(model(x), y)
    model.backward(loss.backward())
    opt.step()
    cr.save_model(model, tmp_path / "m.npz")
    fresh = cr.Sequential(Linear(5, 3), cr.layers.ReLU(), Linear(3, 2))
    fresh.load_state_dict(model.state_dict())
    opt2 = cr.optim.SGD(fresh, lr=0.1, momentum=0.9)
    opt2.load_state_dict(opt.state_dict())
    for m in (
        model,
        model.copy(),
        model.copy().to(np.float64),
        fresh,
        cr.load(tmp_path / "m.npz"),
    ):
        for layer in (m.layers[0], m.layers[2]):
            assert _column_major(layer.weight.data) and _column_major(layer.weight.grad)
    for o in (opt, opt2):
        velocities = [s["velocity"] for k, s in o.state.items() if "weight" in k]
        assert len(velocities) == 2  # not vacuously true over an empty state
        assert all(_column_major(v) for v in velocities)
    np.testing.assert_array_equal(fresh(x), model(x))


@pytest.mark.parametrize("layout", ["C", "F"])
def test_add_matmul_writes_and_accumulates_in_either_layout(rng, layout):
    p = cr.Parameter(np.zeros((3, 4), order=layout))
    a, b = rng.standard_normal((3, 5)), rng.standard_normal((5, 4))
    p.zero_grad()
    p.add_matmul(a, b)  # written straight into grad
    np.testing.assert_allclose(p.grad, a @ b, rtol=1e-14)
    p.add_matmul(a, b)  # added
    np.testing.assert_allclose(p.grad, 2 * (a @ b), rtol=1e-14)
    assert p.grad.flags[f"{layout}_CONTIGUOUS"]
