import re

import numpy as np
import pytest
from _examples import Example

import chainrule as cr
from chainrule.layers import Add, Concat

# For the registry-driven checks (tests/layers/test_registry.py).
EXAMPLES = [
    Example(lambda: Add(), ((3, 4), (3, 4)), onnx_op="Add", torch=False),
    Example(
        lambda: Add(),
        ((3, 2, 3), (3, 2, 3), (3, 2, 3)),
        "three",
        onnx_op="Sum",
        torch=False,
    ),
    Example(lambda: Concat(), ((3, 4), (3, 2)), onnx_op="Concat", torch=False),
    Example(lambda: Concat(axis=2), ((2, 3, 1, 2), (2, 3, 4, 2)), "axis2", torch=False),
]


def test_add_forward_and_gradcheck(rng):
    xs = [rng.standard_normal((2, 3)) for _ in range(3)]
    np.testing.assert_allclose(Add()(*xs), xs[0] + xs[1] + xs[2])
    cr.gradcheck(Add(), *xs)


def test_add_does_not_modify_its_inputs(rng):
    a, b, c = (rng.standard_normal((2, 2)) for _ in range(3))
    a0 = a.copy()
    Add()(a, b, c)
    np.testing.assert_array_equal(a, a0)


def test_add_backward_gives_dy_to_each_input(rng):
    add = Add()
    add(np.zeros((1, 2)), np.zeros((1, 2)))
    dy = rng.standard_normal((1, 2))
    da, db = add.backward(dy)
    np.testing.assert_array_equal(da, dy)
    np.testing.assert_array_equal(db, dy)


@pytest.mark.parametrize(
    ("axis", "shapes"),
    [
        (1, [(2, 3), (2, 1), (2, 2)]),
        (1, [(2, 1, 3, 3), (2, 2, 3, 3)]),  # channels of NCHW images
        (-1, [(2, 3, 2), (2, 3, 4)]),
    ],
)
def test_concat_forward_and_gradcheck(rng, axis, shapes):
    xs = [rng.standard_normal(s) for s in shapes]
    np.testing.assert_array_equal(Concat(axis)(*xs), np.concatenate(xs, axis=axis))
    cr.gradcheck(Concat(axis), *xs)


def test_add_needs_two_inputs():
    with pytest.raises(
        ValueError, match=re.escape("Add(): needs at least 2 inputs; got 1.")
    ):
        Add()(np.zeros((1, 2)))


def test_add_shape_mismatch():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Add(): all inputs must have the same shape; got (1, 2), (1, 3)."
        ),
    ):
        Add()(np.zeros((1, 2)), np.zeros((1, 3)))


def test_concat_mismatch():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "Concat(axis=1): inputs must match on every axis but 1; got (2, 2), (3, 2)."
        ),
    ):
        Concat()(np.zeros((2, 2)), np.zeros((3, 2)))


def test_concat_refuses_batch_axis():
    with pytest.raises(
        ValueError, match="Concat: axis must not be the batch axis 0; got 0."
    ):
        Concat(0)


@pytest.mark.parametrize("axis", [2**64, -65, 1.0, True, "1"])
def test_concat_refuses_an_axis_no_array_has(axis):
    # A model file may carry any number here; NumPy would raise OverflowError.
    with pytest.raises(ValueError, match=r"Concat: axis must be an integer from -64 to 63"):
        Concat(axis)


def test_concat_names_an_axis_its_inputs_lack():
    with pytest.raises(
        ValueError,
        match=re.escape("Concat(axis=3): axis 3 does not exist in an input of shape (2, 2)."),
    ):
        Concat(3)(np.zeros((2, 2)), np.zeros((2, 2)))
